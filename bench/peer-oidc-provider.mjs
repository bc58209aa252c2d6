// The refresh peer of issue #14, measured rather than quoted: oidc-provider (panva) with its default in-memory
// store, refresh-token rotation on every refresh, ES256 JWT access tokens and ES256 ID tokens, loaded exactly
// like bench/refresh.mjs loads tessera (server pinned to one core, wrk with the chain-queue script on the other).
//
//   node bench/peer-oidc-provider.mjs [--seconds 10] [--warmup 2] [--connections 64] [--core 0]
//
// oidc-provider is not a dependency of tessera: the pinned version below is installed on first use with npm into
// node_modules/.cache/tessera-bench-peer/ (gitignored with node_modules; BENCH_PEER_DIR overrides), and the
// server this script starts (`--serve`) imports it from there.
// Lines `RESULT peer oidc-provider@<version> <rotations/s> <server busy share>` are for bench/ratios.mjs, and
// `PEER_MISSING peer oidc-provider@<version> <why>` (exit 0) when it cannot be installed, e.g. without network.
import { spawn, spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { cpuSeconds, runChainQueue } from "./chain-queue.mjs";

const PEER_VERSION = "9.13.3";
const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "64" },
    core: { type: "string", default: "0" },
    serve: { type: "boolean", default: false },
  },
});
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const peerDir = process.env.BENCH_PEER_DIR ?? join(root, "node_modules", ".cache", "tessera-bench-peer", `oidc-provider-${PEER_VERSION}`);
const peerEntry = join(peerDir, "node_modules", "oidc-provider", "lib", "index.js");
const CLIENT_ID = "bench-client";
const CLIENT_SECRET = "bench-secret-bench-secret-bench-secret";
const REDIRECT_URI = "http://127.0.0.1/cb";
const RESOURCE = "urn:tessera-bench:api";
const ACCOUNT = "usr_bench";

/** Installs the pinned oidc-provider into the cache directory unless it is there; returns why it could not. */
function installPeer() {
  if (existsSync(peerEntry)) return undefined;
  mkdirSync(peerDir, { recursive: true });
  writeFileSync(join(peerDir, "package.json"), `${JSON.stringify({ name: "tessera-bench-peer", private: true }, null, 2)}\n`);
  console.log(`installing oidc-provider@${PEER_VERSION} into ${peerDir}`);
  const out = spawnSync("npm", ["install", "--save-exact", "--no-audit", "--no-fund", "--ignore-scripts", `oidc-provider@${PEER_VERSION}`], {
    cwd: peerDir,
    encoding: "utf8",
    timeout: 300_000,
  });
  if (out.status === 0 && existsSync(peerEntry)) return undefined;
  const why = (out.error?.message ?? out.stderr ?? "").split("\n").find((l) => /ERR|error/i.test(l)) ?? `npm exited ${out.status}`;
  return why.trim();
}

/** The peer's server (run pinned to a core by the bench): oidc-provider behind node:http, auto-consenting interactions. */
async function serve() {
  const peerLib = (file) => import(pathToFileURL(join(dirname(peerEntry), file)).href);
  const { default: Provider } = await peerLib("index.js");
  // Its own in-memory adapter, with room for the whole run: the default store keeps 1,000 entries and then
  // drops live grants and refresh tokens (a chain dies with "grant request is invalid" within seconds).
  const { default: MemoryAdapter } = await peerLib("adapters/memory_adapter.js");
  const { default: LRU } = await peerLib("helpers/lru.js");
  const store = new LRU({ maxSize: 10_000_000 });
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [REDIRECT_URI],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: "ES256",
      },
    ],
    jwks: { keys: [{ ...privateKey.export({ format: "jwk" }), alg: "ES256", use: "sig", kid: "bench-es256" }] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    adapter: (model) => new MemoryAdapter(model, store),
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    // Like tessera: every refresh consumes the presented token and answers with its successor.
    rotateRefreshToken: true,
    features: {
      devInteractions: { enabled: false },
      // Access tokens for a resource server as ES256 JWTs, so a refresh signs two JWTs, as tessera's does.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: "api", audience: RESOURCE, accessTokenFormat: "jwt", jwt: { sign: { alg: "ES256" } } }),
      },
    },
  });
  provider.on("server_error", (_ctx, err) => console.error(`server_error ${err.message}`));
  provider.on("grant.error", (_ctx, err) => console.error(`grant.error ${err.error_detail ?? err.message}`));
  const callback = provider.callback();
  server.on("request", (req, res) => {
    if (!req.url.startsWith("/interaction/")) return callback(req, res);
    // Login and consent in one step: the account and a grant of every requested scope.
    finishInteraction(provider, req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err.message));
    });
  });
  console.log(`PEER_LISTENING ${port}`);
}

async function finishInteraction(provider, req, res) {
  const { params } = await provider.interactionDetails(req, res);
  const grant = new provider.Grant({ accountId: ACCOUNT, clientId: params.client_id });
  grant.addOIDCScope("openid offline_access");
  grant.addResourceScope(RESOURCE, "api");
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId: ACCOUNT }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

function startPeer() {
  const child = spawn("taskset", ["-c", args.core, process.execPath, fileURLToPath(import.meta.url), "--serve"], {
    env: { ...process.env, NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (c) => {
    err += c;
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
      const m = /PEER_LISTENING (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), stderr: () => err });
    });
    child.on("exit", (code) => reject(new Error(`peer exited ${code}: ${err}`)));
  });
}

const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64")}`;
const form = { "content-type": "application/x-www-form-urlencoded", authorization: basic };

/** The authorization-code flow over HTTP with its own cookie jar; returns the token response (with a refresh token). */
async function authorize(base) {
  const jar = new Map();
  const send = async (url, init = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(new URL(url, base), { redirect: "manual", ...init, headers: { ...init.headers, ...(cookie ? { cookie } : {}) } });
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(";")[0];
      const eq = pair.indexOf("=");
      const value = pair.slice(eq + 1);
      if (value === "") jar.delete(pair.slice(0, eq));
      else jar.set(pair.slice(0, eq), value);
    }
    return res;
  };
  const verifier = randomBytes(32).toString("base64url");
  const query = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: "code",
    scope: "openid offline_access api",
    redirect_uri: REDIRECT_URI,
    prompt: "consent",
    resource: RESOURCE,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  });
  let res = await send(`/auth?${query}`);
  let code;
  for (let hop = 0; hop < 8 && code === undefined; hop++) {
    const location = res.headers.get("location");
    await res.arrayBuffer();
    if (location === null) throw new Error(`authorization stopped at ${res.status} ${res.url}`);
    if (location.startsWith(REDIRECT_URI)) {
      const answer = new URL(location).searchParams;
      code = answer.get("code") ?? undefined;
      if (code === undefined) throw new Error(`authorization refused: ${answer}`);
    } else {
      res = await send(location);
    }
  }
  const token = await fetch(new URL("/token", base), {
    method: "POST",
    headers: form,
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
  });
  const body = await token.json();
  if (token.status !== 200 || typeof body.refresh_token !== "string") throw new Error(`code exchange failed ${token.status} ${JSON.stringify(body)}`);
  return body;
}

async function refresh(base, refreshToken) {
  const res = await fetch(new URL("/token", base), { method: "POST", headers: form, body: `grant_type=refresh_token&refresh_token=${refreshToken}` });
  return { status: res.status, body: await res.json() };
}

const algOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString()).alg;

/** Checks on one chain of its own that the peer does what the comparison assumes. */
async function checkPeer(base) {
  const first = await authorize(base);
  const next = await refresh(base, first.refresh_token);
  if (next.status !== 200) throw new Error(`refresh failed ${next.status} ${JSON.stringify(next.body)}`);
  if (next.body.refresh_token === first.refresh_token) throw new Error("the peer did not rotate the refresh token");
  if (algOf(next.body.access_token) !== "ES256" || algOf(next.body.id_token) !== "ES256") throw new Error("the peer's tokens are not ES256 JWTs");
  const reused = await refresh(base, first.refresh_token);
  if (reused.status !== 400 || reused.body.error !== "invalid_grant") throw new Error(`a consumed refresh token was accepted: ${reused.status}`);
}

async function bench() {
  const missing = installPeer();
  if (missing !== undefined) {
    console.log(`PEER_MISSING peer oidc-provider@${PEER_VERSION} ${missing}`);
    return;
  }
  const seconds = Number(args.seconds);
  const connections = Number(args.connections);
  const loadCore = args.core === "0" ? "1" : "0";
  // The load runs on the other core, so it does not compete with the server it measures.
  spawnSync("taskset", ["-cp", loadCore, String(process.pid)]);
  const { child, port, stderr } = await startPeer();
  const base = `http://127.0.0.1:${port}`;
  try {
    await checkPeer(base);
    // wrk asks for a connection's next request before it hands over the answer: a spare chain per connection.
    const chains = [];
    while (chains.length < 2 * connections) {
      const batch = await Promise.all(Array.from({ length: Math.min(8, 2 * connections - chains.length) }, () => authorize(base)));
      chains.push(...batch.map((b) => b.refresh_token));
    }
    const warmupEnd = performance.now() + Number(args.warmup) * 1000;
    await Promise.all(
      chains.map(async (_, i) => {
        while (performance.now() < warmupEnd) {
          const r = await refresh(base, chains[i]);
          if (r.status !== 200) throw new Error(`rotation failed ${r.status} ${JSON.stringify(r.body)}`);
          chains[i] = r.body.refresh_token;
        }
      }),
    );
    const w = runChainQueue({ port, chains, path: "/token", headers: form, formBody: true, seconds, connections, loadCore, serverCpu: () => cpuSeconds(child.pid) });
    console.log(
      `${`oidc-provider ${PEER_VERSION}, in memory`.padEnd(28)} ${String(w.rate).padStart(6)} rotations/s   p50 ${w.p50.padStart(6)} ms   p99 ${w.p99.padStart(6)} ms` +
        `   errors ${w.misses}   server core ${Math.round(w.busy * 100)}% busy, ${Math.round(w.rate / w.busy)} rotations per server CPU-second (wrk)`,
    );
    console.log(`RESULT peer oidc-provider@${PEER_VERSION} ${w.rate} ${w.busy.toFixed(3)}`);
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    // Its warnings, and the refused reuse of the check above ("grant.error refresh token already used").
    if (stderr() !== "") console.error(`peer server stderr:\n${stderr().trim().split("\n").slice(0, 5).join("\n")}`);
  }
}

if (args.serve) await serve();
else {
  console.log(`oidc-provider ${PEER_VERSION}, ${args.connections} keep-alive connections, server pinned to core ${args.core}, ${args.seconds} s after ${args.warmup} s warm-up`);
  await bench();
}
