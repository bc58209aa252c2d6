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
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { IssueClientTokenRequestSchema } from "../dist/gen/tessera/v1/token_service_pb.js";
import { serverPorts } from "./server-ports.mjs";

const [dirA, dirB] = process.argv.slice(2).map((d) => resolve(d));
const DOOR = process.env.BENCH_DOOR ?? "grpc";
const ALTERNATE = process.env.BENCH_ALTERNATE === "1";
const RUNS = Number(process.env.BENCH_RUNS ?? (ALTERNATE ? 12 : 4));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (ALTERNATE ? 2 : 8));
const DOORS = { A: process.env.BENCH_DOOR_A ?? DOOR, B: process.env.BENCH_DOOR_B ?? DOOR };
const ALG = process.env.BENCH_ALG ?? "ES256";
const STREAMS = 64;

const fail = (message) => {
  console.error(message);
  process.exit(2);
};
if (dirA === undefined || dirB === undefined) fail("usage: node bench/duel.mjs <dir A> <dir B> (each with a built dist/)");
for (const dir of [dirA, dirB]) if (!existsSync(join(dir, "dist/src/main.js"))) fail(`${dir} has no dist/src/main.js: run npm run build there`);
for (const door of new Set(Object.values(DOORS))) {
  if (!["grpc", "http", "connect"].includes(door)) fail("BENCH_DOOR, BENCH_DOOR_A and BENCH_DOOR_B must be grpc, http or connect");
  const loaderName = door === "grpc" ? "h2load" : "wrk";
  if (spawnSync(loaderName, ["--version"]).error !== undefined) fail(`this bench needs ${loaderName} (apt-get install ${door === "grpc" ? "nghttp2-client" : "wrk"})`);
}
if (spawnSync("taskset", ["-V"]).status !== 0) fail("this bench needs taskset (util-linux): both servers must share one core");

const work = mkdtempSync(join(tmpdir(), "tessera-duel-"));
const servers = [];
const cleanup = () => {
  for (const s of servers) s.process.kill("SIGINT");
  rmSync(work, { recursive: true, force: true });
};
process.on("exit", cleanup);

/** Starts the build in `dir` on core 0 with its own data directory; resolves to what its loader needs. */
async function start(dir, name) {
  const data = join(work, name);
  const child = spawn("taskset", ["-c", "0", process.execPath, join(dir, "dist/src/main.js")], {
    env: { ...process.env, TESSERA_DATA_DIR: data, TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0", TESSERA_SIGNING_ALG: ALG, TESSERA_LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const server = { process: child, name, dir };
  servers.push(server);
  const ports = await serverPorts(child, dir);
  const creds = JSON.parse(readFileSync(join(data, "bootstrap.json"), "utf8"));
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(creds.client_id)}:${encodeURIComponent(creds.client_secret)}`).toString("base64")}`;
  return Object.assign(server, { ports, basic, files: writeLoadFiles(name, basic) });
}

/** The gRPC request frame and the wrk script for one server. */
function writeLoadFiles(name, basic) {
  const message = toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, {}));
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  const grpcFrame = join(work, `${name}.grpc`);
  writeFileSync(grpcFrame, frame);
  const [body, type] = DOORS[name] === "connect" ? ["{}", "application/json"] : ["grant_type=client_credentials", "application/x-www-form-urlencoded"];
  const script = join(work, `${name}.lua`);
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "${type}"\nwrk.headers["Authorization"] = "${basic}"\n`);
  return { grpcFrame, script };
}

/** Loads one server from core 1 for `seconds`; resolves to its requests per second (NaN if the loader failed). */
function load(server, seconds) {
  const door = DOORS[server.name];
  const argv =
    door === "grpc"
      ? ["h2load", "-c4", `-m${STREAMS / 4}`, `-D${seconds}`, "-d", server.files.grpcFrame, "-H", "content-type: application/grpc", "-H", "te: trailers",
        "-H", `authorization: ${server.basic}`, `http://127.0.0.1:${server.ports.grpc}/tessera.v1.TokenService/IssueClientToken`]
      : ["wrk", "-t1", `-c${STREAMS}`, `-d${seconds}s`, "-s", server.files.script,
        `http://127.0.0.1:${server.ports.http}/${door === "http" ? "oidc/token" : "tessera.v1.TokenService/IssueClientToken"}`];
  return new Promise((ok) => {
    const child = spawn("taskset", ["-c", "1", ...argv], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.once("exit", () => {
      const rate = /finished in [^,]+, ([\d.]+) req\/s/.exec(out) ?? /Requests\/sec:\s+(\S+)/.exec(out);
      const failed = /(\d+) failed/.exec(out) ?? /Non-2xx or 3xx responses: (\d+)/.exec(out);
      if (failed !== null && Number(failed[1]) > 0) console.error(`  ${server.name}: ${failed[1]} failed requests`);
      ok(Number(rate?.[1]));
    });
  });
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
