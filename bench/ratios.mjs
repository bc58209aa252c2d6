// The performance table of record: every tessera figure next to a floor measured in the same run, on
// the same core (the server pinned to core 0, wrk/h2load on core 1), as ratios. Absolute figures move
// with the host; ratios measured side by side mostly do not.
//
//   node bench/ratios.mjs                       # BENCH_RUNS=3 rounds, BENCH_SECONDS=8 each, medians
//   BENCH_RUNS=1 BENCH_SECONDS=3 node bench/ratios.mjs
//   node bench/ratios.mjs --refresh             # also refresh at 0 and 1,000,000 rows (slow: seeds 1M rows)
//                                               # and the refresh peer, oidc-provider (installed on first use)
//   node bench/ratios.mjs --refresh --rows 0    # refresh and the peer without the 1M-row database
//
// Floors: bench/http-sign-baseline.mjs (bare node:http that reads the body and signs one JWT with the
// same algorithm; with BENCH_PROTOCOL=grpc, bare node:http2 answering gRPC-framed: a reference row without a
// target, for how much of the gRPC figure is Node's http2); the refresh peer: bench/peer-oidc-provider.mjs.
// tessera: bench/client-credentials.mjs (form, Connect JSON, gRPC via h2load) and bench/refresh.mjs. Each round runs every workload once,
// interleaved, so a noisy minute hits all of them.
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: { refresh: { type: "boolean", default: false }, rows: { type: "string", default: "1000000" } },
});
const ROWS = Number(args.rows);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = process.env.BENCH_SECONDS ?? "8";
const env = (extra) => ({ ...process.env, BENCH_RUNS: "1", BENCH_SECONDS: SECONDS, ...extra });

/** Runs a bench script and returns its machine-readable lines as arrays of fields. */
function run(script, extraEnv, argv = []) {
  const out = spawnSync(process.execPath, [script, ...argv], { env: env(extraEnv), encoding: "utf8", maxBuffer: 1 << 24 });
  if (out.status !== 0) throw new Error(`${script} failed (${out.status}): ${out.stderr}`);
  const machine = /^(RESULT|FLOOR|PEER_MISSING) /;
  process.stderr.write(out.stdout.split("\n").filter((l) => l !== "" && !machine.test(l)).map((l) => `  ${l}\n`).join(""));
  return out.stdout.split("\n").filter((l) => machine.test(l)).map((l) => l.split(" "));
}

const samples = new Map();
const peer = { name: "oidc-provider", missing: false };
const add = (name, rate, busy) => {
  if (!samples.has(name)) samples.set(name, []);
  samples.get(name).push({ rate: Number(rate), busy: Number(busy) });
};

for (let round = 1; round <= RUNS; round++) {
  process.stderr.write(`round ${round} of ${RUNS}\n`);
  for (const alg of ["ES256", "EdDSA"]) {
    for (const [, , rate, busy] of run("bench/http-sign-baseline.mjs", { BENCH_ALG: alg })) add(`floor ${alg}`, rate, busy);
    if (alg === "ES256") {
      for (const [, , rate, busy] of run("bench/http-sign-baseline.mjs", { BENCH_ALG: alg, BENCH_PROTOCOL: "grpc" })) add(`floor grpc-${alg}`, rate, busy);
    }
    for (const [, door, , rate, busy] of run("bench/client-credentials.mjs", { BENCH_ALG: alg, BENCH_ONLY: alg === "ES256" ? "" : "http" })) {
      add(`${door} ${alg}`, rate, busy);
    }
  }
  if (args.refresh) {
    for (const [, , rows, rate, busy] of run("bench/refresh.mjs", {}, ["--rows", String(ROWS), "--sync", "FULL", "--seconds", SECONDS])) {
      add(`refresh ${rows}`, rate, busy);
    }
    for (const [kind, , name, rate, busy] of run("bench/peer-oidc-provider.mjs", {}, ["--seconds", SECONDS])) {
      peer.name = name;
      if (kind === "PEER_MISSING") peer.missing = true;
      else add("peer", rate, busy);
    }
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const figure = (name) => {
  const xs = samples.get(name);
  if (xs === undefined || xs.length === 0) return undefined;
  return { rate: median(xs.map((x) => x.rate)), busy: median(xs.map((x) => x.busy)) };
};

const rows = [
  ["client_credentials, HTTP, ES256", "http ES256", "floor ES256", "bare node:http + one ES256 signature", 0.75],
  ["client_credentials, HTTP, EdDSA", "http EdDSA", "floor EdDSA", "bare node:http + one EdDSA signature", 0.75],
  ["IssueClientToken, Connect JSON", "connect ES256", "http ES256", "tessera's own HTTP client_credentials", 0.85],
  ["IssueClientToken, gRPC (h2load)", "grpc ES256", "http ES256", "tessera's own HTTP client_credentials", 1.0],
  ["IssueClientToken, gRPC (h2load), for reference", "grpc ES256", "floor grpc-ES256", "bare node:http2 + one ES256 signature, gRPC-framed", undefined],
  ["refresh rotation, durable (FULL)", "refresh 0", "peer", `${peer.name} refresh, in-memory store`, 2.0],
  [`refresh at ${ROWS.toLocaleString("en")} rows vs empty`, `refresh ${ROWS}`, "refresh 0", "itself, empty database", 0.9],
];
console.log(`\n${RUNS} round(s) of ${SECONDS} s; rates are medians, ratios the median of each round's ratio (its range in brackets); server pinned to core 0, load on core 1\n`);
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
  // Each round runs both workloads minutes apart at most: their ratio cancels most of the host's drift.
  const pairs = samples.get(mine).map((x, i) => [x, samples.get(floor)[i]]).filter(([, y]) => y !== undefined);
  const ratios = pairs.map(([x, y]) => x.rate / y.rate);
  const ratio = median(ratios);
  const range = ratios.length > 1 ? ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : "";
  const perCpu = median(pairs.map(([x, y]) => x.rate / x.busy / (y.rate / y.busy)));
  console.log(
    `| ${label} | ${Math.round(a.rate)} | ${floorLabel} | ${Math.round(b.rate)} | ${ratio.toFixed(2)}${range} | ${target === undefined ? "–" : `≥ ${target.toFixed(2)} ${ratio >= target ? "✓" : "✗"}`} | ` +
      `${Math.round(a.busy * 100)} % / ${Math.round(b.busy * 100)} % | ${perCpu.toFixed(2)} |`,
  );
}
