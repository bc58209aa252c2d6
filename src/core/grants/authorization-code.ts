import { invalidGrant, invalidRequest, invalidTarget, OAuthError } from "../../domain/errors.js";
import type { AuthorizationCodeRecord } from "../../domain/records.js";
import { clientAllowsGrant } from "../../domain/types.js";
import { pkceMatches } from "../authorization.js";
import type { ClientCredentials } from "../client-auth.js";
import type { Core } from "../core.js";
import { authenticateClientOrPublic } from "../public-clients.js";
import { snapshotOf, issueUserTokens } from "../user-tokens.js";
import { resolveTargetResource, type TokenSet } from "../tokens.js";

export interface AuthorizationCodeInput {
  credentials: ClientCredentials | undefined;
  code: string | undefined;
  redirectUri: string | undefined;
  codeVerifier: string | undefined;
  /** RFC 8707: may only name the resource the authorization request was granted. */
  resource?: string | undefined;
}

/**
 * The authorization_code grant (RFC 6749 §4.1.3 with PKCE): the code is single use, bound to
 * its client, redirect URI and code challenge, and at most CODE_TTL old. Presenting a used code
 * again revokes what its first exchange issued: the refresh family (and with it every access
 * token carrying its id) and the exchange's own access token.
 */
export async function exchangeAuthorizationCode(core: Core, input: AuthorizationCodeInput): Promise<TokenSet> {
  const codeVerifier = input.codeVerifier === "" ? undefined : input.codeVerifier;
  // A public client proves nothing but the PKCE verifier, so without one it learns nothing of the code (and cannot
  // set off a replay's revocation); refused as a failed PKCE check is (RFC 7636 §4.6).
  if (input.credentials?.method === "none" && codeVerifier === undefined) throw invalidGrant("code_verifier is required");
  const ctx = await authenticateClientOrPublic(core, input.credentials);
  if (!clientAllowsGrant(ctx.client, "authorization_code")) {
    throw new OAuthError("unauthorized_client", "this client may not use the authorization_code grant");
  }
  if (input.code === undefined || input.code === "") throw invalidRequest("code is required");
  if (input.redirectUri === undefined || input.redirectUri === "") throw invalidRequest("redirect_uri is required");
  const hash = core.secrets.hash("authorization-code", input.code.slice(0, 256));
  const code = await core.storage.authorizations.getCode(hash);
  const now = core.now();
  if (code === undefined || code.clientId !== ctx.client.id) throw invalidGrant("authorization code is invalid");
  if (code.consumeTime !== undefined) await refuseReplay(core, code, now);
  if (code.expireTime <= now) throw invalidGrant("authorization code expired");
  if (code.redirectUri !== input.redirectUri) throw invalidGrant("redirect_uri differs from the authorization request");
  if (code.codeChallenge === undefined) {
    if (codeVerifier !== undefined) throw invalidGrant("code_verifier sent but the authorization request had no code_challenge");
  } else {
    if (codeVerifier === undefined) throw invalidGrant("code_verifier is required");
    if (!pkceMatches(codeVerifier, code.codeChallenge)) throw invalidGrant("code_verifier does not match the code_challenge");
  }
  const [user, session] = await Promise.all([core.storage.users.get(ctx.tenant.id, code.userId), core.storage.sessions.get(ctx.tenant.id, code.sessionId)]);
  if (user === undefined || !user.applicationIds.includes(ctx.application.id)) throw invalidGrant("the user no longer exists in this application");
  if (session === undefined || session.revokeTime !== undefined || session.expireTime <= now) throw invalidGrant("the user's session has ended");
  const requested = input.resource === undefined || input.resource === "" ? undefined : await resolveTargetResource(core, ctx, input.resource);
  if (requested !== undefined && requested.id !== code.resourceId) throw invalidTarget("the authorization code was not granted for this resource");
  const resource = await core.storage.resources.get(ctx.tenant.id, code.resourceId);
  if (resource === undefined) throw invalidGrant("the requested resource no longer exists");
  const scopes = code.scope.split(" ");
  const tokens = await issueUserTokens(core, {
    ctx,
    resource,
    userId: user.id,
    scopes,
    snapshot: snapshotOf(user, session.amr),
    authTime: code.authTime,
    sid: session.id,
    nonce: code.nonce,
    offline: code.offline,
    persist: async (tx, refresh, access) => {
      const issued = { familyId: refresh?.family.id, accessTokenJti: access.jti, accessTokenExpireTime: access.exp };
      if (!(await tx.authorizations.consumeCode(hash, now, issued))) throw new ConsumedMeanwhile();
    },
  }).catch(async (err: unknown) => {
    if (!(err instanceof ConsumedMeanwhile)) throw err;
    // Another exchange of the same code won (and committed: its consume is what refused this one). Two
    // redemptions at once are a replay like any other (RFC 6749 §4.1.2): what the winner issued is revoked.
    const winner = await core.storage.authorizations.getCode(hash);
    if (winner === undefined) throw invalidGrant("authorization code is invalid");
    return refuseReplay(core, winner, now);
  });
  core.events.tokenIssued?.("authorization_code");
  return tokens;
}

/** The code's conditional consume found it used: a concurrent exchange of the same code committed first. */
class ConsumedMeanwhile extends Error {}

/**
 * A used code presented again: revokes what its first exchange issued (the refresh family, and with it every
 * access token carrying its id, and the exchange's own access token), then refuses.
 */
async function refuseReplay(core: Core, code: AuthorizationCodeRecord, now: number): Promise<never> {
  await core.storage.transaction(async (tx) => {
    if (code.familyId !== undefined) await tx.refreshTokens.revokeFamily(code.familyId, now, "authorization code reused");
    if (code.accessTokenJti !== undefined && code.accessTokenExpireTime !== undefined && code.accessTokenExpireTime > now) {
      await tx.authorizations.revokeAccessToken(code.accessTokenJti, code.accessTokenExpireTime);
    }
  });
  core.accessTokenRevoked();
  throw invalidGrant("authorization code was already used; the tokens it issued are revoked");
}
