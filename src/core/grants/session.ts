import { SESSION_TTL } from "../../config.js";
import { invalidGrant, invalidRequest } from "../../domain/errors.js";
import { clientAllowsGrant } from "../../domain/types.js";
import type { ClientContext, Core } from "../core.js";
import { endSession, findLiveSession } from "../sessions.js";
import { resolveTargetResource, type TokenSet } from "../tokens.js";
import { issueUserTokens, snapshotOf } from "../user-tokens.js";

const MAX_SESSION_ID_LENGTH = 256;
const NO_SESSION = "the session is invalid, expired or ended";

export interface SessionInput {
  ctx: ClientContext;
  sessionId: string | undefined;
  resource?: string | undefined;
}

function requireSessionId(sessionId: string | undefined): string {
  if (sessionId === undefined || sessionId === "") throw invalidRequest("session_id is required");
  return sessionId;
}

/**
 * Fresh tokens and a new refresh family for a live session of the calling application; the
 * session's expiry slides to now + 14 days. `auth_time` stays the session's authentication:
 * presenting a session id is not a new authentication of the user.
 */
export async function authenticateSession(core: Core, input: SessionInput): Promise<TokenSet> {
  const { ctx } = input;
  const secret = requireSessionId(input.sessionId);
  const resource = await resolveTargetResource(core, ctx, input.resource);
  const session = secret.length > MAX_SESSION_ID_LENGTH ? undefined : await findLiveSession(core, secret);
  if (session === undefined || session.tenantId !== ctx.tenant.id || session.applicationId !== ctx.application.id) {
    throw invalidGrant(NO_SESSION);
  }
  const user = await core.storage.users.get(session.tenantId, session.userId);
  if (user === undefined || !user.applicationIds.includes(ctx.application.id)) {
    throw invalidGrant("the user no longer has access to this application");
  }
  const tokens = await issueUserTokens(core, {
    ctx,
    resource,
    userId: user.id,
    scopes: [],
    snapshot: snapshotOf(user, session.amr),
    authTime: session.authTime,
    sid: session.id,
    // A client barred from the refresh_token grant gets no refresh token it could not use.
    offline: clientAllowsGrant(ctx.client, "refresh_token"),
    persist: async (tx) => {
      // Ended (e.g. by a concurrent logout) since it was read: store nothing.
      if (!(await tx.sessions.touch(session.id, session.authTime, core.now() + SESSION_TTL))) throw invalidGrant(NO_SESSION);
    },
  });
  core.events.tokenIssued?.("session");
  return Object.assign({}, tokens, { session_id: secret });
}

/**
 * Ends a session of the calling application and revokes every refresh family born in it.
 * Idempotent: an unknown, already ended or foreign session id succeeds without effect.
 */
export async function logout(core: Core, input: { ctx: ClientContext; sessionId: string | undefined }): Promise<void> {
  const secret = requireSessionId(input.sessionId);
  if (secret.length > MAX_SESSION_ID_LENGTH) return;
  const session = await core.storage.sessions.findBySecretHash(core.secrets.hash("session", secret));
  if (session === undefined || session.tenantId !== input.ctx.tenant.id || session.applicationId !== input.ctx.application.id) return;
  await endSession(core, session.id, "logout");
}
