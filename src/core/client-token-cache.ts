import { CLOCK_TOLERANCE_S } from "../config.js";
import { invalidToken } from "../domain/errors.js";
import { authenticateClientToken, type AccessTokenClaims } from "./access-tokens.js";
import type { ClientContext, Core } from "./core.js";

const MAX_ENTRIES = 10_000;
const verified = new WeakMap<Core, Map<string, AccessTokenClaims>>();

/**
 * `authenticateClientToken` with the signature check remembered per token string until the
 * token expires: a backend presents the same client token on every call, and an Ed25519
 * verification costs more than the rest of a refresh. The client is still looked up each time,
 * so a deleted client's token stops working at once; a signing key withdrawn early does not
 * end tokens already verified before their `exp`.
 */
export function authenticateClientTokenCached(core: Core, token: string | undefined): { ctx: ClientContext; claims: AccessTokenClaims } {
  let cache = verified.get(core);
  if (cache === undefined) verified.set(core, (cache = new Map()));
  const claims = token === undefined ? undefined : cache.get(token);
  if (claims !== undefined && claims.exp + CLOCK_TOLERANCE_S > core.now()) {
    const ctx = core.clientContext(claims.client_id);
    if (ctx === undefined || ctx.tenant.id !== claims.tid) throw invalidToken("the token's client no longer exists");
    return { ctx, claims };
  }
  if (claims !== undefined) cache.delete(token!);
  const result = authenticateClientToken(core, token);
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(token!, result.claims);
  return result;
}
