import type { Core } from "../../core/core.js";
import type { TokenServiceImpl } from "./token-service.js";

/** RefreshToken, AuthenticatePassword, AuthenticateSession, Logout (rotation engine and sessions). */
export function userTokenMethods(_core: Core): TokenServiceImpl {
  return {};
}
