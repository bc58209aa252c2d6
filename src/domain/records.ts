/** Records the storage ports return besides the plain entities of types.ts. Times are seconds since the epoch. */

/** Keyset position for stable paging: rows ordered by (create_time, id). */
export interface PageCursor {
  createTime: number;
  id: string;
}

export interface SigningKeyRecord {
  kid: string;
  algorithm: string;
  publicJwk: string;
  /** The private key, encrypted at rest (see core/secrets.ts). */
  privateKey: Buffer;
  createTime: number;
  activateTime: number;
  retireTime: number | undefined;
  expireTime: number | undefined;
}

/** A refresh token family: one per authentication, carrying the grant's snapshot. */
export interface RefreshFamily {
  id: string;
  tenantId: string;
  applicationId: string;
  clientId: string;
  userId: string;
  sessionId: string | undefined;
  resourceId: string | undefined;
  scope: string;
  /** Claims snapshot taken at authentication (custom claims, roles, amr, nonce-free). */
  claims: Record<string, unknown>;
  authTime: number;
  createTime: number;
  /** auth_time + maximum rotation: no refresh token of the family outlives it. */
  maxExpireTime: number;
  revokeTime: number | undefined;
  revokeReason: string | undefined;
}

export interface RefreshTokenRecord {
  hash: Buffer;
  familyId: string;
  generation: number;
  createTime: number;
  expireTime: number;
  consumeTime: number | undefined;
  reuseCount: number;
}

/** A new refresh token: never consumed, never retried. */
export type NewRefreshToken = Omit<RefreshTokenRecord, "consumeTime" | "reuseCount">;

/** A pending authorization request while the browser is on the hosted pages. */
export interface InteractionRecord {
  id: string;
  tenantId: string;
  clientId: string;
  /** The validated authorization request, as JSON the core reads back. */
  request: string;
  csrfHash: Buffer;
  /** Set once a user is known: logged in during this interaction or by the browser session. */
  userId: string | undefined;
  sessionId: string | undefined;
  /** When the user logged in during this interaction (undefined: the session was reused). */
  loginTime: number | undefined;
  createTime: number;
  expireTime: number;
}

/** What a user allowed a client: scopes and resources, merged over time. */
export interface ConsentRecord {
  userId: string;
  clientId: string;
  tenantId: string;
  scopes: string[];
  resourceIds: string[];
  createTime: number;
  updateTime: number;
}

export interface AuthorizationCodeRecord {
  hash: Buffer;
  tenantId: string;
  clientId: string;
  userId: string;
  sessionId: string;
  redirectUri: string;
  codeChallenge: string | undefined;
  resourceId: string;
  scope: string;
  nonce: string | undefined;
  offline: boolean;
  authTime: number;
  createTime: number;
  expireTime: number;
  consumeTime: number | undefined;
  /** The refresh family the exchange created, revoked if the code is presented again. */
  familyId: string | undefined;
  /** The access token the exchange issued, denied if the code is presented again. */
  accessTokenJti: string | undefined;
  accessTokenExpireTime: number | undefined;
}

export type NewAuthorizationCode = Omit<AuthorizationCodeRecord, "consumeTime" | "familyId" | "accessTokenJti" | "accessTokenExpireTime">;

/** What an authorization code's exchange issued, remembered when the code is consumed. */
export interface CodeExchange {
  familyId: string | undefined;
  accessTokenJti: string;
  accessTokenExpireTime: number;
}

/** Failed password attempts for one username of a tenant (known or not). */
export interface LoginThrottleState {
  failures: number;
  lastFailureTime: number;
  /** Until when (seconds) attempts are refused without checking the password; 0 when not locked. */
  lockedUntil: number;
}
