import { invalidRequest, invalidScope } from "../domain/errors.js";
import type { Client, Resource } from "../domain/types.js";

/** Scopes every user grant may ask for, besides the client's own. */
export const USER_SCOPES = ["openid", "profile", "email", "offline_access"] as const;

/**
 * Scopes OIDC Core §5.4 defines that tessera has no claims for: ignored at the authorization endpoint
 * (an OP may decline to return claims it does not hold), never refused as invalid_scope.
 */
export const IGNORED_OIDC_SCOPES: ReadonlySet<string> = new Set(["phone", "address"]);

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Splits an RFC 6749 §3.3 scope string into unique scope tokens, in order. */
export function parseScope(scope: string | undefined): string[] {
  if (scope === undefined || scope === "") return [];
  const parts = scope.split(" ");
  if (parts.some((p) => p === "")) throw invalidRequest("scope must be scope tokens separated by single spaces");
  for (const p of parts) {
    if (!SCOPE_TOKEN.test(p)) throw invalidScope(`scope "${p.slice(0, 64)}" contains characters a scope may not have`);
  }
  return [...new Set(parts)];
}

export const formatScope = (scopes: readonly string[]): string => scopes.join(" ");

/** Every requested scope must be allowed; names the first one that is not. */
export function requireAllowedScopes(requested: readonly string[], allowed: readonly string[], who = "the client"): void {
  const allowedSet = new Set(allowed);
  const denied = requested.find((s) => !allowedSet.has(s));
  if (denied !== undefined) throw invalidScope(`scope "${denied}" is not allowed for ${who}`);
}

/**
 * Requested scopes a token for `resource` may carry: each must be one of the client's scopes and,
 * unless it is an OpenID scope, defined by that resource (a scope the resource stopped defining, or
 * one of another resource, is refused). User grants may also ask for the OpenID scopes.
 */
export function requireGrantableScopes(requested: readonly string[], client: Client, resource: Resource, user: boolean): void {
  const openid = new Set<string>(USER_SCOPES);
  requireAllowedScopes(requested, user ? [...USER_SCOPES, ...client.scopes] : client.scopes);
  const undefinedHere = requested.find((s) => !openid.has(s) && !resource.scopes.includes(s));
  if (undefinedHere !== undefined) throw invalidScope(`scope "${undefinedHere.slice(0, 64)}" is not defined by resource "${resource.uri.slice(0, 80)}"`);
}
