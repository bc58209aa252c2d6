import { alreadyExists, failedPrecondition, invalidRequest, notFound } from "../../domain/errors.js";
import { newId } from "../../domain/ids.js";
import type { LifetimeOverrides, Resource } from "../../domain/types.js";
import type { Core } from "../core.js";
import { validateResourceUri } from "../resource-indicators.js";
import { applicationFilter, requireManagement, type Caller } from "./authorize.js";
import { listPage, type Page, type PageRequest } from "./paging.js";
import { maskPaths, validateDisplayName, validateLifetimes, validateSigningAlg } from "./validation.js";

export interface ResourceInput extends LifetimeOverrides {
  uri: string;
  displayName?: string | undefined;
  /** `ES256`, `EdDSA` or `RS256` for this resource's access tokens; empty or unset means TESSERA_SIGNING_ALG. */
  signingAlg?: string | undefined;
}

/** Mask path → resource key; `uri` may be named only with its current value. */
const RESOURCE_FIELDS: [string, "displayName" | "signingAlg" | keyof LifetimeOverrides][] = [
  ["display_name", "displayName"],
  ["access_token_ttl", "accessTokenTtl"],
  ["refresh_token_ttl", "refreshTokenTtl"],
  ["max_rotation", "maxRotation"],
  ["signing_alg", "signingAlg"],
];
export const RESOURCE_UPDATABLE = [...RESOURCE_FIELDS.map(([path]) => path), "uri"];

function checked<T extends Omit<ResourceInput, "uri">>(input: T): T {
  validateDisplayName(input.displayName ?? "", "resource.display_name");
  validateSigningAlg(input.signingAlg, "resource.signing_alg");
  validateLifetimes(input, "resource");
  return input;
}

export function createResource(core: Core, caller: Caller, input: ResourceInput): Resource {
  requireManagement(caller, "create resources");
  const uri = validateResourceUri(input.uri, "resource.uri");
  checked(input);
  const now = core.now();
  const resource: Resource = {
    id: newId("res"),
    tenantId: caller.tenantId,
    uri,
    displayName: input.displayName ?? "",
    isDefault: false,
    accessTokenTtl: input.accessTokenTtl,
    refreshTokenTtl: input.refreshTokenTtl,
    maxRotation: input.maxRotation,
    scopes: [],
    signingAlg: validateSigningAlg(input.signingAlg, "resource.signing_alg"),
    createTime: now,
    updateTime: now,
  };
  core.store.transaction(() => {
    if (core.store.resources.findByUri(caller.tenantId, uri) !== undefined) throw alreadyExists(`a resource with uri "${uri}" already exists`);
    core.store.resources.insert(resource);
  });
  core.invalidateCaches();
  if (resource.signingAlg !== undefined) core.keys.ensure(resource.signingAlg);
  return resource;
}

/** Whether a non-management caller may see the resource: the default one, or one assigned to its clients. */
export function resourceVisible(core: Core, caller: Caller, resource: Resource): boolean {
  if (caller.management || resource.isDefault) return true;
  return core.store.resources.assignedToApplication(resource.id, caller.applicationId);
}

export function getResource(core: Core, caller: Caller, id: string): Resource {
  const resource = core.store.resources.get(caller.tenantId, id);
  if (resource === undefined || !resourceVisible(core, caller, resource)) throw notFound(`resource "${id}" not found`);
  return resource;
}

export function listResources(core: Core, caller: Caller, req: PageRequest & { applicationId?: string | undefined }): Page<Resource> {
  const applicationId = applicationFilter(caller, req.applicationId);
  return listPage(core, caller, `ListResources\n${applicationId ?? ""}`, req, (after, limit) =>
    core.store.resources.page(caller.tenantId, after, limit, applicationId),
  );
}

/** Updates the fields the mask names; the uri is immutable and may only be repeated unchanged. */
export function updateResource(core: Core, caller: Caller, id: string, input: ResourceInput, mask: readonly string[]): Resource {
  requireManagement(caller, "change resources");
  const paths = maskPaths(mask, RESOURCE_UPDATABLE);
  const updated = core.store.transaction(() => {
    const current = core.store.resources.get(caller.tenantId, id);
    if (current === undefined) throw notFound(`resource "${id}" not found`);
    const uriGiven = mask.length === 0 ? input.uri !== "" : paths.has("uri");
    if (uriGiven && input.uri !== current.uri) throw invalidRequest("resource.uri cannot be changed; create a new resource instead");
    const next: Resource = { ...current, updateTime: core.now() };
    const given = { ...input, displayName: input.displayName ?? "", signingAlg: validateSigningAlg(input.signingAlg, "resource.signing_alg") };
    for (const [path, key] of RESOURCE_FIELDS) if (paths.has(path)) Object.assign(next, { [key]: given[key] });
    checked(next);
    core.store.resources.update(next);
    return next;
  });
  core.invalidateCaches();
  if (updated.signingAlg !== undefined) core.keys.ensure(updated.signingAlg);
  return updated;
}

/** Deletes a resource; one still assigned to clients needs `force` (the assignments go with it). */
export function deleteResource(core: Core, caller: Caller, id: string, force: boolean): void {
  requireManagement(caller, "delete resources");
  core.store.transaction(() => {
    const resource = core.store.resources.get(caller.tenantId, id);
    if (resource === undefined) throw notFound(`resource "${id}" not found`);
    if (resource.isDefault) throw failedPrecondition("the default resource cannot be deleted");
    const clients = core.store.resources.clientsUsing(id);
    if (clients.length > 0 && !force) {
      const named = clients.slice(0, 10).join(", ") + (clients.length > 10 ? ` and ${clients.length - 10} more` : "");
      throw failedPrecondition(`resource is assigned to clients ${named}; unassign it or delete with force`);
    }
    core.store.resources.delete(caller.tenantId, id);
  });
  core.invalidateCaches();
}
