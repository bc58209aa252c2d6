import type { NewRefreshToken, RefreshFamily, RefreshTokenRecord } from "../../domain/records.js";
import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";
import { optionalNumber } from "./rows.js";

interface FamilyRow {
  id: string;
  tenant_id: string;
  application_id: string;
  client_id: string;
  user_id: string;
  session_id: string | null;
  resource_id: string | null;
  scope: string;
  claims: string;
  auth_time: number;
  create_time: number;
  max_expire_time: number;
  revoke_time: number | null;
  revoke_reason: string | null;
}

interface TokenWithFamilyRow {
  t_hash: Buffer;
  t_generation: number;
  t_create_time: number;
  t_expire_time: number;
  t_consume_time: number | null;
  t_reuse_count: number;
}

interface TokenRow {
  hash: Buffer;
  family_id: string;
  generation: number;
  create_time: number;
  expire_time: number;
  consume_time: number | null;
  reuse_count: number;
}

export const toFamily = (r: FamilyRow): RefreshFamily => ({
  id: r.id,
  tenantId: r.tenant_id,
  applicationId: r.application_id,
  clientId: r.client_id,
  userId: r.user_id,
  sessionId: r.session_id ?? undefined,
  resourceId: r.resource_id ?? undefined,
  scope: r.scope,
  claims: JSON.parse(r.claims) as Record<string, unknown>,
  authTime: r.auth_time,
  createTime: r.create_time,
  maxExpireTime: r.max_expire_time,
  revokeTime: optionalNumber(r.revoke_time),
  revokeReason: r.revoke_reason ?? undefined,
});

export const toToken = (r: TokenRow): RefreshTokenRecord => ({
  hash: r.hash,
  familyId: r.family_id,
  generation: r.generation,
  createTime: r.create_time,
  expireTime: r.expire_time,
  consumeTime: optionalNumber(r.consume_time),
  reuseCount: r.reuse_count,
});

export class RefreshTokenRepository implements Sync<ports.RefreshTokenRepository> {
  private readonly insertFamilyStmt;
  private readonly insertTokenStmt;
  private readonly getFamilyStmt;
  private readonly getTokenStmt;
  private readonly getTokenWithFamilyStmt;
  private readonly revokeFamilyStmt;
  private readonly revokeSessionFamiliesStmt;
  private readonly consumeStmt;
  private readonly countReuseStmt;
  private readonly recordReuseStmt;
  private readonly sweepPastMaxStmt;
  private readonly sweepDeadChainsStmt;
  private readonly sweepReuseEventsStmt;

  constructor(db: Db) {
    this.insertFamilyStmt = db.prepare(
      `INSERT INTO refresh_families (id, tenant_id, application_id, client_id, user_id, session_id, resource_id, scope, claims,
         auth_time, create_time, max_expire_time)
       VALUES (@id, @tenant_id, @application_id, @client_id, @user_id, @session_id, @resource_id, @scope, @claims,
         @auth_time, @create_time, @max_expire_time)`,
    );
    this.insertTokenStmt = db.prepare(
      `INSERT INTO refresh_tokens (hash, family_id, generation, create_time, expire_time)
       VALUES (@hash, @family_id, @generation, @create_time, @expire_time)`,
    );
    this.getFamilyStmt = db.prepare<[string], FamilyRow>("SELECT * FROM refresh_families WHERE id = ?");
    this.getTokenStmt = db.prepare<[Buffer], TokenRow>("SELECT * FROM refresh_tokens WHERE hash = ?");
    this.getTokenWithFamilyStmt = db.prepare<[Buffer], FamilyRow & TokenWithFamilyRow>(
      `SELECT f.*, t.hash AS t_hash, t.generation AS t_generation, t.create_time AS t_create_time,
         t.expire_time AS t_expire_time, t.consume_time AS t_consume_time, t.reuse_count AS t_reuse_count
       FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?`,
    );
    this.revokeFamilyStmt = db.prepare<[number, string, string]>(
      "UPDATE refresh_families SET revoke_time = ?, revoke_reason = ? WHERE id = ? AND revoke_time IS NULL",
    );
    this.revokeSessionFamiliesStmt = db.prepare<[number, string, string]>(
      "UPDATE refresh_families SET revoke_time = ?, revoke_reason = ? WHERE session_id = ? AND revoke_time IS NULL",
    );
    this.consumeStmt = db.prepare<{ hash: Buffer; now: number }>(
      `UPDATE refresh_tokens SET consume_time = @now
       WHERE hash = @hash AND consume_time IS NULL AND expire_time > @now
         AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id
                     AND f.revoke_time IS NULL AND f.max_expire_time > @now)`,
    );
    this.countReuseStmt = db.prepare<[Buffer, number]>(
      "UPDATE refresh_tokens SET reuse_count = reuse_count + 1 WHERE hash = ? AND reuse_count = ?",
    );
    this.recordReuseStmt = db.prepare(
      `INSERT INTO refresh_reuse_events (tenant_id, family_id, client_id, user_id, generation, create_time)
       VALUES (@tenant_id, @family_id, @client_id, @user_id, @generation, @create_time)`,
    );
    this.sweepPastMaxStmt = db.prepare<[number, number]>(
      "DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families WHERE max_expire_time <= ? LIMIT ?)",
    );
    this.sweepDeadChainsStmt = db.prepare<[number, number]>(
      `DELETE FROM refresh_families WHERE id IN
         (SELECT family_id FROM refresh_tokens WHERE consume_time IS NULL AND expire_time <= ? LIMIT ?)`,
    );
    this.sweepReuseEventsStmt = db.prepare<[number, number]>(
      "DELETE FROM refresh_reuse_events WHERE id IN (SELECT id FROM refresh_reuse_events WHERE create_time <= ? LIMIT ?)",
    );
  }

  insertFamily(f: RefreshFamily): void {
    this.insertFamilyStmt.run({
      id: f.id,
      tenant_id: f.tenantId,
      application_id: f.applicationId,
      client_id: f.clientId,
      user_id: f.userId,
      session_id: f.sessionId ?? null,
      resource_id: f.resourceId ?? null,
      scope: f.scope,
      claims: JSON.stringify(f.claims),
      auth_time: f.authTime,
      create_time: f.createTime,
      max_expire_time: f.maxExpireTime,
    });
  }
  insertToken(t: NewRefreshToken): void {
    this.insertTokenStmt.run({
      hash: t.hash,
      family_id: t.familyId,
      generation: t.generation,
      create_time: t.createTime,
      expire_time: t.expireTime,
    });
  }
  /** A token and its family in one read (the refresh hot path). */
  getTokenWithFamily(hash: Buffer): { token: RefreshTokenRecord; family: RefreshFamily } | undefined {
    const row = this.getTokenWithFamilyStmt.get(hash);
    if (row === undefined) return undefined;
    const token = toToken({
      hash: row.t_hash,
      family_id: row.id,
      generation: row.t_generation,
      create_time: row.t_create_time,
      expire_time: row.t_expire_time,
      consume_time: row.t_consume_time,
      reuse_count: row.t_reuse_count,
    });
    return { token, family: toFamily(row) };
  }
  getFamily(id: string): RefreshFamily | undefined {
    const row = this.getFamilyStmt.get(id);
    return row && toFamily(row);
  }
  getToken(hash: Buffer): RefreshTokenRecord | undefined {
    const row = this.getTokenStmt.get(hash);
    return row && toToken(row);
  }
  revokeFamily(id: string, now: number, reason: string): boolean {
    return this.revokeFamilyStmt.run(now, reason, id).changes === 1;
  }
  revokeSessionFamilies(sessionId: string, now: number, reason: string): number {
    return this.revokeSessionFamiliesStmt.run(now, reason, sessionId).changes;
  }

  /**
   * Consumes an active token: unconsumed, unexpired, of an unrevoked family within its maximum
   * rotation. Returns false when it was not (another refresh won, or it is not active).
   */
  consume(hash: Buffer, now: number): boolean {
    return this.consumeStmt.run({ hash, now }).changes === 1;
  }
  /** Counts one idempotent retry of a consumed token, if nobody counted it meanwhile. */
  countReuse(hash: Buffer, seen: number): boolean {
    return this.countReuseStmt.run(hash, seen).changes === 1;
  }
  recordReuse(family: RefreshFamily, generation: number, now: number): void {
    this.recordReuseStmt.run({
      tenant_id: family.tenantId,
      family_id: family.id,
      client_id: family.clientId,
      user_id: family.userId,
      generation,
      create_time: now,
    });
  }
  /** Deletes up to `limit` families past their maximum rotation (their tokens go with them). */
  sweepPastMaxRotation(now: number, limit: number): number {
    return this.sweepPastMaxStmt.run(now, limit).changes;
  }
  /** Deletes up to `limit` families whose newest (only unconsumed) token has expired: nothing can refresh them. */
  sweepDeadChains(now: number, limit: number): number {
    return this.sweepDeadChainsStmt.run(now, limit).changes;
  }
  sweepReuseEvents(before: number, limit: number): number {
    return this.sweepReuseEventsStmt.run(before, limit).changes;
  }
}
