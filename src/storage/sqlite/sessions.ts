import type { Session } from "../../domain/types.js";
import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";
import { optionalNumber, parseList, type PageCursor } from "./rows.js";

interface SessionRow {
  id: string;
  secret_hash: Buffer;
  tenant_id: string;
  user_id: string;
  application_id: string | null;
  amr: string;
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
  amr: parseList(r.amr),
  createTime: r.create_time,
  authTime: r.auth_time,
  expireTime: r.expire_time,
  revokeTime: optionalNumber(r.revoke_time),
});

export class SessionRepository implements Sync<ports.SessionRepository> {
  private readonly insertStmt;
  private readonly bySecretStmt;
  private readonly getStmt;
  private readonly touchStmt;
  private readonly revokeStmt;
  private readonly pageForUserStmt;
  private readonly pageForUserApplicationStmt;
  private readonly sweepStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO sessions (id, secret_hash, tenant_id, user_id, application_id, amr, create_time, auth_time, expire_time)
       VALUES (@id, @secret_hash, @tenant_id, @user_id, @application_id, @amr, @create_time, @auth_time, @expire_time)`,
    );
    this.bySecretStmt = db.prepare<[Buffer], SessionRow>("SELECT * FROM sessions WHERE secret_hash = ?");
    this.getStmt = db.prepare<[string, string], SessionRow>("SELECT * FROM sessions WHERE tenant_id = ? AND id = ?");
    this.touchStmt = db.prepare<[number, number, string]>(
      "UPDATE sessions SET auth_time = ?, expire_time = ? WHERE id = ? AND revoke_time IS NULL",
    );
    this.revokeStmt = db.prepare<[number, string]>("UPDATE sessions SET revoke_time = ? WHERE id = ? AND revoke_time IS NULL");
    this.pageForUserStmt = db.prepare<[string, string, number, number, number, string, number], SessionRow>(
      `SELECT * FROM sessions WHERE tenant_id = ? AND user_id = ? AND revoke_time IS NULL AND expire_time > ?
       AND (create_time > ? OR (create_time = ? AND id > ?)) ORDER BY create_time, id LIMIT ?`,
    );
    this.pageForUserApplicationStmt = db.prepare<[string, string, string, number, number, number, string, number], SessionRow>(
      `SELECT * FROM sessions WHERE tenant_id = ? AND user_id = ? AND application_id = ? AND revoke_time IS NULL AND expire_time > ?
       AND (create_time > ? OR (create_time = ? AND id > ?)) ORDER BY create_time, id LIMIT ?`,
    );
    this.sweepStmt = db.prepare<[number, number]>(
      `DELETE FROM sessions WHERE id IN (SELECT s.id FROM sessions s WHERE s.expire_time <= ?
         AND NOT EXISTS (SELECT 1 FROM refresh_families f WHERE f.session_id = s.id) LIMIT ?)`,
    );
  }

  insert(s: Session, secretHash: Buffer): void {
    this.insertStmt.run({
      id: s.id,
      secret_hash: secretHash,
      tenant_id: s.tenantId,
      user_id: s.userId,
      application_id: s.applicationId ?? null,
      amr: JSON.stringify(s.amr),
      create_time: s.createTime,
      auth_time: s.authTime,
      expire_time: s.expireTime,
    });
  }
  findBySecretHash(secretHash: Buffer): Session | undefined {
    const row = this.bySecretStmt.get(secretHash);
    return row && toSession(row);
  }
  get(tenantId: string, id: string): Session | undefined {
    const row = this.getStmt.get(tenantId, id);
    return row && toSession(row);
  }
  /** Records a new authentication in the session and slides its expiry. */
  touch(id: string, authTime: number, expireTime: number): boolean {
    return this.touchStmt.run(authTime, expireTime, id).changes === 1;
  }
  revoke(id: string, now: number): boolean {
    return this.revokeStmt.run(now, id).changes === 1;
  }
  /** A page of the user's live sessions, optionally only those started through one application. */
  pageForUser(tenantId: string, userId: string, now: number, after: PageCursor | undefined, limit: number, applicationId?: string): Session[] {
    const c = after ?? { createTime: -1, id: "" };
    const rows =
      applicationId === undefined
        ? this.pageForUserStmt.all(tenantId, userId, now, c.createTime, c.createTime, c.id, limit)
        : this.pageForUserApplicationStmt.all(tenantId, userId, applicationId, now, c.createTime, c.createTime, c.id, limit);
    return rows.map(toSession);
  }
  /** Deletes up to `limit` expired sessions that no refresh family still refers to (offline access outlives a session). */
  sweep(now: number, limit: number): number {
    return this.sweepStmt.run(now, limit).changes;
  }
}
