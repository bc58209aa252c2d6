import { LIFETIME_BOUNDS } from "./admin/validation.js";
import type { Core } from "./core.js";
import { THROTTLE_WINDOW } from "./password-check.js";

/** Rows deleted per kind and per transaction, so a sweep never holds the write lock for long. */
export const SWEEP_BATCH = 1000;
/** How long reuse events are kept for audit (seconds). */
export const REUSE_EVENT_RETENTION = 90 * 86400;

export interface SweepCounts {
  families: number;
  sessions: number;
  throttles: number;
  reuseEvents: number;
}

/**
 * One bounded sweep: refresh families past their maximum rotation or whose newest token expired, a day
 * (the longest access-token lifetime) ago (consumed tokens live with their family, so reuse is detected
 * as long as the family could be refreshed at all), expired sessions no family refers to any more, stale password throttles and
 * old reuse events. Each kind is its own short transaction of at most `limit` rows.
 */
export async function sweepOnce(core: Core, limit = SWEEP_BATCH): Promise<SweepCounts> {
  const now = core.now();
  const { storage } = core;
  // An access token carries its family's id, and a family that is gone counts as revoked (introspection, userinfo):
  // a family is kept until the longest-lived access token it can have issued has expired too.
  const familiesEnded = now - LIFETIME_BOUNDS.accessTokenTtl.max;
  const families =
    (await storage.refreshTokens.sweepPastMaxRotation(familiesEnded, limit)) + (await storage.refreshTokens.sweepDeadChains(familiesEnded, limit));
  return {
    families,
    sessions: await storage.sessions.sweep(now, limit),
    throttles: await storage.loginThrottle.sweep(now - THROTTLE_WINDOW, now, limit),
    reuseEvents: await storage.refreshTokens.sweepReuseEvents(now - REUSE_EVENT_RETENTION, limit),
  };
}

/** Runs sweeps every `intervalSeconds`; a sweep that filled a batch continues on the next turn. */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running = false;

  constructor(
    private readonly core: Core,
    private readonly onError: (err: unknown) => void = () => undefined,
    /** Whether this instance may sweep now (it holds the background lease, core/lease.ts). */
    private readonly mayRun: () => boolean = () => true,
  ) {}

  start(intervalSeconds: number): void {
    if (intervalSeconds <= 0 || this.timer !== undefined) return;
    this.stopped = false;
    this.timer = setInterval(() => this.drain(), intervalSeconds * 1000);
    this.timer.unref();
  }

  private drain(): void {
    if (this.stopped || this.running || !this.core.storage.isOpen || !this.mayRun()) return;
    this.running = true;
    sweepOnce(this.core).then(
      (counts) => {
        this.running = false;
        if (Object.values(counts).some((n) => n >= SWEEP_BATCH)) setImmediate(() => this.drain());
      },
      (err: unknown) => {
        this.running = false;
        this.onError(err);
      },
    );
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
