import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDataDir } from "../helpers/server.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** `node dist/src/main.js`; stops it with SIGTERM once it serves. Resolves with its exit code and stderr. */
function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["dist/src/main.js"], {
    cwd: root,
    env: { PATH: process.env.PATH, TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0", TESSERA_LOG_LEVEL: "silent", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
    if (stderr.includes("serving HTTP")) child.kill("SIGTERM");
  });
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
}

describe("a first start that fails after writing bootstrap.json", () => {
  let dataDir: string;
  let taken: Server;
  beforeAll(async () => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { cwd: root, stdio: "inherit" });
    dataDir = tempDataDir();
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  }, 120_000);
  afterAll(async () => {
    await new Promise((resolve) => taken.close(resolve));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("prints the credentials at the next start that serves, and only then", async () => {
    const port = String((taken.address() as AddressInfo).port);
    const failed = await run({ TESSERA_DATA_DIR: dataDir, TESSERA_GRPC_PORT: port });
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain("TESSERA_GRPC_PORT");
    expect(existsSync(join(dataDir, "bootstrap.json"))).toBe(true);
    const creds = JSON.parse(readFileSync(join(dataDir, "bootstrap.json"), "utf8")) as { client_id: string; client_secret: string };
    expect(failed.stderr).not.toContain(creds.client_secret);

    const next = await run({ TESSERA_DATA_DIR: dataDir });
    expect(next.code).toBe(0);
    expect(next.stderr).toContain("bootstrap management client");
    expect(next.stderr).toContain(creds.client_id);
    expect(next.stderr).toContain(creds.client_secret);

    const third = await run({ TESSERA_DATA_DIR: dataDir });
    expect(third.code).toBe(0);
    expect(third.stderr).not.toContain(creds.client_secret);
  });
});
