import { CLOCK_TOLERANCE_S } from "../config.js";
import { invalidToken } from "../domain/errors.js";
import type { Core } from "./core.js";

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
 * issuer, expiry and issue time (2 s tolerance), and the audience when one is required.
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

/** A Bearer client access token of an existing client (for /cis endpoints acting as the application). */
export function authenticateClientToken(core: Core, token: string | undefined) {
  if (token === undefined) throw invalidToken("a Bearer client access token is required");
  const claims = verifyAccessToken(core, token);
  if (claims.sub !== claims.client_id) throw invalidToken("a client access token is required, not a user token");
  const ctx = core.clientContext(claims.client_id);
  if (ctx === undefined || ctx.tenant.id !== claims.tid) throw invalidToken("the token's client no longer exists");
  return { ctx, claims };
}
