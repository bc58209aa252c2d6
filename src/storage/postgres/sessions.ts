import type * as ports from "../../domain/ports.js";
import type { PageCursor } from "../../domain/records.js";
import type { Session } from "../../domain/types.js";
import { stmt, type Exec } from "./exec.js";
import { after, json, optionalNumber } from "./rows.js";

interface SessionRow {
  id: string;
  secret_hash: Buffer;
  tenant_id: string;
  user_id: string;
  application_id: string | null;
  amr: string[];
  create_time: number;
  auth_time: number;
  expire_time: number;
  revoke_time: number | null;
}

const toSession = (r: SessionRow): Session => ({
  id: r.id,
  tenantId: r.tenant_id,
  userId: r.user_id,
  applicationId: r.application_id ?? undefined,
  amr: r.amr,
  createTime: r.create_time,
  authTime: r.auth_time,
  expireTime: r.expire_time,
  revokeTime: optionalNumber(r.revoke_time),
});

const INSERT = stmt(
  `INSERT INTO sessions (id, secret_hash, tenant_id, user_id, application_id, amr, create_time, auth_time, expire_time)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
);
const BY_SECRET = stmt("SELECT * FROM sessions WHERE secret_hash = $1");
const GET = stmt("SELECT * FROM sessions WHERE tenant_id = $1 AND id = $2");
const TOUCH = stmt("UPDATE sessions SET auth_time = $2, expire_time = $3 WHERE id = $1 AND revoke_time IS NULL");
const REVOKE = stmt("UPDATE sessions SET revoke_time = $2 WHERE id = $1 AND revoke_time IS NULL");
const LIVE = "s.tenant_id = $1 AND s.user_id = $5 AND s.revoke_time IS NULL AND s.expire_time > $6";
const PAGE_FOR_USER = stmt(`SELECT * FROM sessions s WHERE ${LIVE} AND ${after("s.", 2)}`);
const PAGE_FOR_USER_APPLICATION = stmt(`SELECT * FROM sessions s WHERE ${LIVE} AND s.application_id = $7 AND ${after("s.", 2)}`);
const SWEEP = stmt(
  `DELETE FROM sessions WHERE id IN (SELECT s.id FROM sessions s WHERE s.expire_time <= $1
     AND NOT EXISTS (SELECT 1 FROM refresh_families f WHERE f.session_id = s.id) LIMIT $2)`,
);

export class SessionRepository implements ports.SessionRepository {
  constructor(private readonly db: Exec) {}

  async insert(s: Session, secretHash: Buffer): Promise<void> {
    await this.db.query(INSERT, [
      s.id, secretHash, s.tenantId, s.userId, s.applicationId ?? null, json(s.amr), s.createTime, s.authTime, s.expireTime,
    ]);
  }
  async findBySecretHash(secretHash: Buffer): Promise<Session | undefined> {
    const r = await this.db.query<SessionRow>(BY_SECRET, [secretHash]);
    return r.rows[0] && toSession(r.rows[0]);
  }
  async get(tenantId: string, id: string): Promise<Session | undefined> {
    const r = await this.db.query<SessionRow>(GET, [tenantId, id]);
    return r.rows[0] && toSession(r.rows[0]);
  }
  async touch(id: string, authTime: number, expireTime: number): Promise<boolean> {
    return (await this.db.query(TOUCH, [id, authTime, expireTime])).rowCount === 1;
  }
  async revoke(id: string, now: number): Promise<boolean> {
    return (await this.db.query(REVOKE, [id, now])).rowCount === 1;
  }
  async pageForUser(
    tenantId: string,
    userId: string,
    now: number,
    cursor: PageCursor | undefined,
    limit: number,
    applicationId?: string,
  ): Promise<Session[]> {
    const c = cursor ?? { createTime: -1, id: "" };
    const values = [tenantId, c.createTime, c.id, limit, userId, now];
    const r =
      applicationId === undefined
        ? await this.db.query<SessionRow>(PAGE_FOR_USER, values)
        : await this.db.query<SessionRow>(PAGE_FOR_USER_APPLICATION, [...values, applicationId]);
    return r.rows.map(toSession);
  }
  async sweep(now: number, limit: number): Promise<number> {
    return (await this.db.query(SWEEP, [now, limit])).rowCount ?? 0;
  }
}
