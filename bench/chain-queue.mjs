// The refresh-rotation load both bench/refresh.mjs (tessera) and bench/peer-oidc-provider.mjs (the peer) use:
// wrk with a Lua script that keeps a queue of live chain heads. Each request takes the token at the front,
// each answer's refresh_token goes to the back, so every token is presented exactly once.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

/**
 * The Lua script for wrk: `chains` are the starting tokens; `formBody` sends the token as an OAuth form
 * (`grant_type=refresh_token&refresh_token=…`) instead of tessera's JSON `{"refresh_token":"…"}`.
 * It counts the answers without a refresh_token (`misses`) and prints the first one.
 */
export function chainQueueScript({ chains, path, headers, formBody }) {
  const body = formBody ? `"grant_type=refresh_token&refresh_token=" .. t` : `'{"refresh_token":"' .. t .. '"}'`;
  return [
    // Globals, so that done() can read the chains still live (thread:get reads a thread's globals).
    `tokens = { ${chains.map((t) => JSON.stringify(t)).join(", ")} }`,
    "head, tail = 1, #tokens",
    "local threads = {}",
    "misses = 0",
    "setup = function(thread) table.insert(threads, thread) end",
    'wrk.method = "POST"',
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
    "request = function()",
    '  local t = tokens[head] or "exhausted"',
    "  tokens[head] = nil",
    "  head = head + 1",
    `  return wrk.format(nil, ${JSON.stringify(path)}, nil, ${body})`,
    "end",
    "response = function(status, headers, body)",
    '  local t = status == 200 and body:match(\'"refresh_token":"([^"]+)"\')',
    "  if t then tail = tail + 1; tokens[tail] = t",
    "  else",
    "    misses = misses + 1",
    '    if misses == 1 then io.write("FIRST_ERROR " .. status .. " " .. body .. "\\n") end',
    "  end",
    "end",
    "done = function(summary, latency, requests)",
    "  local missed = 0",
    '  for _, thread in ipairs(threads) do missed = missed + (thread:get("misses") or 0) end',
    '  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status, missed))',
    "  for _, thread in ipairs(threads) do",
    '    local queue = thread:get("tokens")',
    '    for i = thread:get("head"), thread:get("tail") do if queue[i] then io.write("LIVE " .. queue[i] .. "\\n") end end',
    "  end",
    "end",
  ].join("\n");
}

/**
 * One wrk run (`-t1`, pinned to `loadCore`) over the live chains for `seconds`. `serverCpu()` returns the
 * server's CPU seconds so far; busy is its share of one core over the run. The rate counts only answers
 * that carried a new refresh_token; errors counts non-2xx answers, misses every answer without a token.
 * `live` are the chain heads no request took (the ones in flight when wrk stopped are lost: their answers
 * were dropped), for a next run.
 */
export function runChainQueue({ port, chains, path, headers, formBody, seconds, connections, loadCore, serverCpu }) {
  const dir = mkdtempSync(join(tmpdir(), "tessera-wrk-"));
  const script = join(dir, "refresh.lua");
  writeFileSync(script, chainQueueScript({ chains, path, headers, formBody }));
  const cpu0 = serverCpu();
  const out = spawnSync("taskset", ["-c", loadCore, "wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "-s", script, `http://127.0.0.1:${port}`], { encoding: "utf8" });
  const busy = (serverCpu() - cpu0) / seconds;
  rmSync(dir, { recursive: true, force: true });
  const m = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out.stdout);
  if (m === null) throw new Error(`wrk failed: ${out.stdout} ${out.stderr}`);
  const firstError = /FIRST_ERROR (.*)/.exec(out.stdout)?.[1];
  if (firstError !== undefined) console.error(`  first failed rotation: ${firstError.slice(0, 300)}`);
  // Only answers that carried a new refresh token count as rotations.
  const rate = Math.round((Number(m[1]) - Number(m[6])) / (Number(m[2]) / 1e6));
  return {
    rate,
    requests: Number(m[1]),
    p50: (Number(m[3]) / 1000).toFixed(2),
    p99: (Number(m[4]) / 1000).toFixed(2),
    errors: Number(m[5]),
    misses: Number(m[6]),
    busy,
    live: [...out.stdout.matchAll(/^LIVE (\S+)$/gm)].map((l) => l[1]),
  };
}

/** User + system CPU seconds a process has used (Linux /proc): how busy the server's core was. */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
