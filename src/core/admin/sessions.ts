import { notFound } from "../../domain/errors.js";
import type { Session } from "../../domain/types.js";
import type { Core } from "../core.js";
import { truncate } from "../resource-indicators.js";
import { endSession } from "../sessions.js";
import type { Caller } from "./authorize.js";
import { listPage, type Page, type PageRequest } from "./paging.js";
import { ownUser } from "./users.js";

/** A user's live sessions; a non-management caller sees only those started through its application. */
export async function listSessions(core: Core, caller: Caller, userId: string, req: PageRequest): Promise<Page<Session>> {
  await ownUser(core.storage, caller, userId);
  const applicationId = caller.management ? undefined : caller.applicationId;
  return listPage(core, caller, `ListSessions\n${userId}\n${applicationId ?? ""}`, req, (after, limit) =>
    core.storage.sessions.pageForUser(caller.tenantId, userId, core.now(), after, limit, applicationId),
  );
}

/**
 * Ends a session by its public id and revokes the refresh token families born in it.
 * Ending one that already ended (or expired) succeeds: the outcome is the same.
 */
export async function revokeSession(core: Core, caller: Caller, id: string): Promise<void> {
  const session = await core.storage.sessions.get(caller.tenantId, id);
  const visible =
    session !== undefined &&
    (caller.management || session.applicationId === caller.applicationId) &&
    (await core.storage.users.get(caller.tenantId, session.userId)) !== undefined;
  if (!visible) throw notFound(`session "${truncate(id)}" not found`);
  await endSession(core, id, "revoked by an administrator");
}
