import type * as ports from "../../domain/ports.js";
import type { LoginThrottleState } from "../../domain/records.js";
import { stmt, type Exec } from "./exec.js";

interface ThrottleRow {
  failures: number;
  last_failure_time: number;
  locked_until: number;
}

const GET = stmt("SELECT failures, last_failure_time, locked_until FROM login_throttle WHERE tenant_id = $1 AND username_key = $2");
const PUT = stmt(
  `INSERT INTO login_throttle (tenant_id, username_key, failures, last_failure_time, locked_until) VALUES ($1, $2, $3, $4, $5)
   ON CONFLICT (tenant_id, username_key) DO UPDATE SET failures = excluded.failures,
     last_failure_time = excluded.last_failure_time, locked_until = excluded.locked_until`,
);
const CLEAR = stmt("DELETE FROM login_throttle WHERE tenant_id = $1 AND username_key = $2");
const SWEEP = stmt(
  `DELETE FROM login_throttle WHERE (tenant_id, username_key) IN (SELECT tenant_id, username_key FROM login_throttle
     WHERE last_failure_time <= $1 AND locked_until <= $2 LIMIT $3)`,
);

export class LoginThrottleRepository implements ports.LoginThrottleRepository {
  constructor(private readonly db: Exec) {}

  async get(tenantId: string, key: string): Promise<LoginThrottleState | undefined> {
    const row = (await this.db.query<ThrottleRow>(GET, [tenantId, key])).rows[0];
    return row && { failures: row.failures, lastFailureTime: row.last_failure_time, lockedUntil: row.locked_until };
  }
  async put(tenantId: string, key: string, state: LoginThrottleState): Promise<void> {
    await this.db.query(PUT, [tenantId, key, state.failures, state.lastFailureTime, state.lockedUntil]);
  }
  async clear(tenantId: string, key: string): Promise<void> {
    await this.db.query(CLEAR, [tenantId, key]);
  }
  async sweep(before: number, now: number, limit: number): Promise<number> {
    return (await this.db.query(SWEEP, [before, now, limit])).rowCount ?? 0;
  }
}
