import type { LoginThrottleState } from "../../domain/records.js";
import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";

interface ThrottleRow {
  failures: number;
  last_failure_time: number;
  locked_until: number;
}

export class LoginThrottleRepository implements Sync<ports.LoginThrottleRepository> {
  private readonly getStmt;
  private readonly putStmt;
  private readonly clearStmt;
  private readonly sweepStmt;

  constructor(db: Db) {
    this.getStmt = db.prepare<[string, string], ThrottleRow>(
      "SELECT failures, last_failure_time, locked_until FROM login_throttle WHERE tenant_id = ? AND username_key = ?",
    );
    this.putStmt = db.prepare(
      `INSERT INTO login_throttle (tenant_id, username_key, failures, last_failure_time, locked_until)
       VALUES (@tenant_id, @username_key, @failures, @last_failure_time, @locked_until)
       ON CONFLICT (tenant_id, username_key) DO UPDATE SET failures = excluded.failures,
         last_failure_time = excluded.last_failure_time, locked_until = excluded.locked_until`,
    );
    this.clearStmt = db.prepare<[string, string]>("DELETE FROM login_throttle WHERE tenant_id = ? AND username_key = ?");
    this.sweepStmt = db.prepare<[number, number, number]>(
      `DELETE FROM login_throttle WHERE (tenant_id, username_key) IN (SELECT tenant_id, username_key FROM login_throttle
         WHERE last_failure_time <= ? AND locked_until <= ? LIMIT ?)`,
    );
  }

  get(tenantId: string, usernameKey: string): LoginThrottleState | undefined {
    const row = this.getStmt.get(tenantId, usernameKey);
    return row && { failures: row.failures, lastFailureTime: row.last_failure_time, lockedUntil: row.locked_until };
  }
  put(tenantId: string, usernameKey: string, state: LoginThrottleState): void {
    this.putStmt.run({
      tenant_id: tenantId,
      username_key: usernameKey,
      failures: state.failures,
      last_failure_time: state.lastFailureTime,
      locked_until: state.lockedUntil,
    });
  }
  clear(tenantId: string, usernameKey: string): void {
    this.clearStmt.run(tenantId, usernameKey);
  }
  /** Deletes up to `limit` entries whose last failure is at or before `before` and that are not locked at `now`. */
  sweep(before: number, now: number, limit: number): number {
    return this.sweepStmt.run(before, now, limit).changes;
  }
}
