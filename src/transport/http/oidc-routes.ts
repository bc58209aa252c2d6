import type { Core } from "../../core/core.js";
import type { Route } from "./gateway.js";
import type { TokenGrant } from "./token-endpoint.js";

/** OpenID Connect endpoints: authorization, hosted login and consent, userinfo, introspection, revocation, end session. */
export function oidcRoutes(_core: Core): Route[] {
  return [];
}

/** Token endpoint grants of OpenID Connect (authorization_code). */
export function oidcGrants(): TokenGrant[] {
  return [];
}

/** Discovery members for the endpoints above. */
export function oidcDiscovery(_issuer: string): Record<string, unknown> {
  return {};
}
