// Servers and loaders the client_credentials benches share (bench/ratios.mjs, bench/duel.mjs,
// bench/http-sign-baseline.mjs): tessera's built server and the bare floors, each pinned to core 0, and one
// load run from core 1 (wrk for HTTP and Connect, h2load for gRPC) that reports the rate and the server core's
// busy share. Every load is 64 calls in flight: wrk with 64 connections, h2load with 4 connections × 16 streams.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { cpuSeconds } from "./chain-queue.mjs";
import { serverPorts } from "./server-ports.mjs";

export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
export const CHANNELS = Number(process.env.BENCH_CHANNELS ?? 4);
export const STREAMS = Math.max(1, Math.round(Number(process.env.BENCH_CONCURRENCY ?? 64) / CHANNELS));

/** tessera's log level under load: warn (no access lines) unless BENCH_LOG_LEVEL says otherwise (info: the default's). */
export const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? "warn";

export const hasTaskset = spawnSync("taskset", ["-V"]).status === 0;
/** `argv` as a command pinned to `core` (unpinned without taskset). */
export const pinned = (core, argv) => (hasTaskset ? ["taskset", ["-c", String(core), ...argv]] : [argv[0], argv.slice(1)]);
/** Whether a loader (wrk, h2load) is installed. */
export const installed = (loader) => spawnSync(loader, ["--version"]).error === undefined;

const KEYS = { ES256: '"ec", { namedCurve: "P-256" }', EdDSA: '"ed25519"', RS256: '"rsa", { modulusLength: 2048 }' };
const SIGN = { ES256: '{ key: privateKey, dsaEncoding: "ieee-p1363" }', EdDSA: "privateKey", RS256: "privateKey" };
export const FLOOR_ALGS = Object.keys(KEYS);

const httpFloor = `
const server = require("node:http").createServer({ keepAliveTimeout: 65000 }, (req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = JSON.stringify({ access_token: jwt(), token_type: "Bearer", expires_in: 3600 });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
    res.end(body);
  });
});`;
// IssueClientTokenResponse's first fields by hand: 1 access_token (string), 2 token_type, 3 expires_in.
const grpcFloor = `
const varint = (n) => { const b = []; while (n > 127) { b.push((n & 127) | 128); n >>>= 7; } b.push(n); return Buffer.from(b); };
const field = (tag, bytes) => Buffer.concat([Buffer.from([tag]), varint(bytes.length), bytes]);
const server = require("node:http2").createServer();
server.on("stream", (stream) => {
  stream.on("data", () => {});
  stream.on("end", () => {
    const message = Buffer.concat([field(0x0a, Buffer.from(jwt())), field(0x12, Buffer.from("Bearer")), Buffer.from([0x18]), varint(3600)]);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(Buffer.concat([prefix, message]));
  });
});`;

/**
 * The floor's program: a bare node:http server that reads the body and answers one freshly signed JWT (the claims
 * tessera puts in a client token), or with `grpc` a bare node:http2 server answering every stream with one
 * length-prefixed message holding the JWT and grpc-status 0. It prints its port.
 */
export function floorProgram(alg, grpc) {
  return `
const { generateKeyPairSync, sign, randomUUID } = require("node:crypto");
const { privateKey } = generateKeyPairSync(${KEYS[alg]});
const header = Buffer.from(JSON.stringify({ alg: "${alg}", kid: "k", typ: "at+jwt" })).toString("base64url");
const jwt = () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: "http://localhost:8080", sub: "client", aud: "userid-api", exp: now + 3600, iat: now, jti: randomUUID(), client_id: "client", tid: "default", app_id: "app" };
  const input = header + "." + Buffer.from(JSON.stringify(claims)).toString("base64url");
  return input + "." + sign(${alg === "EdDSA" ? "null" : '"sha256"'}, Buffer.from(input), ${SIGN[alg]}).toString("base64url");
};
${grpc ? grpcFloor : httpFloor}
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.on("SIGINT", () => process.exit(0));
`;
}

/**
 * Starts a floor on core 0 (`door` "http" or "grpc"); `nodeArgs` e.g. `--cpu-prof`. Resolves to a target for `load`.
 * `work` is a directory for the load files.
 */
export async function startFloor({ alg, door, work, nodeArgs = [] }) {
  const [cmd, argv] = pinned(0, [process.execPath, ...nodeArgs, "-e", floorProgram(alg, door === "grpc")]);
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((ok, fail) => {
    child.stdout.once("data", (d) => ok(Number(String(d).trim())));
    child.once("exit", (code) => fail(new Error(`the ${door} floor exited ${code}`)));
  });
  const name = `floor-${door}-${alg}`;
  return { name, process: child, ports: { http: port, grpc: port }, basic: undefined, files: loadFiles(work, name, undefined) };
}

/**
 * Starts the build in `dir` on core 0 with its own data directory under `work` and the signing algorithm `alg`.
 * Resolves to a target for `load`, with its bootstrap client's Basic credentials.
 */
export async function startTessera({ dir = ".", alg, work, name = `tessera-${alg}`, nodeArgs = [] }) {
  const data = join(work, name);
  const [cmd, argv] = pinned(0, [process.execPath, ...nodeArgs, join(resolve(dir), "dist/src/main.js")]);
  const child = spawn(cmd, argv, {
    env: { ...process.env, TESSERA_DATA_DIR: data, TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0", TESSERA_SIGNING_ALG: alg, TESSERA_LOG_LEVEL: LOG_LEVEL },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const ports = await serverPorts(child, dir);
  const creds = JSON.parse(readFileSync(join(data, "bootstrap.json"), "utf8"));
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(creds.client_id)}:${encodeURIComponent(creds.client_secret)}`).toString("base64")}`;
  return { name, process: child, ports, basic, files: loadFiles(work, name, basic) };
}

/** The gRPC request frame (an empty IssueClientTokenRequest, length-prefixed) and wrk scripts for one server. */
function loadFiles(work, name, basic) {
  const grpc = join(work, `${name}.grpc`);
  writeFileSync(grpc, Buffer.alloc(5));
  const auth = basic === undefined ? "" : `wrk.headers["Authorization"] = "${basic}"\n`;
  const script = (body, type) => `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "${type}"\n${auth}`;
  const http = join(work, `${name}.http.lua`);
  const connect = join(work, `${name}.connect.lua`);
  writeFileSync(http, script("grant_type=client_credentials", "application/x-www-form-urlencoded"));
  writeFileSync(connect, script("{}", "application/json"));
  return { grpc, http, connect };
}

/**
 * Loads `target` through `door` (http: POST /oidc/token, connect: Connect JSON IssueClientToken, grpc:
 * IssueClientToken over gRPC) from core 1 for `seconds`. Resolves to its rate, the server core's busy share,
 * and how many calls failed (a non-2xx answer; for gRPC, a call h2load counts failed or an answer without a token).
 */
export function load(target, door, seconds) {
  const argv =
    door === "grpc"
      ? ["h2load", `-c${CHANNELS}`, `-m${STREAMS}`, `-D${seconds}`, "-d", target.files.grpc, "-H", "content-type: application/grpc", "-H", "te: trailers",
        ...(target.basic === undefined ? [] : ["-H", `authorization: ${target.basic}`]), `http://127.0.0.1:${target.ports.grpc}/tessera.v1.TokenService/IssueClientToken`]
      : ["wrk", "-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "-s", target.files[door],
        `http://127.0.0.1:${target.ports.http}/${door === "connect" ? "tessera.v1.TokenService/IssueClientToken" : "oidc/token"}`];
  const [cmd, args] = pinned(1, argv);
  const before = cpuSeconds(target.process.pid);
  const started = performance.now();
  return new Promise((ok) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.once("exit", () => {
      const busy = (cpuSeconds(target.process.pid) - before) / ((performance.now() - started) / 1000);
      const rate = Number((/finished in [^,]+, ([\d.]+) req\/s/.exec(out) ?? /Requests\/sec:\s+(\S+)/.exec(out))?.[1]);
      let failed = Number((/(\d+) failed/.exec(out) ?? /Non-2xx or 3xx responses: (\d+)/.exec(out))?.[1] ?? 0);
      if (door === "grpc") {
        // A gRPC error is an HTTP 200 with grpc-status in the trailers and no message: check the bytes.
        const done = Number(/requests: \d+ total, \d+ started, (\d+) done/.exec(out)?.[1]);
        const data = Number(/traffic: .*?, [^,]+ headers.*?, [\d.]+\w* \((\d+)\) data/.exec(out)?.[1]);
        if (done > 0 && data / done < 100) failed = done;
      }
      ok({ rate, busy, failed });
    });
  });
}

/** Stops the servers `start*` returned. */
export async function stopAll(targets) {
  await Promise.all(
    targets.map((t) => {
      if (t.process.exitCode !== null || t.process.signalCode !== null) return undefined;
      const exited = new Promise((ok) => t.process.once("exit", ok));
      t.process.kill("SIGINT");
      return exited;
    }),
  );
}
