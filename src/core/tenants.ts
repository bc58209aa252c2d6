import { DEFAULT_RESOURCE_URI } from "../config.js";
import { alreadyExists, invalidRequest } from "../domain/errors.js";
import { newId } from "../domain/ids.js";
import type { Tenant } from "../domain/types.js";
import type { Core } from "./core.js";
import type { Repositories } from "../domain/ports.js";

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Creates a tenant with its default resource; call inside a transaction. The tenant id is its name. */
export async function insertTenant(tx: Repositories, name: string, now: number): Promise<Tenant> {
  if (!TENANT_ID_PATTERN.test(name)) {
    throw invalidRequest("tenant name must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit");
  }
  if ((await tx.tenants.get(name)) !== undefined) throw alreadyExists(`tenant "${name}" already exists`);
  const tenant = { id: name, name, createTime: now };
  await tx.tenants.insert(tenant);
  await tx.resources.insert({
    id: newId("res"),
    tenantId: tenant.id,
    uri: DEFAULT_RESOURCE_URI,
    displayName: "Default resource",
    isDefault: true,
    accessTokenTtl: undefined,
    refreshTokenTtl: undefined,
    maxRotation: undefined,
    scopes: [],
    signingAlg: undefined,
    createTime: now,
    updateTime: now,
  });
  return tenant;
}

/** Creates a tenant with its default resource (the CLI's `tenant create`). */
export async function createTenant(core: Core, name: string): Promise<Tenant> {
  const now = core.now();
  const tenant = await core.storage.transaction((tx) => insertTenant(tx, name, now));
  core.invalidateCaches();
  return tenant;
}

export function listTenants(core: Core): Promise<Tenant[]> {
  return core.storage.tenants.list();
}

export function getTenant(core: Core, id: string): Promise<Tenant | undefined> {
  return core.storage.tenants.get(id);
}
