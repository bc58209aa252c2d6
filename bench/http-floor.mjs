// The ceiling of the refresh bench on this machine: a bare node:http server (pinned to one core) answering
// a token-sized JSON body, driven by the same 64-connection keep-alive load as bench/refresh.mjs (wrk when
// installed, with its latency percentiles: the tail this VM imposes on any server; else a node:http client).
// Usage: node bench/http-floor.mjs [--seconds 5] [--connections 64] [--core 0]
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: { seconds: { type: "string", default: "5" }, connections: { type: "string", default: "64" }, core: { type: "string", default: "0" } },
});

if (process.env.HTTP_FLOOR_SERVER === "1") {
  const answer = JSON.stringify({ access_token: "a".repeat(700), id_token: "i".repeat(800), refresh_token: "r".repeat(43), token_type: "Bearer", expires_in: 3600 });
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      JSON.parse(Buffer.concat(chunks).toString());
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(answer), "cache-control": "no-store" });
      res.end(answer);
    });
  });
  server.listen(0, "127.0.0.1", () => process.stderr.write(`serving HTTP on 127.0.0.1:${server.address().port}\n`));
} else {
  const child = spawn("taskset", ["-c", args.core, process.execPath, new URL(import.meta.url).pathname], {
    env: { ...process.env, HTTP_FLOOR_SERVER: "1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const port = await new Promise((resolve) => child.stderr.on("data", (d) => resolve(Number(/:(\d+)/.exec(String(d))[1]))));
  if (spawnSync("wrk", ["--version"]).error === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "tessera-floor-"));
    const script = join(dir, "floor.lua");
    writeFileSync(
      script,
      `wrk.method = "POST"\nwrk.body = '{"refresh_token":"${"t".repeat(43)}"}'\nwrk.headers["Content-Type"] = "application/json"\n` +
        `wrk.headers["Authorization"] = "Bearer ${"c".repeat(600)}"\n` +
        `done = function(s, latency)\n  io.write(string.format("RESULT %d %d %d %d\\n", s.requests, s.duration, latency:percentile(50), latency:percentile(99)))\nend\n`,
    );
    const out = spawnSync("taskset", ["-c", args.core === "0" ? "1" : "0", "wrk", "-t1", `-c${args.connections}`, `-d${args.seconds}s`, "-s", script, `http://127.0.0.1:${port}/cis/v1/auth/token/refresh`], { encoding: "utf8" }).stdout;
    rmSync(dir, { recursive: true, force: true });
    const [, n, micros, p50, p99] = (/RESULT (\d+) (\d+) (\d+) (\d+)/.exec(out) ?? []).map(Number);
    console.log(
      `bare node:http, wrk ${args.connections} keep-alive connections, server pinned to core ${args.core}: ${Math.round(n / (micros / 1e6))} requests/s` +
        `  p50 ${(p50 / 1000).toFixed(2)} ms  p99 ${(p99 / 1000).toFixed(2)} ms`,
    );
    child.kill();
    process.exit(0);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number(args.connections) });
  const body = JSON.stringify({ refresh_token: "t".repeat(43) });
  const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: `Bearer ${"c".repeat(600)}` };
  const once = () =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path: "/cis/v1/auth/token/refresh", method: "POST", agent, headers }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
      });
      req.on("error", reject);
      req.end(body);
    });
  let done = 0;
  const until = performance.now() + Number(args.seconds) * 1000;
  await Promise.all(Array.from({ length: Number(args.connections) }, async () => {
    while (performance.now() < until) {
      await once();
      done++;
    }
  }));
  console.log(`bare node:http, ${args.connections} keep-alive connections, server pinned to core ${args.core}: ${Math.round(done / Number(args.seconds))} requests/s`);
  agent.destroy();
  child.kill();
}
