import type { AuthorizationCodeRecord, CodeExchange, ConsentRecord, InteractionRecord, NewAuthorizationCode } from "../../domain/records.js";
import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";
import { json, nullable, optionalNumber, parseList } from "./rows.js";

interface InteractionRow {
  id: string;
  tenant_id: string;
  client_id: string;
  request: string;
  csrf_hash: Buffer;
  user_id: string | null;
  session_id: string | null;
  login_time: number | null;
  create_time: number;
  expire_time: number;
}

interface ConsentRow {
  user_id: string;
  client_id: string;
  tenant_id: string;
  scopes: string;
  resource_ids: string;
  create_time: number;
  update_time: number;
}

interface CodeRow {
  hash: Buffer;
  tenant_id: string;
  client_id: string;
  user_id: string;
  session_id: string;
  redirect_uri: string;
  code_challenge: string | null;
  resource_id: string;
  scope: string;
  nonce: string | null;
  offline: number;
  auth_time: number;
  create_time: number;
  expire_time: number;
  consume_time: number | null;
  family_id: string | null;
  access_token_jti: string | null;
  access_token_expire_time: number | null;
}

const toInteraction = (r: InteractionRow): InteractionRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  clientId: r.client_id,
  request: r.request,
  csrfHash: r.csrf_hash,
  userId: r.user_id ?? undefined,
  sessionId: r.session_id ?? undefined,
  loginTime: optionalNumber(r.login_time),
  createTime: r.create_time,
  expireTime: r.expire_time,
});

const toConsent = (r: ConsentRow): ConsentRecord => ({
  userId: r.user_id,
  clientId: r.client_id,
  tenantId: r.tenant_id,
  scopes: parseList(r.scopes),
  resourceIds: parseList(r.resource_ids),
  createTime: r.create_time,
  updateTime: r.update_time,
});

const toCode = (r: CodeRow): AuthorizationCodeRecord => ({
  hash: r.hash,
  tenantId: r.tenant_id,
  clientId: r.client_id,
  userId: r.user_id,
  sessionId: r.session_id,
  redirectUri: r.redirect_uri,
  codeChallenge: r.code_challenge ?? undefined,
  resourceId: r.resource_id,
  scope: r.scope,
  nonce: r.nonce ?? undefined,
  offline: r.offline === 1,
  authTime: r.auth_time,
  createTime: r.create_time,
  expireTime: r.expire_time,
  consumeTime: optionalNumber(r.consume_time),
  familyId: r.family_id ?? undefined,
  accessTokenJti: r.access_token_jti ?? undefined,
  accessTokenExpireTime: optionalNumber(r.access_token_expire_time),
});

/** Authorization requests in flight, remembered consents, authorization codes and revoked access token ids. */
export class AuthorizationRepository implements Sync<ports.AuthorizationRepository> {
  private readonly insertInteractionStmt;
  private readonly getInteractionStmt;
  private readonly setInteractionUserStmt;
  private readonly deleteInteractionStmt;
  private readonly getConsentStmt;
  private readonly upsertConsentStmt;
  private readonly insertCodeStmt;
  private readonly getCodeStmt;
  private readonly consumeCodeStmt;
  private readonly revokeJtiStmt;
  private readonly isJtiRevokedStmt;
  private readonly sweepStmts;

  constructor(db: Db) {
    this.insertInteractionStmt = db.prepare(
      `INSERT INTO authorization_interactions (id, tenant_id, client_id, request, csrf_hash, user_id, session_id, login_time, create_time, expire_time)
       VALUES (@id, @tenant_id, @client_id, @request, @csrf_hash, @user_id, @session_id, @login_time, @create_time, @expire_time)`,
    );
    this.getInteractionStmt = db.prepare<[string], InteractionRow>("SELECT * FROM authorization_interactions WHERE id = ?");
    this.setInteractionUserStmt = db.prepare<[string, string, number | null, string]>(
      "UPDATE authorization_interactions SET user_id = ?, session_id = ?, login_time = ? WHERE id = ?",
    );
    this.deleteInteractionStmt = db.prepare<[string]>("DELETE FROM authorization_interactions WHERE id = ?");
    this.getConsentStmt = db.prepare<[string, string], ConsentRow>("SELECT * FROM consents WHERE user_id = ? AND client_id = ?");
    this.upsertConsentStmt = db.prepare(
      `INSERT INTO consents (user_id, client_id, tenant_id, scopes, resource_ids, create_time, update_time)
       VALUES (@user_id, @client_id, @tenant_id, @scopes, @resource_ids, @create_time, @update_time)
       ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, resource_ids = excluded.resource_ids,
         update_time = excluded.update_time`,
    );
    this.insertCodeStmt = db.prepare(
      `INSERT INTO authorization_codes (hash, tenant_id, client_id, user_id, session_id, redirect_uri, code_challenge, resource_id,
         scope, nonce, offline, auth_time, create_time, expire_time)
       VALUES (@hash, @tenant_id, @client_id, @user_id, @session_id, @redirect_uri, @code_challenge, @resource_id,
         @scope, @nonce, @offline, @auth_time, @create_time, @expire_time)`,
    );
    this.getCodeStmt = db.prepare<[Buffer], CodeRow>("SELECT * FROM authorization_codes WHERE hash = ?");
    this.consumeCodeStmt = db.prepare<[number, string | null, string, number, Buffer]>(
      `UPDATE authorization_codes SET consume_time = ?, family_id = ?, access_token_jti = ?, access_token_expire_time = ?
       WHERE hash = ? AND consume_time IS NULL`,
    );
    this.revokeJtiStmt = db.prepare<[string, number]>("INSERT OR IGNORE INTO revoked_access_tokens (jti, expire_time) VALUES (?, ?)");
    this.isJtiRevokedStmt = db.prepare<[string], number>("SELECT 1 FROM revoked_access_tokens WHERE jti = ?").pluck();
    // Used codes are kept past their expiry for a while so a late replay is still recognised as reuse.
    this.sweepStmts = [
      db.prepare<[number]>("DELETE FROM authorization_interactions WHERE expire_time <= ?"),
      db.prepare<[number]>("DELETE FROM authorization_codes WHERE expire_time <= ? - 86400"),
      db.prepare<[number]>("DELETE FROM revoked_access_tokens WHERE expire_time <= ?"),
    ];
  }

  insertInteraction(i: InteractionRecord): void {
    this.insertInteractionStmt.run({
      id: i.id,
      tenant_id: i.tenantId,
      client_id: i.clientId,
      request: i.request,
      csrf_hash: i.csrfHash,
      user_id: nullable(i.userId),
      session_id: nullable(i.sessionId),
      login_time: nullable(i.loginTime),
      create_time: i.createTime,
      expire_time: i.expireTime,
    });
  }
  getInteraction(id: string): InteractionRecord | undefined {
    const row = this.getInteractionStmt.get(id);
    return row && toInteraction(row);
  }
  setInteractionUser(id: string, userId: string, sessionId: string, loginTime: number | undefined): void {
    this.setInteractionUserStmt.run(userId, sessionId, nullable(loginTime), id);
  }
  deleteInteraction(id: string): boolean {
    return this.deleteInteractionStmt.run(id).changes === 1;
  }

  getConsent(userId: string, clientId: string): ConsentRecord | undefined {
    const row = this.getConsentStmt.get(userId, clientId);
    return row && toConsent(row);
  }
  putConsent(c: ConsentRecord): void {
    this.upsertConsentStmt.run({
      user_id: c.userId,
      client_id: c.clientId,
      tenant_id: c.tenantId,
      scopes: json(c.scopes),
      resource_ids: json(c.resourceIds),
      create_time: c.createTime,
      update_time: c.updateTime,
    });
  }

  insertCode(c: NewAuthorizationCode): void {
    this.insertCodeStmt.run({
      hash: c.hash,
      tenant_id: c.tenantId,
      client_id: c.clientId,
      user_id: c.userId,
      session_id: c.sessionId,
      redirect_uri: c.redirectUri,
      code_challenge: nullable(c.codeChallenge),
      resource_id: c.resourceId,
      scope: c.scope,
      nonce: nullable(c.nonce),
      offline: c.offline ? 1 : 0,
      auth_time: c.authTime,
      create_time: c.createTime,
      expire_time: c.expireTime,
    });
  }
  getCode(hash: Buffer): AuthorizationCodeRecord | undefined {
    const row = this.getCodeStmt.get(hash);
    return row && toCode(row);
  }
  /**
   * Marks a code used, remembering what its exchange issued; false when another exchange used it
   * first (the conditional update decides).
   */
  consumeCode(hash: Buffer, now: number, issued: CodeExchange): boolean {
    return this.consumeCodeStmt.run(now, nullable(issued.familyId), issued.accessTokenJti, issued.accessTokenExpireTime, hash).changes === 1;
  }

  revokeAccessToken(jti: string, expireTime: number): void {
    this.revokeJtiStmt.run(jti, expireTime);
  }
  isAccessTokenRevoked(jti: string): boolean {
    return this.isJtiRevokedStmt.get(jti) !== undefined;
  }

  /** Deletes expired interactions, long-expired codes and denylist entries past their token's expiry. */
  sweep(now: number): number {
    return this.sweepStmts.reduce((n, s) => n + s.run(now).changes, 0);
  }
}
