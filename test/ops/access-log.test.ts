import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AccessLog, createLoggers, isoTime, TurnBatchedStream, type AccessFields } from "../../src/observability/log.js";
import { root, startProcess, type RunningProcess } from "../helpers/process.js";
import { tempDataDir } from "../helpers/server.js";

// The access lines are written without pino (src/observability/log.ts): they must read exactly as pino's.

const FIXED_MS = Date.UTC(2026, 11, 3, 4, 5, 6, 7);

/** pino configured as createLoggers configures it, at a fixed time, writing into `out`. */
function pinoLine(fields: AccessFields, msg: string, bindings: Record<string, unknown> = { name: "tessera" }): string {
  const out: string[] = [];
  const logger = pino(
    {
      level: "info",
      base: bindings,
      timestamp: () => `,"time":"${new Date(FIXED_MS).toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    { write: (line: string) => void out.push(line) },
  );
  logger.info(fields, msg);
  return out.join("");
}

function accessLine(fields: AccessFields, msg: string, bindings = ',"name":"tessera"'): string {
  const out: string[] = [];
  new AccessLog({ write: (line: string) => void out.push(line) }, true, '{"level":"info"', bindings, () => FIXED_MS).info(fields, msg);
  return out.join("");
}

describe("access lines", () => {
  const cases: [string, AccessFields, string][] = [
    [
      "an HTTP line",
      { kind: "http", method: "POST", path: "/oidc/token", route: "/oidc/token", status: 200, duration_ms: 1.234, request_id: "0f0e0d0c-0b0a-4908-8706-050403020100", client_id: "cli_1", tenant_id: "default" },
      "http request",
    ],
    [
      "an RPC line without a client",
      { kind: "rpc", transport: "grpc", service: "tessera.v1.TokenService", method: "IssueClientToken", code: "UNAUTHENTICATED", duration_ms: 0.05, request_id: "r-1", client_id: undefined },
      "rpc",
    ],
    ["undefined fields left out", { kind: "http", a: undefined, b: "x", c: undefined }, "m"],
    ["strings that need escapes", { q: 'say "hi"', b: "back\\slash", nl: "a\nb\tc\r", ctl: "\u0001\u001f", del: "\u007f" }, 'quote " in msg'],
    ["non-ASCII strings", { e: "é ü ß", cjk: "東京", emoji: "👍 ok", sep: "\u2028\u2029" }, "ünïcode"],
    ["numbers", { zero: 0, neg: -1.5, big: 1e21, small: 1e-7, int: 499, nan: Number.NaN, inf: Number.POSITIVE_INFINITY, ninf: Number.NEGATIVE_INFINITY }, "n"],
    ["empty strings", { empty: "", path: "/" }, ""],
  ];
  for (const [name, fields, msg] of cases) {
    it(`${name}: byte for byte pino's`, () => {
      expect(accessLine(fields, msg)).toBe(pinoLine(fields, msg));
    });
  }

  it("a worker's lines carry its index, as pino's bindings do", () => {
    const fields = { kind: "rpc", code: "OK" };
    expect(accessLine(fields, "rpc", ',"name":"tessera","worker":2')).toBe(pinoLine(fields, "rpc", { name: "tessera", worker: 2 }));
  });

  it("a lone surrogate is escaped as JSON.stringify escapes it, so the line stays valid JSON", () => {
    const line = accessLine({ s: "a\ud800b" }, "m");
    expect(line).toContain(String.raw`"s":"a\ud800b"`);
    expect((JSON.parse(line) as { s: string }).s).toBe("a\ud800b");
  });

  it("writes nothing below its level", () => {
    const out: string[] = [];
    const log = new AccessLog({ write: (l: string) => void out.push(l) }, false, '{"level":"info"', ',"name":"tessera"');
    log.info({ kind: "http" }, "http request");
    expect(log.isLevelEnabled("info")).toBe(false);
    expect(out).toEqual([]);
    const warn = createLoggers("warn", { write: (l: string) => void out.push(l) });
    warn.access.info({ kind: "http" }, "http request");
    expect(out).toEqual([]);
  });

  it("isoTime is toISOString, across seconds, days, leap days and years", () => {
    const samples = [0, 1, 999, 1000, 1001, 59_999, 60_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 2, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999), FIXED_MS];
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      samples.push(Math.floor((seed / 2 ** 31) * Date.UTC(9999, 0, 1)));
    }
    // Runs of one second exercise the cached prefix; a step back in time must not reuse it.
    for (let ms = FIXED_MS; ms < FIXED_MS + 2500; ms += 7) samples.push(ms);
    samples.push(FIXED_MS - 1000, FIXED_MS);
    for (const ms of samples) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  });
});

describe("TurnBatchedStream", () => {
  it("hands a turn's lines to its target in one write when the turn ends, in order", async () => {
    const writes: string[] = [];
    const stream = new TurnBatchedStream({ write: (chunk: string) => void writes.push(chunk) });
    stream.write("a\n");
    stream.write("b\n");
    stream.write("c\n");
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(["a\nb\nc\n"]);
    stream.write("d\n");
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(["a\nb\nc\n", "d\n"]);
  });

  it("flushSync writes what waits and flushes its target", () => {
    const writes: string[] = [];
    let flushed = 0;
    const stream = new TurnBatchedStream({ write: (chunk: string) => void writes.push(chunk), flushSync: () => void (flushed += 1) });
    stream.write("x\n");
    stream.flushSync();
    expect(writes).toEqual(["x\n"]);
    expect(flushed).toBe(1);
  });

  it("a target that throws costs neither the caller nor the next turn", async () => {
    const writes: string[] = [];
    let fail = true;
    const stream = new TurnBatchedStream({
      write: (chunk: string) => {
        if (fail) throw new Error("EPIPE");
        writes.push(chunk);
      },
    });
    stream.write("lost\n");
    await new Promise((resolve) => setImmediate(resolve));
    fail = false;
    stream.write("kept\n");
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(["kept\n"]);
  });

  it("lines logged in the turn the process exits in still reach stdout", () => {
    // The real default stream (SonicBoom on stdout), exiting before the turn ends.
    const script = `
      const { createLoggers } = await import(${JSON.stringify(`${root}dist/src/observability/log.js`)});
      const { log, access } = createLoggers("info");
      for (let i = 0; i < 3; i++) access.info({ kind: "http", n: i }, "http request");
      log.warn({ kind: "other" }, "last words");
      process.exit(0);`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8" });
    const lines = out.trim().split("\n").map((l) => JSON.parse(l) as { n?: number; msg: string });
    expect(lines.map((l) => l.msg)).toEqual(["http request", "http request", "http request", "last words"]);
    expect(lines.map((l) => l.n)).toEqual([0, 1, 2, undefined]);
  });
});

describe("access lines of the running server, on stdout", () => {
  let proc: RunningProcess | undefined;
  let dataDir: string | undefined;
  afterEach(async () => {
    proc?.child.kill("SIGTERM");
    await proc?.exited;
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  it("one line per request, each whole, none lost when many requests share a turn", async () => {
    dataDir = tempDataDir();
    proc = await startProcess({ TESSERA_DATA_DIR: dataDir, TESSERA_LOG_LEVEL: "info", TESSERA_BOOTSTRAP_CLIENT_ID: "boot-log", TESSERA_BOOTSTRAP_CLIENT_SECRET: "boot-log-secret-0123456789abcdef0123456789abcd" });
    const basic = `Basic ${Buffer.from("boot-log:boot-log-secret-0123456789abcdef0123456789abcd").toString("base64")}`;
    const ids = Array.from({ length: 40 }, (_, i) => `access-log-${i}`);
    const answers = await Promise.all(
      ids.map((id) =>
        fetch(`${proc!.httpUrl}/oidc/token`, {
          method: "POST",
          headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded", "x-request-id": id },
          body: "grant_type=client_credentials",
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200));
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    const lines = proc
      .stdout()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const tokenLines = lines.filter((l) => l.kind === "http" && l.route === "/oidc/token");
    expect(tokenLines.map((l) => l.request_id).sort()).toEqual([...ids].sort());
    for (const l of tokenLines) {
      expect(l).toMatchObject({ level: "info", name: "tessera", method: "POST", path: "/oidc/token", status: 200, client_id: "boot-log", tenant_id: "default", msg: "http request" });
      expect(new Date(l.time as string).toISOString()).toBe(l.time);
    }
    expect(proc.stdout()).not.toContain("boot-log-secret");
  });
});
