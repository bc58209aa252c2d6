import Database from "better-sqlite3";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { MIGRATIONS, type Migration } from "./migrations.js";

export type Db = Database.Database;

export interface OpenOptions {
  /** Directory holding tessera.db; `:memory:` opens an in-memory database (tests of pure storage). */
  dataDir: string;
  synchronous: "FULL" | "NORMAL";
  busyTimeoutMs: number;
  readonly?: boolean;
  /** Bring the schema to the newest version on open (default true; `tessera migrate --to` opens without). */
  migrate?: boolean;
}

export const DATABASE_FILE = "tessera.db";

export function openDatabase(opts: OpenOptions): Db {
  let path = ":memory:";
  if (opts.dataDir !== ":memory:") {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    path = join(opts.dataDir, DATABASE_FILE);
    // Created owner-only (hashed secrets, encrypted keys); SQLite gives the -wal and -shm files the same mode.
    if (!opts.readonly && !existsSync(path)) closeSync(openSync(path, "a", 0o600));
  }
  const db = new Database(path, { readonly: opts.readonly ?? false, timeout: opts.busyTimeoutMs });
  try {
    if (!opts.readonly) db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${opts.synchronous}`);
    db.pragma("foreign_keys = ON");
    db.pragma("temp_store = MEMORY");
    if (!opts.readonly && opts.migrate !== false) migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export function schemaVersion(db: Db): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/** Brings the schema to `target` (default: newest), each step in its own transaction. */
export function migrate(db: Db, target = MIGRATIONS.length, migrations: Migration[] = MIGRATIONS): number {
  let version = schemaVersion(db);
  if (version > migrations.length) {
    throw new Error(`database schema version ${version} is newer than this tessera (${migrations.length}); upgrade tessera`);
  }
  const step = db.transaction((sql: string, next: number) => {
    db.exec(sql);
    db.pragma(`user_version = ${next}`);
  });
  while (version < target) {
    step(migrations[version]!.up, version + 1);
    version += 1;
  }
  while (version > target) {
    step(migrations[version - 1]!.down, version - 1);
    version -= 1;
  }
  return version;
}
