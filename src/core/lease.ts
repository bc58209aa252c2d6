import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Core } from "./core.js";

/** The settings row of the background jobs' lease: `{ holder, expireTime }` (JSON, seconds). */
export const BACKGROUND_LEASE_KEY = "lease:background";
/** Renewals per lease lifetime: a holder that misses two renewals in a row still holds it. */
export const LEASE_RENEWALS_PER_TTL = 3;

interface LeaseRow {
  holder: string;
  expireTime: number;
}

function parse(raw: string | undefined): LeaseRow | undefined {
  if (raw === undefined) return undefined;
  try {
    const row = JSON.parse(raw) as Partial<LeaseRow>;
    return typeof row.holder === "string" && typeof row.expireTime === "number" ? (row as LeaseRow) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A lease on the jobs that must run on one instance at a time (expiry sweeps, scheduled key
 * rotation), among every instance and worker on one database. Engine-neutral: a settings row read
 * and written in one unit of work, which both engines run one at a time (SQLite: BEGIN IMMEDIATE;
 * PostgreSQL: the unit-of-work advisory lock). The holder renews it every `ttl / 3` seconds; when it
 * dies (SIGKILL, lost host) nobody renews, and the first instance to try after `expireTime` takes
 * over. A graceful stop releases it at once. Times are the core clock's: instances need clocks
 * within a few seconds of each other (NTP), far below the lifetime.
 */
export class Lease {
  /** Unique per process start: host, pid and a random tag (a restarted pid is another holder). */
  readonly holder = `${hostname()}/${process.pid}/${randomBytes(4).toString("hex")}`;
  /** Until when this instance holds it, by what it last wrote; 0 when it does not. */
  private heldUntil = 0;

  constructor(
    private readonly core: Core,
    readonly ttl: number,
    private readonly key = BACKGROUND_LEASE_KEY,
  ) {}

  /** Whether this instance holds the lease now (without asking the database). */
  get held(): boolean {
    return this.core.now() < this.heldUntil;
  }

  /** Takes the lease if it is free or expired, renews it if ours; returns whether we hold it. A failed write keeps what we had. */
  async renew(): Promise<boolean> {
    const now = this.core.now();
    const expireTime = now + this.ttl;
    const won = await this.core.storage.transaction(async (tx) => {
      const current = parse(await tx.settings.get(this.key));
      if (current !== undefined && current.holder !== this.holder && current.expireTime > now) return false;
      await tx.settings.put(this.key, JSON.stringify({ holder: this.holder, expireTime } satisfies LeaseRow));
      return true;
    });
    this.heldUntil = won ? expireTime : 0;
    return won;
  }

  /** Gives the lease up (graceful stop), so another instance takes over at its next renewal. */
  async release(): Promise<void> {
    if (this.heldUntil === 0) return;
    this.heldUntil = 0;
    await this.core.storage.transaction(async (tx) => {
      const current = parse(await tx.settings.get(this.key));
      if (current?.holder === this.holder) await tx.settings.put(this.key, JSON.stringify({ holder: this.holder, expireTime: 0 } satisfies LeaseRow));
    });
  }
}

/** The renewal period for jobs that tick every `intervals` seconds (0 = off): at most 5 s, at least 1 s; undefined when no job runs. */
export function leaseRenewPeriod(intervals: number[]): number | undefined {
  const on = intervals.filter((s) => s > 0);
  if (on.length === 0) return undefined;
  return Math.max(1, Math.min(5, ...on));
}
