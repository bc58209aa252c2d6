import { OAuthError } from "../domain/errors.js";
import type { Repositories } from "../domain/ports.js";
import { usernameKey, type User } from "../domain/types.js";
import type { ClientContext, Core } from "./core.js";
import { PASSWORD_MAX, verifyPassword } from "./passwords.js";

/** Failures per username tolerated before attempts are slowed down. */
export const THROTTLE_FREE_FAILURES = 4;
/** A failure this long (seconds) after the previous one starts counting afresh. */
export const THROTTLE_WINDOW = 15 * 60;
/** First lock after the free failures; doubles with each further failure up to THROTTLE_MAX_LOCK. */
export const THROTTLE_FIRST_LOCK = 30;
export const THROTTLE_MAX_LOCK = 15 * 60;

const USERNAME_MAX = 256;

/** Attempts for this username are locked for `retryAfter` more seconds. */
export class ThrottledError extends OAuthError {
  constructor(readonly retryAfter: number) {
    super("too_many_attempts", `too many failed attempts for this username; retry in ${retryAfter} s`);
  }
}

/** The throttle key: per application as well as username, so another application cannot lock this one's users out. */
const throttleKey = (ctx: ClientContext, username: string) => `${ctx.application.id}\n${usernameKey(username)}`;

/**
 * The one password check of tessera (password grant, AuthenticatePassword, hosted login page):
 * a username locked by earlier failures is refused before any hashing (ThrottledError); otherwise
 * exactly one scrypt verification runs through the core's bounded hash slots (HashesBusyError when
 * full). Unknown user, wrong password and a user of another application fail alike (undefined) and
 * count as a failure. On success the caller calls `clearFailures` in the transaction that signs in.
 */
export async function checkPassword(core: Core, ctx: ClientContext, username: string, password: string): Promise<User | undefined> {
  const tenantId = ctx.tenant.id;
  const valid = username.length > 0 && username.length <= USERNAME_MAX && password.length > 0 && password.length <= PASSWORD_MAX;
  const key = throttleKey(ctx, username.slice(0, USERNAME_MAX));
  await refuseIfLocked(core, tenantId, key);

  const found = valid ? await core.storage.users.findByUsername(tenantId, username) : undefined;
  const user = found?.applicationIds.includes(ctx.application.id) ? found : undefined;
  const ok = await core.passwordHashes.run(async () => {
    // Guesses sent at once all passed the check above before any of them failed: each looks again once it holds
    // a hash slot, and a failure is counted before the slot passes on, so the lock stops the ones still waiting.
    await refuseIfLocked(core, tenantId, key);
    const matches = await verifyPassword(password.slice(0, PASSWORD_MAX), user?.passwordHash);
    if (!(matches && user !== undefined)) await recordFailure(core, tenantId, key);
    return matches;
  });
  return ok && user !== undefined ? user : undefined;
}

/** ThrottledError while the username is locked. */
async function refuseIfLocked(core: Core, tenantId: string, key: string): Promise<void> {
  const state = await core.storage.loginThrottle.get(tenantId, key);
  if (state !== undefined && state.lockedUntil > core.now()) throw new ThrottledError(state.lockedUntil - core.now());
}

/** Forgets the username's failures; call inside the transaction that completes a successful sign-in. */
export function clearFailures(tx: Repositories, ctx: ClientContext, username: string): Promise<void> {
  return tx.loginThrottle.clear(ctx.tenant.id, throttleKey(ctx, username));
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
