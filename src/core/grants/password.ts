import { invalidGrant, invalidRequest, OAuthError } from "../../domain/errors.js";
import { clientAllowsGrant, usernameKey } from "../../domain/types.js";
import type { ClientContext, Core } from "../core.js";
import { PASSWORD_MAX, verifyPassword } from "../passwords.js";
import { parseScope, requireAllowedScopes, USER_SCOPES } from "../scopes.js";
import { insertSession, newSession } from "../sessions.js";
import { resolveTargetResource, type TokenSet } from "../tokens.js";
import { issueUserTokens, snapshotOf } from "../user-tokens.js";

/** Failures per username tolerated before attempts are slowed down. */
export const THROTTLE_FREE_FAILURES = 4;
/** A failure this long (seconds) after the previous one starts counting afresh. */
export const THROTTLE_WINDOW = 15 * 60;
/** First lock after the free failures; doubles with each further failure up to THROTTLE_MAX_LOCK. */
export const THROTTLE_FIRST_LOCK = 30;
export const THROTTLE_MAX_LOCK = 15 * 60;

/** The OpenID scopes any client may ask for on a user grant, besides the client's own scopes. */

const USERNAME_MAX = 256;
const BAD_CREDENTIALS = "invalid username or password";

/** Attempts for this username are locked for `retryAfter` more seconds. */
export class ThrottledError extends OAuthError {
  constructor(readonly retryAfter: number) {
    super("too_many_attempts", `too many failed attempts for this username; retry in ${retryAfter} s`);
  }
}

export interface PasswordInput {
  ctx: ClientContext;
  username: string | undefined;
  password: string | undefined;
  resource?: string | undefined;
  scope?: string | undefined;
}

/** The scopes a user grant may carry for this client: the OpenID ones and the client's own. */
export function userScopes(ctx: ClientContext, scope: string | undefined): string[] {
  const scopes = parseScope(scope);
  requireAllowedScopes(scopes, [...USER_SCOPES, ...ctx.client.scopes]);
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
  const scopes = userScopes(ctx, input.scope);

  const tenantId = ctx.tenant.id;
  // Per application too: another application of the tenant (a member of it or not) cannot lock this
  // application's users out by guessing through its own client.
  const key = `${ctx.application.id}\n${usernameKey(username)}`;
  const state = await core.storage.loginThrottle.get(tenantId, key);
  if (state !== undefined && state.lockedUntil > core.now()) throw new ThrottledError(state.lockedUntil - core.now());

  const found = await core.storage.users.findByUsername(tenantId, username);
  const user = found?.applicationIds.includes(ctx.application.id) ? found : undefined;
  const ok = await verifyPassword(password, user?.passwordHash);
  if (!ok || user === undefined) {
    await recordFailure(core, tenantId, key);
    throw invalidGrant(BAD_CREDENTIALS);
  }

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
      await tx.loginThrottle.clear(tenantId, key);
    },
  });
  core.events.tokenIssued?.("password");
  return { ...tokens, session_id: session.secret };
}

/** Counts a failure; from the fifth within the window on, locks for 30 s, 60 s, … at most 15 min. */
async function recordFailure(core: Core, tenantId: string, key: string): Promise<void> {
  const now = core.now();
  await core.storage.transaction(async (tx) => {
    const previous = await tx.loginThrottle.get(tenantId, key);
    const fresh = previous === undefined || now - previous.lastFailureTime > THROTTLE_WINDOW;
    const failures = fresh ? 1 : previous.failures + 1;
    const excess = failures - THROTTLE_FREE_FAILURES;
    const lock = excess > 0 ? Math.min(THROTTLE_FIRST_LOCK * 2 ** Math.min(excess - 1, 20), THROTTLE_MAX_LOCK) : 0;
    await tx.loginThrottle.put(tenantId, key, { failures, lastFailureTime: now, lockedUntil: lock > 0 ? now + lock : 0 });
  });
}
