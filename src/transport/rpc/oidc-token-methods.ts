import type { Core } from "../../core/core.js";
import type { TokenServiceImpl } from "./token-service.js";

/** ExchangeAuthorizationCode, IntrospectToken, RevokeToken (OpenID Connect). */
export function oidcTokenMethods(_core: Core): TokenServiceImpl {
  return {};
}
