// The performance table of record: every tessera figure next to a floor measured in the same run, on
// the same core (the servers pinned to core 0, wrk/h2load on core 1), as ratios. Absolute figures move
// with the host; ratios measured side by side mostly do not.
//
//   node bench/ratios.mjs                       # BENCH_RUNS=10 rounds of BENCH_SECONDS=3 turns, medians (~5 min)
//   BENCH_RUNS=3 BENCH_SECONDS=2 node bench/ratios.mjs
//   node bench/ratios.mjs --refresh             # also refresh at 0 and 1,000,000 rows (slow: seeds 1M rows)
//                                               # and the refresh peer, oidc-provider (installed on first use)
//   node bench/ratios.mjs --refresh --rows 0    # refresh and the peer without the 1,000,000-row database
//   BENCH_REFRESH_RUNS=3 BENCH_REFRESH_SECONDS=8 # the refresh rounds (each starts its servers afresh)
//   BENCH_LOG_LEVEL=info                        # tessera with its default log level (an access line per call; default warn)
//
// client_credentials: the floors (bench/load.mjs: bare node:http that reads the body and signs one JWT with the
// same algorithm, and bare node:http2 answering gRPC-framed: a reference row without a target, for how much of the
// gRPC figure is Node's http2) and tessera (ES256 and EdDSA) are started once and stay up; each round loads them one
// at a time in short turns, each figure next to the one it is compared with, the order reversed every other round.
// This host's speed moves by 2× within minutes: a ratio of two turns seconds apart mostly cancels that, and the
// median over many rounds the rest.
// refresh: bench/refresh.mjs on an empty database and bench/peer-oidc-provider.mjs, a run of each per round; and
// bench/refresh.mjs --alternate, the seeded database against the empty one in turns as above.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LOG_LEVEL, installed, load, startFloor, startTessera, stopAll } from "./load.mjs";

const { values: args } = parseArgs({
  options: { refresh: { type: "boolean", default: false }, rows: { type: "string", default: "1000000" } },
});
const ROWS = Number(args.rows);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const REFRESH_RUNS = Number(process.env.BENCH_REFRESH_RUNS ?? 3);
const REFRESH_SECONDS = process.env.BENCH_REFRESH_SECONDS ?? "8";
for (const loader of ["wrk", "h2load"]) {
  if (!installed(loader)) {
    console.error(`bench/ratios.mjs needs ${loader} (apt-get install ${loader === "wrk" ? "wrk" : "nghttp2-client"})`);
    process.exit(1);
  }
}
spawnSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });

/** Runs a bench script and returns its machine-readable lines as arrays of fields. */
function run(script, extraEnv, argv = []) {
  const out = spawnSync(process.execPath, [script, ...argv], { env: { ...process.env, BENCH_RUNS: "1", ...extraEnv }, encoding: "utf8", maxBuffer: 1 << 24 });
  if (out.status !== 0) throw new Error(`${script} failed (${out.status}): ${out.stderr}`);
  const machine = /^(RESULT|FLOOR|PEER_MISSING) /;
  process.stderr.write(out.stdout.split("\n").filter((l) => l !== "" && !machine.test(l)).map((l) => `  ${l}\n`).join(""));
  return out.stdout.split("\n").filter((l) => machine.test(l)).map((l) => l.split(" "));
}

const samples = new Map();
const peer = { name: "oidc-provider", missing: false };
const add = (name, round, rate, busy) => {
  if (!samples.has(name)) samples.set(name, []);
  samples.get(name)[round] = { rate: Number(rate), busy: Number(busy) };
};

// client_credentials: every server up at once (an idle one costs nothing), loaded in turns.
const work = mkdtempSync(join(tmpdir(), "tessera-ratios-"));
const servers = [];
try {
  const floorHttp = { ES256: await startFloor({ alg: "ES256", door: "http", work }), EdDSA: await startFloor({ alg: "EdDSA", door: "http", work }) };
  const floorGrpc = await startFloor({ alg: "ES256", door: "grpc", work });
  const tessera = { ES256: await startTessera({ alg: "ES256", work }), EdDSA: await startTessera({ alg: "EdDSA", work }) };
  servers.push(floorHttp.ES256, floorHttp.EdDSA, floorGrpc, tessera.ES256, tessera.EdDSA);
  // Each figure close to the ones it is compared with: HTTP beside its floor and gRPC, gRPC beside its floor.
  const turns = [
    ["floor ES256", floorHttp.ES256, "http"],
    ["http ES256", tessera.ES256, "http"],
    ["grpc ES256", tessera.ES256, "grpc"],
    ["floor grpc-ES256", floorGrpc, "grpc"],
    ["connect ES256", tessera.ES256, "connect"],
    ["floor EdDSA", floorHttp.EdDSA, "http"],
    ["http EdDSA", tessera.EdDSA, "http"],
  ];
  process.stderr.write(`client_credentials: ${turns.length} workloads, ${RUNS} rounds of ${SECONDS}-s turns after a warm-up turn each\n`);
  for (const [, server, door] of turns) await load(server, door, 2);
  for (let round = 0; round < RUNS; round++) {
    const order = round % 2 === 0 ? turns : [...turns].reverse();
    const line = [];
    for (const [name, server, door] of order) {
      const { rate, busy, failed } = await load(server, door, SECONDS);
      if (failed > 0) process.stderr.write(`  ${name}: ${failed} failed calls\n`);
      add(name, round, failed > 0 ? NaN : rate, busy);
      line.push(`${name} ${Math.round(rate)}`);
    }
    process.stderr.write(`round ${round + 1} of ${RUNS}: ${line.join(", ")}\n`);
  }
} finally {
  await stopAll(servers);
  rmSync(work, { recursive: true, force: true });
}

if (args.refresh) {
  // Against the peer: a run of each per round, a minute apart.
  for (let round = 0; round < REFRESH_RUNS; round++) {
    process.stderr.write(`refresh round ${round + 1} of ${REFRESH_RUNS}\n`);
    for (const [, , , rate, busy] of run("bench/refresh.mjs", {}, ["--rows", "0", "--sync", "FULL", "--seconds", REFRESH_SECONDS])) {
      add("refresh 0", round, rate, busy);
    }
    for (const [kind, , name, rate, busy] of run("bench/peer-oidc-provider.mjs", {}, ["--seconds", REFRESH_SECONDS])) {
      peer.name = name;
      if (kind === "PEER_MISSING") peer.missing = true;
      else add("peer", round, rate, busy);
    }
  }
  // The seeded database against the empty one: both served at once, in turns seconds apart.
  if (ROWS > 0) {
    process.stderr.write(`refresh: ${ROWS.toLocaleString("en")} rows against empty, ${RUNS} rounds of ${SECONDS}-s turns\n`);
    const argv = ["--rows", String(ROWS), "--sync", "FULL", "--seconds", String(SECONDS), "--alternate", String(RUNS)];
    for (const [, , rows, rate, busy, round] of run("bench/refresh.mjs", {}, argv)) add(`seeded ${rows}`, Number(round), rate, busy);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const figure = (name) => {
  const xs = (samples.get(name) ?? []).filter((x) => x !== undefined && Number.isFinite(x.rate));
  if (xs.length === 0) return undefined;
  return { rate: median(xs.map((x) => x.rate)), busy: median(xs.map((x) => x.busy)) };
};

const rows = [
  ["client_credentials, HTTP, ES256", "http ES256", "floor ES256", "bare node:http + one ES256 signature", 0.75],
  ["client_credentials, HTTP, EdDSA", "http EdDSA", "floor EdDSA", "bare node:http + one EdDSA signature", 0.75],
  ["IssueClientToken, Connect JSON", "connect ES256", "http ES256", "tessera's own HTTP client_credentials", 0.85],
  ["IssueClientToken, gRPC (h2load)", "grpc ES256", "http ES256", "tessera's own HTTP client_credentials", 1.0],
  ["IssueClientToken, gRPC (h2load), for reference", "grpc ES256", "floor grpc-ES256", "bare node:http2 + one ES256 signature, gRPC-framed", undefined],
  // What the gRPC row can reach if both doors stay as far above their floors as they are.
  ["the floors: bare node:http2 (gRPC) against bare node:http, for reference", "floor grpc-ES256", "floor ES256", "bare node:http + one ES256 signature", undefined],
  ["refresh rotation, durable (FULL)", "refresh 0", "peer", `${peer.name} refresh, in-memory store`, 2.0],
  [`refresh at ${ROWS.toLocaleString("en")} rows vs empty`, `seeded ${ROWS}`, "seeded 0", "itself, empty database", 0.9],
];
console.log(
  `\nclient_credentials${args.refresh && ROWS > 0 ? ` and ${ROWS.toLocaleString("en")} rows` : ""}: ${RUNS} round(s) of ${SECONDS}-s turns` +
    `${args.refresh ? `; refresh against the peer: ${REFRESH_RUNS} round(s) of ${REFRESH_SECONDS} s` : ""}. ` +
    `tessera at log level ${LOG_LEVEL}. Rates are medians, ratios the median of each round's ratio (its range in brackets); servers pinned to core 0, load on core 1\n`,
);
console.log("| workload | tessera /s | floor / peer | floor /s | ratio | target | server core busy | ratio per server CPU-second |");
console.log("|---|---|---|---|---|---|---|---|");
for (const [label, mine, floor, floorLabel, target] of rows) {
  const a = figure(mine);
  const b = figure(floor);
  if (a !== undefined && b === undefined && floor === "peer" && peer.missing) {
    console.log(`| ${label} | ${Math.round(a.rate)} | ${floorLabel} | peer not installed | – | ≥ ${target.toFixed(2)} | ${Math.round(a.busy * 100)} % / – | – |`);
    continue;
  }
  if (a === undefined || b === undefined || mine === floor) continue;
  // A ratio per round, of two figures measured seconds apart (client_credentials) or a minute apart (refresh).
  const ok = (x) => x !== undefined && Number.isFinite(x.rate);
  const pairs = samples.get(mine).map((x, i) => [x, samples.get(floor)[i]]).filter(([x, y]) => ok(x) && ok(y));
  const ratios = pairs.map(([x, y]) => x.rate / y.rate);
  const ratio = median(ratios);
  const range = ratios.length > 1 ? ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : "";
  const perCpu = median(pairs.map(([x, y]) => x.rate / x.busy / (y.rate / y.busy)));
  console.log(
    `| ${label} | ${Math.round(a.rate)} | ${floorLabel} | ${Math.round(b.rate)} | ${ratio.toFixed(2)}${range} | ${target === undefined ? "–" : `≥ ${target.toFixed(2)} ${ratio >= target ? "✓" : "✗"}`} | ` +
      `${Math.round(a.busy * 100)} % / ${Math.round(b.busy * 100)} % | ${perCpu.toFixed(2)} |`,
  );
}
