// The floor for bench/client-credentials.mjs on this machine: a bare node:http server on one core that
// reads the form body and answers with one freshly signed JWT per request (no auth, no routing): what any
// JWT token endpoint on Node must pay. Loaded with wrk exactly as the client_credentials bench does.
//   node bench/http-sign-baseline.mjs            # BENCH_ALG=ES256 (the server default), EdDSA or RS256
//   BENCH_PROTOCOL=grpc node bench/http-sign-baseline.mjs
//       the same over gRPC: a bare node:http2 server that answers every stream with one length-prefixed
//       message holding a fresh JWT and grpc-status 0, loaded with h2load as the gRPC bench loads tessera
//       (BENCH_CHANNELS connections, BENCH_CONCURRENCY streams in all): what any gRPC token service on
//       Node's http2 must pay.
// The last line is machine-readable: `FLOOR <alg> <requests/s> <server busy share>` (`FLOOR grpc-<alg> …`).
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const CHANNELS = Number(process.env.BENCH_CHANNELS ?? 4);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const ALG = process.env.BENCH_ALG ?? "ES256";
const GRPC = process.env.BENCH_PROTOCOL === "grpc";
const KEYS = { ES256: '"ec", { namedCurve: "P-256" }', EdDSA: '"ed25519"', RS256: '"rsa", { modulusLength: 2048 }' };
const SIGN = { ES256: '{ key: privateKey, dsaEncoding: "ieee-p1363" }', EdDSA: "privateKey", RS256: "privateKey" };
if (KEYS[ALG] === undefined) {
  console.error(`BENCH_ALG must be one of ${Object.keys(KEYS).join(", ")}`);
  process.exit(2);
}
const hasTaskset = spawnSync("taskset", ["-V"]).status === 0;
const loader = GRPC ? "h2load" : "wrk";
if (spawnSync(loader, ["--version"]).error !== undefined) {
  console.error(`this baseline needs ${loader} (apt-get install ${GRPC ? "nghttp2-client" : "wrk"})`);
  process.exit(1);
}

const httpServer = `
const server = require("node:http").createServer({ keepAliveTimeout: 65000 }, (req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = JSON.stringify({ access_token: jwt(), token_type: "Bearer", expires_in: 3600 });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
    res.end(body);
  });
});`;
// IssueClientTokenResponse's first fields by hand: 1 access_token (string), 2 token_type, 3 expires_in.
const grpcServer = `
const varint = (n) => { const b = []; while (n > 127) { b.push((n & 127) | 128); n >>>= 7; } b.push(n); return Buffer.from(b); };
const field = (tag, bytes) => Buffer.concat([Buffer.from([tag]), varint(bytes.length), bytes]);
const server = require("node:http2").createServer();
server.on("stream", (stream) => {
  stream.on("data", () => {});
  stream.on("end", () => {
    const message = Buffer.concat([field(0x0a, Buffer.from(jwt())), field(0x12, Buffer.from("Bearer")), Buffer.from([0x18]), varint(3600)]);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(Buffer.concat([prefix, message]));
  });
});`;
const serverCode = `
const { generateKeyPairSync, sign, randomUUID } = require("node:crypto");
const { privateKey } = generateKeyPairSync(${KEYS[ALG]});
const header = Buffer.from(JSON.stringify({ alg: "${ALG}", kid: "k", typ: "at+jwt" })).toString("base64url");
const jwt = () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: "http://localhost:8080", sub: "client", aud: "userid-api", exp: now + 3600, iat: now, jti: randomUUID(), client_id: "client", tid: "default", app_id: "app" };
  const input = header + "." + Buffer.from(JSON.stringify(claims)).toString("base64url");
  return input + "." + sign(${ALG === "EdDSA" ? "null" : '"sha256"'}, Buffer.from(input), ${SIGN[ALG]}).toString("base64url");
};
${GRPC ? grpcServer : httpServer}
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.on("SIGINT", () => process.exit(0));
`;
// BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the floor's server, as in client-credentials.mjs.
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
const argv = [process.execPath, ...nodeArgs, "-e", serverCode];
const server = hasTaskset ? spawn("taskset", ["-c", "0", ...argv]) : spawn(argv[0], argv.slice(1));
const port = await new Promise((resolve) => server.stdout.once("data", (d) => resolve(Number(String(d).trim()))));
// An empty IssueClientTokenRequest, length-prefixed (the gRPC floor does not read it).
const frame = join(tmpdir(), `tessera-floor-${process.pid}.grpc`);
if (GRPC) writeFileSync(frame, Buffer.alloc(5));
const load = (seconds) => {
  const url = `http://127.0.0.1:${port}/${GRPC ? "tessera.v1.TokenService/IssueClientToken" : "oidc/token"}`;
  if (GRPC) {
    const streams = Math.max(1, Math.round(CONCURRENCY / CHANNELS));
    const args = ["h2load", `-c${CHANNELS}`, `-m${streams}`, `-D${seconds}`, "-d", frame, "-H", "content-type: application/grpc", "-H", "te: trailers", url];
    const [c, a] = hasTaskset ? ["taskset", ["-c", "1", ...args]] : [args[0], args.slice(1)];
    return Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(spawnSync(c, a, { encoding: "utf8" }).stdout)?.[1]);
  }
  const args = ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "-s", "/dev/stdin", url];
  const script = 'wrk.method = "POST"\nwrk.body = "grant_type=client_credentials"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n';
  const [c, a] = hasTaskset ? ["taskset", ["-c", "1", "wrk", ...args]] : ["wrk", args];
  return Number(/Requests\/sec:\s+(\S+)/.exec(spawnSync(c, a, { input: script, encoding: "utf8" }).stdout)?.[1]);
};
const cpu = () => {
  const fields = readFileSync(`/proc/${server.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
load(3);
const before = cpu();
const rate = load(SECONDS);
const busy = (cpu() - before) / SECONDS;
const what = GRPC ? `bare node:http2 + one ${ALG} JWT per gRPC call, server on core 0, h2load ${CHANNELS}×${Math.max(1, Math.round(CONCURRENCY / CHANNELS))} streams` : `bare node:http + one ${ALG} JWT per request, server on core 0, wrk ${CONNECTIONS} connections`;
console.log(`floor (${what}): ${Math.round(rate)} requests/s (server core ${Math.round(busy * 100)}% busy, ${Math.round(rate / busy)} requests/s at 100%)`);
console.log(`FLOOR ${GRPC ? "grpc-" : ""}${ALG} ${Math.round(rate)} ${busy.toFixed(3)}`);
server.kill("SIGINT");
rmSync(frame, { force: true });
