import { OAuthError } from "../domain/errors.js";
import type { Core } from "./core.js";

/** Who an `id_token_hint` names: the user (`sub`) and the client it was issued to (`aud`). */
export interface IdTokenHint {
  userId: string;
  clientId: string;
}

/**
 * Reads an `id_token_hint` (OIDC Core §3.1.2.1, RP-Initiated Logout §2): an ID token signed by a
 * published tessera key for this issuer. Expiry is ignored (both specifications allow expired hints);
 * access tokens, which tessera also signs, are refused by their `typ`. Undefined when it is none of that.
 */
export function readIdTokenHint(core: Core, hint: string): IdTokenHint | undefined {
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    ({ header, payload } = core.keys.verifySignature(hint));
  } catch (err) {
    if (err instanceof OAuthError) return undefined;
    throw err;
  }
  if (header.typ !== "JWT" || payload.iss !== core.issuer || typeof payload.aud !== "string" || typeof payload.sub !== "string") return undefined;
  return { userId: payload.sub, clientId: payload.aud };
}
