/**
 * Serializes the adapter's asynchronous units of work against everything else on the one
 * better-sqlite3 connection: while a transaction awaits its callback, other statements would
 * otherwise run inside it (joining its writes, reading its uncommitted rows). Taken only by
 * `transaction`; other work checks `held` and waits its turn only while a transaction is open.
 */
export class WriteLock {
  private taken = false;
  private readonly waiters: (() => void)[] = [];

  get held(): boolean {
    return this.taken;
  }

  /** Takes the lock; undefined when it was free (taken synchronously), else a promise of the turn. */
  acquire(): Promise<void> | undefined {
    if (!this.taken) {
      this.taken = true;
      return undefined;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Hands the lock to the next waiter in order, or frees it. */
  release(): void {
    const next = this.waiters.shift();
    if (next === undefined) this.taken = false;
    else next();
  }
}
