import { newClientId, newSecret } from "../../domain/ids.js";
import { notFound, invalidRequest } from "../../domain/errors.js";
import type { Client, GrantType, LifetimeOverrides } from "../../domain/types.js";
import type { Core } from "../core.js";
import { truncate } from "../resource-indicators.js";
import { applicationFilter, ownsApplication, type Caller } from "./authorize.js";
import { ownApplication } from "./applications.js";
import { listPage, type Page, type PageRequest } from "./paging.js";
import {
  maskPaths,
  MAX_GRACE_PERIOD,
  MAX_REUSE_LEEWAY,
  validateDisplayName,
  validateGrantTypes,
  validateIds,
  validateLifetimes,
  validateRedirectUris,
  validateSeconds,
  validateTokens,
  validateWebOrigins,
} from "./validation.js";

/** A client's settings as an administrator gives them. */
export interface ClientInput extends LifetimeOverrides {
  applicationId: string;
  displayName: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** Empty means every grant type. */
  grantTypes: string[];
  scopes: string[];
  webOrigins: string[];
  resourceIds: string[];
  /** Seconds; unset means 0. */
  reuseLeeway?: number | undefined;
}

export interface ClientWithSecret {
  client: Client;
  /** Shown once; only its keyed hash is stored. */
  clientSecret: string;
}

export const CLIENT_UPDATABLE = [
  "display_name",
  "redirect_uris",
  "post_logout_redirect_uris",
  "grant_types",
  "scopes",
  "web_origins",
  "resource_ids",
  "access_token_ttl",
  "refresh_token_ttl",
  "max_rotation",
  "reuse_leeway",
] as const;

type ClientSettings = Pick<
  Client,
  "displayName" | "redirectUris" | "postLogoutRedirectUris" | "grantTypes" | "scopes" | "webOrigins" | "resourceIds" | "accessTokenTtl" | "refreshTokenTtl" | "maxRotation" | "reuseLeeway"
>;

function validateSettings(s: ClientSettings): ClientSettings {
  return {
    displayName: validateDisplayName(s.displayName, "client.display_name"),
    redirectUris: validateRedirectUris(s.redirectUris, "client.redirect_uris"),
    postLogoutRedirectUris: validateRedirectUris(s.postLogoutRedirectUris, "client.post_logout_redirect_uris"),
    grantTypes: validateGrantTypes(s.grantTypes, "client.grant_types"),
    scopes: validateTokens(s.scopes, "client.scopes"),
    webOrigins: validateWebOrigins(s.webOrigins, "client.web_origins"),
    resourceIds: validateIds(s.resourceIds, "client.resource_ids"),
    ...validateLifetimes({ accessTokenTtl: s.accessTokenTtl, refreshTokenTtl: s.refreshTokenTtl, maxRotation: s.maxRotation }, "client"),
    reuseLeeway: validateSeconds(s.reuseLeeway, "client.reuse_leeway", 0, MAX_REUSE_LEEWAY),
  };
}

/**
 * Assigned resources must exist in the tenant and not be the default one (always implicit). A
 * non-management caller may only assign resources it can already see (assigned to its clients),
 * so it cannot grant itself a tenant's other APIs; unknown and unseen ids read the same.
 */
function checkResourceIds(core: Core, caller: Caller, ids: readonly string[], current: readonly string[]): void {
  let visible: Set<string> | undefined;
  for (const id of ids) {
    const unknown = () => notFound(`client.resource_ids: resource "${truncate(id)}" not found`);
    const resource = core.store.resources.get(caller.tenantId, id);
    if (resource === undefined) throw unknown();
    if (resource.isDefault) throw invalidRequest(`client.resource_ids: "${truncate(id)}" is the default resource, which every client has implicitly`);
    if (!caller.management && !current.includes(id)) {
      visible ??= new Set(core.store.resources.page(caller.tenantId, undefined, 100_000, caller.applicationId).map((r) => r.id));
      if (!visible.has(id)) throw unknown();
    }
  }
}

export function createClient(core: Core, caller: Caller, input: ClientInput): ClientWithSecret {
  if (input.applicationId === "") throw invalidRequest("client.application_id is required");
  const settings = validateSettings({ ...input, grantTypes: input.grantTypes as GrantType[], reuseLeeway: input.reuseLeeway ?? 0 });
  const clientSecret = newSecret();
  const now = core.now();
  const client: Client = {
    ...settings,
    id: newClientId(),
    tenantId: caller.tenantId,
    applicationId: input.applicationId,
    secretHash: core.secrets.hash("client-secret", clientSecret),
    previousSecretHash: undefined,
    previousSecretExpireTime: undefined,
    createTime: now,
    updateTime: now,
  };
  core.store.transaction(() => {
    ownApplication(core, caller, input.applicationId);
    checkResourceIds(core, caller, client.resourceIds, []);
    core.store.clients.insert(client);
  });
  core.invalidateCaches();
  return { client: core.store.clients.get(caller.tenantId, client.id)!, clientSecret };
}

/** A client of an application the caller may act on; anything else is not found. */
function ownClient(core: Core, caller: Caller, id: string): Client {
  const client = core.store.clients.get(caller.tenantId, id);
  if (client === undefined || !ownsApplication(caller, client.applicationId)) throw notFound(`client "${truncate(id)}" not found`);
  return client;
}

export const getClient = ownClient;

export function listClients(core: Core, caller: Caller, req: PageRequest & { applicationId?: string | undefined }): Page<Client> {
  const applicationId = applicationFilter(caller, req.applicationId);
  return listPage(core, caller, `ListClients\n${applicationId ?? ""}`, req, (after, limit) =>
    core.store.clients.page(caller.tenantId, after, limit, applicationId),
  );
}

/** Updates the fields the mask names (all updatable ones when empty); the application is fixed. */
export function updateClient(core: Core, caller: Caller, id: string, input: ClientInput, mask: readonly string[]): Client {
  const paths = maskPaths(mask, [...CLIENT_UPDATABLE, "application_id"]);
  const updated = core.store.transaction(() => {
    const current = ownClient(core, caller, id);
    const appGiven = mask.length === 0 ? input.applicationId !== "" : paths.has("application_id");
    if (appGiven && input.applicationId !== current.applicationId) throw invalidRequest("client.application_id cannot be changed");
    const next: ClientSettings = { ...current };
    const pick = <K extends keyof ClientSettings>(path: string, key: K, value: ClientSettings[K]) => {
      if (paths.has(path)) next[key] = value;
    };
    pick("display_name", "displayName", input.displayName);
    pick("redirect_uris", "redirectUris", input.redirectUris);
    pick("post_logout_redirect_uris", "postLogoutRedirectUris", input.postLogoutRedirectUris);
    pick("grant_types", "grantTypes", input.grantTypes as GrantType[]);
    pick("scopes", "scopes", input.scopes);
    pick("web_origins", "webOrigins", input.webOrigins);
    pick("resource_ids", "resourceIds", input.resourceIds);
    pick("access_token_ttl", "accessTokenTtl", input.accessTokenTtl);
    pick("refresh_token_ttl", "refreshTokenTtl", input.refreshTokenTtl);
    pick("max_rotation", "maxRotation", input.maxRotation);
    pick("reuse_leeway", "reuseLeeway", input.reuseLeeway ?? 0);
    const settings = validateSettings(next);
    checkResourceIds(core, caller, settings.resourceIds, current.resourceIds);
    core.store.clients.update({ ...current, ...settings, updateTime: core.now() });
    return core.store.clients.get(caller.tenantId, id)!;
  });
  core.invalidateCaches();
  return updated;
}

/** Deletes a client; its refresh token families go with it (cascade). */
export function deleteClient(core: Core, caller: Caller, id: string): void {
  core.store.transaction(() => {
    ownClient(core, caller, id);
    core.store.clients.delete(caller.tenantId, id);
  });
  core.invalidateCaches();
}

/**
 * Replaces the client's secret. The old one stops working at once, or after `graceSeconds`
 * (at most 24 h) during which both work. A second rotation drops any earlier previous secret.
 */
export function rotateClientSecret(core: Core, caller: Caller, id: string, graceSeconds: number): ClientWithSecret {
  validateSeconds(graceSeconds, "grace_period", 0, MAX_GRACE_PERIOD);
  const clientSecret = newSecret();
  const secretHash = core.secrets.hash("client-secret", clientSecret);
  const client = core.store.transaction(() => {
    const current = ownClient(core, caller, id);
    const now = core.now();
    const previous = graceSeconds > 0 && current.secretHash !== undefined ? { hash: current.secretHash, expireTime: now + graceSeconds } : undefined;
    core.store.clients.setSecret(id, secretHash, previous, now);
    return core.store.clients.get(caller.tenantId, id)!;
  });
  core.invalidateCaches();
  return { client, clientSecret };
}
