import type pg from "pg";
import { PG_MIGRATIONS, type PgMigration } from "./migrations.js";

/** Key of the advisory lock that serializes migrations (and bootstrap) across instances: "tessera" in ASCII. */
export const MIGRATION_LOCK_KEY = 0x74657373657261n;

export async function schemaVersion(db: pg.Pool | pg.PoolClient): Promise<number> {
  const exists = await db.query<{ t: string | null }>("SELECT to_regclass('schema_migrations') AS t");
  if (exists.rows[0]?.t == null) return 0;
  const r = await db.query<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations");
  return r.rows[0]?.v ?? 0;
}

/**
 * Brings the schema to `target` (default: newest), each step in its own transaction, while holding a
 * session advisory lock: instances starting together wait for the first one and then find nothing to do.
 */
export async function migrate(
  pool: pg.Pool,
  target = PG_MIGRATIONS.length,
  migrations: PgMigration[] = PG_MIGRATIONS,
  now: () => number = () => Math.floor(Date.now() / 1000),
): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("SET statement_timeout = 0");
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
    try {
      await client.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, apply_time BIGINT NOT NULL)",
      );
      let version = await schemaVersion(client);
      if (version > migrations.length) {
        throw new Error(`database schema version ${version} is newer than this tessera (${migrations.length}); upgrade tessera`);
      }
      const step = async (sql: string, record: { text: string; values: unknown[] }) => {
        await client.query("BEGIN");
        try {
          await client.query(sql);
          await client.query(record);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK");
          throw err;
        }
      };
      while (version < target) {
        const m = migrations[version]!;
        await step(m.up, { text: "INSERT INTO schema_migrations (version, name, apply_time) VALUES ($1, $2, $3)", values: [version + 1, m.name, now()] });
        version += 1;
      }
      while (version > target) {
        await step(migrations[version - 1]!.down, { text: "DELETE FROM schema_migrations WHERE version = $1", values: [version] });
        version -= 1;
      }
      return version;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()]);
    }
  } finally {
    // Not returned to the pool: it ran with its statement timeout lifted.
    client.release(true);
  }
}
