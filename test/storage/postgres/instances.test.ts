import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import pg from "pg";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../../src/config.js";
import { BOOTSTRAP_FILE } from "../../../src/core/bootstrap.js";
import { buildApp, type App } from "../../../src/server.js";
import { PG_MIGRATIONS } from "../../../src/storage/postgres/migrations.js";
import { createApplication, createClient } from "../../helpers/fixtures.js";
import { clientToken, databaseEnv, postForm, startServer, tempDataDir, type TestServer } from "../../helpers/server.js";

describe("several instances on one PostgreSQL database", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  it("two instances starting together on an empty database bootstrap it once", async () => {
    const env = await databaseEnv();
    const dirs = [tempDataDir(), tempDataDir()];
    const apps: App[] = await Promise.all(
      dirs.map((dir) => buildApp(loadConfig({ ...env, TESSERA_DATA_DIR: dir, TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0", TESSERA_LOG_LEVEL: "silent" }))),
    );
    cleanup.push(async () => {
      for (const app of apps) await app.stop(0);
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });
    expect(apps.filter((a) => a.bootstrapCredentials !== undefined)).toHaveLength(1);
    expect(dirs.filter((d) => existsSync(join(d, BOOTSTRAP_FILE)))).toHaveLength(1);
    expect(dirs.flatMap((d) => readdirSync(d)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    const clients = await apps[0]!.core.storage.clients.page("default", undefined, 10);
    expect(clients.map((c) => c.id)).toEqual([apps.find((a) => a.bootstrapCredentials)!.bootstrapCredentials!.client_id]);
    expect(await apps[1]!.core.storage.applications.page("default", undefined, 10)).toHaveLength(1);
  });

  it("a client deleted through one instance stops working on the other within a second", async () => {
    const a: TestServer = await startServer();
    const b: TestServer = await startServer({ dataDir: a.dataDir, env: { TESSERA_DATABASE_URL: a.app.core.config.database!.url, TESSERA_SECRET_KEY: a.app.core.config.secretKey! } });
    cleanup.push(() => a.dispose(), () => b.dispose());
    expect(b.bootstrap.client_id).toBe(a.bootstrap.client_id);
    const appId = await createApplication(a.app);
    const { clientId, clientSecret } = await createClient(a.app, appId);
    // B authenticates the client once: from now on it is in B's cache.
    await clientToken(b, {}, b.basic(clientId, clientSecret));
    expect(await a.app.core.storage.clients.delete("default", clientId)).toBe(true);
    await vi.waitFor(
      async () => {
        const res = await postForm(`${b.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, b.basic(clientId, clientSecret));
        expect(res.status).toBe(401);
      },
      { timeout: 1000, interval: 25 },
    );
  });
});

describe("tessera on an unavailable PostgreSQL", () => {
  it("a read-only database: /readyz answers 503 and a token request 503, never 500; both recover", async () => {
    const server = await startServer();
    try {
      const url = server.app.core.config.database!.url;
      expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(200);
      const admin = new pg.Client(url);
      await admin.connect();
      try {
        const db = new URL(url).pathname.slice(1);
        await admin.query(`ALTER DATABASE ${db} SET default_transaction_read_only = on`);
        await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
        expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(503);
        const login = await fetch(`${server.httpUrl}/tessera.v1.TokenService/IssueClientToken`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: server.basic() },
          body: "{}",
        });
        expect(login.status).not.toBe(500);
        const created = await fetch(`${server.httpUrl}/tessera.v1.ResourceAdminService/CreateResource`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${await clientToken(server)}` },
          body: JSON.stringify({ resource: { uri: "https://api.example/ro", displayName: "ro" } }),
        });
        expect(created.status).toBe(503);
        await admin.query(`ALTER DATABASE ${db} RESET default_transaction_read_only`);
        await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
      } finally {
        await admin.end();
      }
      await vi.waitFor(async () => expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(200), { timeout: 5000, interval: 50 });
    } finally {
      await server.dispose();
    }
  });

  it("tessera migrate brings the PostgreSQL schema down and up", { timeout: 120_000 }, async () => {
    const env = { ...process.env, ...(await databaseEnv()), TESSERA_LOG_LEVEL: "silent" };
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
    const cli = (...args: string[]) => execFileSync(process.execPath, ["dist/src/cli.js", ...args, "--json"], { env, encoding: "utf8" });
    expect(JSON.parse(cli("migrate"))).toEqual({ from: 0, to: PG_MIGRATIONS.length });
    expect(JSON.parse(cli("migrate", "--to", "0"))).toEqual({ from: PG_MIGRATIONS.length, to: 0 });
    expect(JSON.parse(cli("migrate"))).toEqual({ from: 0, to: PG_MIGRATIONS.length });
  });
});
