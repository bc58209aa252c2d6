// client_credentials throughput: the built server pinned to one core, loaded over HTTP
// (keep-alive, Basic auth; wrk) and over gRPC (IssueClientToken; h2load with a pre-encoded gRPC frame,
// or a grpc-js client from this process when h2load is missing).
//
//   npm run bench                      # defaults below
//   BENCH_SECONDS=10 BENCH_CONNECTIONS=64 BENCH_CHANNELS=4 BENCH_CONCURRENCY=64 npm run bench
//   BENCH_ALG=EdDSA npm run bench      # EdDSA (or RS256) instead of the default ES256
//   BENCH_ONLY=http|connect|grpc       # one door: form POST /oidc/token, Connect JSON IssueClientToken, gRPC
// Lines starting `RESULT <door> <alg> <rate> <busy>` are for bench/ratios.mjs.
//   BENCH_NODE_CLIENT=1|only           # HTTP load also (or only) from a node:http client instead of wrk
//   BENCH_GRPC_CLIENT=1                # gRPC load from grpc-js instead of h2load
//   BENCH_RUNS=3                       # measured runs per door (the machine is shared: report each, and the best)
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IssueClientTokenRequestSchema, IssueClientTokenResponseSchema } from "../dist/gen/tessera/v1/token_service_pb.js";
import { serverPorts } from "./server-ports.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const CHANNELS = Number(process.env.BENCH_CHANNELS ?? 4);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const ALG = process.env.BENCH_ALG ?? "ES256";
const RUNS = Number(process.env.BENCH_RUNS ?? 1);

const hasTaskset = spawnSync("taskset", ["-V"]).status === 0;
const pin = (core, argv) => (hasTaskset ? ["taskset", ["-c", String(core), ...argv]] : [argv[0], argv.slice(1)]);
if (hasTaskset) spawnSync("taskset", ["-cp", "1", String(process.pid)]);

const dataDir = mkdtempSync(join(tmpdir(), "tessera-bench-"));
// BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the server.
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
const [cmd, args] = pin(0, [process.execPath, ...nodeArgs, "dist/src/main.js"]);
const server = spawn(cmd, args, {
  env: {
    ...process.env,
    TESSERA_DATA_DIR: dataDir,
    TESSERA_HTTP_PORT: "0",
    TESSERA_GRPC_PORT: "0",
    TESSERA_SIGNING_ALG: ALG,
    TESSERA_LOG_LEVEL: "warn",
  },
  stdio: ["ignore", "ignore", "pipe"],
});
const ports = await serverPorts(server);
const creds = JSON.parse(readFileSync(join(dataDir, "bootstrap.json"), "utf8"));
const basic = `Basic ${Buffer.from(`${encodeURIComponent(creds.client_id)}:${encodeURIComponent(creds.client_secret)}`).toString("base64")}`;

/** Runs `fire` with `concurrency` loops for warm-up then SECONDS; returns throughput and latency percentiles. */
async function measure(concurrency, fire) {
  let recording = false;
  let stop = false;
  const latencies = [];
  let errors = 0;
  const loop = async () => {
    while (!stop) {
      const t0 = process.hrtime.bigint();
      try {
        await fire();
        if (recording) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (e) {
        errors += 1;
        if (errors === 1) console.error(`  first error: ${e.message}`);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await new Promise((r) => setTimeout(r, WARMUP * 1000));
  recording = true;
  decode = false;
  const started = process.hrtime.bigint();
  const cpuBefore = serverCpuSeconds();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  recording = false;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const serverBusy = (serverCpuSeconds() - cpuBefore) / elapsed;
  const count = latencies.length;
  stop = true;
  await Promise.all(loops);
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(count - 1, Math.floor((p / 100) * count))]?.toFixed(2);
  const perSecond = count / elapsed;
  return {
    perSecond: Math.round(perSecond),
    p50: pct(50),
    p99: pct(99),
    count,
    errors,
    // The server's core: how busy it was, and the rate it would reach at 100% of it.
    busy: `${Math.round(serverBusy * 100)}%`,
    capacity: Math.round(perSecond / serverBusy),
  };
}

/** User + system CPU seconds of the server process so far (Linux /proc), for its utilization. */
function serverCpuSeconds() {
  try {
    const fields = readFileSync(`/proc/${server.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

const describe = (r, unit) =>
  `${r.perSecond} ${unit}  p50 ${r.p50} ms  p99 ${r.p99} ms  (${r.count} ok, ${r.errors} errors; server core ${r.busy} busy, ` +
  `${r.capacity} ${unit} at 100%)`;

// wrk (apt-get install wrk) generates far more load per core than a node:http client; used when present.
const machine = [];
const hasWrk = process.env.BENCH_NODE_CLIENT !== "only" && spawnSync("wrk", ["--version"]).error === undefined;
function wrk(url, door, { body = "grant_type=client_credentials", contentType = "application/x-www-form-urlencoded" } = {}) {
  const script = join(dataDir, `${door}.lua`);
  writeFileSync(
    script,
    `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\n` +
      `wrk.headers["Content-Type"] = "${contentType}"\nwrk.headers["Authorization"] = "${basic}"\n` +
      `done = function(summary, latency, requests)\n  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, summary.duration, latency:percentile(50), latency:percentile(99)))\n` +
      `  io.write(string.format("ERRORS %d %d\\n", summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\nend\n`,
  );
  // The warm-up's figures are printed for the eye only: bench/ratios.mjs reads measured runs.
  const run = (seconds, measured = true) => {
    const [c, a] = pin(1, ["wrk", "-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "-s", script, url]);
    const before = serverCpuSeconds();
    const out = spawnSync(c, a, { encoding: "utf8" }).stdout;
    const busy = (serverCpuSeconds() - before) / seconds;
    const [, requests, micros, p50, p99] = /RESULT (\d+) (\d+) (\d+) (\d+)/.exec(out) ?? [];
    const [, status, socket] = /ERRORS (\d+) (\d+)/.exec(out) ?? [];
    const perSecond = Number(requests) / (Number(micros) / 1e6);
    if (measured) machine.push(`RESULT ${door} ${ALG} ${Math.round(perSecond)} ${busy.toFixed(3)}`);
    return (
      `${Math.round(perSecond)} tokens/s  p50 ${(p50 / 1000).toFixed(2)} ms  p99 ${(p99 / 1000).toFixed(2)} ms  ` +
      `(${requests} requests, ${status} non-2xx, ${socket} socket errors; server core ${Math.round(busy * 100)}% busy, ` +
      `${Math.round(perSecond / busy)} tokens/s at 100%)`
    );
  };
  run(WARMUP, false);
  return Array.from({ length: RUNS }, () => run(SECONDS));
}

// h2load (apt-get install nghttp2-client) drives HTTP/2 with far less CPU per call than a grpc-js client:
// every stream POSTs the same length-prefixed IssueClientTokenRequest with Basic metadata.
const hasH2load = process.env.BENCH_GRPC_CLIENT !== "1" && spawnSync("h2load", ["--version"]).error === undefined;
function h2load(url) {
  const frame = join(dataDir, "request.grpc");
  const message = Buffer.from(toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, {})));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  writeFileSync(frame, Buffer.concat([prefix, message]));
  const streams = Math.max(1, Math.round(CONCURRENCY / CHANNELS));
  const run = (seconds, measured = true) => {
    const args = ["h2load", `-c${CHANNELS}`, `-m${streams}`, `-D${seconds}`, "-d", frame];
    for (const h of ["content-type: application/grpc", "te: trailers", `authorization: ${basic}`]) args.push("-H", h);
    const [c, a] = pin(1, [...args, url]);
    const before = serverCpuSeconds();
    const out = spawnSync(c, a, { encoding: "utf8" }).stdout;
    const busy = (serverCpuSeconds() - before) / seconds;
    const perSecond = Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)?.[1]);
    if (measured) machine.push(`RESULT grpc ${ALG} ${Math.round(perSecond)} ${busy.toFixed(3)}`);
    const [, done, succeeded] = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(out) ?? [];
    const dataBytes = Number(/traffic: .*?, [^,]+ headers.*?, [\d.]+\w* \((\d+)\) data/.exec(out)?.[1]);
    const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1];
    // A gRPC error is an HTTP 200 with grpc-status in the trailers and no message: check the bytes.
    const perCall = dataBytes / Number(done);
    const check = perCall > 100 ? "" : `, only ${Math.round(perCall)} bytes of data per call: NOT TOKENS`;
    return (
      `${Math.round(perSecond)} calls/s  mean ${mean}  (${done} calls, ${Number(done) - Number(succeeded)} failed${check}; ` +
      `server core ${Math.round(busy * 100)}% busy, ${Math.round(perSecond / busy)} calls/s at 100%)`
    );
  };
  run(WARMUP, false);
  return Array.from({ length: RUNS }, () => run(SECONDS));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const body = "grant_type=client_credentials";
const httpCall = () =>
  new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: ports.http,
        path: "/oidc/token",
        method: "POST",
        agent,
        headers: {
          authorization: basic,
          "content-type": "application/x-www-form-urlencoded",
          "content-length": body.length,
        },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode} ${Buffer.concat(chunks)}`))));
      },
    );
    req.on("error", reject);
    req.end(body);
  });

const channels = Array.from(
  { length: CHANNELS },
  (_, i) => new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure(), { "grpc.channel_id": i }),
);
const request = Buffer.from(toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, {})));
let next = 0;
// grpc-js as a client costs more per call than the server does, so the client is kept cheap: a pre-encoded
// request, shared metadata, and responses fully decoded only during warm-up (then checked by size).
const metadata = new grpc.Metadata();
metadata.set("authorization", basic);
let decode = true;
const grpcCall = () =>
  new Promise((resolve, reject) => {
    channels[next++ % CHANNELS].makeUnaryRequest(
      "/tessera.v1.TokenService/IssueClientToken",
      (b) => b,
      (b) => (decode ? fromBinary(IssueClientTokenResponseSchema, b).accessToken : b),
      request,
      metadata,
      (err, res) => (err ? reject(err) : res.length < 100 ? reject(new Error("no token in the response")) : resolve()),
    );
  });

try {
  console.log(`tessera client_credentials bench: ${ALG}, server pinned to core 0 (${hasTaskset ? "taskset" : "no taskset: unpinned"}), load from this process, ${WARMUP}s warm-up + ${SECONDS}s`);
  const only = process.env.BENCH_ONLY || undefined;
  if ((only === undefined || only === "http") && hasWrk) {
    for (const w of wrk(`http://127.0.0.1:${ports.http}/oidc/token`, "http")) {
      console.log(`HTTP  POST /oidc/token (Basic, wrk on core 1, ${CONNECTIONS} keep-alive connections): ${w}`);
    }
  }
  if ((only === undefined || only === "connect") && hasWrk) {
    const url = `http://127.0.0.1:${ports.http}/tessera.v1.TokenService/IssueClientToken`;
    for (const w of wrk(url, "connect", { body: "{}", contentType: "application/json" })) {
      console.log(`Connect JSON IssueClientToken (Basic, wrk on core 1, ${CONNECTIONS} keep-alive connections): ${w.replace("tokens/s", "calls/s")}`);
    }
  }
  if ((only === undefined || only === "http") && (!hasWrk || process.env.BENCH_NODE_CLIENT === "1")) {
    const h = await measure(CONNECTIONS, httpCall);
    console.log(`HTTP  POST /oidc/token (Basic, ${CONNECTIONS} keep-alive connections): ${describe(h, "tokens/s")}`);
  }
  if ((only === undefined || only === "grpc") && hasH2load) {
    // One decoded call first: the load below only sees sizes.
    await grpcCall();
    for (const g of h2load(`http://127.0.0.1:${ports.grpc}/tessera.v1.TokenService/IssueClientToken`)) {
      console.log(`gRPC  IssueClientToken (h2load on core 1, ${CHANNELS} connections x ${Math.round(CONCURRENCY / CHANNELS)} streams): ${g}`);
    }
  }
  if ((only === undefined || only === "grpc") && !hasH2load) {
    const g = await measure(CONCURRENCY, grpcCall);
    console.log(`gRPC  IssueClientToken (grpc-js, ${CHANNELS} channels, concurrency ${CONCURRENCY}): ${describe(g, "calls/s")}`);
  }
  for (const line of machine) console.log(line);
} finally {
  agent.destroy();
  for (const c of channels) c.close();
  server.kill("SIGTERM");
  await new Promise((r) => server.once("exit", r));
  rmSync(dataDir, { recursive: true, force: true });
}
