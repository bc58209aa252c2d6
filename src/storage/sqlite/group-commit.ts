import type { Db } from "./database.js";
import { toStorageError } from "./errors.js";
import type { WriteLock } from "./write-lock.js";

interface Pending {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: work queued during one event-loop turn runs in one IMMEDIATE transaction and every
 * promise settles only after the shared COMMIT returned, i.e. once the group is durable under the
 * configured synchronous mode. Items run synchronously and in order, so they never interleave with
 * other writers; only their commit is shared.
 *
 * The common case has no savepoints: the items run back to back. If one of them throws, the whole
 * transaction rolls back and the group runs again with each item in its own savepoint, so the failing
 * item rolls back alone and the others commit. Items must therefore be functions of the database
 * state only (they may run twice, the first run leaving no trace). While an asynchronous unit of
 * work holds the write lock, the flush waits for it. Rejections carry engine-neutral errors.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly runFast;
  private readonly runIsolated;
  private readonly savepoint;
  private itemFailed = false;

  constructor(
    db: Db,
    private readonly lock?: WriteLock,
    /** Called after each group's COMMIT (the checkpointer's WAL bound). */
    private readonly afterCommit?: () => void,
  ) {
    this.savepoint = db.transaction((fn: () => unknown) => fn());
    this.runFast = db.transaction((batch: Pending[]) =>
      batch.map((item) => {
        try {
          return item.fn();
        } catch (err) {
          this.itemFailed = true;
          throw err;
        }
      }),
    );
    this.runIsolated = db.transaction((batch: Pending[]) =>
      batch.map((item): { ok: true; value: unknown } | { ok: false; err: unknown } => {
        try {
          return { ok: true, value: this.savepoint(item.fn) };
        } catch (err) {
          return { ok: false, err };
        }
      }),
    );
  }

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Whether work is queued and not yet committed. */
  get pending(): boolean {
    return this.scheduled;
  }

  private flush(): void {
    const wait = this.lock?.held === true ? this.lock.acquire() : undefined;
    if (wait === undefined) {
      this.flushNow();
      return;
    }
    void wait.then(() => {
      try {
        this.flushNow();
      } finally {
        this.lock!.release();
      }
    });
  }

  private flushNow(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    this.itemFailed = false;
    let values: unknown[];
    try {
      values = this.runFast.immediate(batch);
    } catch (err) {
      // BEGIN or COMMIT failed (busy, disk full): nothing was written, and the whole group is refused.
      if (!this.itemFailed) {
        for (const item of batch) item.reject(toStorageError(err));
        return;
      }
      this.flushIsolated(batch);
      return;
    }
    this.afterCommit?.();
    batch.forEach((item, i) => item.resolve(values[i]));
  }

  private flushIsolated(batch: Pending[]): void {
    let outcomes;
    try {
      outcomes = this.runIsolated.immediate(batch);
    } catch (err) {
      for (const item of batch) item.reject(toStorageError(err));
      return;
    }
    this.afterCommit?.();
    outcomes.forEach((outcome, i) => (outcome.ok ? batch[i]!.resolve(outcome.value) : batch[i]!.reject(toStorageError(outcome.err))));
  }
}
