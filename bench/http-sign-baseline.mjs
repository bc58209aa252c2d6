// The floor for bench/client-credentials.mjs on this machine: a bare node:http server on one core that
// reads the form body and answers with one freshly signed JWT per request (no auth, no routing): what any
// JWT token endpoint on Node must pay. Loaded with wrk exactly as the client_credentials bench does.
//   node bench/http-sign-baseline.mjs            # BENCH_ALG=ES256 (the server default), EdDSA or RS256
// The last line is machine-readable: `FLOOR <alg> <requests/s> <server busy share>`.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ALG = process.env.BENCH_ALG ?? "ES256";
const KEYS = { ES256: '"ec", { namedCurve: "P-256" }', EdDSA: '"ed25519"', RS256: '"rsa", { modulusLength: 2048 }' };
const SIGN = { ES256: '{ key: privateKey, dsaEncoding: "ieee-p1363" }', EdDSA: "privateKey", RS256: "privateKey" };
if (KEYS[ALG] === undefined) {
  console.error(`BENCH_ALG must be one of ${Object.keys(KEYS).join(", ")}`);
  process.exit(2);
}
const hasTaskset = spawnSync("taskset", ["-V"]).status === 0;
if (spawnSync("wrk", ["--version"]).error !== undefined) {
  console.error("this baseline needs wrk (apt-get install wrk)");
  process.exit(1);
}

const serverCode = `
const http = require("node:http");
const { generateKeyPairSync, sign, randomUUID } = require("node:crypto");
const { privateKey } = generateKeyPairSync(${KEYS[ALG]});
const header = Buffer.from(JSON.stringify({ alg: "${ALG}", kid: "k", typ: "at+jwt" })).toString("base64url");
const server = http.createServer({ keepAliveTimeout: 65000 }, (req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: "http://localhost:8080", sub: "client", aud: "userid-api", exp: now + 3600, iat: now, jti: randomUUID(), client_id: "client", tid: "default", app_id: "app" };
    const input = header + "." + Buffer.from(JSON.stringify(claims)).toString("base64url");
    const jwt = input + "." + sign(${ALG === "EdDSA" ? "null" : '"sha256"'}, Buffer.from(input), ${SIGN[ALG]}).toString("base64url");
    const body = JSON.stringify({ access_token: jwt, token_type: "Bearer", expires_in: 3600 });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.on("SIGINT", () => process.exit(0));
`;
// BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the floor's server, as in client-credentials.mjs.
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
const argv = [process.execPath, ...nodeArgs, "-e", serverCode];
const server = hasTaskset ? spawn("taskset", ["-c", "0", ...argv]) : spawn(argv[0], argv.slice(1));
const port = await new Promise((resolve) => server.stdout.once("data", (d) => resolve(Number(String(d).trim()))));
const wrk = (seconds) => {
  const args = ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "-s", "/dev/stdin", `http://127.0.0.1:${port}/oidc/token`];
  const script = 'wrk.method = "POST"\nwrk.body = "grant_type=client_credentials"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n';
  const [c, a] = hasTaskset ? ["taskset", ["-c", "1", "wrk", ...args]] : ["wrk", args];
  return spawnSync(c, a, { input: script, encoding: "utf8" }).stdout;
};
const cpu = () => {
  const fields = readFileSync(`/proc/${server.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
wrk(3);
const before = cpu();
const out = wrk(SECONDS);
const busy = (cpu() - before) / SECONDS;
const rate = Number(/Requests\/sec:\s+(\S+)/.exec(out)?.[1]);
console.log(
  `floor (bare node:http + one ${ALG} JWT per request, server on core 0, wrk ${CONNECTIONS} connections): ` +
    `${Math.round(rate)} requests/s (server core ${Math.round(busy * 100)}% busy, ${Math.round(rate / busy)} requests/s at 100%)`,
);
console.log(`FLOOR ${ALG} ${Math.round(rate)} ${busy.toFixed(3)}`);
server.kill("SIGINT");
