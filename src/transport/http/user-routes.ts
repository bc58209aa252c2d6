import type { Core } from "../../core/core.js";
import type { Route } from "./gateway.js";
import type { TokenGrant } from "./token-endpoint.js";

/** /cis/v1/auth/* backend authentication endpoints (rotation engine and sessions). */
export function userRoutes(_core: Core): Route[] {
  return [];
}

/** Token endpoint grants of the rotation engine (refresh_token). */
export function userGrants(): TokenGrant[] {
  return [];
}
