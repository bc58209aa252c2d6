// Refresh-token rotation over HTTP: the built server pinned to one core, 64 keep-alive connections,
// each following its own chain. Usage: node bench/refresh.mjs [--seconds 10] [--rows 1000000]
//   [--connections 64] [--endpoint cis|oidc] [--sync NORMAL,FULL]
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { seedRefreshTokens } from "./seed.mjs";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    rows: { type: "string", default: "1000000" },
    connections: { type: "string", default: "64" },
    endpoint: { type: "string", default: "cis" },
    sync: { type: "string", default: "NORMAL,FULL" },
    core: { type: "string", default: "0" },
    prof: { type: "string" },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const BOOTSTRAP_ID = "bench-bootstrap";
const CLIENT_ID = "bench-client";
const CLIENT_SECRET = "bench-secret-bench-secret-bench-secret";
const USERNAME = "bench-user";
const PASSWORD = "bench password 123";

execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
const { loadConfig } = await import("../dist/src/config.js");
const { buildApp } = await import("../dist/src/server.js");
const { hashPassword } = await import("../dist/src/core/passwords.js");

const baseEnv = (dataDir, sync) => ({
  TESSERA_DATA_DIR: dataDir,
  TESSERA_HTTP_PORT: "0",
  TESSERA_GRPC_PORT: "0",
  TESSERA_LOG_LEVEL: "silent",
  TESSERA_SYNCHRONOUS: sync,
  TESSERA_BOOTSTRAP_CLIENT_ID: BOOTSTRAP_ID,
  TESSERA_BOOTSTRAP_CLIENT_SECRET: CLIENT_SECRET,
  TESSERA_SWEEP_INTERVAL: "0",
});

/** A data dir with an application, its client, one user of it and `rows` refresh tokens (10 per family, 9 consumed). */
async function seed(rows, sync) {
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-bench-"));
  const app = buildApp(loadConfig(baseEnv(dataDir, sync)));
  const { store, core } = app;
  const now = Math.floor(Date.now() / 1000);
  const client = { id: CLIENT_ID, applicationId: "app_bench" };
  const userId = "usr_bench";
  store.transaction(() => {
    store.applications.insert({ id: client.applicationId, tenantId: "default", displayName: "Bench", management: false, createTime: now, updateTime: now });
    store.clients.insert({
      id: CLIENT_ID, tenantId: "default", applicationId: client.applicationId, displayName: "Bench client",
      secretHash: core.secrets.hash("client-secret", CLIENT_SECRET), previousSecretHash: undefined, previousSecretExpireTime: undefined,
      redirectUris: [], postLogoutRedirectUris: [], grantTypes: [], scopes: [], webOrigins: [], resourceIds: [],
      accessTokenTtl: undefined, refreshTokenTtl: undefined, maxRotation: undefined, reuseLeeway: 0, createTime: now, updateTime: now,
    });
    store.users.insert({
      id: userId, tenantId: "default", username: USERNAME, email: "", roles: ["bench"], customClaims: {},
      applicationIds: [client.applicationId], passwordHash: undefined, createTime: now, updateTime: now,
    });
  });
  store.users.setPassword("default", userId, await hashPassword(PASSWORD), now);
  const started = performance.now();
  if (rows > 0) {
    seedRefreshTokens(store, { rows, applicationId: client.applicationId, clientId: CLIENT_ID, userId, now });
    store.db.pragma("wal_checkpoint(TRUNCATE)");
  }
  const seedSeconds = (performance.now() - started) / 1000;
  await app.stop(0);
  return { dataDir, seedSeconds };
}

function startServer(dataDir, sync) {
  const prof = args.prof === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${args.prof}`];
  const child = spawn("taskset", ["-c", args.core, process.execPath, ...prof, "dist/src/main.js"], {
    env: { ...process.env, ...baseEnv(dataDir, sync) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (c) => {
      err += c;
      const m = /serving HTTP on [^:]+:(\d+)/.exec(err);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
}

function request(agent, port, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString() || "{}") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function run(label, rows, sync) {
  const { dataDir, seedSeconds } = await seed(rows, sync);
  const { child, port } = await startServer(dataDir, sync);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS, noDelay: true });
  try {
    const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64")}`;
    const form = { "content-type": "application/x-www-form-urlencoded", authorization: basic };
    const cc = await request(agent, port, "/oidc/token", form, "grant_type=client_credentials");
    const json = { "content-type": "application/json", authorization: `Bearer ${cc.body.access_token}` };
    const chains = [];
    for (let i = 0; i < CONNECTIONS; i += 8) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(8, CONNECTIONS - i) }, () =>
          request(agent, port, "/cis/v1/auth/password/authenticate", json, JSON.stringify({ username: USERNAME, password: PASSWORD })),
        ),
      );
      for (const r of batch) {
        if (r.status !== 200) throw new Error(`login failed ${r.status} ${JSON.stringify(r.body)}`);
        chains.push(r.body.refresh_token);
      }
    }
    const rotate = (token) =>
      args.endpoint === "oidc"
        ? request(agent, port, "/oidc/token", form, `grant_type=refresh_token&refresh_token=${token}`)
        : request(agent, port, "/cis/v1/auth/token/refresh", json, JSON.stringify({ refresh_token: token }));
    let measuring = false;
    let stop = false;
    const latencies = [];
    let errors = 0;
    const worker = async (i) => {
      while (!stop) {
        const t0 = performance.now();
        const r = await rotate(chains[i]);
        const dt = performance.now() - t0;
        if (r.status !== 200) {
          errors++;
          throw new Error(`rotation failed ${r.status} ${JSON.stringify(r.body)}`);
        }
        chains[i] = r.body.refresh_token;
        if (measuring) latencies.push(dt);
      }
    };
    const workers = chains.map((_, i) => worker(i));
    await new Promise((r) => setTimeout(r, WARMUP * 1000));
    measuring = true;
    const t0 = performance.now();
    const cpu0 = cpuSeconds(child.pid);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    const busy = (cpuSeconds(child.pid) - cpu0) / elapsed;
    const done = latencies.length;
    stop = true;
    await Promise.all(workers);
    latencies.sort((a, b) => a - b);
    const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(2);
    console.log(
      `${label.padEnd(28)} ${String(Math.round(done / elapsed)).padStart(6)} rotations/s   p50 ${pct(50).padStart(6)} ms   p99 ${pct(99).padStart(6)} ms` +
        `   errors ${errors}   server core ${Math.round(busy * 100)}% busy, ${Math.round(done / elapsed / busy)} rotations per server CPU-second` +
        `${rows > 0 ? `   (seeded in ${seedSeconds.toFixed(1)} s)` : ""}`,
    );
  } finally {
    agent.destroy();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** User + system CPU seconds a process has used (Linux /proc): how busy the server's core was. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// The load runs on the other core, so it does not compete with the server it measures.
spawnSync("taskset", ["-cp", args.core === "0" ? "1" : "0", String(process.pid)]);
console.log(`endpoint ${args.endpoint}, ${CONNECTIONS} keep-alive connections, server pinned to core ${args.core}, ${SECONDS} s after ${WARMUP} s warm-up`);
for (const sync of args.sync.split(",")) {
  await run(`synchronous=${sync}, empty`, 0, sync);
  await run(`synchronous=${sync}, ${Number(args.rows).toLocaleString("en")} rows`, Number(args.rows), sync);
}
