import type * as ports from "../../domain/ports.js";
import type { NewRefreshToken, RefreshFamily, RefreshTokenRecord } from "../../domain/records.js";
import { stmt, type Exec } from "./exec.js";
import { json, optionalNumber } from "./rows.js";

interface FamilyRow {
  id: string;
  tenant_id: string;
  application_id: string;
  client_id: string;
  user_id: string;
  session_id: string | null;
  resource_id: string | null;
  scope: string;
  claims: Record<string, unknown>;
  auth_time: number;
  create_time: number;
  max_expire_time: number;
  revoke_time: number | null;
  revoke_reason: string | null;
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

interface TokenWithFamilyRow extends FamilyRow {
  t_hash: Buffer;
  t_generation: number;
  t_create_time: number;
  t_expire_time: number;
  t_consume_time: number | null;
  t_reuse_count: number;
}

const toFamily = (r: FamilyRow): RefreshFamily => ({
  id: r.id,
  tenantId: r.tenant_id,
  applicationId: r.application_id,
  clientId: r.client_id,
  userId: r.user_id,
  sessionId: r.session_id ?? undefined,
  resourceId: r.resource_id ?? undefined,
  scope: r.scope,
  claims: r.claims,
  authTime: r.auth_time,
  createTime: r.create_time,
  maxExpireTime: r.max_expire_time,
  revokeTime: optionalNumber(r.revoke_time),
  revokeReason: r.revoke_reason ?? undefined,
});

const toToken = (r: TokenRow): RefreshTokenRecord => ({
  hash: r.hash,
  familyId: r.family_id,
  generation: r.generation,
  createTime: r.create_time,
  expireTime: r.expire_time,
  consumeTime: optionalNumber(r.consume_time),
  reuseCount: r.reuse_count,
});

const INSERT_FAMILY = stmt(
  `INSERT INTO refresh_families (id, tenant_id, application_id, client_id, user_id, session_id, resource_id, scope, claims,
     auth_time, create_time, max_expire_time)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
);
const INSERT_TOKEN = stmt("INSERT INTO refresh_tokens (hash, family_id, generation, create_time, expire_time) VALUES ($1, $2, $3, $4, $5)");
const GET_FAMILY = stmt("SELECT * FROM refresh_families WHERE id = $1");
const GET_TOKEN = stmt("SELECT * FROM refresh_tokens WHERE hash = $1");
const GET_TOKEN_FOR_UPDATE = stmt("SELECT * FROM refresh_tokens WHERE hash = $1 FOR UPDATE");
const GET_TOKEN_WITH_FAMILY = stmt(
  `SELECT f.*, t.hash AS t_hash, t.generation AS t_generation, t.create_time AS t_create_time,
     t.expire_time AS t_expire_time, t.consume_time AS t_consume_time, t.reuse_count AS t_reuse_count
   FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1`,
);
const REVOKE_FAMILY = stmt("UPDATE refresh_families SET revoke_time = $2, revoke_reason = $3 WHERE id = $1 AND revoke_time IS NULL");
const REVOKE_SESSION_FAMILIES = stmt(
  "UPDATE refresh_families SET revoke_time = $2, revoke_reason = $3 WHERE session_id = $1 AND revoke_time IS NULL",
);
const SWEEP_PAST_MAX = stmt("DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families WHERE max_expire_time <= $1 LIMIT $2)");
const SWEEP_DEAD_CHAINS = stmt(
  `DELETE FROM refresh_families WHERE id IN
     (SELECT family_id FROM refresh_tokens WHERE consume_time IS NULL AND expire_time <= $1 LIMIT $2)`,
);
const SWEEP_REUSE_EVENTS = stmt(
  "DELETE FROM refresh_reuse_events WHERE id IN (SELECT id FROM refresh_reuse_events WHERE create_time <= $1 LIMIT $2)",
);

/**
 * The rotation's winner in one statement (one round trip, atomic on its own): the conditional consume
 * decides, and only a consumed row feeds the successor's insert. Concurrent callers queue on the
 * token's row lock; after the winner commits the others re-check `consume_time IS NULL` and find nothing.
 */
export const ROTATE = stmt(
  `WITH consumed AS (
     UPDATE refresh_tokens t SET consume_time = $2
     WHERE t.hash = $1 AND t.consume_time IS NULL AND t.expire_time > $2
       AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = t.family_id AND f.revoke_time IS NULL AND f.max_expire_time > $2)
     RETURNING 1)
   INSERT INTO refresh_tokens (hash, family_id, generation, create_time, expire_time)
   SELECT $3, $4, $5, $2, $6 FROM consumed`,
);
export const COUNT_REUSE = stmt("UPDATE refresh_tokens SET reuse_count = reuse_count + 1 WHERE hash = $1 AND reuse_count = $2");
export const RECORD_REUSE = stmt(
  `INSERT INTO refresh_reuse_events (tenant_id, family_id, client_id, user_id, generation, create_time)
   VALUES ($1, $2, $3, $4, $5, $6)`,
);

export class RefreshTokenRepository implements ports.RefreshTokenRepository {
  constructor(private readonly db: Exec) {}

  async insertFamily(f: RefreshFamily): Promise<void> {
    await this.db.query(INSERT_FAMILY, [
      f.id, f.tenantId, f.applicationId, f.clientId, f.userId, f.sessionId ?? null, f.resourceId ?? null, f.scope, json(f.claims),
      f.authTime, f.createTime, f.maxExpireTime,
    ]);
  }
  async insertToken(t: NewRefreshToken): Promise<void> {
    await this.db.query(INSERT_TOKEN, [t.hash, t.familyId, t.generation, t.createTime, t.expireTime]);
  }
  async getTokenWithFamily(hash: Buffer): Promise<{ token: RefreshTokenRecord; family: RefreshFamily } | undefined> {
    const row = (await this.db.query<TokenWithFamilyRow>(GET_TOKEN_WITH_FAMILY, [hash])).rows[0];
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
  async getFamily(id: string): Promise<RefreshFamily | undefined> {
    const row = (await this.db.query<FamilyRow>(GET_FAMILY, [id])).rows[0];
    return row && toFamily(row);
  }
  async getToken(hash: Buffer): Promise<RefreshTokenRecord | undefined> {
    const row = (await this.db.query<TokenRow>(GET_TOKEN, [hash])).rows[0];
    return row && toToken(row);
  }
  /** Inside a transaction: reads the token and keeps it locked until the transaction ends. */
  async getTokenForUpdate(hash: Buffer): Promise<RefreshTokenRecord | undefined> {
    const row = (await this.db.query<TokenRow>(GET_TOKEN_FOR_UPDATE, [hash])).rows[0];
    return row && toToken(row);
  }
  async revokeFamily(id: string, now: number, reason: string): Promise<boolean> {
    return (await this.db.query(REVOKE_FAMILY, [id, now, reason])).rowCount === 1;
  }
  async revokeSessionFamilies(sessionId: string, now: number, reason: string): Promise<number> {
    return (await this.db.query(REVOKE_SESSION_FAMILIES, [sessionId, now, reason])).rowCount ?? 0;
  }
  async sweepPastMaxRotation(now: number, limit: number): Promise<number> {
    return (await this.db.query(SWEEP_PAST_MAX, [now, limit])).rowCount ?? 0;
  }
  async sweepDeadChains(now: number, limit: number): Promise<number> {
    return (await this.db.query(SWEEP_DEAD_CHAINS, [now, limit])).rowCount ?? 0;
  }
  async sweepReuseEvents(before: number, limit: number): Promise<number> {
    return (await this.db.query(SWEEP_REUSE_EVENTS, [before, limit])).rowCount ?? 0;
  }
}
