import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDataDir } from "../helpers/server.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

interface Running {
  child: ChildProcess;
  stderr: () => string;
  httpUrl: string;
  exited: Promise<number | null>;
}

/** `node dist/src/main.js` as the README runs it, on free ports; resolves once it prints where it serves. */
async function start(env: Record<string, string>, command: [string, ...string[]] = [process.execPath, "dist/src/main.js"]): Promise<Running> {
  const child = spawn(command[0], command.slice(1), {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0", TESSERA_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const httpUrl = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /serving HTTP on ([^\s:]+):(\d+)/.exec(stderr);
      if (m) {
        clearInterval(timer);
        resolve(`http://${m[1]}:${m[2]}`);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`exited ${code}: ${stderr}`));
    });
  });
  return { child, stderr: () => stderr, httpUrl, exited };
}

/** Runs the entry point to its exit; for configurations that must not start. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, ["dist/src/main.js"], { cwd: root, env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr, stdout })));
}

describe("the tessera process", () => {
  const dirs: string[] = [];
  beforeAll(() => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { cwd: root, stdio: "inherit" });
  }, 120_000);
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const dir = () => {
    const d = tempDataDir();
    dirs.push(d);
    return d;
  };

  it.each([
    ["TESSERA_HTTP_PORT", "abc"],
    ["TESSERA_ISSUER", "not a url"],
    ["TESSERA_SIGNING_ALG", "HS256"],
    ["TESSERA_SECRET_KEY", "short"],
    // A key a minute, each published a day: the JWKS would grow without bound.
    ["TESSERA_KEY_ROTATION_PERIOD", "30s"],
  ])("exits 2 with one line naming %s=%j and writes nothing", async (variable, value) => {
    const dataDir = join(dir(), "data");
    const { code, stderr, stdout } = await runToExit({ TESSERA_DATA_DIR: dataDir, [variable]: value });
    expect(code).toBe(2);
    expect(stdout).toBe("");
    const lines = stderr.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(existsSync(dataDir)).toBe(false);
  });

  it("refuses a key rotation period not longer than the announce period (pending keys would stack up)", async () => {
    const dataDir = join(dir(), "data");
    const { code, stderr } = await runToExit({
      TESSERA_DATA_DIR: dataDir,
      TESSERA_HTTP_PORT: "0",
      TESSERA_GRPC_PORT: "0",
      TESSERA_KEY_ANNOUNCE_PERIOD: "2d",
      TESSERA_KEY_ROTATION_PERIOD: "1d",
    });
    expect(code).toBe(2);
    expect(stderr).toContain("TESSERA_KEY_ROTATION_PERIOD");
    expect(existsSync(dataDir)).toBe(false);
  });

  it("refuses an existing data dir under another TESSERA_SECRET_KEY with exit 2, changing nothing", async () => {
    const dataDir = dir();
    const first = await start({ TESSERA_DATA_DIR: dataDir, TESSERA_SECRET_KEY: "a".repeat(32) });
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    const before = readdirSync(dataDir).sort();
    const { code, stderr } = await runToExit({ TESSERA_DATA_DIR: dataDir, TESSERA_SECRET_KEY: "b".repeat(32), TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0" });
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("TESSERA_SECRET_KEY");
    expect(stderr).not.toContain("b".repeat(32));
    expect(readdirSync(dataDir).sort()).toEqual(before);
  });

  it("prints bootstrap credentials once, serves /healthz, stops on SIGTERM with exit 0, and keeps quiet on the next start", async () => {
    const dataDir = dir();
    const first = await start({ TESSERA_DATA_DIR: dataDir });
    const creds = JSON.parse(readFileSync(join(dataDir, "bootstrap.json"), "utf8")) as { client_id: string; client_secret: string };
    expect(first.stderr()).toContain(creds.client_secret);
    expect(first.stderr()).toContain(creds.client_id);

    const health = await fetch(`${first.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "SERVING" });

    const started = Date.now();
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);

    const second = await start({ TESSERA_DATA_DIR: dataDir });
    try {
      expect(second.stderr()).not.toContain(creds.client_secret);
      const res = await fetch(`${second.httpUrl}/oidc/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`${creds.client_id}:${creds.client_secret}`).toString("base64")}`,
        },
        body: "grant_type=client_credentials",
      });
      expect(res.status).toBe(200);
    } finally {
      second.child.kill("SIGINT");
      expect(await second.exited).toBe(0);
    }
    expect(second.stderr()).not.toContain(creds.client_secret);
  });

  it("`npm start` (as the README says) passes SIGTERM to the server: graceful stop, exit 0, nothing left listening", async () => {
    const running = await start({ TESSERA_DATA_DIR: dir() }, ["npm", "start"]);
    expect((await fetch(`${running.httpUrl}/healthz`)).status).toBe(200);
    running.child.kill("SIGTERM");
    expect(await running.exited).toBe(0);
    expect(running.stderr()).toContain("SIGTERM received, stopping");
    await expect(fetch(`${running.httpUrl}/healthz`)).rejects.toThrow();
  });
});
