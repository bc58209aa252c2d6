import { Code, ConnectError, createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_FILE } from "../../src/storage/sqlite/database.js";
import { KeyAdminService } from "../../gen/tessera/v1/key_admin_service_pb.js";
import { createGrpcClient } from "../helpers/grpc-client.js";
import { clientToken, postForm, startServer, TestClock, type TestServer } from "../helpers/server.js";
import { authorizationRequest, CookieBrowser, completeLogin, REDIRECT_URI, relyingParty } from "../oidc/oidc-helpers.js";

// These tests mount small tmpfs file systems: they need root (or CAP_SYS_ADMIN), as in the project's CI container.
const mounts: string[] = [];
function tmpfs(sizeMb: number): string {
  const dir = mkdtempSync(join(tmpdir(), "tessera-fs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m,mode=0700`, "tmpfs", dir]);
  mounts.push(dir);
  return dir;
}
const remount = (dir: string, mode: "ro" | "rw") => execFileSync("mount", ["-o", `remount,${mode}`, dir]);

afterAll(() => {
  for (const dir of mounts) {
    execFileSync("umount", ["-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

beforeAll(() => {
  execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
});

/** `npm start` as a child process; resolves with its exit code and stderr. */
function startProcess(env: Record<string, string>, whenServing?: (child: ReturnType<typeof spawn>) => void) {
  return new Promise<{ code: number | null; stderr: string; ms: number }>((resolve) => {
    const child = spawn(process.execPath, ["dist/src/main.js"], {
      env: { PATH: process.env.PATH, TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0", TESSERA_LOG_LEVEL: "silent", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let started = 0;
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (started === 0 && stderr.includes("serving HTTP")) {
        started = Date.now();
        whenServing?.(child);
      }
    });
    child.on("exit", (code) => resolve({ code, stderr, ms: Date.now() - started }));
  });
}

describe("a data directory that cannot be written at start", () => {
  it("an empty read-only directory: one line naming TESSERA_DATA_DIR, exit 2", async () => {
    const dir = tmpfs(1);
    remount(dir, "ro");
    const { code, stderr } = await startProcess({ TESSERA_DATA_DIR: join(dir) });
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^tessera: configuration error: TESSERA_DATA_DIR: cannot open a database in /);
  });

  it("an existing database in a directory made read-only: the same, and the data is untouched", async () => {
    const dir = tmpfs(8);
    const first = await startServer({ dataDir: dir });
    await first.stop();
    remount(dir, "ro");
    try {
      const { code, stderr } = await startProcess({ TESSERA_DATA_DIR: dir });
      expect(code).toBe(2);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toContain("TESSERA_DATA_DIR");
    } finally {
      remount(dir, "rw");
    }
    const again = await startServer({ dataDir: dir });
    expect(again.bootstrap.client_id).toBe(first.bootstrap.client_id);
    await clientToken(again);
    await again.stop();
  });
});

describe("SIGTERM", () => {
  it("stops a serving process with exit 0 well within 10 s", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tessera-test-"));
    try {
      const { code, ms, stderr } = await startProcess({ TESSERA_DATA_DIR: dir }, (child) => child.kill("SIGTERM"));
      expect(stderr).toContain("SIGTERM received, stopping");
      expect(code).toBe(0);
      expect(ms).toBeLessThan(10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a full disk while serving", () => {
  let server: TestServer;
  let dir: string;
  const filler = () => join(dir, "filler");

  beforeAll(async () => {
    dir = tmpfs(3);
    // openid-client is not involved, but the code must not expire: one fixed clock.
    server = await startServer({ dataDir: dir, clock: new TestClock(Date.now()) });
  });
  afterAll(() => server.stop());

  /** Fills the file system to the last byte. */
  function fillDisk(): void {
    const fd = openSync(filler(), "w");
    const chunk = Buffer.alloc(64 * 1024);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
      for (let size = 32 * 1024; size >= 1; size >>= 1) {
        try {
          for (;;) writeSync(fd, chunk, 0, size);
        } catch {
          // next, smaller size
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  it("writes answer 503 / UNAVAILABLE, client_credentials keeps working, and writes recover once space returns", async () => {
    const rp = await relyingParty(server);
    const newCode = async () => {
      const request = await authorizationRequest(rp.config, { scope: "openid" });
      const callback = await completeLogin(new CookieBrowser(server.httpUrl), request.url.href, { username: rp.username, password: rp.password });
      return { code: callback.searchParams.get("code")!, verifier: request.verifier };
    };
    // Exchanged once the disk is full, until one is refused: a write can still fit in space SQLite's files already
    // hold (WAL frames a failed write of another size, the key rotations below, left behind), so not every write
    // after the first refusal is refused too; the refused code is the one exchanged again once space returns.
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push(await newCode());
    const adminToken = await clientToken(server);
    const admin = createConnectClient(KeyAdminService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const headers = { authorization: `Bearer ${adminToken}` };
    expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(200);

    // A reader holding its snapshot keeps the WAL from being checkpointed and started over (the checkpoint worker
    // would otherwise free WAL space between two writes, and a small write could fit): every write must grow it.
    const reader = new Database(join(dir, DATABASE_FILE), { readonly: true });
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM signing_keys").get();
    fillDisk();
    // SQLite first fills the space its WAL already holds; within a bounded number of writes it needs more.
    let unavailable: ConnectError | undefined;
    for (let i = 0; i < 300 && unavailable === undefined; i++) {
      try {
        await admin.rotateSigningKey({}, { headers });
      } catch (err) {
        unavailable = ConnectError.from(err);
      }
    }
    expect(unavailable?.code).toBe(Code.Unavailable);
    expect(unavailable?.rawMessage).toBe("the database cannot accept writes right now");

    const grpcAdmin = createGrpcClient(KeyAdminService, server.grpcAddress);
    try {
      const err = (await grpcAdmin.rotateSigningKey({}, headers).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      grpcAdmin.close();
    }
    const exchangeCode = (c: { code: string; verifier: string }) =>
      postForm(`${server.httpUrl}/oidc/token`, { grant_type: "authorization_code", code: c.code, redirect_uri: REDIRECT_URI, code_verifier: c.verifier }, server.basic(rp.clientId, rp.clientSecret));
    let refused: { code: string; verifier: string } | undefined;
    let full: Response | undefined;
    for (const c of codes) {
      full = await exchangeCode(c);
      if (full.status === 503) {
        refused = c;
        break;
      }
    }
    expect(full?.status).toBe(503);
    expect(await full!.json()).toMatchObject({ error: "temporarily_unavailable" });
    // Reads keep working: client tokens, JWKS, health.
    await clientToken(server);
    expect((await fetch(`${server.httpUrl}/oidc/jwks`)).status).toBe(200);
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
    // Not ready while writes fail, so a load balancer sends the traffic elsewhere.
    const notReady = await fetch(`${server.httpUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: "NOT_SERVING" });

    rmSync(filler());
    reader.exec("COMMIT");
    reader.close();
    expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(200);
    await admin.rotateSigningKey({}, { headers });
    // The failed exchange consumed nothing: the same code works now.
    const ok = await exchangeCode(refused!);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ token_type: "Bearer", id_token: expect.any(String) });
  });
});
