import { invalidGrant, invalidRequest } from "../../domain/errors.js";
import { clientAllowsGrant, type Resource } from "../../domain/types.js";
import type { ClientContext, Core } from "../core.js";
import { checkPassword, clearFailures } from "../password-check.js";
import { PASSWORD_MAX } from "../passwords.js";
import { parseScope, requireGrantableScopes } from "../scopes.js";
import { insertSession, newSession } from "../sessions.js";
import { resolveTargetResource, type TokenSet } from "../tokens.js";
import { issueUserTokens, snapshotOf } from "../user-tokens.js";

export { THROTTLE_FIRST_LOCK, THROTTLE_FREE_FAILURES, THROTTLE_MAX_LOCK, THROTTLE_WINDOW, ThrottledError } from "../password-check.js";

const USERNAME_MAX = 256;
const BAD_CREDENTIALS = "invalid username or password";

export interface PasswordInput {
  ctx: ClientContext;
  username: string | undefined;
  password: string | undefined;
  resource?: string | undefined;
  scope?: string | undefined;
}

/** The scopes a user grant may carry for this client: the OpenID ones and the client's own. */
export function userScopes(ctx: ClientContext, resource: Resource, scope: string | undefined): string[] {
  const scopes = parseScope(scope);
  requireGrantableScopes(scopes, ctx.client, resource, true);
  return scopes;
}

/**
 * Backend password authentication of a user of the calling application: starts a session and a
 * refresh family. Unknown user, wrong password and a user of another application fail alike,
 * each after exactly one scrypt verification. Repeated failures per (tenant, username) lock that
 * username for a growing, bounded time.
 */
export async function authenticatePassword(core: Core, input: PasswordInput): Promise<TokenSet> {
  const { ctx } = input;
  const { username, password } = input;
  if (username === undefined || username === "") throw invalidRequest("username is required");
  if (username.length > USERNAME_MAX) throw invalidRequest(`username must be at most ${USERNAME_MAX} characters`);
  if (password === undefined || password === "") throw invalidRequest("password is required");
  if (password.length > PASSWORD_MAX) throw invalidRequest(`password must be at most ${PASSWORD_MAX} characters`);
  const resource = await resolveTargetResource(core, ctx, input.resource);
  const scopes = userScopes(ctx, resource, input.scope);

  const tenantId = ctx.tenant.id;
  const user = await checkPassword(core, ctx, username, password);
  if (user === undefined) throw invalidGrant(BAD_CREDENTIALS);

  const amr = ["pwd"];
  const session = newSession(core, { tenantId, userId: user.id, applicationId: ctx.application.id, amr });
  const tokens = await issueUserTokens(core, {
    ctx,
    resource,
    userId: user.id,
    scopes,
    snapshot: snapshotOf(user, amr),
    authTime: session.session.authTime,
    sid: session.session.id,
    // A client barred from the refresh_token grant gets no refresh token it could not use.
    offline: clientAllowsGrant(ctx.client, "refresh_token"),
    persist: async (tx) => {
      await insertSession(tx, session);
      await clearFailures(tx, ctx, username);
    },
  });
  core.events.tokenIssued?.("password");
  return Object.assign({}, tokens, { session_id: session.secret });
}
