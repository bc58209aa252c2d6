import { existsSync } from "node:fs";
import { join } from "node:path";
import { Checkpointer, type CheckpointerOptions } from "./checkpointer.js";
import { DATABASE_FILE, openDatabase } from "./database.js";
import { SqliteStorage } from "./storage.js";

export { SqliteStorage } from "./storage.js";
export { DATABASE_FILE } from "./database.js";

export interface SqliteStorageOptions {
  /** Directory holding tessera.db (created owner-only); `:memory:` opens an in-memory database. */
  dataDir: string;
  /** The durability setting: FULL syncs every commit (default), NORMAL only at checkpoints. */
  synchronous?: "FULL" | "NORMAL";
  /** Milliseconds a statement waits on another connection's lock before SQLITE_BUSY (default 5000). */
  busyTimeoutMs?: number;
  /** Bring the schema to the newest version on open (default true; `tessera migrate --to` opens without). */
  migrate?: boolean;
  /**
   * WAL checkpoints from a worker thread (file databases; default on), with the WAL bounded at
   * `walLimitBytes`; false leaves them to SQLite, at commit on the serving connection.
   */
  checkpoints?: false | Pick<CheckpointerOptions, "intervalMs" | "restartFrames" | "walLimitBytes">;
}

/** Opens (or creates) the SQLite database of a data directory as a Storage: WAL, group commit, data_version change feed. */
export function openSqliteStorage(opts: SqliteStorageOptions): SqliteStorage {
  const synchronous = opts.synchronous ?? "FULL";
  const db = openDatabase({ dataDir: opts.dataDir, synchronous, busyTimeoutMs: opts.busyTimeoutMs ?? 5000, migrate: opts.migrate });
  let checkpointer: Checkpointer | undefined;
  try {
    if (opts.dataDir !== ":memory:" && opts.checkpoints !== false) {
      checkpointer = new Checkpointer(db, { file: join(opts.dataDir, DATABASE_FILE), synchronous, ...opts.checkpoints });
    }
    return new SqliteStorage(db, checkpointer);
  } catch (err) {
    void checkpointer?.stop();
    db.close();
    throw err;
  }
}

/** Whether a data directory holds a tessera database already. */
export function sqliteDatabaseExists(dataDir: string): boolean {
  return existsSync(join(dataDir, DATABASE_FILE));
}
