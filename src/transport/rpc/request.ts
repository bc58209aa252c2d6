import type { TokenSet } from "../../core/tokens.js";

/** Empty proto3 strings mean "not sent". */
export const opt = (value: string): string | undefined => (value === "" ? undefined : value);

/** A core TokenSet as the fields every token response message shares. */
export function tokenResponse(t: TokenSet) {
  return {
    accessToken: t.access_token,
    tokenType: t.token_type,
    expiresIn: t.expires_in,
    refreshToken: t.refresh_token ?? "",
    idToken: t.id_token ?? "",
    scope: t.scope ?? "",
    sessionId: t.session_id ?? "",
  };
}
