import type { Db } from "./database.js";

interface Pending {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: work queued during one event-loop turn runs in one IMMEDIATE transaction, each
 * item in its own savepoint (a failing item rolls back alone), and every promise settles only
 * after the shared COMMIT returned, i.e. once the group is durable under the configured
 * synchronous mode. Items still run synchronously and in order, so they never interleave with
 * other writers; only their commit is shared.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly runBatch;
  private readonly savepoint;

  constructor(db: Db) {
    this.savepoint = db.transaction((fn: () => unknown) => fn());
    this.runBatch = db.transaction((batch: Pending[]) =>
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

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    let outcomes;
    try {
      outcomes = this.runBatch.immediate(batch);
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    }
    outcomes.forEach((outcome, i) => (outcome.ok ? batch[i]!.resolve(outcome.value) : batch[i]!.reject(outcome.err)));
  }
}
