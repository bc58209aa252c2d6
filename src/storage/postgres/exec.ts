import { createHash } from "node:crypto";
import type pg from "pg";
import { StorageError } from "../../domain/errors.js";
import { classifyPgError, violatedConstraint } from "./sqlstate.js";

/** A statement with a stable name: node-postgres prepares it once per connection and reuses the plan. */
export interface Stmt {
  name: string;
  text: string;
}

export function stmt(text: string): Stmt {
  return { name: `t${createHash("sha1").update(text).digest("base64url").slice(0, 16)}`, text };
}

/** A serialization failure or deadlock: the whole unit of work may run again. */
export class RetryableError extends StorageError {
  constructor(cause: unknown) {
    super("busy", "the database asked to retry the transaction", { cause });
  }
}

/** PostgreSQL failures as the engine-neutral StorageError; anything else (a bug, an OAuthError) passes unchanged. */
export function toStorageError(err: unknown): unknown {
  if (err instanceof StorageError) return err;
  switch (classifyPgError(err)) {
    case "retry":
      return new RetryableError(err);
    case "conflict":
      return new StorageError("conflict", `duplicate key (${violatedConstraint(err) ?? "unique constraint"})`, { cause: err });
    case "unavailable":
      return new StorageError("unavailable", "the database is unreachable or cannot accept writes", { cause: err });
    case "invalid":
      return new StorageError("invalid", "a value the database refuses", { cause: err });
    case "gone":
      return new StorageError("gone", `a referenced row is gone (${violatedConstraint(err) ?? "foreign key"})`, { cause: err });
    default:
      return err;
  }
}

function isConnectionLost(err: unknown): boolean {
  return classifyPgError(err) === "unavailable" || (err instanceof StorageError && err.kind === "unavailable");
}

/** Where repositories send their statements: the pool (each call on its own) or one transaction's connection. */
export interface Exec {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(s: Stmt, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Runs several statements atomically: on the pool in a transaction of their own, inside a unit of work as part of it. */
  atomic<T>(fn: (db: Exec) => Promise<T>): Promise<T>;
}

export const MAX_ATTEMPTS = 4;

/** Runs `fn` again after a serialization failure or deadlock, at most MAX_ATTEMPTS times in all. */
export async function withRetry<T>(fn: () => Promise<T>, onRetry: (() => void) | undefined): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (err) {
      const mapped = toStorageError(err);
      if (!(mapped instanceof RetryableError) || attempt >= MAX_ATTEMPTS) throw mapped;
      onRetry?.();
      // A little jitter so that the same two transactions do not collide again at once.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}

/**
 * Runs `fn` in a transaction on a connection of its own. `prelude` statements run right after BEGIN
 * (e.g. the unit-of-work lock). A connection that failed is discarded, not returned to the pool.
 */
export async function inTransaction<T>(pool: pg.Pool, prelude: Stmt[], fn: (db: TxExec) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw toStorageError(err);
  }
  let broken: Error | undefined;
  const tx = new TxExec(client);
  try {
    await client.query("BEGIN");
    for (const s of prelude) await client.query(s);
    const value = await fn(tx);
    const failed = await tx.end();
    if (failed !== undefined) throw failed.err;
    await client.query("COMMIT");
    return value;
  } catch (err) {
    await tx.end();
    if (isConnectionLost(err)) broken = err as Error;
    else await client.query("ROLLBACK").catch((rollbackErr: Error) => (broken = rollbackErr));
    throw toStorageError(err);
  } finally {
    client.release(broken);
  }
}

export class PoolExec implements Exec {
  /** Told about each retry after a serialization failure or deadlock. */
  onRetry: (() => void) | undefined;
  constructor(private readonly pool: pg.Pool) {}

  async query<R extends pg.QueryResultRow>(s: Stmt, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>({ name: s.name, text: s.text, values });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  atomic<T>(fn: (db: Exec) => Promise<T>): Promise<T> {
    return withRetry(() => inTransaction(this.pool, [], fn), this.onRetry);
  }
}

/**
 * The connection of one open transaction; unusable once it ended. A connection runs one statement at a time, and
 * the core may ask for several at once (a Promise.all over a transaction's repositories): they run one after
 * the other, in the order asked (pg 8 queued them itself, with a deprecation warning; pg 9 refuses).
 */
export class TxExec implements Exec {
  private open = true;
  /** Settles when the last statement asked for has. */
  private last: Promise<unknown> = Promise.resolve();
  /** The first statement's failure: PostgreSQL has aborted the transaction, and a COMMIT would roll it back silently. */
  private failure: { err: unknown } | undefined;
  constructor(private readonly client: pg.PoolClient) {}

  /**
   * No more statements; resolves once the ones already asked for are done, so COMMIT or ROLLBACK can follow, to
   * the first statement's failure if one failed (even one the unit of work caught and went on from).
   */
  async end(): Promise<{ err: unknown } | undefined> {
    this.open = false;
    await this.last;
    return this.failure;
  }

  query<R extends pg.QueryResultRow>(s: Stmt, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (!this.open) return Promise.reject(new Error("the transaction has ended"));
    const result = this.last.then(async () => {
      try {
        return await this.client.query<R>({ name: s.name, text: s.text, values });
      } catch (err) {
        throw toStorageError(err);
      }
    });
    this.last = result.catch((err: unknown) => (this.failure ??= { err }));
    return result;
  }

  atomic<T>(fn: (db: Exec) => Promise<T>): Promise<T> {
    return fn(this);
  }
}
