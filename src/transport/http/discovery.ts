import { JWKS_MAX_AGE_S } from "../../config.js";
import type { Core } from "../../core/core.js";
import { SIGNING_ALGS } from "../../domain/types.js";
import { USER_SCOPES } from "../../core/scopes.js";
import { sendJson, type HttpContext } from "./respond.js";

/** Discovery metadata, extended by features as they register endpoints. */
export interface DiscoveryOptions {
  grantTypes: string[];
  extra?: (issuer: string) => Record<string, unknown>;
}

export function discoveryDocument(core: Core, opts: DiscoveryOptions): Record<string, unknown> {
  const issuer = core.issuer;
  return {
    issuer,
    token_endpoint: `${issuer}/oidc/token`,
    jwks_uri: `${issuer}/oidc/jwks`,
    grant_types_supported: opts.grantTypes,
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    id_token_signing_alg_values_supported: [...SIGNING_ALGS],
    scopes_supported: [...USER_SCOPES],
    claims_supported: ["iss", "sub", "aud", "exp", "iat", "auth_time", "sid", "nonce", "at_hash", "acr", "amr", "email", "preferred_username"],
    ...opts.extra?.(issuer),
  };
}

export function discoveryEndpoint(core: Core, opts: DiscoveryOptions) {
  return (ctx: HttpContext) => sendJson(ctx.res, 200, discoveryDocument(core, opts), { "Cache-Control": "public, max-age=300" });
}

/** JWKS, cacheable for a minute: short next to any key's announce and retirement periods. */
export function jwksEndpoint(core: Core) {
  return (ctx: HttpContext) =>
    sendJson(ctx.res, 200, { keys: core.keys.jwks() }, { "Cache-Control": `public, max-age=${JWKS_MAX_AGE_S}` });
}
