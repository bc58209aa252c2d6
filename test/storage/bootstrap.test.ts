import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { BOOTSTRAP_FILE } from "../../src/core/bootstrap.js";
import { SECRET_KEY_FILE } from "../../src/core/secrets.js";
import { buildApp, type App } from "../../src/server.js";
import type { SqliteStorage } from "../../src/storage/sqlite/storage.js";
import { tempDataDir } from "../helpers/server.js";

const db = (app: App) => (app.core.storage as SqliteStorage).db;
const count = (app: App, table: string) => db(app).prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
const mode = (path: string) => statSync(path).mode & 0o777;

describe("bootstrap and keys at rest", () => {
  const dirs: string[] = [];
  const apps: App[] = [];
  const build = async (dataDir: string, env: Record<string, string> = {}) => {
    const app = await buildApp(loadConfig({ TESSERA_DATA_DIR: dataDir, TESSERA_LOG_LEVEL: "silent", ...env }));
    apps.push(app);
    return app;
  };
  const dir = () => {
    const d = tempDataDir();
    dirs.push(d);
    return d;
  };
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.core.storage.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("creates tenant default, a management application and its client once, with bootstrap.json 0600", async () => {
    const d = dir();
    const app = await build(d);
    const creds = app.bootstrapCredentials!;
    expect(creds.tenant_id).toBe("default");
    expect(Buffer.from(creds.client_secret, "base64url").length).toBeGreaterThanOrEqual(32);
    const file = join(d, BOOTSTRAP_FILE);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(creds);
    expect(mode(file)).toBe(0o600);
    expect(mode(join(d, SECRET_KEY_FILE))).toBe(0o600);
    const client = (await app.core.storage.clients.findById(creds.client_id))!;
    expect((await app.core.storage.applications.get("default", client.applicationId))?.management).toBe(true);
    expect(app.core.secrets.matches("client-secret", creds.client_secret, client.secretHash)).toBe(true);
    expect([count(app, "tenants"), count(app, "applications"), count(app, "clients"), count(app, "signing_keys")]).toEqual([1, 1, 1, 1]);
  });

  it("creates nothing on a second start and leaves bootstrap.json unchanged", async () => {
    const d = dir();
    const first = await build(d);
    const creds = first.bootstrapCredentials!;
    const kid = first.core.keys.list()[0]!.kid;
    await first.core.storage.close();
    const before = readFileSync(join(d, BOOTSTRAP_FILE), "utf8");

    const second = await build(d);
    expect(second.bootstrapCredentials).toBeUndefined();
    expect([count(second, "tenants"), count(second, "applications"), count(second, "clients"), count(second, "signing_keys")]).toEqual([1, 1, 1, 1]);
    expect((await second.core.storage.clients.findById(creds.client_id))).toBeDefined();
    expect(second.core.keys.list().map((k) => k.kid)).toEqual([kid]);
    expect(readFileSync(join(d, BOOTSTRAP_FILE), "utf8")).toBe(before);
  });

  it("uses TESSERA_BOOTSTRAP_CLIENT_ID and _SECRET when both are set, writing no file", async () => {
    const d = dir();
    const env = { TESSERA_BOOTSTRAP_CLIENT_ID: "ops-admin", TESSERA_BOOTSTRAP_CLIENT_SECRET: "a-long-operator-chosen-secret-value" };
    const app = await build(d, env);
    expect(app.bootstrapCredentials).toBeUndefined();
    expect(() => statSync(join(d, BOOTSTRAP_FILE))).toThrow();
    const client = (await app.core.storage.clients.findById("ops-admin"))!;
    expect(app.core.secrets.matches("client-secret", env.TESSERA_BOOTSTRAP_CLIENT_SECRET, client.secretHash)).toBe(true);
    await app.core.storage.close();

    const changed = await build(d, { ...env, TESSERA_BOOTSTRAP_CLIENT_SECRET: "another-secret-the-operator-set-later" });
    const kept = (await changed.core.storage.clients.findById("ops-admin"))!;
    expect(changed.core.secrets.matches("client-secret", env.TESSERA_BOOTSTRAP_CLIENT_SECRET, kept.secretHash)).toBe(true);
    expect(count(changed, "clients")).toBe(1);
  });

  it("generates the secret when only the client id is set", async () => {
    const d = dir();
    const app = await build(d, { TESSERA_BOOTSTRAP_CLIENT_ID: "ops-admin" });
    expect(app.bootstrapCredentials).toMatchObject({ client_id: "ops-admin" });
    expect(JSON.parse(readFileSync(join(d, BOOTSTRAP_FILE), "utf8")).client_id).toBe("ops-admin");
  });

  it("refuses to start with a TESSERA_SECRET_KEY other than the one the data dir was created with", async () => {
    const d = dir();
    await (await build(d, { TESSERA_SECRET_KEY: "a".repeat(32) })).core.storage.close();
    let err: unknown;
    try {
      await build(d, { TESSERA_SECRET_KEY: "b".repeat(32) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe("TESSERA_SECRET_KEY");
    expect((await build(d, { TESSERA_SECRET_KEY: "a".repeat(32) })).bootstrapCredentials).toBeUndefined();
  });

  it("stores signing keys encrypted: the blob holds neither the PKCS8 key nor its seed", async () => {
    const app = await build(dir());
    const blob = db(app).prepare("SELECT private_key FROM signing_keys").pluck().get() as Buffer;
    const pkcs8 = app.core.secrets.decrypt(blob);
    expect(pkcs8.length).toBeGreaterThan(32);
    expect(blob.includes(pkcs8)).toBe(false);
    expect(blob.includes(pkcs8.subarray(pkcs8.length - 32))).toBe(false);
    const other = await buildApp(loadConfig({ TESSERA_DATA_DIR: dir(), TESSERA_SECRET_KEY: "z".repeat(32) }));
    apps.push(other);
    expect(() => other.core.secrets.decrypt(blob)).toThrow();
  });
});
