// The floor for bench/client-credentials.mjs on this machine: a bare node:http server on one core that
// reads the form body and answers with one freshly signed JWT per request (no auth, no routing): what any
// JWT token endpoint on Node must pay. Loaded with wrk exactly as the client_credentials bench does.
//   node bench/http-sign-baseline.mjs            # BENCH_ALG=ES256 (the server default), EdDSA or RS256
//   BENCH_PROTOCOL=grpc node bench/http-sign-baseline.mjs
//       the same over gRPC: a bare node:http2 server that answers every stream with one length-prefixed
//       message holding a fresh JWT and grpc-status 0, loaded with h2load as the gRPC bench loads tessera
//       (BENCH_CHANNELS connections, BENCH_CONCURRENCY streams in all): what any gRPC token service on
//       Node's http2 must pay.
// The servers' programs are in bench/load.mjs (bench/ratios.mjs runs them too).
// The last line is machine-readable: `FLOOR <alg> <requests/s> <server busy share>` (`FLOOR grpc-<alg> …`).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHANNELS, CONNECTIONS, FLOOR_ALGS, STREAMS, installed, load, startFloor, stopAll } from "./load.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ALG = process.env.BENCH_ALG ?? "ES256";
const door = process.env.BENCH_PROTOCOL === "grpc" ? "grpc" : "http";
if (!FLOOR_ALGS.includes(ALG)) {
  console.error(`BENCH_ALG must be one of ${FLOOR_ALGS.join(", ")}`);
  process.exit(2);
}
const loader = door === "grpc" ? "h2load" : "wrk";
if (!installed(loader)) {
  console.error(`this baseline needs ${loader} (apt-get install ${door === "grpc" ? "nghttp2-client" : "wrk"})`);
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), "tessera-floor-"));
// BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the floor's server, as in client-credentials.mjs.
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
const floor = await startFloor({ alg: ALG, door, work, nodeArgs });
try {
  await load(floor, door, 3);
  const { rate, busy } = await load(floor, door, SECONDS);
  const what = door === "grpc" ? `bare node:http2 + one ${ALG} JWT per gRPC call, server on core 0, h2load ${CHANNELS}×${STREAMS} streams` : `bare node:http + one ${ALG} JWT per request, server on core 0, wrk ${CONNECTIONS} connections`;
  console.log(`floor (${what}): ${Math.round(rate)} requests/s (server core ${Math.round(busy * 100)}% busy, ${Math.round(rate / busy)} requests/s at 100%)`);
  console.log(`FLOOR ${door === "grpc" ? "grpc-" : ""}${ALG} ${Math.round(rate)} ${busy.toFixed(3)}`);
} finally {
  await stopAll([floor]);
  rmSync(work, { recursive: true, force: true });
}
