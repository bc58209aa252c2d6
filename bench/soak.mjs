// Memory under sustained refresh load: the built server pinned to one core, wrk rotating 128 chains over 64
// connections from the other core, the server's RSS (and V8 heap, from /metrics) sampled every --sample seconds.
// Runs for --minutes (10) and at least until --rotations (1,000,000) rotations, counted by the server's own
// tessera_tokens_issued_total{grant="refresh_token"}; prints the samples, the RSS when the rotation count was
// reached, min / max / last over the soak, and a verdict against --limit-mb (250) and flatness (the last
// minute's median RSS within --flat-mb (25) of the second minute's).
// The server runs silent unless --log-level says otherwise (info: `npm start`'s default, an access line per rotation
// written to /dev/null, which keeps its batching and the writer's buffers in the measurement).
// Usage: node bench/soak.mjs [--minutes 10] [--rotations 1000000] [--rows 0] [--sync FULL] [--sample 10] [--core 0] [--log-level silent]
import { execFileSync, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import http from "node:http";
import { parseArgs } from "node:util";
import { benchHeaders, loginChains, request, rssBytes, seedDataDir, serverEnv, startServer, writeWrkScript } from "./refresh-setup.mjs";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    rotations: { type: "string", default: "1000000" },
    rows: { type: "string", default: "0" },
    sync: { type: "string", default: "FULL" },
    sample: { type: "string", default: "10" },
    core: { type: "string", default: "0" },
    connections: { type: "string", default: "64" },
    "limit-mb": { type: "string", default: "250" },
    "flat-mb": { type: "string", default: "25" },
    "log-level": { type: "string", default: "silent" },
  },
});
const MINUTES = Number(args.minutes);
const ROTATIONS = Number(args.rotations);
const SAMPLE_S = Number(args.sample);
const CONNECTIONS = Number(args.connections);
const MIB = 1024 * 1024;
execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });

/** A Prometheus sample's value from the exposition text (0 when absent). */
function metric(text, name, labels = "") {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

const median = (xs) => (xs.length === 0 ? undefined : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
const mb = (bytes) => (bytes / MIB).toFixed(1);

const { dataDir } = await seedDataDir(Number(args.rows), args.sync);
const { child, port } = await startServer({ ...serverEnv(dataDir, args.sync), TESSERA_LOG_LEVEL: args["log-level"] }, { core: args.core });
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
let wrk;
try {
  const { json } = await benchHeaders(agent, port);
  const chains = await loginChains(agent, port, json, 2 * CONNECTIONS);
  const { dir, script } = writeWrkScript(chains, json, "cis");
  const idleRss = rssBytes(child.pid);
  console.log(`server pid ${child.pid} on core ${args.core}, ${Number(args.rows).toLocaleString("en")} seeded rows, synchronous=${args.sync}, log level ${args["log-level"]}; RSS before load ${mb(idleRss)} MiB`);
  const loadCore = args.core === "0" ? "1" : "0";
  wrk = spawn("taskset", ["-c", loadCore, "wrk", "-t1", `-c${CONNECTIONS}`, "-d24h", "-s", script, `http://127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
  let wrkOut = "";
  wrk.stdout.on("data", (c) => (wrkOut += c));
  const started = performance.now();
  const samples = [];
  let atTarget;
  console.log("   time  rotations     rate/s  RSS MiB  heap used MiB");
  for (;;) {
    await new Promise((r) => setTimeout(r, SAMPLE_S * 1000));
    const text = (await request(agent, port, "/metrics", {}, "", "GET")).text;
    const s = {
      t: (performance.now() - started) / 1000,
      rotations: metric(text, "tessera_tokens_issued_total", '{grant="refresh_token"}'),
      rss: rssBytes(child.pid),
      heap: metric(text, "nodejs_heap_size_used_bytes"),
    };
    const prev = samples.at(-1) ?? { t: 0, rotations: 0 };
    samples.push(s);
    console.log(
      `${s.t.toFixed(0).padStart(6)} s ${String(s.rotations).padStart(10)} ${((s.rotations - prev.rotations) / (s.t - prev.t)).toFixed(0).padStart(10)} ${mb(s.rss).padStart(8)} ${mb(s.heap).padStart(14)}`,
    );
    if (/FIRST_ERROR/.test(wrkOut)) throw new Error(`a rotation failed: ${wrkOut.slice(0, 300)}`);
    if (atTarget === undefined && s.rotations >= ROTATIONS) atTarget = s;
    if (s.t >= MINUTES * 60 && atTarget !== undefined) break;
  }
  wrk.kill("SIGINT");
  rmSync(dir, { recursive: true, force: true });
  const rss = samples.map((s) => s.rss);
  const minute = (from, to) => samples.filter((s) => s.t > from && s.t <= to).map((s) => s.rss);
  const end = samples.at(-1).t;
  // Minute 2 (the first is warm-up); a run shorter than that compares with its first sample.
  const early = median(minute(60, 120)) ?? samples[0].rss;
  const late = median(minute(end - 60, end));
  const last = samples.at(-1);
  const limit = Number(args["limit-mb"]) * MIB;
  const flat = late - early <= Number(args["flat-mb"]) * MIB;
  console.log(`RSS after ${atTarget.rotations.toLocaleString("en")} rotations (${atTarget.t.toFixed(0)} s): ${mb(atTarget.rss)} MiB`);
  console.log(
    `RSS over ${(end / 60).toFixed(1)} min, ${last.rotations.toLocaleString("en")} rotations (${(last.rotations / end).toFixed(0)}/s): ` +
      `min ${mb(Math.min(...rss))}, max ${mb(Math.max(...rss))}, last ${mb(last.rss)} MiB; median of minute 2 ${mb(early)} MiB, of the last minute ${mb(late)} MiB`,
  );
  console.log(
    `verdict: ${Math.max(...rss) < limit ? `under ${args["limit-mb"]} MiB` : `OVER ${args["limit-mb"]} MiB`}, ` +
      `${flat ? `flat (last minute within ${args["flat-mb"]} MiB of minute 2)` : `GROWING (+${mb(late - early)} MiB from minute 2 to the last minute)`}`,
  );
  console.log(`RESULT soak ${atTarget.rss} ${Math.min(...rss)} ${Math.max(...rss)} ${last.rss} ${flat ? 1 : 0}`);
} finally {
  wrk?.kill("SIGINT");
  agent.destroy();
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  rmSync(dataDir, { recursive: true, force: true });
}
