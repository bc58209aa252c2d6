import { SESSION_TTL } from "../config.js";
import { newId, newSecret } from "../domain/ids.js";
import type { Repositories } from "../domain/ports.js";
import type { Session } from "../domain/types.js";
import type { Core } from "./core.js";

/** A session about to be stored: the secret goes to the application (or browser cookie) once. */
export interface NewSession {
  session: Session;
  secret: string;
  secretHash: Buffer;
}

/** Builds a session record (not stored): lasts SESSION_TTL after the last authentication. */
export function newSession(core: Core, init: { tenantId: string; userId: string; applicationId: string | undefined; amr: string[] }): NewSession {
  const now = core.now();
  const secret = newSecret();
  return {
    session: {
      id: newId("ses"),
      tenantId: init.tenantId,
      userId: init.userId,
      applicationId: init.applicationId,
      amr: init.amr,
      createTime: now,
      authTime: now,
      expireTime: now + SESSION_TTL,
      revokeTime: undefined,
    },
    secret,
    secretHash: core.secrets.hash("session", secret),
  };
}

/** Stores a new session; call inside the transaction that also stores what it issued. */
export function insertSession(tx: Repositories, s: NewSession): Promise<void> {
  return tx.sessions.insert(s.session, s.secretHash);
}

/** The live session a secret session id names, or undefined (unknown, expired or ended). */
export async function findLiveSession(core: Core, secret: string): Promise<Session | undefined> {
  if (secret.length > 256) return undefined;
  const session = await core.storage.sessions.findBySecretHash(core.secrets.hash("session", secret));
  if (session === undefined || session.revokeTime !== undefined || session.expireTime <= core.now()) return undefined;
  return session;
}

/** Ends a session and revokes every refresh token family born in it, atomically. */
export function endSession(core: Core, sessionId: string, reason: string): Promise<boolean> {
  const now = core.now();
  return core.storage.transaction(async (tx) => {
    const ended = await tx.sessions.revoke(sessionId, now);
    await tx.refreshTokens.revokeSessionFamilies(sessionId, now, reason);
    return ended;
  });
}
