import { invalidGrant, invalidRequest, invalidScope, invalidTarget, OAuthError } from "../domain/errors.js";
import { clientAllowsGrant } from "../domain/types.js";
import type { RefreshFamily, RefreshTokenRecord } from "../storage/refresh-tokens.js";
import type { ClientCredentials } from "./client-auth.js";
import type { ClientContext, Core } from "./core.js";
import { refreshTokenExpiry } from "./lifetimes.js";
import { formatScope, parseScope } from "./scopes.js";
import { authenticateClientOrPublic } from "./public-clients.js";
import { lifetimesFor, resolveTargetResource, type TokenSet } from "./tokens.js";
import { signUserTokens, type UserSnapshot } from "./user-tokens.js";

/** How many times one consumed token may be retried inside the client's reuse leeway (a burst of parallel duplicates fits). */
export const MAX_REUSE_RETRIES = 64;
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

type Failure = "reuse" | "revoked" | "expired" | "reauthenticate";
type Outcome = "rotated" | "retried" | Failure;

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
 * before the write; the conditional consume inside the (group-committed) transaction decides
 * who wins, and a loser's signed tokens are discarded.
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
  const found = core.store.refreshTokens.getTokenWithFamily(hash);
  // Another application's token is simply unknown here: it is neither honoured nor revoked.
  if (found === undefined) throw invalidGrant(INVALID);
  const { token, family } = found;
  // A refresh token is bound to the client it was issued to (RFC 6749 §6): another client's
  // attempt is refused before any write, so the owner's token is neither consumed nor revoked.
  if (family.tenantId !== ctx.tenant.id || family.applicationId !== ctx.application.id || family.clientId !== ctx.client.id) {
    throw invalidGrant(INVALID);
  }
  const now = core.now();
  const early = precheck(token, family, now);
  if (early !== undefined) throw failure(early);

  const familyResource = resolveTargetResource(core, ctx, familyResourceUri(core, ctx, family));
  const resource = input.resource === undefined || input.resource === "" ? familyResource : resolveTargetResource(core, ctx, input.resource);
  // RFC 8707 §2.2: only the resource the original grant covered.
  if (resource.id !== familyResource.id) throw invalidTarget("the refresh token was not granted for this resource");
  const granted = parseScope(family.scope);
  const scopes = input.scope === undefined || input.scope === "" ? granted : parseScope(input.scope);
  const widened = scopes.find((s) => !granted.includes(s));
  if (widened !== undefined) throw invalidScope(`scope "${widened}" was not granted to this refresh token`);

  // Roles are re-read (a role taken away stops at the next refresh); the rest is the family's snapshot.
  const roles = core.store.users.memberRoles(family.tenantId, family.userId, family.applicationId);
  if (roles === undefined) throw invalidGrant("the user no longer has access to this application");
  const snapshot = { ...(family.claims as unknown as UserSnapshot), roles };
  const signed = signUserTokens(core, { ctx, resource, userId: family.userId, scopes, snapshot, authTime: family.authTime, sid: family.sessionId, grantId: family.id });

  const successor = successorOf(core, presented);
  const successorHash = core.secrets.hash("refresh-token", successor);
  const { refreshTokenTtl } = lifetimesFor(ctx, familyResource);
  const outcome = await core.store.batched(() =>
    commitRotation(core, { ctx, hash, successorHash, family, generation: token.generation + 1, refreshTokenTtl, now: core.now() }),
  );
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
export function refreshTokenGrant(
  core: Core,
  credentials: ClientCredentials | undefined,
  input: Omit<RefreshInput, "ctx">,
): Promise<TokenSet> {
  return rotateRefreshToken(core, { ...input, ctx: authenticateClientOrPublic(core, credentials) });
}

/** What can be refused from a read outside the transaction (the transaction re-checks all of it). */
function precheck(token: RefreshTokenRecord, family: RefreshFamily, now: number): Failure | undefined {
  if (family.revokeTime !== undefined) return "revoked";
  if (family.maxExpireTime <= now) return "reauthenticate";
  if (token.consumeTime === undefined && token.expireTime <= now) return "expired";
  return undefined;
}

function failure(outcome: Failure): OAuthError {
  const description = { reuse: REUSED, revoked: REVOKED, expired: EXPIRED, reauthenticate: REAUTHENTICATE }[outcome];
  return invalidGrant(description);
}

/** The URI of the resource the family was issued for (deleted resources refuse the refresh). */
function familyResourceUri(core: Core, ctx: ClientContext, family: RefreshFamily): string | undefined {
  if (family.resourceId === undefined || family.resourceId === ctx.defaultResource.id) return undefined;
  const resource = core.store.resources.get(family.tenantId, family.resourceId);
  if (resource === undefined) throw invalidGrant("the resource this refresh token was issued for no longer exists");
  return resource.uri;
}

interface Rotation {
  ctx: ClientContext;
  hash: Buffer;
  successorHash: Buffer;
  /** As read before the transaction: only its immutable id and max_expire_time are used. */
  family: RefreshFamily;
  generation: number;
  refreshTokenTtl: number;
  now: number;
}

/**
 * The write of one rotation, inside a transaction: the conditional consume decides the winner;
 * a token that was not consumable is classified from a fresh read (retry inside the leeway,
 * reuse, or plain failure).
 */
function commitRotation(core: Core, r: Rotation): Outcome {
  const repo = core.store.refreshTokens;
  if (repo.consume(r.hash, r.now)) {
    repo.insertToken({
      hash: r.successorHash,
      familyId: r.family.id,
      generation: r.generation,
      createTime: r.now,
      expireTime: refreshTokenExpiry(r.now, r.refreshTokenTtl, r.family.maxExpireTime),
    });
    return "rotated";
  }
  const token = repo.getToken(r.hash);
  const family = token && repo.getFamily(token.familyId);
  if (token === undefined || family === undefined) return "revoked";
  const refused = precheck(token, family, r.now);
  if (refused !== undefined) return refused;
  if (token.consumeTime === undefined) return "expired";
  const leeway = r.ctx.client.reuseLeeway;
  const successor = repo.getToken(r.successorHash);
  const retry =
    leeway > 0 &&
    r.now - token.consumeTime <= leeway &&
    token.reuseCount < MAX_REUSE_RETRIES &&
    successor !== undefined &&
    successor.consumeTime === undefined &&
    successor.expireTime > r.now;
  if (retry && repo.countReuse(r.hash, token.reuseCount)) return "retried";
  repo.revokeFamily(family.id, r.now, "reuse_detected");
  repo.recordReuse(family, token.generation, r.now);
  return "reuse";
}
