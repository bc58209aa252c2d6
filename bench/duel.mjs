// Two builds of tessera side by side, for the A/B of a change on a host whose speed moves by 2× from one minute to
// the next (this one does): both servers are pinned to the same core (0) at the same time, each loaded by its own
// wrk or h2load on core 1 with the same concurrency. Both are CPU-bound on one core, which the scheduler shares
// evenly, so the ratio of their rates is the inverse ratio of their CPU per call, measured through the same minutes.
//
//   node bench/duel.mjs <dir A> <dir B>      # each a checkout with a built dist/ (npm run build)
//   BENCH_DOOR=grpc|http|connect             # IssueClientToken over gRPC (h2load, default), POST /oidc/token, Connect JSON
//   BENCH_RUNS=4 BENCH_SECONDS=8 BENCH_ALG=ES256
//   BENCH_ALTERNATE=1                        # load A, then B, alone, in short turns (BENCH_SECONDS=2, BENCH_RUNS=12):
//                                            # each alone on its core as in the ratios table, wake-ups and batching
//                                            # included; adjacent turns share the host's minute
//   node bench/duel.mjs floor .              # the bare floor of the door against this build: tessera's own CPU per call
//   BENCH_DOOR_A=http BENCH_DOOR_B=grpc      # a door per side: with BENCH_ALTERNATE=1 and one build twice,
//                                            # gRPC against tessera's own HTTP, as the table's gRPC row
//
// A build of an earlier commit, next to this checkout:
//   git worktree add /tmp/before <commit> && (cd /tmp/before && ln -s "$PWD/node_modules" && npm run build)
//   (the symlink reuses this checkout's node_modules; run `npm ci` there instead if package-lock.json changed)
//
// It prints each round and the median of B/A. A build against itself reads 0.97–0.99 on this host (the first
// server has a small edge); run both orders when a change is that small. This measures CPU per call only: a change
// in how answers are written (wake-ups of the client, batching) shows in the ratios table, not here.
// The last line is machine-readable: `DUEL <door> <median B/A>`.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { installed, load as loadOnce, startFloor, startTessera } from "./load.mjs";

// "floor" instead of a directory: the bare floor of that side's door (bench/load.mjs), for tessera's distance to it.
const [dirA, dirB] = process.argv.slice(2).map((d) => (d === "floor" ? d : resolve(d)));
const DOOR = process.env.BENCH_DOOR ?? "grpc";
const ALTERNATE = process.env.BENCH_ALTERNATE === "1";
const RUNS = Number(process.env.BENCH_RUNS ?? (ALTERNATE ? 12 : 4));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (ALTERNATE ? 2 : 8));
const DOORS = { A: process.env.BENCH_DOOR_A ?? DOOR, B: process.env.BENCH_DOOR_B ?? DOOR };
const ALG = process.env.BENCH_ALG ?? "ES256";

const fail = (message) => {
  console.error(message);
  process.exit(2);
};
if (dirA === undefined || dirB === undefined) fail("usage: node bench/duel.mjs <dir A> <dir B> (each with a built dist/)");
for (const dir of [dirA, dirB]) if (dir !== "floor" && !existsSync(join(dir, "dist/src/main.js"))) fail(`${dir} has no dist/src/main.js: run npm run build there`);
for (const [dir, side] of [[dirA, "A"], [dirB, "B"]]) if (dir === "floor" && DOORS[side] === "connect") fail("there is no Connect floor: a floor side takes BENCH_DOOR http or grpc");
for (const door of new Set(Object.values(DOORS))) {
  if (!["grpc", "http", "connect"].includes(door)) fail("BENCH_DOOR, BENCH_DOOR_A and BENCH_DOOR_B must be grpc, http or connect");
  const loaderName = door === "grpc" ? "h2load" : "wrk";
  if (!installed(loaderName)) fail(`this bench needs ${loaderName} (apt-get install ${door === "grpc" ? "nghttp2-client" : "wrk"})`);
}
if (spawnSync("taskset", ["-V"]).status !== 0) fail("this bench needs taskset (util-linux): both servers must share one core");

const work = mkdtempSync(join(tmpdir(), "tessera-duel-"));
const servers = [];
process.on("exit", () => {
  for (const s of servers) s.process.kill("SIGINT");
  rmSync(work, { recursive: true, force: true });
});

/** Starts the build in `dir` on core 0 with its own data directory. */
async function start(dir, name) {
  const server = dir === "floor" ? await startFloor({ alg: ALG, door: DOORS[name], work }) : await startTessera({ dir, alg: ALG, work, name });
  server.name = name;
  servers.push(server);
  return server;
}

/** Loads one server (A or B) through its door from core 1 for `seconds`; resolves to its requests per second. */
async function load(server, seconds) {
  const { rate, failed } = await loadOnce(server, DOORS[server.name], seconds);
  if (failed > 0) console.error(`  ${server.name}: ${failed} failed requests`);
  return rate;
}

const a = await start(dirA, "A");
const b = await start(dirB, "B");
const describeDoor = (door) =>
  door === "grpc" ? "gRPC IssueClientToken (h2load 4×16 streams)" : door === "http" ? "POST /oidc/token (wrk, 64 connections)" : "Connect JSON IssueClientToken (wrk, 64 connections)";
console.log(`${ALTERNATE ? "alternating turns of" : "duel on"} ${ALG}, both servers on core 0${ALTERNATE ? ", one loaded at a time" : ", loaded at once"}`);
console.log(`  A = ${dirA}, ${describeDoor(DOORS.A)}\n  B = ${dirB}, ${describeDoor(DOORS.B)}`);
await (ALTERNATE ? load(a, 3).then(() => load(b, 3)) : Promise.all([load(a, 3), load(b, 3)]));
const ratios = [];
for (let round = 1; round <= RUNS; round++) {
  const [rateA, rateB] = ALTERNATE ? [await load(a, SECONDS), await load(b, SECONDS)] : await Promise.all([load(a, SECONDS), load(b, SECONDS)]);
  ratios.push(rateB / rateA);
  console.log(`round ${round}: A ${Math.round(rateA)}/s, B ${Math.round(rateB)}/s, B/A ${(rateB / rateA).toFixed(3)}`);
}
ratios.sort((x, y) => x - y);
const median = ratios.length % 2 === 1 ? ratios[(ratios.length - 1) / 2] : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2;
console.log(`median B/A ${median.toFixed(3)} (range ${ratios[0].toFixed(3)}–${ratios.at(-1).toFixed(3)}): B does ${Math.abs((median - 1) * 100).toFixed(1)} % ${median >= 1 ? "more" : "less"} ${ALTERNATE ? "per second alone" : "per CPU-second"}`);
console.log(`DUEL ${DOORS.A === DOORS.B ? DOORS.A : `${DOORS.A}/${DOORS.B}`}${ALTERNATE ? " alternate" : ""} ${median.toFixed(3)}`);
process.exit(0);
