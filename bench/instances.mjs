// Many workers, many instances (CONTRACT §7): client credentials and refresh through wrk, with tessera
// (every instance and worker) and PostgreSQL pinned to core 0 and the load (wrk) on core 1.
//
//   node bench/instances.mjs [--seconds 10] [--connections 64] [--setups sqlite/1x1,postgres/1x1,postgres/2x1]
//
// A setup is engine/INSTANCESxWORKERS: `postgres/2x1` is two processes on one PostgreSQL database, each
// loaded by its own wrk with half the connections; `sqlite/1x2` is one process with TESSERA_WORKERS=2.
// Server CPU is tessera's processes (primary and workers) plus PostgreSQL's; "per server CPU-second" is
// the throughput divided by it. On a 2-core machine this measures efficiency, not scaling (see docs/deployment.md).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chainQueueScript } from "./chain-queue.mjs";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "64" },
    setups: { type: "string", default: "sqlite/1x1,postgres/1x1,postgres/2x1" },
  },
});
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const BOOT_ID = "bench-boot";
const BOOT_SECRET = "bench-boot-secret-bench-boot-secret-0123";
const SECRET_KEY = "bench-master-key-bench-master-key-0123";
const SERVER_CORE = "0";
const LOAD_CORE = "1";

execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
spawnSync("taskset", ["-cp", LOAD_CORE, String(process.pid)]);
const setups = args.setups.split(",").map((s) => {
  const m = /^(sqlite|postgres)\/(\d+)x(\d+)$/.exec(s);
  if (m === null) throw new Error(`bad setup ${s}: engine/INSTANCESxWORKERS`);
  return { label: s, engine: m[1], instances: Number(m[2]), workers: Number(m[3]) };
});
const embedded = setups.some((s) => s.engine === "postgres") ? await import("../scripts/embedded-postgres.mjs") : undefined;
const pgServer = await embedded?.startPostgres({ durable: true, cpu: SERVER_CORE });
let databases = 0;
const pgDatabase = () => embedded.createDatabase(pgServer.url, `bench_instances_${++databases}`);

function startInstance(env) {
  const child = spawn("taskset", ["-c", SERVER_CORE, process.execPath, "dist/src/main.js"], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (c) => {
      err += c;
      const m = /serving HTTP on [^:]+:(\d+)/.exec(err);
      if (m) resolve({ child, url: `http://127.0.0.1:${m[1]}` });
    });
    child.on("exit", (code) => reject(new Error(`tessera exited ${code}: ${err}`)));
  });
}

async function call(url, path, headers, body) {
  const res = await fetch(`${url}${path}`, { method: "POST", headers, body });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}
const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
const form = (auth) => ({ "content-type": "application/x-www-form-urlencoded", authorization: auth });
const json = (bearer) => ({ "content-type": "application/json", authorization: `Bearer ${bearer}` });

/** CPU seconds of a process and its children (a primary's workers, a postmaster's backends). */
function treeCpuSeconds(root) {
  const stat = (pid) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  const cpu = (f) => (Number(f[11]) + Number(f[12])) / 100;
  let total = 0;
  try {
    total = cpu(stat(root));
  } catch {
    return 0;
  }
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = stat(entry);
      if (Number(f[1]) === root) total += cpu(f);
    } catch {
      // Ended meanwhile.
    }
  }
  return total;
}

/** One wrk per instance, concurrently, on the load core; returns the summed rate and the server CPU they cost. */
async function wrkAll(targets, serverCpu) {
  const dir = mkdtempSync(join(tmpdir(), "tessera-wrk-"));
  const cpu0 = serverCpu();
  const runs = targets.map(({ url, lua }, i) => {
    const script = join(dir, `s${i}.lua`);
    writeFileSync(script, lua);
    return new Promise((resolve) => {
      const child = spawn("taskset", ["-c", LOAD_CORE, "wrk", "-t1", `-c${Math.max(1, Math.floor(CONNECTIONS / targets.length))}`, `-d${SECONDS}s`, "-s", script, url]);
      let out = "";
      child.stdout.on("data", (c) => (out += c));
      child.on("exit", () => resolve(out));
    });
  });
  const outs = await Promise.all(runs);
  const busy = (serverCpu() - cpu0) / SECONDS;
  rmSync(dir, { recursive: true, force: true });
  let rate = 0;
  let errors = 0;
  for (const out of outs) {
    // The client-credentials script prints requests, duration, errors; chain-queue's adds p50 and p99 before errors.
    const m = /RESULT (\d+) (\d+) (?:\d+ \d+ )?(\d+)/.exec(out);
    if (m === null) throw new Error(`wrk failed: ${out}`);
    rate += Number(m[1]) / (Number(m[2]) / 1e6);
    errors += Number(m[3]);
    const first = /FIRST_ERROR (.*)/.exec(out)?.[1];
    if (first !== undefined) console.error(`  first error: ${first.slice(0, 200)}`);
  }
  return { rate: Math.round(rate), busy, errors };
}

const DONE = [
  "done = function(summary, latency, requests)",
  '  io.write(string.format("RESULT %d %d %d\\n", summary.requests, summary.duration, summary.errors.status))',
  "end",
];
const headerLines = (headers) => Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);

function clientCredentialsLua(auth) {
  return ['wrk.method = "POST"', 'wrk.body = "grant_type=client_credentials"', ...headerLines(form(auth)),
    "response = function(status, headers, body)",
    '  if status ~= 200 and not reported then reported = true; io.write("FIRST_ERROR " .. status .. " " .. body .. "\\n") end',
    "end", ...DONE].join("\n");
}

async function run(setup) {
  const dirs = Array.from({ length: setup.instances }, () => mkdtempSync(join(tmpdir(), "tessera-bench-")));
  const engineEnv = setup.engine === "postgres" ? { TESSERA_DATABASE_URL: await pgDatabase(), TESSERA_SECRET_KEY: SECRET_KEY } : {};
  const env = (dir) => ({
    ...engineEnv,
    // SQLite instances share one file (the first data dir); PostgreSQL ones one database.
    TESSERA_DATA_DIR: setup.engine === "sqlite" ? dirs[0] : dir,
    TESSERA_HTTP_PORT: "0",
    TESSERA_GRPC_PORT: "0",
    TESSERA_LOG_LEVEL: "silent",
    TESSERA_SWEEP_INTERVAL: "0",
    TESSERA_BOOTSTRAP_CLIENT_ID: BOOT_ID,
    TESSERA_BOOTSTRAP_CLIENT_SECRET: BOOT_SECRET,
    ...(setup.workers > 1 ? { TESSERA_WORKERS: String(setup.workers) } : {}),
  });
  const instances = [];
  try {
    for (const dir of dirs) instances.push(await startInstance(env(dir)));
    const serverCpu = () => instances.reduce((n, i) => n + treeCpuSeconds(i.child.pid), 0) + (setup.engine === "postgres" ? treeCpuSeconds(pgServer.pid) : 0);
    const url = instances[0].url;
    const admin = (await call(url, "/oidc/token", form(basic(BOOT_ID, BOOT_SECRET)), "grant_type=client_credentials")).access_token;
    const app = (await call(url, "/tessera.v1.ApplicationAdminService/CreateApplication", json(admin), JSON.stringify({ application: { displayName: "Bench" } }))).application;
    const client = await call(url, "/tessera.v1.ApplicationAdminService/CreateClient", json(admin),
      JSON.stringify({ client: { applicationId: app.id, grantTypes: ["client_credentials", "refresh_token"] } }));
    const user = { username: "bench-user", password: "bench password 123" };
    await call(url, "/tessera.v1.UserAdminService/CreateUser", json(admin), JSON.stringify({ user: { username: user.username, applicationIds: [app.id] }, password: user.password }));
    const auth = basic(client.client.id, client.clientSecret);

    const cc = await wrkAll(instances.map((i) => ({ url: `${i.url}/oidc/token`, lua: clientCredentialsLua(auth) })), serverCpu);
    // wrk asks for a connection's next request before it hands over the answer: a spare chain per connection.
    const perInstance = 2 * Math.ceil(CONNECTIONS / setup.instances);
    const targets = [];
    for (const inst of instances) {
      const bearer = (await call(inst.url, "/oidc/token", form(auth), "grant_type=client_credentials")).access_token;
      const tokens = [];
      for (let i = 0; i < perInstance; i += 8) {
        const batch = await Promise.all(Array.from({ length: Math.min(8, perInstance - i) }, () => call(inst.url, "/cis/v1/auth/password/authenticate", json(bearer), JSON.stringify(user))));
        tokens.push(...batch.map((b) => b.refresh_token));
      }
      targets.push({ url: inst.url, lua: chainQueueScript({ chains: tokens, path: "/cis/v1/auth/token/refresh", headers: json(bearer), formBody: false }) });
    }
    const rf = await wrkAll(targets, serverCpu);
    const line = (what, r) => `${setup.label.padEnd(14)} ${what.padEnd(19)} ${String(r.rate).padStart(6)}/s   server CPU ${r.busy.toFixed(2)} cores   ${String(Math.round(r.rate / r.busy)).padStart(6)} per server CPU-second   errors ${r.errors}`;
    console.log(line("client_credentials", cc));
    console.log(line("refresh", rf));
  } finally {
    for (const i of instances) {
      i.child.kill("SIGTERM");
      await new Promise((r) => (i.child.exitCode !== null ? r() : i.child.once("exit", r)));
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`${CONNECTIONS} keep-alive connections in all, tessera and PostgreSQL on core ${SERVER_CORE}, wrk on core ${LOAD_CORE}, ${SECONDS} s each`);
for (const setup of setups) await run(setup);
await pgServer?.stop();
