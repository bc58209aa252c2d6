import pg from "pg";
import { parse, toClientConfig } from "pg-connection-string";

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database?sslmode=…`; sslmode has libpq's meaning. */
  url: string;
  /** Connections per process. */
  poolSize: number;
  /** Server-side limit for one statement (milliseconds); a statement past it fails as unavailable. */
  statementTimeoutMs: number;
  /** How long a caller waits for a connection (a free one, or a new one to a restarting server). */
  connectTimeoutMs: number;
  applicationName?: string;
}

const INT8_OID = 20;
/** Times are BIGINT seconds and counts BIGINT: both fit a double, so read them as numbers, not strings. */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID && format !== "binary" ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Client settings from the URL (libpq sslmode semantics) and tessera's limits. */
export function clientConfig(opts: PostgresOptions): pg.ClientConfig {
  const fromUrl = toClientConfig(parse(opts.url, { useLibpqCompat: true }));
  return {
    ...fromUrl,
    types,
    keepAlive: true,
    // Finds a silently dead connection (the LISTEN one above all) in about a minute, not TCP's two hours.
    keepAliveInitialDelayMillis: 30_000,
    application_name: opts.applicationName ?? fromUrl.application_name ?? "tessera",
    statement_timeout: opts.statementTimeoutMs,
    // A transaction left open by a stuck caller must not hold row locks for long.
    idle_in_transaction_session_timeout: Math.max(opts.statementTimeoutMs * 2, 10_000),
    // Client-side bound as well: a server that vanished without closing the socket answers nothing.
    query_timeout: opts.statementTimeoutMs + 5000,
    connectionTimeoutMillis: opts.connectTimeoutMs,
  };
}

/**
 * A pool that survives server restarts: a broken connection is dropped by the pool (its callers get
 * an unavailable error) and the next query opens a fresh one.
 */
export function createPool(opts: PostgresOptions, onIdleError: (err: Error) => void): pg.Pool {
  const pool = new pg.Pool(Object.assign(clientConfig(opts), { max: opts.poolSize, idleTimeoutMillis: 30_000 }));
  // An idle connection that dies (server restart) emits here; without a listener it would crash the process.
  pool.on("error", onIdleError);
  return pool;
}
