import { OAuthError } from "../domain/errors.js";

/** A password check refused because too many are already waiting; the caller should try again shortly. */
export class HashesBusyError extends OAuthError {
  readonly retryAfter = 1;
  constructor() {
    super("too_many_attempts", "too many password checks are in progress; try again in a moment");
  }
}

/**
 * Bounds concurrent scrypt runs (they occupy libuv's small threadpool): at most `concurrency` run,
 * at most `queueLimit` wait in FIFO order, and any more are refused at once with HashesBusyError.
 * A flood of guesses thus costs a legitimate login at most `queueLimit / concurrency` hash times.
 */
export class HashSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  /** The longest the queue has been, and how many checks were refused (for tests and metrics). */
  peakQueued = 0;
  rejected = 0;
  /** Slots taken: a hash each, unless the work refused first (a username locked while it waited). */
  runs = 0;

  constructor(
    readonly concurrency: number,
    readonly queueLimit: number,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.concurrency) {
      if (this.waiting.length >= this.queueLimit) {
        this.rejected++;
        throw new HashesBusyError();
      }
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.peakQueued = Math.max(this.peakQueued, this.waiting.length);
      });
    } else {
      this.active++;
    }
    this.runs++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so a newcomer cannot overtake the queue.
      if (next !== undefined) next();
      else this.active--;
    }
  }
}
