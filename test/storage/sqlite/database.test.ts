import { existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DATABASE_FILE, migrate, openDatabase, schemaVersion, type Db } from "../../../src/storage/sqlite/database.js";
import { openSqliteStorage } from "../../../src/storage/sqlite/index.js";
import { MIGRATIONS } from "../../../src/storage/sqlite/migrations.js";
import { tempDataDir } from "../../helpers/server.js";

const tables = (db: Db) =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]).filter((n) => !n.startsWith("sqlite_"));

describe("database", () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = tempDataDir();
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("migrates an empty database to the latest version, down to 0 and up again", () => {
    const db = openDatabase({ dataDir: dir(), synchronous: "FULL", busyTimeoutMs: 1000 });
    expect(MIGRATIONS.length).toBeGreaterThan(0);
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    const latest = tables(db);
    expect(latest).toEqual(expect.arrayContaining(["tenants", "resources", "applications", "clients", "client_resources", "signing_keys", "settings"]));

    expect(migrate(db, 0)).toBe(0);
    expect(schemaVersion(db)).toBe(0);
    expect(tables(db)).toEqual([]);

    expect(migrate(db)).toBe(MIGRATIONS.length);
    expect(tables(db)).toEqual(latest);
    db.close();
  });

  it("steps through every migration one at a time in both directions", () => {
    const db = openDatabase({ dataDir: ":memory:", synchronous: "FULL", busyTimeoutMs: 1000 });
    migrate(db, 0);
    for (let v = 1; v <= MIGRATIONS.length; v++) expect(migrate(db, v)).toBe(v);
    for (let v = MIGRATIONS.length - 1; v >= 0; v--) expect(migrate(db, v)).toBe(v);
    db.close();
  });

  it("refuses a schema newer than this build", () => {
    const db = openDatabase({ dataDir: ":memory:", synchronous: "FULL", busyTimeoutMs: 1000 });
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    expect(() => migrate(db)).toThrow(/newer than this tessera/);
    db.close();
  });

  it("opens in WAL mode with the configured synchronous level", () => {
    const d = dir();
    const full = openDatabase({ dataDir: d, synchronous: "FULL", busyTimeoutMs: 1000 });
    expect(full.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(full.pragma("synchronous", { simple: true })).toBe(2);
    expect(full.pragma("foreign_keys", { simple: true })).toBe(1);
    full.close();
    const normal = openDatabase({ dataDir: d, synchronous: "NORMAL", busyTimeoutMs: 1000 });
    expect(normal.pragma("synchronous", { simple: true })).toBe(1);
    normal.close();
    expect(existsSync(join(d, DATABASE_FILE))).toBe(true);
  });

  it("creates the database, its WAL and shared-memory files readable by the owner only", () => {
    const d = dir();
    const db = openDatabase({ dataDir: d, synchronous: "FULL", busyTimeoutMs: 100 });
    db.exec("CREATE TABLE t (x)");
    db.exec("INSERT INTO t VALUES (1)");
    for (const f of [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`]) {
      expect((statSync(join(d, f)).mode & 0o777).toString(8), f).toBe("600");
    }
    db.close();
  });

  it("keeps committed data across close and reopen", async () => {
    const d = dir();
    const storage = openSqliteStorage({ dataDir: d, busyTimeoutMs: 1000 });
    await storage.transaction(async (tx) => {
      await tx.tenants.insert({ id: "acme", name: "acme", createTime: 1 });
      await tx.settings.put("marker", "kept");
    });
    await storage.close();
    const again = openSqliteStorage({ dataDir: d, busyTimeoutMs: 1000 });
    expect(await again.tenants.get("acme")).toMatchObject({ id: "acme", name: "acme" });
    expect(await again.settings.get("marker")).toBe("kept");
    expect(await again.schema.version()).toBe(MIGRATIONS.length);
    await again.close();
  });

  it("rolls a failed transaction back entirely", async () => {
    const storage = openSqliteStorage({ dataDir: ":memory:", busyTimeoutMs: 1000 });
    await expect(
      storage.transaction(async (tx) => {
        await tx.settings.put("half", "written");
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await storage.settings.get("half")).toBeUndefined();
    await storage.close();
  });
});
