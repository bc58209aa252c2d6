import { notFound } from "../../domain/errors.js";
import { newId } from "../../domain/ids.js";
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

export function createApplication(core: Core, caller: Caller, input: ApplicationInput): Application {
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
  core.store.transaction(() => core.store.applications.insert(application));
  core.invalidateCaches();
  return application;
}

/** An application the caller may act on; others (and other tenants') are simply not found. */
export function ownApplication(core: Core, caller: Caller, id: string): Application {
  const application = ownsApplication(caller, id) ? core.store.applications.get(caller.tenantId, id) : undefined;
  if (application === undefined) throw notFound(`application "${id}" not found`);
  return application;
}

export const getApplication = ownApplication;

export function listApplications(core: Core, caller: Caller, req: PageRequest): Page<Application> {
  return listPage(core, caller, "ListApplications", req, (after, limit) => {
    if (caller.management) return core.store.applications.page(caller.tenantId, after, limit);
    // A non-management caller's list is its own application: one row, so never a second page.
    const own = after === undefined ? core.store.applications.get(caller.tenantId, caller.applicationId) : undefined;
    return own === undefined ? [] : [own];
  });
}

/**
 * Deletes an application with its clients; their refresh token families, the sessions it
 * started and its users' memberships go by cascade (users themselves stay). A caller may delete
 * its own application: its token stops working with the next call.
 */
export function deleteApplication(core: Core, caller: Caller, id: string): void {
  core.store.transaction(() => {
    ownApplication(core, caller, id);
    core.store.applications.delete(caller.tenantId, id);
  });
  core.invalidateCaches();
}
