import { AuthorizationPageError } from "./authorization.js";
import type { ClientContext, Core } from "./core.js";
import { readIdTokenHint } from "./id-token-hint.js";
import { endSession, findLiveSession } from "./sessions.js";

export interface EndSessionInput {
  idTokenHint: string | undefined;
  clientId: string | undefined;
  postLogoutRedirectUri: string | undefined;
  state: string | undefined;
  sessionSecret: string | undefined;
}

/** A checked logout request, carried through the confirmation page. */
export interface LogoutRequest {
  clientId: string | undefined;
  postLogoutRedirectUri: string | undefined;
  state: string | undefined;
}

/** Either the session is over (or there was none) and the browser goes on, or the user must confirm. */
export type EndSessionStep =
  | { kind: "done"; location: string | undefined }
  | { kind: "confirm"; request: LogoutRequest; csrf: string };

/** The post-logout redirect URI must be registered for the client named by client_id or the hint. */
async function checkRequest(core: Core, clientId: string | undefined, postLogoutRedirectUri: string | undefined): Promise<void> {
  if (postLogoutRedirectUri === undefined) return;
  const ctx: ClientContext | undefined = clientId === undefined || clientId.length > 256 ? undefined : await core.clientContext(clientId);
  if (ctx === undefined) throw new AuthorizationPageError("post_logout_redirect_uri needs a known client_id or id_token_hint.");
  if (!ctx.client.postLogoutRedirectUris.includes(postLogoutRedirectUri)) {
    throw new AuthorizationPageError("The post_logout_redirect_uri is not registered for this application.");
  }
}

function finish(request: LogoutRequest): { kind: "done"; location: string | undefined } {
  if (request.postLogoutRedirectUri === undefined) return { kind: "done", location: undefined };
  const url = new URL(request.postLogoutRedirectUri);
  if (request.state !== undefined) url.searchParams.append("state", request.state);
  return { kind: "done", location: url.toString() };
}

/** The confirmation form's CSRF token: bound to the browser's session cookie, which a cross-site page cannot read. */
const logoutCsrf = (core: Core, sessionSecret: string) => core.secrets.hash("csrf", `logout:${sessionSecret}`).toString("base64url");

/**
 * RP-Initiated Logout 1.0 §2-§3: without an `id_token_hint` naming the signed-in user, the user is asked
 * first (a cross-site link must not sign anyone out); with one, or with no session to end, it ends at once.
 */
export async function requestLogout(core: Core, input: EndSessionInput): Promise<EndSessionStep> {
  let clientId = input.clientId;
  let hintedUser: string | undefined;
  if (input.idTokenHint !== undefined) {
    const hint = readIdTokenHint(core, input.idTokenHint);
    if (hint === undefined) throw new AuthorizationPageError("The id_token_hint is not an ID token issued here.");
    if (clientId !== undefined && clientId !== hint.clientId) throw new AuthorizationPageError("client_id differs from the id_token_hint's audience.");
    clientId = hint.clientId;
    hintedUser = hint.userId;
  }
  await checkRequest(core, clientId, input.postLogoutRedirectUri);
  const request: LogoutRequest = { clientId, postLogoutRedirectUri: input.postLogoutRedirectUri, state: input.state };
  const session = input.sessionSecret === undefined ? undefined : await findLiveSession(core, input.sessionSecret);
  if (session === undefined) return finish(request);
  if (hintedUser !== session.userId) return { kind: "confirm", request, csrf: logoutCsrf(core, input.sessionSecret!) };
  await endSession(core, session.id, "logged out");
  return finish(request);
}

/** The confirmation form's POST: the CSRF token must match the session cookie; then the session ends. */
export async function confirmLogout(
  core: Core,
  request: LogoutRequest,
  csrf: string | undefined,
  sessionSecret: string | undefined,
): Promise<{ kind: "done"; location: string | undefined }> {
  await checkRequest(core, request.clientId, request.postLogoutRedirectUri);
  const session = sessionSecret === undefined ? undefined : await findLiveSession(core, sessionSecret);
  if (session !== undefined) {
    if (csrf === undefined || !core.secrets.matches("csrf", `logout:${sessionSecret}`, Buffer.from(csrf, "base64url"))) {
      throw new AuthorizationPageError("The form could not be verified (missing or wrong CSRF token). Go back to the application and sign out again.", 403);
    }
    await endSession(core, session.id, "logged out");
  }
  return finish(request);
}
