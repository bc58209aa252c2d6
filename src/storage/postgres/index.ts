import { NotifyFeed } from "./change-feed.js";
import { clientConfig, createPool, type PostgresOptions } from "./connect.js";
import { migrate } from "./migrate.js";
import { PostgresStorage } from "./storage.js";

export { PostgresStorage } from "./storage.js";
export type { PostgresOptions } from "./connect.js";

export interface PostgresStorageOptions extends PostgresOptions {
  /** Bring the schema to the newest version on open, under the migration lock (default true). */
  migrate?: boolean;
  /** Told about connection failures that no caller sees (an idle connection or the LISTEN one dropped). */
  onBackgroundError?: (err: Error) => void;
}

/** Connects to PostgreSQL as a Storage: migrates (several instances may start at once), listens for changes. */
export async function openPostgresStorage(opts: PostgresStorageOptions): Promise<PostgresStorage> {
  const onError = opts.onBackgroundError ?? (() => {});
  const pool = createPool(opts, onError);
  const feed = new NotifyFeed(clientConfig(opts), onError);
  try {
    if (opts.migrate !== false) await migrate(pool);
    await feed.start();
    return new PostgresStorage(pool, feed);
  } catch (err) {
    await feed.close();
    await pool.end().catch(() => undefined);
    throw err;
  }
}
