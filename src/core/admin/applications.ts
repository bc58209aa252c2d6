import { notFound } from "../../domain/errors.js";
import { newId } from "../../domain/ids.js";
import type { Repositories } from "../../domain/ports.js";
import type { Application } from "../../domain/types.js";
import type { Core } from "../core.js";
import { ownsApplication, requireManagement, type Caller } from "./authorize.js";
import { listPage, type Page, type PageRequest } from "./paging.js";
import { validateDisplayName } from "./validation.js";

export interface ApplicationInput {
  displayName: string;
  /** Fixed at creation. */
  management: boolean;
}

export async function createApplication(core: Core, caller: Caller, input: ApplicationInput): Promise<Application> {
  requireManagement(caller, "create applications");
  validateDisplayName(input.displayName, "application.display_name");
  const now = core.now();
  const application: Application = {
    id: newId("app"),
    tenantId: caller.tenantId,
    displayName: input.displayName,
    management: input.management,
    createTime: now,
    updateTime: now,
  };
  await core.storage.applications.insert(application);
  core.invalidateCaches();
  return application;
}

/** An application the caller may act on; others (and other tenants') are simply not found. */
export async function ownApplication(repos: Repositories, caller: Caller, id: string): Promise<Application> {
  const application = ownsApplication(caller, id) ? await repos.applications.get(caller.tenantId, id) : undefined;
  if (application === undefined) throw notFound(`application "${id}" not found`);
  return application;
}

export function getApplication(core: Core, caller: Caller, id: string): Promise<Application> {
  return ownApplication(core.storage, caller, id);
}

export function listApplications(core: Core, caller: Caller, req: PageRequest): Promise<Page<Application>> {
  return listPage(core, caller, "ListApplications", req, async (after, limit) => {
    if (caller.management) return core.storage.applications.page(caller.tenantId, after, limit);
    // A non-management caller's list is its own application: one row, so never a second page.
    const own = after === undefined ? await core.storage.applications.get(caller.tenantId, caller.applicationId) : undefined;
    return own === undefined ? [] : [own];
  });
}

/**
 * Deletes an application with its clients; their refresh token families, the sessions it
 * started and its users' memberships go by cascade (users themselves stay). A caller may delete
 * its own application: its token stops working with the next call.
 */
export async function deleteApplication(core: Core, caller: Caller, id: string): Promise<void> {
  await core.storage.transaction(async (tx) => {
    await ownApplication(tx, caller, id);
    await tx.applications.delete(caller.tenantId, id);
  });
  core.invalidateCaches();
}
