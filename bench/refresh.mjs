// Lines `RESULT refresh <rows> <rotations/s> <server busy share>` are for bench/ratios.mjs.
// Refresh-token rotation over HTTP: the built server pinned to one core, 64 keep-alive connections,
// each following its own chain. Usage: node bench/refresh.mjs [--seconds 10] [--rows 1000000 (0: empty only)]
//   [--connections 64] [--endpoint cis|oidc] [--sync NORMAL,FULL] [--driver wrk|node] [--engine sqlite,postgres]
// --alternate N: the empty database and the seeded one served at once (both on the server core, SQLite, the first
// --sync), loaded alone in N rounds of --seconds turns each, the order reversed every other round, the chains
// carried from turn to turn (topped up by fresh logins): the two figures of a round are seconds apart, on a host
// whose speed moves by 2× within minutes. Lines `RESULT refresh <rows> <rate> <busy> <round>`.
// --engine postgres starts a durable PostgreSQL (scripts/embedded-postgres.mjs: fsync and synchronous_commit on)
// pinned to the server's core; its processes' CPU counts as server CPU.
// The measured load comes from wrk when it is installed (a Lua script keeps a queue of live chain heads:
// each answer's refresh_token goes to the back, each request takes one from the front), otherwise from
// a node:http client, which saturates its own core before the server's.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { parseArgs } from "node:util";
import { cpuSeconds, runChainQueue } from "./chain-queue.mjs";
import { benchHeaders, loginChains, request, seedDataDir, serverEnv, startServer } from "./refresh-setup.mjs";

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
    engine: { type: "string", default: "sqlite" },
    alternate: { type: "string" },
    driver: { type: "string", default: spawnSync("wrk", ["--version"]).error === undefined ? "wrk" : "node" },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
// One count: every run measures the empty database and then this many seeded rows.
const ROWS = Number(args.rows);
if (!Number.isInteger(ROWS) || ROWS < 0) throw new Error(`--rows takes one row count (the empty run always comes first), not "${args.rows}"`);
execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });

const PG_SECRET_KEY = "bench-master-key-bench-master-key-0123";
const engines = args.engine.split(",");
const embedded = engines.includes("postgres") ? await import("../scripts/embedded-postgres.mjs") : undefined;
const pgServer = await embedded?.startPostgres({ durable: true, cpu: args.core });
let pgDatabases = 0;
/** A fresh database on the bench's PostgreSQL. */
const pgDatabase = () => embedded.createDatabase(pgServer.url, `bench_${++pgDatabases}`);

const engineEnv = {};
async function run(label, rows, sync) {
  if (pgServer !== undefined) {
    for (const k of Object.keys(engineEnv)) delete engineEnv[k];
    if (label.startsWith("postgres")) Object.assign(engineEnv, { TESSERA_DATABASE_URL: await pgDatabase(), TESSERA_SECRET_KEY: PG_SECRET_KEY, TESSERA_DATABASE_POOL_SIZE: process.env.BENCH_PG_POOL ?? "10" });
  }
  const { dataDir, seedSeconds } = await seedDataDir(rows, sync, engineEnv);
  const nodeArgs = args.prof === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${args.prof}`];
  const { child, port } = await startServer(serverEnv(dataDir, sync, engineEnv), { core: args.core, nodeArgs });
  // The server's CPU: tessera's, and PostgreSQL's processes' when it runs on PostgreSQL.
  const serverCpu = () => cpuSeconds(child.pid) + (engineEnv.TESSERA_DATABASE_URL ? postgresCpuSeconds(pgServer.pid) : 0);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS, noDelay: true });
  try {
    const { form, json } = await benchHeaders(agent, port);
    // wrk asks for a connection's next request before it hands over the answer: a spare chain per connection.
    const chains = await loginChains(agent, port, json, args.driver === "wrk" ? 2 * CONNECTIONS : CONNECTIONS);
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
    if (args.driver === "wrk") {
      stop = true;
      await Promise.all(workers);
      const w = wrk(port, chains, args.endpoint === "oidc" ? form : json, serverCpu);
      console.log(
        `${label.padEnd(28)} ${String(w.rate).padStart(6)} rotations/s   p50 ${w.p50.padStart(6)} ms   p99 ${w.p99.padStart(6)} ms` +
          `   errors ${w.misses}   server core ${Math.round(w.busy * 100)}% busy, ${Math.round(w.rate / w.busy)} rotations per server CPU-second (wrk)` +
          `${rows > 0 ? `   (seeded in ${seedSeconds.toFixed(1)} s)` : ""}`,
      );
      console.log(`RESULT refresh ${rows} ${w.rate} ${w.busy.toFixed(3)}`);
      return;
    }
    measuring = true;
    const t0 = performance.now();
    const cpu0 = serverCpu();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    const busy = (serverCpu() - cpu0) / elapsed;
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
    console.log(`RESULT refresh ${rows} ${Math.round(done / elapsed)} ${busy.toFixed(3)}`);
  } finally {
    agent.destroy();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** One wrk run over the live chains (one token per in-flight request, successors queued for reuse). */
function wrk(port, chains, headers, serverCpu, seconds = SECONDS) {
  const oidc = args.endpoint === "oidc";
  return runChainQueue({
    port,
    chains,
    path: oidc ? "/oidc/token" : "/cis/v1/auth/token/refresh",
    headers,
    formBody: oidc,
    seconds,
    connections: CONNECTIONS,
    loadCore: args.core === "0" ? "1" : "0",
    serverCpu,
  });
}

/**
 * The empty database and the seeded one (`ROWS`), both served at once, loaded alone in turns (`--alternate`).
 * wrk drops the answers in flight when a turn ends, so those chains are lost: each turn tops the live ones up
 * with fresh logins, outside the measured time.
 */
async function alternate(rounds, sync) {
  if (ROWS === 0) throw new Error("--alternate compares the empty database with --rows > 0 rows");
  if (args.driver !== "wrk") throw new Error("--alternate needs wrk (apt-get install wrk)");
  // wrk asks for a connection's next request before it hands over the answer: a spare chain per connection.
  const spare = 2 * CONNECTIONS;
  const targets = [];
  try {
    for (const rows of [0, ROWS]) {
      const { dataDir, seedSeconds } = await seedDataDir(rows, sync);
      const { child, port } = await startServer(serverEnv(dataDir, sync), { core: args.core });
      const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS, noDelay: true });
      const target = { rows, dataDir, child, port, agent, chains: [], rates: [] };
      targets.push(target);
      target.headers = await benchHeaders(agent, port);
      console.log(`synchronous=${sync}, ${rows.toLocaleString("en")} rows: serving${rows > 0 ? ` (seeded in ${seedSeconds.toFixed(1)} s)` : ""}`);
    }
    const turn = async (target, seconds) => {
      target.chains.push(...(await loginChains(target.agent, target.port, target.headers.json, spare - target.chains.length)));
      const w = wrk(target.port, target.chains, target.headers[args.endpoint === "oidc" ? "form" : "json"], () => cpuSeconds(target.child.pid), seconds);
      if (w.misses > 0) throw new Error(`${w.misses} rotations failed`);
      target.chains = w.live;
      return w;
    };
    for (const target of targets) await turn(target, WARMUP);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      const line = [];
      for (const target of order) {
        const w = await turn(target, SECONDS);
        target.rates[round] = w.rate;
        line.push(`${target.rows.toLocaleString("en")} rows ${w.rate}/s (${Math.round(w.busy * 100)}% busy)`);
        console.log(`RESULT refresh ${target.rows} ${w.rate} ${w.busy.toFixed(3)} ${round}`);
      }
      console.log(`round ${round + 1} of ${rounds}: ${line.join(", ")}, ratio ${(targets[1].rates[round] / targets[0].rates[round]).toFixed(3)}`);
    }
    const ratios = targets[1].rates.map((r, i) => r / targets[0].rates[i]).sort((x, y) => x - y);
    const median = ratios.length % 2 === 1 ? ratios[(ratios.length - 1) / 2] : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2;
    console.log(`${ROWS.toLocaleString("en")} rows vs empty: ${median.toFixed(3)} (median of ${rounds} rounds, ${ratios[0].toFixed(3)}–${ratios.at(-1).toFixed(3)})`);
  } finally {
    for (const t of targets) {
      t.agent.destroy();
      t.child.kill("SIGTERM");
      await new Promise((r) => t.child.once("exit", r));
      rmSync(t.dataDir, { recursive: true, force: true });
    }
  }
}

/** CPU seconds of a postmaster and every process it forked (backends, WAL writer, checkpointer…). */
function postgresCpuSeconds(postmaster) {
  let total = cpuSeconds(postmaster);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1].split(" ");
      if (Number(fields[1]) === postmaster) total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // The process ended meanwhile.
    }
  }
  return total;
}

// The load runs on the other core, so it does not compete with the server it measures.
spawnSync("taskset", ["-cp", args.core === "0" ? "1" : "0", String(process.pid)]);
console.log(`endpoint ${args.endpoint}, ${CONNECTIONS} keep-alive connections, server pinned to core ${args.core}, ${SECONDS} s after ${WARMUP} s warm-up`);
if (args.alternate !== undefined) {
  if (engines.length !== 1 || engines[0] !== "sqlite") throw new Error("--alternate runs on SQLite only");
  await alternate(Number(args.alternate), args.sync.split(",")[0]);
}
for (const engine of args.alternate === undefined ? engines : []) {
  if (engine === "postgres") {
    await run("postgres, empty", 0, "FULL");
    if (ROWS > 0) await run(`postgres, ${ROWS.toLocaleString("en")} rows`, ROWS, "FULL");
    continue;
  }
  for (const sync of args.sync.split(",")) {
    await run(`synchronous=${sync}, empty`, 0, sync);
    if (ROWS > 0) await run(`synchronous=${sync}, ${ROWS.toLocaleString("en")} rows`, ROWS, sync);
  }
}
await pgServer?.stop();
