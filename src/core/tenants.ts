import { DEFAULT_RESOURCE_URI } from "../config.js";
import { alreadyExists, invalidRequest } from "../domain/errors.js";
import { newId } from "../domain/ids.js";
import type { Tenant } from "../domain/types.js";
import type { Store } from "../storage/store.js";

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Creates a tenant with its default resource; call inside a transaction. The tenant id is its name. */
export function insertTenant(store: Store, name: string, now: number): Tenant {
  if (!TENANT_ID_PATTERN.test(name)) {
    throw invalidRequest("tenant name must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit");
  }
  if (store.tenants.get(name) !== undefined) throw alreadyExists(`tenant "${name}" already exists`);
  const tenant = { id: name, name, createTime: now };
  store.tenants.insert(tenant);
  store.resources.insert({
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
