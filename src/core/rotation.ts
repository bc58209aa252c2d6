import { invalidGrant, invalidRequest, invalidScope, invalidTarget, OAuthError } from "../domain/errors.js";
import { clientAllowsGrant } from "../domain/types.js";
import type { RefreshFamily } from "../domain/records.js";
import { rotationPrecheck, type RotationFailure } from "../domain/refresh-rotation.js";
import type { ClientCredentials } from "./client-auth.js";
import type { ClientContext, Core } from "./core.js";
import { refreshTokenExpiry } from "./lifetimes.js";
import { formatScope, parseScope } from "./scopes.js";
import { authenticateClientOrPublic } from "./public-clients.js";
import { lifetimesFor, resolveTargetResource, type TokenSet } from "./tokens.js";
import { signUserTokens, type UserSnapshot } from "./user-tokens.js";

export { MAX_REUSE_RETRIES } from "../domain/refresh-rotation.js";
const MAX_TOKEN_LENGTH = 512;

const INVALID = "the refresh token is invalid, expired or revoked";
const REVOKED = "the refresh token has been revoked";
const EXPIRED = "the refresh token has expired";
const REAUTHENTICATE = "the refresh token has reached its maximum rotation time; re-authentication is required";
const REUSED = "refresh token reuse detected; the token family has been revoked";

export interface RefreshInput {
  /** The authenticated calling client. */
  ctx: ClientContext;
  refreshToken: string | undefined;
  resource?: string | undefined;
  /** Space-separated; may only narrow the family's scopes, for this response. */
  scope?: string | undefined;
}

/**
 * The successor of a presented refresh token: a MAC of it under a server key. Deterministic, so
 * a retry inside the reuse leeway gets the very same successor without any plaintext stored.
 */
export function successorOf(core: Core, presented: string): string {
  return core.secrets.hash("refresh-successor", presented).toString("base64url");
}

/**
 * Rotates a refresh token (RFC 6749 §6 with rotation): consumes the presented token and issues
 * its successor in the same family, with fresh access and ID tokens. The tokens are signed
 * before the write; the conditional consume inside the atomic rotation write (Storage.rotateRefreshToken)
 * decides who wins, and a loser's signed tokens are discarded.
 */
export async function rotateRefreshToken(core: Core, input: RefreshInput): Promise<TokenSet> {
  const { ctx } = input;
  const presented = input.refreshToken;
  if (presented === undefined || presented === "") throw invalidRequest("refresh_token is required");
  if (!clientAllowsGrant(ctx.client, "refresh_token")) {
    throw new OAuthError("unauthorized_client", "this client may not use the refresh_token grant");
  }
  if (presented.length > MAX_TOKEN_LENGTH) throw invalidGrant(INVALID);
  const hash = core.secrets.hash("refresh-token", presented);
  const found = await core.storage.refreshTokens.getTokenWithFamily(hash);
  // Another application's token is simply unknown here: it is neither honoured nor revoked.
  if (found === undefined) throw invalidGrant(INVALID);
  const { token, family } = found;
  // A refresh token is bound to the client it was issued to (RFC 6749 §6): another client's
  // attempt is refused before any write, so the owner's token is neither consumed nor revoked.
  if (family.tenantId !== ctx.tenant.id || family.applicationId !== ctx.application.id || family.clientId !== ctx.client.id) {
    throw invalidGrant(INVALID);
  }
  const now = core.now();
  const early = rotationPrecheck(token, family, now);
  if (early !== undefined) throw failure(early);

  const familyResource = await resolveTargetResource(core, ctx, await familyResourceUri(core, ctx, family));
  const resource = input.resource === undefined || input.resource === "" ? familyResource : await resolveTargetResource(core, ctx, input.resource);
  // RFC 8707 §2.2: only the resource the original grant covered.
  if (resource.id !== familyResource.id) throw invalidTarget("the refresh token was not granted for this resource");
  const granted = parseScope(family.scope);
  const scopes = input.scope === undefined || input.scope === "" ? granted : parseScope(input.scope);
  const widened = scopes.find((s) => !granted.includes(s));
  if (widened !== undefined) throw invalidScope(`scope "${widened}" was not granted to this refresh token`);

  // Roles are re-read (a role taken away stops at the next refresh); the rest is the family's snapshot.
  const roles = await core.storage.users.memberRoles(family.tenantId, family.userId, family.applicationId);
  if (roles === undefined) throw invalidGrant("the user no longer has access to this application");
  const snapshot: UserSnapshot = Object.assign({}, family.claims as unknown as UserSnapshot, { roles });
  const keysReady = core.keys.ready(resource.signingAlg, ctx.client.idTokenSignedResponseAlg);
  if (keysReady !== undefined) await keysReady;
  const signed = signUserTokens(core, { ctx, resource, userId: family.userId, scopes, snapshot, authTime: family.authTime, sid: family.sessionId, grantId: family.id });

  const successor = successorOf(core, presented);
  const successorHash = core.secrets.hash("refresh-token", successor);
  const { refreshTokenTtl } = lifetimesFor(ctx, familyResource);
  const writeTime = core.now();
  const outcome = await core.storage.rotateRefreshToken({
    hash,
    successorHash,
    familyId: family.id,
    generation: token.generation + 1,
    successorExpireTime: refreshTokenExpiry(writeTime, refreshTokenTtl, family.maxExpireTime),
    reuseLeeway: ctx.client.reuseLeeway,
    now: writeTime,
  });
  if (outcome === "reuse") core.events.refreshReuseDetected?.();
  if (outcome !== "rotated" && outcome !== "retried") throw failure(outcome);

  core.events.tokenIssued?.("refresh_token");
  const result: TokenSet = {
    access_token: signed.accessToken,
    token_type: "Bearer",
    expires_in: signed.expiresIn,
    refresh_token: successor,
    id_token: signed.idToken,
  };
  if (scopes.length > 0) result.scope = formatScope(scopes);
  return result;
}

/**
 * The `refresh_token` grant of the token endpoint: a confidential client authenticates with its
 * secret; a public client (no secret) identifies itself by client_id alone (RFC 6749 §6).
 */
export async function refreshTokenGrant(
  core: Core,
  credentials: ClientCredentials | undefined,
  input: Omit<RefreshInput, "ctx">,
): Promise<TokenSet> {
  return rotateRefreshToken(core, Object.assign({}, input, { ctx: await authenticateClientOrPublic(core, credentials) }));
}

function failure(outcome: RotationFailure): OAuthError {
  const description = { reuse: REUSED, revoked: REVOKED, expired: EXPIRED, reauthenticate: REAUTHENTICATE }[outcome];
  return invalidGrant(description);
}

/** The URI of the resource the family was issued for (deleted resources refuse the refresh). */
async function familyResourceUri(core: Core, ctx: ClientContext, family: RefreshFamily): Promise<string | undefined> {
  if (family.resourceId === undefined || family.resourceId === ctx.defaultResource.id) return undefined;
  const resource = await core.storage.resources.get(family.tenantId, family.resourceId);
  if (resource === undefined) throw invalidGrant("the resource this refresh token was issued for no longer exists");
  return resource.uri;
}
