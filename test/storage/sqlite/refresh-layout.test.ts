import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { join } from "node:path";
import { DATABASE_FILE, migrate, schemaVersion } from "../../../src/storage/sqlite/database.js";
import { MIGRATIONS } from "../../../src/storage/sqlite/migrations.js";
import { startServer, tempDataDir, type TestServer } from "../../helpers/server.js";
import { backendApp, login, refresh, renewBearer } from "../../sessions/setup.js";

const LAYOUT_VERSION = MIGRATIONS.findIndex((m) => m.name.startsWith("refresh tokens in insertion order")) + 1;

const tokenTableSql = (db: Database.Database) =>
  (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'refresh_tokens'").pluck().get() as string).replace(/\s+/g, " ");

describe("refresh token table layout", () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.dispose();
  });

  it("a data dir with hash-keyed refresh tokens upgrades in place; its tokens still rotate and reuse is still caught", async () => {
    expect(LAYOUT_VERSION).toBeGreaterThan(0);
    const dataDir = tempDataDir();
    let server = await startServer({ dataDir });
    servers.push(server);
    const app = await backendApp(server, { reuseLeeway: 0 });
    const chains = await Promise.all(Array.from({ length: 5 }, () => login(server, app)));
    const rotated = (await refresh(server, app, chains[0]!.refresh_token)).body.refresh_token;
    await server.stop();
    servers.pop();

    // Back to the layout before this migration, as a data dir of the previous release has it.
    const old = new Database(join(dataDir, DATABASE_FILE));
    migrate(old, LAYOUT_VERSION - 1);
    expect(tokenTableSql(old)).toMatch(/hash BLOB PRIMARY KEY.*WITHOUT ROWID/);
    const before = old.prepare("SELECT hex(hash) AS h, family_id, generation, consume_time FROM refresh_tokens ORDER BY h").all();
    expect(before).toHaveLength(6);
    old.close();

    server = await startServer({ dataDir, clock: server.clock });
    servers.push(server);
    const db = (server.app.core.storage as unknown as { db: Database.Database }).db;
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    expect(tokenTableSql(db)).toMatch(/id INTEGER PRIMARY KEY/);
    expect(db.prepare("SELECT hex(hash) AS h, family_id, generation, consume_time FROM refresh_tokens ORDER BY h").all()).toEqual(before);
    expect(db.prepare("EXPLAIN QUERY PLAN SELECT * FROM refresh_tokens WHERE hash = ?").all(Buffer.alloc(32))).toEqual([
      expect.objectContaining({ detail: expect.stringMatching(/USING INDEX refresh_tokens_hash/) }),
    ]);

    await renewBearer(server, app);
    const next = await refresh(server, app, rotated);
    expect(next.status).toBe(200);
    for (const chain of chains.slice(1)) expect((await refresh(server, app, chain.refresh_token)).status).toBe(200);
    expect((await refresh(server, app, next.body.refresh_token)).status).toBe(200);
    const reused = await refresh(server, app, chains[0]!.refresh_token);
    expect(reused.status).toBe(400);
    expect(reused.body.error_description).toMatch(/reuse detected/);
    expect((await refresh(server, app, rotated)).status).toBe(400);
  });

  it("new rows go to the end of the table: a rotation does not land in a random page", async () => {
    const server = await startServer();
    servers.push(server);
    const app = await backendApp(server);
    let token = (await login(server, app)).refresh_token;
    for (let i = 0; i < 5; i++) token = (await refresh(server, app, token)).body.refresh_token;
    const db = (server.app.core.storage as unknown as { db: Database.Database }).db;
    const generations = db.prepare("SELECT generation FROM refresh_tokens ORDER BY rowid").pluck().all();
    expect(generations).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
