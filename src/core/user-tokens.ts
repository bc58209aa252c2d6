import { invalidGrant, StorageError } from "../domain/errors.js";
import { newId, newSecret } from "../domain/ids.js";
import type { Resource, User } from "../domain/types.js";
import type { Repositories } from "../domain/ports.js";
import type { RefreshFamily } from "../domain/records.js";
import type { ClientContext, Core } from "./core.js";
import { halfHash } from "./keys.js";
import { refreshTokenExpiry } from "./lifetimes.js";
import { REGISTERED_CLAIMS, lifetimesFor, signAccessToken, type TokenSet } from "./tokens.js";

/** What a user's tokens say about them, fixed at authentication and carried by the refresh family. */
export interface UserSnapshot {
  roles: string[];
  customClaims: Record<string, unknown>;
  amr: string[];
  email: string;
  username: string;
}

export function snapshotOf(user: User, amr: string[]): UserSnapshot {
  return { roles: user.roles, customClaims: user.customClaims, amr, email: user.email, username: user.username };
}

export interface UserTokenInput {
  ctx: ClientContext;
  resource: Resource;
  userId: string;
  scopes: readonly string[];
  snapshot: UserSnapshot;
  authTime: number;
  /** The session's public id (the `sid` claim), if the tokens are born in a session. */
  sid: string | undefined;
  nonce?: string | undefined;
  /** The refresh family the access token belongs to, if any (see GRANT_CLAIM). */
  grantId?: string | undefined;
}

/** The access token of a signed user token set, as a denylist entry would name it. */
export interface SignedAccessToken {
  jti: string;
  exp: number;
}

/** Signs the access token and the ID token of a user grant (outside any transaction). */
export function signUserTokens(core: Core, input: UserTokenInput): { accessToken: string; idToken: string; expiresIn: number; access: SignedAccessToken } {
  const { accessTokenTtl } = lifetimesFor(input.ctx, input.resource);
  const access = signAccessToken(core, {
    ctx: input.ctx,
    resource: input.resource,
    subject: input.userId,
    scopes: input.scopes,
    ttl: accessTokenTtl,
    roles: input.snapshot.roles,
    authTime: input.authTime,
    sid: input.sid,
    grantId: input.grantId,
    customClaims: input.snapshot.customClaims,
  });
  const now = core.now();
  // at_hash hashes with the signing key's algorithm, which is the old default's while a new default is announced.
  const idTokenAlg = core.keys.signingAlgorithm(input.ctx.client.idTokenSignedResponseAlg);
  const claims: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input.snapshot.customClaims)) if (!REGISTERED_CLAIMS.has(name)) claims[name] = value;
  Object.assign(claims, {
    iss: core.issuer,
    sub: input.userId,
    aud: input.ctx.client.id,
    azp: input.ctx.client.id,
    exp: now + accessTokenTtl,
    iat: now,
    auth_time: input.authTime,
    at_hash: halfHash(idTokenAlg, access.token),
  });
  if (input.sid !== undefined) claims.sid = input.sid;
  if (input.nonce !== undefined) claims.nonce = input.nonce;
  if (input.snapshot.amr.length > 0) claims.amr = input.snapshot.amr;
  if (input.snapshot.roles.length > 0) claims.roles = input.snapshot.roles;
  if (input.scopes.includes("email") && input.snapshot.email !== "") claims.email = input.snapshot.email;
  if (input.scopes.includes("profile")) claims.preferred_username = input.snapshot.username;
  const idToken = core.keys.sign(claims, "JWT", idTokenAlg).jwt;
  return { accessToken: access.token, idToken, expiresIn: access.expiresIn, access: { jti: access.jti, exp: access.exp } };
}

export interface NewRefreshToken {
  token: string;
  family: RefreshFamily;
  hash: Buffer;
  expireTime: number;
}

/** A new refresh token family (generation 0) for a user grant; not stored yet. */
export function newRefreshFamily(core: Core, input: UserTokenInput): NewRefreshToken {
  const now = core.now();
  const { refreshTokenTtl, maxRotation } = lifetimesFor(input.ctx, input.resource);
  const maxExpireTime = input.authTime + maxRotation;
  const token = newSecret();
  return {
    token,
    hash: core.secrets.hash("refresh-token", token),
    expireTime: refreshTokenExpiry(now, refreshTokenTtl, maxExpireTime),
    family: {
      id: newId("rtf"),
      tenantId: input.ctx.tenant.id,
      applicationId: input.ctx.application.id,
      clientId: input.ctx.client.id,
      userId: input.userId,
      sessionId: input.sid,
      resourceId: input.resource.id,
      scope: input.scopes.join(" "),
      claims: { ...input.snapshot },
      authTime: input.authTime,
      createTime: now,
      maxExpireTime,
      revokeTime: undefined,
      revokeReason: undefined,
    },
  };
}

export async function insertRefreshFamily(tx: Repositories, r: NewRefreshToken): Promise<void> {
  await tx.refreshTokens.insertFamily(r.family);
  await tx.refreshTokens.insertToken({ hash: r.hash, familyId: r.family.id, generation: 0, createTime: r.family.createTime, expireTime: r.expireTime });
}

/**
 * Issues a user's token set: (with `offline`) a new refresh family whose id the access token
 * carries, access and ID token signed, then the family stored in one transaction together with
 * whatever `persist` writes (a new session, a session touch, a consumed code: it sees the new
 * family, if any, and the access token).
 */
export async function issueUserTokens(
  core: Core,
  input: UserTokenInput & { offline: boolean; persist?: (tx: Repositories, refresh: NewRefreshToken | undefined, access: SignedAccessToken) => Promise<void> },
): Promise<TokenSet> {
  const refresh = input.offline ? newRefreshFamily(core, input) : undefined;
  await core.keys.ready(input.resource.signingAlg, input.ctx.client.idTokenSignedResponseAlg);
  const signed = signUserTokens(core, Object.assign({}, input, { grantId: refresh?.family.id }));
  await core.storage
    .transaction(async (tx) => {
      await input.persist?.(tx, refresh, signed.access);
      if (refresh !== undefined) await insertRefreshFamily(tx, refresh);
    })
    .catch((err: unknown) => {
      // The user (or the session, the client) was deleted between the checks and this write.
      if (err instanceof StorageError && err.kind === "gone") throw invalidGrant("the user or their session no longer exists");
      throw err;
    });
  const result: TokenSet = { access_token: signed.accessToken, token_type: "Bearer", expires_in: signed.expiresIn, id_token: signed.idToken };
  if (refresh !== undefined) result.refresh_token = refresh.token;
  if (input.scopes.length > 0) result.scope = input.scopes.join(" ");
  return result;
}
