import type * as ports from "../../domain/ports.js";
import type { AuthorizationCodeRecord, CodeExchange, ConsentRecord, InteractionRecord, NewAuthorizationCode } from "../../domain/records.js";
import { stmt, type Exec } from "./exec.js";
import { json, nullable, optionalNumber } from "./rows.js";

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
  scopes: string[];
  resource_ids: string[];
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
  offline: boolean;
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
  scopes: r.scopes,
  resourceIds: r.resource_ids,
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
  offline: r.offline,
  authTime: r.auth_time,
  createTime: r.create_time,
  expireTime: r.expire_time,
  consumeTime: optionalNumber(r.consume_time),
  familyId: r.family_id ?? undefined,
  accessTokenJti: r.access_token_jti ?? undefined,
  accessTokenExpireTime: optionalNumber(r.access_token_expire_time),
});

const INSERT_INTERACTION = stmt(
  `INSERT INTO authorization_interactions (id, tenant_id, client_id, request, csrf_hash, user_id, session_id, login_time, create_time, expire_time)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
);
const GET_INTERACTION = stmt("SELECT * FROM authorization_interactions WHERE id = $1");
const SET_INTERACTION_USER = stmt("UPDATE authorization_interactions SET user_id = $2, session_id = $3, login_time = $4 WHERE id = $1");
const DELETE_INTERACTION = stmt("DELETE FROM authorization_interactions WHERE id = $1");
const GET_CONSENT = stmt("SELECT * FROM consents WHERE user_id = $1 AND client_id = $2");
const PUT_CONSENT = stmt(
  `INSERT INTO consents (user_id, client_id, tenant_id, scopes, resource_ids, create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7)
   ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, resource_ids = excluded.resource_ids,
     update_time = excluded.update_time`,
);
const INSERT_CODE = stmt(
  `INSERT INTO authorization_codes (hash, tenant_id, client_id, user_id, session_id, redirect_uri, code_challenge, resource_id,
     scope, nonce, offline, auth_time, create_time, expire_time)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
);
const GET_CODE = stmt("SELECT * FROM authorization_codes WHERE hash = $1");
const CONSUME_CODE = stmt(
  `UPDATE authorization_codes SET consume_time = $2, family_id = $3, access_token_jti = $4, access_token_expire_time = $5
   WHERE hash = $1 AND consume_time IS NULL`,
);
const REVOKE_JTI = stmt("INSERT INTO revoked_access_tokens (jti, expire_time) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING");
const IS_JTI_REVOKED = stmt("SELECT 1 FROM revoked_access_tokens WHERE jti = $1");
// Used codes are kept past their expiry for a while so a late replay is still recognised as reuse.
const SWEEP = stmt(
  `WITH i AS (DELETE FROM authorization_interactions WHERE expire_time <= $1 RETURNING 1),
        c AS (DELETE FROM authorization_codes WHERE expire_time <= $1 - 86400 RETURNING 1),
        j AS (DELETE FROM revoked_access_tokens WHERE expire_time <= $1 RETURNING 1)
   SELECT (SELECT count(*) FROM i) + (SELECT count(*) FROM c) + (SELECT count(*) FROM j) AS n`,
);

export class AuthorizationRepository implements ports.AuthorizationRepository {
  constructor(private readonly db: Exec) {}

  async insertInteraction(i: InteractionRecord): Promise<void> {
    await this.db.query(INSERT_INTERACTION, [
      i.id, i.tenantId, i.clientId, i.request, i.csrfHash, nullable(i.userId), nullable(i.sessionId), nullable(i.loginTime),
      i.createTime, i.expireTime,
    ]);
  }
  async getInteraction(id: string): Promise<InteractionRecord | undefined> {
    const row = (await this.db.query<InteractionRow>(GET_INTERACTION, [id])).rows[0];
    return row && toInteraction(row);
  }
  async setInteractionUser(id: string, userId: string, sessionId: string, loginTime: number | undefined): Promise<void> {
    await this.db.query(SET_INTERACTION_USER, [id, userId, sessionId, nullable(loginTime)]);
  }
  async deleteInteraction(id: string): Promise<boolean> {
    return (await this.db.query(DELETE_INTERACTION, [id])).rowCount === 1;
  }
  async getConsent(userId: string, clientId: string): Promise<ConsentRecord | undefined> {
    const row = (await this.db.query<ConsentRow>(GET_CONSENT, [userId, clientId])).rows[0];
    return row && toConsent(row);
  }
  async putConsent(c: ConsentRecord): Promise<void> {
    await this.db.query(PUT_CONSENT, [c.userId, c.clientId, c.tenantId, json(c.scopes), json(c.resourceIds), c.createTime, c.updateTime]);
  }
  async insertCode(c: NewAuthorizationCode): Promise<void> {
    await this.db.query(INSERT_CODE, [
      c.hash, c.tenantId, c.clientId, c.userId, c.sessionId, c.redirectUri, nullable(c.codeChallenge), c.resourceId, c.scope,
      nullable(c.nonce), c.offline, c.authTime, c.createTime, c.expireTime,
    ]);
  }
  async getCode(hash: Buffer): Promise<AuthorizationCodeRecord | undefined> {
    const row = (await this.db.query<CodeRow>(GET_CODE, [hash])).rows[0];
    return row && toCode(row);
  }
  async consumeCode(hash: Buffer, now: number, issued: CodeExchange): Promise<boolean> {
    const values = [hash, now, nullable(issued.familyId), issued.accessTokenJti, issued.accessTokenExpireTime];
    return (await this.db.query(CONSUME_CODE, values)).rowCount === 1;
  }
  async revokeAccessToken(jti: string, expireTime: number): Promise<void> {
    await this.db.query(REVOKE_JTI, [jti, expireTime]);
  }
  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    return (await this.db.query(IS_JTI_REVOKED, [jti])).rowCount === 1;
  }
  async sweep(now: number): Promise<number> {
    return (await this.db.query<{ n: number }>(SWEEP, [now])).rows[0]?.n ?? 0;
  }
}
