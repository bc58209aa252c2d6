import { OAuthError } from "../domain/errors.js";
import { AuthorizationPageError } from "./authorization.js";
import type { ClientContext, Core } from "./core.js";
import { endSession, findLiveSession } from "./sessions.js";

export interface EndSessionInput {
  idTokenHint: string | undefined;
  clientId: string | undefined;
  postLogoutRedirectUri: string | undefined;
  state: string | undefined;
  sessionSecret: string | undefined;
}

/** The client an id_token_hint was issued to (signature by a published tessera key; expiry ignored). */
function hintedClient(core: Core, idTokenHint: string): string {
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    ({ header, payload } = core.keys.verifySignature(idTokenHint));
  } catch (err) {
    if (err instanceof OAuthError) throw new AuthorizationPageError("The id_token_hint is not an ID token issued here.");
    throw err;
  }
  // An ID token (typ JWT, audience the client), not an access token (typ at+jwt) that tessera also signs.
  if (header.typ !== "JWT" || payload.iss !== core.issuer || typeof payload.aud !== "string") {
    throw new AuthorizationPageError("The id_token_hint is not an ID token issued here.");
  }
  return payload.aud;
}

/**
 * RP-initiated logout 1.0: ends the browser's session (and the refresh families born in it) and
 * returns where to send the browser: the client's registered post-logout URI, or nowhere (a page).
 */
export async function endBrowserSession(core: Core, input: EndSessionInput): Promise<{ location: string | undefined }> {
  let clientId = input.clientId;
  if (input.idTokenHint !== undefined) {
    const aud = hintedClient(core, input.idTokenHint);
    if (clientId !== undefined && clientId !== aud) throw new AuthorizationPageError("client_id differs from the id_token_hint's audience.");
    clientId = aud;
  }
  let ctx: ClientContext | undefined;
  if (input.postLogoutRedirectUri !== undefined) {
    ctx = clientId === undefined || clientId.length > 256 ? undefined : await core.clientContext(clientId);
    if (ctx === undefined) throw new AuthorizationPageError("post_logout_redirect_uri needs a known client_id or id_token_hint.");
    if (!ctx.client.postLogoutRedirectUris.includes(input.postLogoutRedirectUri)) {
      throw new AuthorizationPageError("The post_logout_redirect_uri is not registered for this application.");
    }
  }
  const session = input.sessionSecret === undefined ? undefined : await findLiveSession(core, input.sessionSecret);
  if (session !== undefined) await endSession(core, session.id, "logged out");
  if (input.postLogoutRedirectUri === undefined) return { location: undefined };
  const url = new URL(input.postLogoutRedirectUri);
  if (input.state !== undefined) url.searchParams.append("state", input.state);
  return { location: url.toString() };
}
