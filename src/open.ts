/**
 * Opening the configured storage and the core on it: what the server and every CLI command share. Kept apart
 * from the server's transports (grpc-js, Connect, OpenTelemetry), which a CLI command other than `serve`
 * never loads: it starts in a third of the time. PostgreSQL's driver and the tracing wrappers load only when used.
 */
import { ConfigError, type Config, type SigningAlgorithm } from "./config.js";
import { systemClock, type Clock } from "./core/clock.js";
import { Core } from "./core/core.js";
import { KeyRing } from "./core/keys.js";
import { loadMasterKey, Secrets } from "./core/secrets.js";
import type { Storage } from "./domain/ports.js";
import type { Tracing } from "./observability/tracing-config.js";
import { openSqliteStorage, sqliteDatabaseExists } from "./storage/sqlite/index.js";

export interface OpenStorageOptions {
  /** Bring the schema to the newest version (default true; `tessera migrate --to` opens without). */
  migrate?: boolean;
  /** PostgreSQL: connection failures no caller sees (an idle or the LISTEN connection dropped). */
  onBackgroundError?: (err: Error) => void;
}

/** Whether the configured database exists already: always for PostgreSQL (the server holds it), else the data directory's file. */
export function storageExists(config: Pick<Config, "dataDir" | "database">): boolean {
  return config.database !== undefined || sqliteDatabaseExists(config.dataDir);
}

type StorageConfig = Pick<Config, "dataDir" | "synchronous" | "busyTimeoutMs" | "database">;

/** Opens the configured storage: PostgreSQL with TESSERA_DATABASE_URL, else SQLite in the data directory. Throws ConfigError for operator mistakes. */
export async function openStorage(config: StorageConfig, opts: OpenStorageOptions = {}): Promise<Storage> {
  if (config.database !== undefined) {
    try {
      const { openPostgresStorage } = await import("./storage/postgres/index.js");
      return await openPostgresStorage(Object.assign({}, config.database, { migrate: opts.migrate, onBackgroundError: opts.onBackgroundError }));
    } catch (err) {
      // The URL may carry a password: name the host only.
      const host = new URL(config.database.url).host;
      throw new ConfigError("TESSERA_DATABASE_URL", `cannot open the PostgreSQL database at ${host}: ${(err as Error).message}`);
    }
  }
  try {
    return openSqliteStorage({ dataDir: config.dataDir, synchronous: config.synchronous, busyTimeoutMs: config.busyTimeoutMs, migrate: opts.migrate });
  } catch (err) {
    throw new ConfigError("TESSERA_DATA_DIR", `cannot open a database in ${config.dataDir}: ${(err as Error).message}`);
  }
}

/**
 * Opens (or creates) the data directory: storage, master key check, signing keys, core. Shared by
 * the server and the CLI. Throws ConfigError for operator mistakes.
 */
export async function openCore(config: Config, clock: Clock = systemClock, opts: OpenStorageOptions & { tracing?: Tracing } = {}): Promise<Core> {
  // Every repository call and unit of work a span (inside a request's span), only when tracing is on.
  const trace = opts.tracing === undefined ? undefined : (await import("./observability/instrument.js")).traceStorage;
  const opened = await openStorage(config, opts);
  const engine = config.database === undefined ? "sqlite" : "postgresql";
  const storage = trace === undefined ? opened : trace(opened, engine, ["db", "pool", "close", "changes", "events", "schema", "isOpen"]);
  try {
    const secrets = new Secrets(loadMasterKey(config.dataDir, config.secretKey));
    const check = await storage.settings.get("key_check");
    if (check === undefined) await storage.settings.put("key_check", secrets.checkValue());
    else if (check !== secrets.checkValue()) {
      throw new ConfigError("TESSERA_SECRET_KEY", "does not match the key this data directory was created with");
    }
    const keys = new KeyRing(storage, secrets, clock, config.signingAlgorithm);
    await keys.load((await storage.signingKeys.algorithmsNamed()) as SigningAlgorithm[], config.keyAnnouncePeriod);
    return new Core(storage, secrets, keys, clock, config, config.issuer ?? `http://localhost:${config.httpPort}`);
  } catch (err) {
    await storage.close();
    throw err;
  }
}
