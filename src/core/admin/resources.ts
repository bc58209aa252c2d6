import { alreadyExists, failedPrecondition, invalidRequest, notFound } from "../../domain/errors.js";
import { newId } from "../../domain/ids.js";
import type { Repositories } from "../../domain/ports.js";
import type { LifetimeOverrides, Resource } from "../../domain/types.js";
import type { Core } from "../core.js";
import { validateResourceUri } from "../resource-indicators.js";
import { applicationFilter, requireManagement, type Caller } from "./authorize.js";
import { listPage, type Page, type PageRequest } from "./paging.js";
import { USER_SCOPES } from "../scopes.js";
import { truncate } from "../resource-indicators.js";
import { maskPaths, validateDisplayName, validateLifetimes, validateSigningAlg, validateTokens } from "./validation.js";

export interface ResourceInput extends LifetimeOverrides {
  uri: string;
  displayName?: string | undefined;
  /** The scope values the API defines. */
  scopes?: string[] | undefined;
  /** `ES256`, `EdDSA` or `RS256` for this resource's access tokens; empty or unset means TESSERA_SIGNING_ALG. */
  signingAlg?: string | undefined;
}

/** Mask path → resource key; `uri` may be named only with its current value. */
const RESOURCE_FIELDS: [string, "displayName" | "scopes" | "signingAlg" | keyof LifetimeOverrides][] = [
  ["display_name", "displayName"],
  ["scopes", "scopes"],
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
  validateResourceScopes(input.scopes ?? []);
  return input;
}

/** RFC 6749 §3.3 scope tokens (at most 100, 128 characters each); the OpenID scopes are tessera's own. */
function validateResourceScopes(scopes: readonly string[]): string[] {
  const valid = validateTokens(scopes, "resource.scopes");
  const reserved = valid.find((s) => (USER_SCOPES as readonly string[]).includes(s));
  if (reserved !== undefined) throw invalidRequest(`resource.scopes: "${reserved}" is an OpenID scope every client may ask for; resources cannot define it`);
  return [...new Set(valid)];
}

/** The scopes a client with these resources may hold: the OpenID ones, the default resource's and its resources'. */
export async function definedScopes(repos: Repositories, tenantId: string, resourceIds: readonly string[], replaced?: Resource): Promise<Set<string>> {
  const defined = new Set<string>(USER_SCOPES);
  const resources = await Promise.all([repos.resources.getDefault(tenantId), ...resourceIds.map((id) => repos.resources.get(tenantId, id))]);
  for (const r of resources) {
    const scopes = r !== undefined && r.id === replaced?.id ? replaced.scopes : (r?.scopes ?? []);
    for (const s of scopes) defined.add(s);
  }
  return defined;
}

/**
 * A resource may stop defining a scope only once no client holds it through that resource: the
 * administrator takes the scope off those clients first (named in the error), like DeleteResource.
 */
async function checkScopesStillHeld(tx: Repositories, current: Resource, next: Resource): Promise<void> {
  const removed = current.scopes.filter((s) => !next.scopes.includes(s));
  if (removed.length === 0) return;
  const candidates = current.isDefault
    ? await tx.clients.page(current.tenantId, undefined, 1_000_000)
    : await Promise.all((await tx.resources.clientsUsing(current.id)).map(async (id) => (await tx.clients.get(current.tenantId, id))!));
  const holders: string[] = [];
  let scope: string | undefined;
  for (const client of candidates) {
    const held = client.scopes.filter((s) => removed.includes(s));
    if (held.length === 0) continue;
    const defined = await definedScopes(tx, current.tenantId, client.resourceIds, next);
    const stranded = held.find((s) => !defined.has(s));
    if (stranded === undefined) continue;
    scope ??= stranded;
    holders.push(client.id);
  }
  if (holders.length > 0) {
    const named = holders.slice(0, 10).join(", ") + (holders.length > 10 ? ` and ${holders.length - 10} more` : "");
    throw failedPrecondition(`resource.scopes: "${truncate(scope!)}" is still granted to clients ${named}; remove it from their scopes first`);
  }
}

export async function createResource(core: Core, caller: Caller, input: ResourceInput): Promise<Resource> {
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
    scopes: validateResourceScopes(input.scopes ?? []),
    signingAlg: validateSigningAlg(input.signingAlg, "resource.signing_alg"),
    createTime: now,
    updateTime: now,
  };
  await core.storage.transaction(async (tx) => {
    if ((await tx.resources.findByUri(caller.tenantId, uri)) !== undefined) throw alreadyExists(`a resource with uri "${uri}" already exists`);
    await tx.resources.insert(resource);
  });
  core.invalidateCaches();
  if (resource.signingAlg !== undefined) await core.keys.ensure(resource.signingAlg);
  return resource;
}

/** Whether a non-management caller may see the resource: the default one, or one assigned to its clients. */
export async function resourceVisible(repos: Repositories, caller: Caller, resource: Resource): Promise<boolean> {
  if (caller.management || resource.isDefault) return true;
  return repos.resources.assignedToApplication(resource.id, caller.applicationId);
}

export async function getResource(core: Core, caller: Caller, id: string): Promise<Resource> {
  const resource = await core.storage.resources.get(caller.tenantId, id);
  if (resource === undefined || !(await resourceVisible(core.storage, caller, resource))) throw notFound(`resource "${id}" not found`);
  return resource;
}

export function listResources(core: Core, caller: Caller, req: PageRequest & { applicationId?: string | undefined }): Promise<Page<Resource>> {
  const applicationId = applicationFilter(caller, req.applicationId);
  return listPage(core, caller, `ListResources\n${applicationId ?? ""}`, req, (after, limit) =>
    core.storage.resources.page(caller.tenantId, after, limit, applicationId),
  );
}

/** Updates the fields the mask names; the uri is immutable and may only be repeated unchanged. */
export async function updateResource(core: Core, caller: Caller, id: string, input: ResourceInput, mask: readonly string[]): Promise<Resource> {
  requireManagement(caller, "change resources");
  const paths = maskPaths(mask, RESOURCE_UPDATABLE);
  const updated = await core.storage.transaction(async (tx) => {
    const current = await tx.resources.get(caller.tenantId, id);
    if (current === undefined) throw notFound(`resource "${id}" not found`);
    const uriGiven = mask.length === 0 ? input.uri !== "" : paths.has("uri");
    if (uriGiven && input.uri !== current.uri) throw invalidRequest("resource.uri cannot be changed; create a new resource instead");
    const next: Resource = Object.assign({}, current, { updateTime: core.now() });
    const given = {
      ...input,
      displayName: input.displayName ?? "",
      scopes: input.scopes ?? [],
      signingAlg: validateSigningAlg(input.signingAlg, "resource.signing_alg"),
    };
    for (const [path, key] of RESOURCE_FIELDS) if (paths.has(path)) Object.assign(next, { [key]: given[key] });
    checked(next);
    next.scopes = validateResourceScopes(next.scopes);
    await checkScopesStillHeld(tx, current, next);
    await tx.resources.update(next);
    return next;
  });
  core.invalidateCaches();
  if (updated.signingAlg !== undefined) await core.keys.ensure(updated.signingAlg);
  return updated;
}

/** Deletes a resource; one still assigned to clients needs `force` (the assignments go with it). */
export async function deleteResource(core: Core, caller: Caller, id: string, force: boolean): Promise<void> {
  requireManagement(caller, "delete resources");
  await core.storage.transaction(async (tx) => {
    const resource = await tx.resources.get(caller.tenantId, id);
    if (resource === undefined) throw notFound(`resource "${id}" not found`);
    if (resource.isDefault) throw failedPrecondition("the default resource cannot be deleted");
    const clients = await tx.resources.clientsUsing(id);
    if (clients.length > 0 && !force) {
      const named = clients.slice(0, 10).join(", ") + (clients.length > 10 ? ` and ${clients.length - 10} more` : "");
      throw failedPrecondition(`resource is assigned to clients ${named}; unassign it or delete with force`);
    }
    await tx.resources.delete(caller.tenantId, id);
  });
  core.invalidateCaches();
}
