import { CLOCK_TOLERANCE_S } from "../config.js";
import { invalidToken } from "../domain/errors.js";
import { CACHE_TTL, type ClientContext, type Core } from "./core.js";

/** The claims of an access token tessera issued (RFC 9068 plus tessera's). */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  tid: string;
  app_id: string;
  scope?: string;
  roles?: string[];
  auth_time?: number;
  sid?: string;
  [claim: string]: unknown;
}

/**
 * Verifies an access token tessera signed: signature by a published key, `typ` at+jwt,
 * issuer, expiry, issue time and `nbf` (2 s tolerance), and the audience when one is required.
 */
export function verifyAccessToken(core: Core, token: string, opts: { audience?: string } = {}): AccessTokenClaims {
  const { header, payload } = core.keys.verifySignature(token);
  if (header.typ !== "at+jwt") throw invalidToken("not an access token");
  const now = core.now();
  const c = payload as Partial<AccessTokenClaims>;
  if (c.iss !== core.issuer) throw invalidToken("token issued by another issuer");
  if (typeof c.exp !== "number" || c.exp + CLOCK_TOLERANCE_S <= now) throw invalidToken("token expired");
  if (typeof c.iat !== "number" || c.iat - CLOCK_TOLERANCE_S > now) throw invalidToken("token issued in the future");
  for (const name of ["sub", "aud", "client_id", "tid", "app_id", "jti"] as const) {
    if (typeof c[name] !== "string") throw invalidToken(`token lacks ${name}`);
  }
  if (opts.audience !== undefined && c.aud !== opts.audience) throw invalidToken("token is for another resource");
  return c as AccessTokenClaims;
}

/** The token of an `Authorization: Bearer …` value; undefined when the scheme is not Bearer or the token is empty. */
export function bearerFrom(authorization: string | null | undefined): string | undefined {
  if (authorization == null || !/^bearer /i.test(authorization)) return undefined;
  const token = authorization.slice(7).trim();
  return token === "" ? undefined : token;
}

const MAX_VERIFIED = 10_000;

/** A verified token's claims, and when it was last found not revoked (the core's revocation generation and time). */
interface Verified {
  claims: AccessTokenClaims;
  notRevokedAt: { generation: number; time: number } | undefined;
}

const verifiedTokens = new WeakMap<Core, Map<string, Verified>>();

/**
 * A Bearer client access token for the tenant's default resource, of a client, application and
 * tenant that still exist, and not revoked (RFC 7009): what the /cis endpoints, the backend TokenService
 * RPCs and the admin RPCs accept. The signature check is remembered per token string until the token
 * expires (a backend presents the same token on every call, and an Ed25519 verification costs more than
 * the rest of a refresh); the client is looked up every time, so a deleted client's token stops at once.
 * That the token is not revoked is read again whenever a revocation may have happened since the last read
 * (this process's, or another writer's through the change feed) and at least every CACHE_TTL seconds.
 * A key withdrawn early does not end tokens verified before.
 */
export async function authenticateClientToken(core: Core, token: string | undefined): Promise<{ ctx: ClientContext; claims: AccessTokenClaims }> {
  if (token === undefined) throw invalidToken("a Bearer client access token is required");
  let verified = verifiedTokens.get(core);
  if (verified === undefined) verifiedTokens.set(core, (verified = new Map()));
  let entry = verified.get(token);
  const now = core.now();
  if (entry === undefined || entry.claims.exp + CLOCK_TOLERANCE_S <= now) {
    verified.delete(token);
    const claims = verifyAccessToken(core, token);
    if (claims.sub !== claims.client_id) throw invalidToken("a client access token is required, not a user token");
    if (verified.size >= MAX_VERIFIED) verified.clear();
    entry = { claims, notRevokedAt: undefined };
    verified.set(token, entry);
  }
  const { claims } = entry;
  const ctx = await core.clientContext(claims.client_id);
  if (ctx === undefined || ctx.tenant.id !== claims.tid || ctx.application.id !== claims.app_id) {
    throw invalidToken("the token's client no longer exists");
  }
  // RFC 9068 §4: a token meant for another API must not be replayable to tessera as its client.
  if (claims.aud !== ctx.defaultResource.uri) throw invalidToken("token is for another resource");
  // clientContext above polled the change feed, so another writer's revocation has moved the generation by now.
  const generation = core.revocationGeneration;
  const checked = entry.notRevokedAt;
  if (checked === undefined || checked.generation !== generation || checked.time + CACHE_TTL <= now) {
    if (await core.storage.authorizations.isAccessTokenRevoked(claims.jti)) throw invalidToken("token was revoked");
    // The generation read before the check: a revocation committed meanwhile moved it, and the next call reads again.
    entry.notRevokedAt = { generation, time: now };
  }
  return { ctx, claims };
}
