import { randomUUID } from "node:crypto";
import { DEFAULT_RESOURCE_URI } from "../config.js";
import { invalidTarget } from "../domain/errors.js";
import type { ResolvedLifetimes, Resource } from "../domain/types.js";
import type { ClientContext, Core } from "./core.js";
import { resolveLifetimes } from "./lifetimes.js";
import { parseResourceIndicator, truncate } from "./resource-indicators.js";

/**
 * The refresh family a user access token was issued under (its grant): introspection and userinfo
 * answer inactive once that family is revoked. Client tokens never carry it, so their checks read nothing more.
 */
export const GRANT_CLAIM = "grant_id";

/** Registered claims a user's custom claims may never set. */
export const REGISTERED_CLAIMS = new Set([
  "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "tid", "app_id", "scope", "roles", "auth_time", "sid",
  "azp", "nonce", "at_hash", "c_hash", "acr", "amr", "typ", "cnf", "act", "may_act", "email", "email_verified",
  "preferred_username", "name", "username", "session_id", GRANT_CLAIM,
]);

/** What every token response carries (field names as on the wire). */
export interface TokenSet {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
  session_id?: string;
}

/**
 * The resource a request targets (RFC 8707): none or `userid-api` is the tenant's default
 * resource; any other must be an absolute URI of a resource assigned to the client.
 */
export async function resolveTargetResource(core: Core, ctx: ClientContext, requested: string | undefined): Promise<Resource> {
  if (requested === undefined || requested === "" || requested === DEFAULT_RESOURCE_URI) return ctx.defaultResource;
  const uri = parseResourceIndicator(requested);
  const resource = await core.resourceByUri(ctx.tenant.id, uri);
  if (resource?.isDefault) return resource;
  if (resource === undefined || !ctx.client.resourceIds.includes(resource.id)) {
    throw invalidTarget(`resource "${truncate(uri)}" is not available to this client`);
  }
  return resource;
}

export function lifetimesFor(ctx: ClientContext, resource: Resource): ResolvedLifetimes {
  return resolveLifetimes(resource, ctx.client);
}

export interface AccessTokenInput {
  ctx: ClientContext;
  resource: Resource;
  subject: string;
  scopes: readonly string[];
  ttl: number;
  roles?: readonly string[];
  /** User tokens only. */
  authTime?: number;
  sid?: string;
  /** The refresh family (GRANT_CLAIM) of a user token issued with or from a refresh token. */
  grantId?: string | undefined;
  customClaims?: Record<string, unknown>;
}

/** Signs an RFC 9068 access token. */
export function signAccessToken(core: Core, input: AccessTokenInput): { token: string; expiresIn: number; jti: string; exp: number } {
  const now = core.now();
  const claims: Record<string, unknown> = {};
  if (input.customClaims !== undefined) {
    for (const [name, value] of Object.entries(input.customClaims)) if (!REGISTERED_CLAIMS.has(name)) claims[name] = value;
  }
  Object.assign(claims, {
    iss: core.issuer,
    sub: input.subject,
    aud: input.resource.uri,
    exp: now + input.ttl,
    iat: now,
    jti: randomUUID(),
    client_id: input.ctx.client.id,
    tid: input.ctx.tenant.id,
    app_id: input.ctx.application.id,
  });
  if (input.scopes.length > 0) claims.scope = input.scopes.join(" ");
  if (input.roles !== undefined && input.roles.length > 0) claims.roles = [...input.roles];
  if (input.authTime !== undefined) claims.auth_time = input.authTime;
  if (input.sid !== undefined) claims.sid = input.sid;
  if (input.grantId !== undefined) claims[GRANT_CLAIM] = input.grantId;
  return { token: core.keys.sign(claims, "at+jwt", input.resource.signingAlg).jwt, expiresIn: input.ttl, jti: claims.jti as string, exp: claims.exp as number };
}
