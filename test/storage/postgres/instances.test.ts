import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../../src/config.js";
import { BOOTSTRAP_FILE } from "../../../src/core/bootstrap.js";
import { buildApp, type App } from "../../../src/server.js";
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
