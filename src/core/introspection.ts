import { invalidRequest, invalidToken, OAuthError } from "../domain/errors.js";
import { verifyAccessToken, type AccessTokenClaims } from "./access-tokens.js";
import { authenticateClient, type ClientCredentials } from "./client-auth.js";
import type { ClientContext, Core } from "./core.js";
import { mayIntrospectAccessToken } from "./introspection-access.js";
import { authenticateClientOrPublic } from "./public-clients.js";
import { GRANT_CLAIM } from "./tokens.js";

/** RFC 7662 §2.2 members tessera returns; only `active` when the token is not active. */
export interface IntrospectionResult {
  active: boolean;
  scope?: string;
  client_id?: string;
  username?: string;
  token_type?: string;
  exp?: number;
  iat?: number;
  sub?: string;
  aud?: string;
  iss?: string;
  jti?: string;
  tid?: string;
  sid?: string;
}

export interface TokenRequestInput {
  credentials: ClientCredentials | undefined;
  token: string | undefined;
  tokenTypeHint: string | undefined;
}

const looksLikeJwt = (token: string) => token.split(".").length === 3;

async function sessionEnded(core: Core, tenantId: string, sid: string | undefined): Promise<boolean> {
  if (sid === undefined) return false;
  const session = await core.storage.sessions.get(tenantId, sid);
  return session === undefined || session.revokeTime !== undefined;
}

/**
 * An access token tessera still vouches for: valid signature and times, not revoked through
 * /oidc/revoke, and, for user tokens, issued in a session that has not ended and under a
 * refresh family (GRANT_CLAIM) that is not revoked.
 */
export async function liveAccessToken(core: Core, token: string): Promise<AccessTokenClaims> {
  const claims = verifyAccessToken(core, token);
  if (await core.storage.authorizations.isAccessTokenRevoked(claims.jti)) throw invalidToken("token was revoked");
  if (await sessionEnded(core, claims.tid, claims.sid)) throw invalidToken("the token's session has ended");
  if (await grantRevoked(core, claims)) throw invalidToken("the token's grant was revoked");
  return claims;
}

/** Whether the refresh family a user token was issued under is revoked or gone (client tokens have none). */
async function grantRevoked(core: Core, claims: AccessTokenClaims): Promise<boolean> {
  const familyId = claims[GRANT_CLAIM];
  if (familyId === undefined) return false;
  const family = typeof familyId === "string" ? await core.storage.refreshTokens.getFamily(familyId) : undefined;
  return family === undefined || family.tenantId !== claims.tid || family.revokeTime !== undefined;
}

async function introspectAccessToken(core: Core, ctx: ClientContext, token: string): Promise<IntrospectionResult> {
  let claims: AccessTokenClaims;
  try {
    claims = await liveAccessToken(core, token);
  } catch (err) {
    if (err instanceof OAuthError && err.kind === "invalid_token") return { active: false };
    throw err;
  }
  if (!(await mayIntrospectAccessToken(core, ctx, claims))) return { active: false };
  const user = claims.sub === claims.client_id ? undefined : await core.storage.users.get(claims.tid, claims.sub);
  const result: IntrospectionResult = {
    active: true,
    client_id: claims.client_id,
    token_type: "Bearer",
    exp: claims.exp,
    iat: claims.iat,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    jti: claims.jti,
    tid: claims.tid,
  };
  if (claims.scope !== undefined) result.scope = claims.scope;
  if (user !== undefined) result.username = user.username;
  if (claims.sid !== undefined) result.sid = claims.sid;
  return result;
}

async function introspectRefreshToken(core: Core, ctx: ClientContext, token: string): Promise<IntrospectionResult> {
  const record = token.length > 256 ? undefined : await core.storage.refreshTokens.getToken(core.secrets.hash("refresh-token", token));
  const family = record === undefined ? undefined : await core.storage.refreshTokens.getFamily(record.familyId);
  const now = core.now();
  if (
    record === undefined ||
    family === undefined ||
    record.consumeTime !== undefined ||
    record.expireTime <= now ||
    family.revokeTime !== undefined ||
    family.maxExpireTime <= now ||
    family.tenantId !== ctx.tenant.id ||
    family.applicationId !== ctx.application.id ||
    (await sessionEnded(core, family.tenantId, family.sessionId))
  ) {
    return { active: false };
  }
  const resource = family.resourceId === undefined ? ctx.defaultResource : await core.storage.resources.get(family.tenantId, family.resourceId);
  const user = await core.storage.users.get(family.tenantId, family.userId);
  const result: IntrospectionResult = {
    active: true,
    client_id: family.clientId,
    token_type: "refresh_token",
    exp: record.expireTime,
    iat: record.createTime,
    sub: family.userId,
    iss: core.issuer,
    tid: family.tenantId,
  };
  if (family.scope !== "") result.scope = family.scope;
  if (resource !== undefined) result.aud = resource.uri;
  if (user !== undefined) result.username = user.username;
  if (family.sessionId !== undefined) result.sid = family.sessionId;
  return result;
}

function requireToken(token: string | undefined): string {
  if (token === undefined || token === "") throw invalidRequest("token is required");
  return token;
}

/**
 * RFC 7662 introspection for a confidential client: tokens of its own application, and access tokens
 * for a resource it is assigned (see mayIntrospectAccessToken); anything else (unknown, expired,
 * revoked, consumed, another application's) is `{active:false}`.
 */
export async function introspectToken(core: Core, input: TokenRequestInput): Promise<IntrospectionResult> {
  const ctx = await authenticateClient(core, input.credentials);
  const token = requireToken(input.token);
  if (token.length > 8192) return { active: false };
  return looksLikeJwt(token) ? introspectAccessToken(core, ctx, token) : introspectRefreshToken(core, ctx, token);
}

/**
 * RFC 7009 revocation (public clients identify themselves by client_id): a refresh token revokes its whole family
 * (and so every access token carrying its id); an access token's `jti` is denied by introspection
 * and userinfo until it expires (resource servers that verify JWTs locally cannot see that).
 * Unknown tokens and tokens issued to another client change nothing.
 */
export async function revokeToken(core: Core, input: TokenRequestInput): Promise<void> {
  const ctx = await authenticateClientOrPublic(core, input.credentials);
  const token = requireToken(input.token);
  if (token.length > 8192) return;
  const now = core.now();
  if (looksLikeJwt(token)) {
    let claims: AccessTokenClaims;
    try {
      claims = verifyAccessToken(core, token);
    } catch {
      return;
    }
    // RFC 7009 §2.1: only the client the token was issued to may revoke it.
    if (claims.tid !== ctx.tenant.id || claims.client_id !== ctx.client.id) return;
    await core.storage.transaction(async (tx) => {
      await tx.authorizations.sweep(now);
      await tx.authorizations.revokeAccessToken(claims.jti, claims.exp);
    });
    core.accessTokenRevoked();
    return;
  }
  const record = token.length > 256 ? undefined : await core.storage.refreshTokens.getToken(core.secrets.hash("refresh-token", token));
  const family = record === undefined ? undefined : await core.storage.refreshTokens.getFamily(record.familyId);
  if (family === undefined || family.tenantId !== ctx.tenant.id || family.clientId !== ctx.client.id) return;
  await core.storage.refreshTokens.revokeFamily(family.id, now, "revoked by the client");
}

/** OIDC userinfo: the live user behind a user access token for the tenant's default resource. */
export async function userInfo(core: Core, token: string | undefined): Promise<Record<string, unknown>> {
  if (token === undefined) throw invalidToken("a Bearer access token is required");
  const claims = await liveAccessToken(core, token);
  const ctx = await core.clientContext(claims.client_id);
  if (ctx === undefined || ctx.tenant.id !== claims.tid) throw invalidToken("the token's client no longer exists");
  if (claims.aud !== ctx.defaultResource.uri) throw invalidToken("userinfo takes access tokens for the default resource");
  if (claims.sub === claims.client_id || claims.auth_time === undefined) throw invalidToken("userinfo takes user access tokens, not client tokens");
  const scopes = (claims.scope ?? "").split(" ");
  const user = await core.storage.users.get(claims.tid, claims.sub);
  if (user === undefined) throw invalidToken("the token's user no longer exists");
  const info: Record<string, unknown> = { sub: user.id };
  if (scopes.includes("email") && user.email !== "") info.email = user.email;
  if (scopes.includes("profile")) info.preferred_username = user.username;
  return info;
}
