import pg from "pg";
import { describe, expect, it, vi } from "vitest";
import { toOAuthError } from "../../../src/domain/errors.js";
import { ALL_TOPICS, type ChangeTopic } from "../../../src/domain/ports.js";
import { clientConfig } from "../../../src/storage/postgres/connect.js";
import { openPostgresStorage, type PostgresStorageOptions } from "../../../src/storage/postgres/index.js";
import { PG_MIGRATIONS } from "../../../src/storage/postgres/migrations.js";
import { classifyPgError } from "../../../src/storage/postgres/sqlstate.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { NOW, tenant } from "../contract/fixtures.js";

const options = (url: string, over: Partial<PostgresStorageOptions> = {}): PostgresStorageOptions => ({
  url, poolSize: 4, statementTimeoutMs: 10_000, connectTimeoutMs: 10_000, ...over,
});

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Ends every other connection to the database, as a server restart or a failover would. */
const terminateOthers = (url: string) =>
  withClient(url, (c) => c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"));

describe("PostgreSQL adapter", () => {
  it("instances starting together on an empty database migrate it once, under the advisory lock", async () => {
    const url = await createTestDatabase();
    const storages = await Promise.all([1, 2, 3].map(() => openPostgresStorage(options(url))));
    try {
      const versions = await withClient(url, (c) => c.query("SELECT version FROM schema_migrations ORDER BY version"));
      expect(versions.rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
      expect(await storages[0]!.schema.version()).toBe(storages[0]!.schema.latest);
    } finally {
      await Promise.all(storages.map((s) => s.close()));
    }
  });

  it("migrates down to empty and up again; refuses a schema newer than itself", async () => {
    const url = await createTestDatabase();
    const s = await openPostgresStorage(options(url));
    try {
      await s.tenants.insert(tenant("before"));
      expect(await s.schema.migrate(0)).toBe(0);
      const tables = await withClient(url, (c) => c.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"));
      expect(tables.rows.map((r) => r.tablename)).toEqual(["schema_migrations"]);
      expect(await s.schema.migrate()).toBe(PG_MIGRATIONS.length);
      expect(await s.tenants.get("before")).toBeUndefined();
      await withClient(url, (c) => c.query("INSERT INTO schema_migrations VALUES (99, 'future', 0)"));
      await expect(openPostgresStorage(options(url))).rejects.toThrow(/newer than this tessera/);
    } finally {
      await s.close();
    }
  });

  it("a NUL character PostgreSQL refuses is StorageError invalid (invalid_request), not a bug, in a read, a write and a transaction", async () => {
    const url = await createTestDatabase();
    const s = await openPostgresStorage(options(url));
    try {
      const invalid = expect.objectContaining({ name: "StorageError", kind: "invalid" });
      await expect(s.clients.findById("a\0b")).rejects.toEqual(invalid);
      await expect(s.settings.put("k", "a\0b")).rejects.toEqual(invalid);
      await expect(s.transaction((tx) => tx.settings.put("k", "a\0b"))).rejects.toEqual(invalid);
      expect(toOAuthError(await s.clients.findById("\0").catch((e: unknown) => e))).toMatchObject({ kind: "invalid_request" });
      expect(await s.settings.get("k")).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  it("a statement past the statement timeout fails as unavailable, not as a bug", async () => {
    const url = await createTestDatabase();
    const s = await openPostgresStorage(options(url, { statementTimeoutMs: 300 }));
    try {
      await s.settings.put("k", "v");
      await withClient(url, async (locker) => {
        await locker.query("BEGIN");
        await locker.query("SELECT * FROM settings WHERE key = 'k' FOR UPDATE");
        await expect(s.settings.put("k", "w")).rejects.toEqual(expect.objectContaining({ name: "StorageError", kind: "unavailable" }));
        await locker.query("ROLLBACK");
      });
      await s.settings.put("k", "w");
      expect(await s.settings.get("k")).toBe("w");
    } finally {
      await s.close();
    }
  });

  it("connections lost mid-call fail that call as unavailable; the pool reconnects for the next ones", async () => {
    const url = await createTestDatabase();
    const errors: Error[] = [];
    const s = await openPostgresStorage(options(url, { onBackgroundError: (err) => errors.push(err) }));
    try {
      await s.settings.put("k", "v");
      await withClient(url, async (locker) => {
        await locker.query("BEGIN");
        await locker.query("SELECT * FROM settings WHERE key = 'k' FOR UPDATE");
        const blocked = s.settings.put("k", "w").then(() => "written", (err: unknown) => err);
        await vi.waitFor(async () => {
          const waiting = await locker.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
          expect(Number(waiting.rows[0].n)).toBe(1);
        }, { timeout: 5000, interval: 20 });
        await locker.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
        expect(await blocked).toEqual(expect.objectContaining({ name: "StorageError", kind: "unavailable" }));
        await locker.query("ROLLBACK");
      });
      expect(await s.settings.get("k")).toBe("v");
      await s.settings.put("k", "x");
      await s.transaction(async (tx) => tx.settings.put("k", "y"));
      expect(await s.settings.get("k")).toBe("y");
    } finally {
      await s.close();
    }
  });

  it("statements asked for at once in a transaction run one at a time; a failing one, even caught, rolls them all back", async () => {
    const url = await createTestDatabase();
    const s = await openPostgresStorage(options(url));
    // The most statements one connection had running at once (pg 8 queues a second with a deprecation warning;
    // pg 9 refuses it). The transaction's statements use the promise form of query.
    const running = new Map<pg.Client, number>();
    let most = 0;
    const query = pg.Client.prototype.query;
    const spy = vi.spyOn(pg.Client.prototype, "query").mockImplementation(function (this: pg.Client, ...args: unknown[]) {
      const result = (query as (...a: unknown[]) => unknown).apply(this, args);
      if (!(result instanceof Promise)) return result as never;
      running.set(this, (running.get(this) ?? 0) + 1);
      most = Math.max(most, running.get(this)!);
      const done = () => void running.set(this, running.get(this)! - 1);
      result.then(done, done);
      return result as never;
    });
    try {
      await s.settings.put("a", "1");
      await s.tenants.insert(tenant("taken"));
      most = 0;
      const read = await s.transaction((tx) => Promise.all([tx.settings.get("a"), tx.tenants.get("taken"), tx.settings.get("none")]));
      expect(read).toEqual(["1", tenant("taken"), undefined]);
      expect(most).toBe(1);

      const failed = s.transaction((tx) => Promise.all([tx.settings.put("a", "2"), tx.tenants.insert(tenant("taken")), tx.settings.put("b", "3")]));
      await expect(failed).rejects.toEqual(expect.objectContaining({ name: "StorageError", kind: "conflict" }));
      expect(most).toBe(1);
      expect(await s.settings.get("a")).toBe("1");
      expect(await s.settings.get("b")).toBeUndefined();
      // A unit of work that catches a failed statement and goes on: PostgreSQL has aborted the transaction, and
      // its COMMIT would answer ROLLBACK; the unit of work fails with the statement's error instead.
      const caught = s.transaction(async (tx) => {
        await tx.settings.put("a", "5");
        await tx.tenants.insert(tenant("taken")).catch(() => undefined);
        return "went on";
      });
      await expect(caught).rejects.toEqual(expect.objectContaining({ name: "StorageError", kind: "conflict" }));
      expect(await s.settings.get("a")).toBe("1");
      // The connection went back to the pool in a clean state.
      await s.transaction(async (tx) => tx.settings.put("a", "4"));
      expect(await s.settings.get("a")).toBe("4");
    } finally {
      spy.mockRestore();
      await s.close();
    }
  });

  it("after the LISTEN connection drops and listens again, everything is reported changed", async () => {
    const url = await createTestDatabase();
    const s = await openPostgresStorage(options(url));
    const other = await openPostgresStorage(options(url));
    const seen: (readonly ChangeTopic[])[] = [];
    s.changes.subscribe((topics) => seen.push(topics));
    try {
      expect(s.changes.isListening).toBe(true);
      await terminateOthers(url);
      await vi.waitFor(() => expect(seen).toContainEqual(ALL_TOPICS), { timeout: 2000, interval: 10 });
      // Listening again (reconnect), and a change made while it was away is covered by a full invalidation.
      await vi.waitFor(() => expect(s.changes.isListening).toBe(true), { timeout: 5000, interval: 20 });
      seen.length = 0;
      await other.tenants.insert({ id: "t-after", name: "t-after", createTime: NOW });
      await vi.waitFor(() => expect(seen).toContainEqual(["tenants"]), { timeout: 1000, interval: 10 });
    } finally {
      await other.close();
      await s.close();
    }
  });

  it("while not listening the caches are kept (their lifetime is the bound), a poll reports nothing", async () => {
    const url = await createTestDatabase();
    const s = await openPostgresStorage(options(url));
    const seen: (readonly ChangeTopic[])[] = [];
    s.changes.subscribe((topics) => seen.push(topics));
    try {
      await s.changes.close();
      (s.changes as unknown as { closed: boolean }).closed = false;
      s.changes.poll();
      expect(seen).toEqual([]);
    } finally {
      await s.close();
    }
  });


  it("reads sslmode from the URL with libpq's meaning, and sets the limits", () => {
    const base = { poolSize: 3, statementTimeoutMs: 1234, connectTimeoutMs: 50 };
    expect(clientConfig({ ...base, url: "postgres://u:p@db:5433/x" }).ssl).toBeFalsy();
    expect(clientConfig({ ...base, url: "postgres://u:p@db/x?sslmode=disable" }).ssl).toBe(false);
    expect(clientConfig({ ...base, url: "postgres://u:p@db/x?sslmode=require" }).ssl).toEqual(expect.objectContaining({ rejectUnauthorized: false }));
    const full = clientConfig({ ...base, url: "postgresql://u:p@db/x?sslmode=verify-full" });
    expect(full.ssl).toBeTruthy();
    expect((full.ssl as { rejectUnauthorized?: boolean }).rejectUnauthorized).not.toBe(false);
    const c = clientConfig({ ...base, url: "postgres://u:p%40ss@db:5433/x" });
    expect([c.host, c.port, c.user, c.password, c.database, c.statement_timeout, c.connectionTimeoutMillis]).toEqual(["db", 5433, "u", "p@ss", "x", 1234, 50]);
  });

  it("classifies SQLSTATEs: retry, conflict, invalid, gone, unavailable, bug", () => {
    const e = (code: string) => Object.assign(new Error("x"), { code });
    expect(["40001", "40P01"].map((c) => classifyPgError(e(c)))).toEqual(["retry", "retry"]);
    expect(classifyPgError(e("23505"))).toBe("conflict");
    expect(["22021", "22P05"].map((c) => classifyPgError(e(c)))).toEqual(["invalid", "invalid"]);
    expect(["53100", "08006", "57P01", "57014", "25006", "ECONNREFUSED"].map((c) => classifyPgError(e(c)))).toEqual(Array(6).fill("unavailable"));
    expect(classifyPgError(new Error("Connection terminated unexpectedly"))).toBe("unavailable");
    expect(classifyPgError(e("42P01"))).toBeUndefined();
    expect(classifyPgError(e("23503"))).toBe("gone");
  });
});
