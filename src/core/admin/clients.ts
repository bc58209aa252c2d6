import { newClientId, newSecret } from "../../domain/ids.js";
import { failedPrecondition, notFound, invalidRequest } from "../../domain/errors.js";
import type { Repositories } from "../../domain/ports.js";
import { TOKEN_ENDPOINT_AUTH_METHODS, type Client, type GrantType, type LifetimeOverrides, type TokenEndpointAuthMethod } from "../../domain/types.js";
import type { Core } from "../core.js";
import { truncate } from "../resource-indicators.js";
import { applicationFilter, ownsApplication, type Caller } from "./authorize.js";
import { ownApplication } from "./applications.js";
import { definedScopes, resourceVisible } from "./resources.js";
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
  validateSigningAlg,
  validateTokens,
  validateWebOrigins,
} from "./validation.js";

/** A client's settings as an administrator gives them. */
export interface ClientInput extends LifetimeOverrides {
  applicationId: string;
  displayName?: string | undefined;
  redirectUris?: string[] | undefined;
  postLogoutRedirectUris?: string[] | undefined;
  /** Empty means every grant type. */
  grantTypes?: string[] | undefined;
  scopes?: string[] | undefined;
  webOrigins?: string[] | undefined;
  resourceIds?: string[] | undefined;
  /** Seconds; unset means 0. */
  reuseLeeway?: number | undefined;
  /** Empty or unset means client_secret_basic; fixed at creation. */
  tokenEndpointAuthMethod?: string | undefined;
  /** `ES256`, `EdDSA` or `RS256`; empty or unset means TESSERA_SIGNING_ALG. */
  idTokenSignedResponseAlg?: string | undefined;
}

export interface ClientWithSecret {
  client: Client;
  /** Shown once; only its keyed hash is stored. Empty for a public client. */
  clientSecret: string;
}

/** The grants a public client may use (CONTRACT §7): it cannot prove who it is, so no client_credentials. */
const PUBLIC_GRANTS: GrantType[] = ["authorization_code", "refresh_token"];

function authMethodOf(input: ClientInput): TokenEndpointAuthMethod {
  const method = input.tokenEndpointAuthMethod ?? "";
  if (method === "") return "client_secret_basic";
  if (!(TOKEN_ENDPOINT_AUTH_METHODS as readonly string[]).includes(method)) {
    throw invalidRequest(`client.token_endpoint_auth_method "${truncate(method)}" must be one of ${TOKEN_ENDPOINT_AUTH_METHODS.join(", ")}`);
  }
  return method as TokenEndpointAuthMethod;
}

/** A public client's grant types: every grant (empty) means the two it may use; client_credentials is refused. */
function grantTypesFor(method: TokenEndpointAuthMethod, grantTypes: GrantType[]): GrantType[] {
  if (method !== "none") return grantTypes;
  if (grantTypes.length === 0) return [...PUBLIC_GRANTS];
  if (grantTypes.includes("client_credentials")) {
    throw invalidRequest('client.grant_types: a public client (token_endpoint_auth_method "none") may not use client_credentials');
  }
  return grantTypes;
}

/**
 * Every scope of a client must be defined by one of its resources or the tenant's default resource,
 * or be an OpenID scope; names the first one that is not.
 */
async function checkScopesDefined(tx: Repositories, tenantId: string, scopes: readonly string[], resourceIds: readonly string[]): Promise<void> {
  const defined = await definedScopes(tx, tenantId, resourceIds);
  const stray = scopes.find((s) => !defined.has(s));
  if (stray !== undefined) {
    throw invalidRequest(`client.scopes: scope "${truncate(stray)}" is not defined by the client's resources or the default resource`);
  }
}

/** Mask path → settings key. */
const CLIENT_FIELDS: [string, keyof ClientSettings][] = [
  ["display_name", "displayName"],
  ["redirect_uris", "redirectUris"],
  ["post_logout_redirect_uris", "postLogoutRedirectUris"],
  ["grant_types", "grantTypes"],
  ["scopes", "scopes"],
  ["web_origins", "webOrigins"],
  ["resource_ids", "resourceIds"],
  ["access_token_ttl", "accessTokenTtl"],
  ["refresh_token_ttl", "refreshTokenTtl"],
  ["max_rotation", "maxRotation"],
  ["reuse_leeway", "reuseLeeway"],
  ["id_token_signed_response_alg", "idTokenSignedResponseAlg"],
];
export const CLIENT_UPDATABLE = CLIENT_FIELDS.map(([path]) => path);

type ClientSettings = Pick<
  Client,
  "displayName" | "redirectUris" | "postLogoutRedirectUris" | "grantTypes" | "scopes" | "webOrigins" | "resourceIds" | "accessTokenTtl" | "refreshTokenTtl" | "maxRotation" | "reuseLeeway"
> & { idTokenSignedResponseAlg: string | undefined };

/** The settings a client input describes, unset lists and names being empty. */
function settingsOf(input: ClientInput): ClientSettings {
  return {
    displayName: input.displayName ?? "",
    redirectUris: input.redirectUris ?? [],
    postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
    grantTypes: (input.grantTypes ?? []) as GrantType[],
    scopes: input.scopes ?? [],
    webOrigins: input.webOrigins ?? [],
    resourceIds: input.resourceIds ?? [],
    accessTokenTtl: input.accessTokenTtl,
    refreshTokenTtl: input.refreshTokenTtl,
    maxRotation: input.maxRotation,
    reuseLeeway: input.reuseLeeway ?? 0,
    idTokenSignedResponseAlg: input.idTokenSignedResponseAlg,
  };
}

function validateSettings(s: ClientSettings): ClientSettings & Pick<Client, "idTokenSignedResponseAlg"> {
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
    idTokenSignedResponseAlg: validateSigningAlg(s.idTokenSignedResponseAlg, "client.id_token_signed_response_alg"),
  };
}

/**
 * Assigned resources must exist in the tenant and not be the default one (always implicit). A
 * non-management caller may only assign resources it can already see (assigned to its clients),
 * so it cannot grant itself a tenant's other APIs; unknown and unseen ids read the same.
 */
async function checkResourceIds(tx: Repositories, caller: Caller, ids: readonly string[], current: readonly string[]): Promise<void> {
  for (const id of ids) {
    const resource = await tx.resources.get(caller.tenantId, id);
    const assignable = resource !== undefined && (current.includes(id) || (await resourceVisible(tx, caller, resource)));
    if (!assignable) throw notFound(`client.resource_ids: resource "${truncate(id)}" not found`);
    if (resource.isDefault) throw invalidRequest(`client.resource_ids: "${truncate(id)}" is the default resource, which every client has implicitly`);
  }
}

export async function createClient(core: Core, caller: Caller, input: ClientInput): Promise<ClientWithSecret> {
  if (input.applicationId === "") throw invalidRequest("client.application_id is required");
  const method = authMethodOf(input);
  const validated = validateSettings(settingsOf(input));
  const settings = Object.assign({}, validated, { grantTypes: grantTypesFor(method, validated.grantTypes) });
  const clientSecret = method === "none" ? "" : newSecret();
  const now = core.now();
  const client: Client = {
    ...settings,
    id: newClientId(),
    tenantId: caller.tenantId,
    applicationId: input.applicationId,
    tokenEndpointAuthMethod: method,
    idTokenSignedResponseAlg: settings.idTokenSignedResponseAlg,
    secretHash: method === "none" ? undefined : core.secrets.hash("client-secret", clientSecret),
    previousSecretHash: undefined,
    previousSecretExpireTime: undefined,
    createTime: now,
    updateTime: now,
  };
  const created = await core.storage.transaction(async (tx) => {
    await ownApplication(tx, caller, input.applicationId);
    await checkResourceIds(tx, caller, client.resourceIds, []);
    await checkScopesDefined(tx, caller.tenantId, client.scopes, client.resourceIds);
    await tx.clients.insert(client);
    return (await tx.clients.get(caller.tenantId, client.id))!;
  });
  core.invalidateCaches();
  if (client.idTokenSignedResponseAlg !== undefined) await core.keys.ensure(client.idTokenSignedResponseAlg);
  return { client: created, clientSecret };
}

/** A client of an application the caller may act on; anything else is not found. */
async function ownClient(repos: Repositories, caller: Caller, id: string): Promise<Client> {
  const client = await repos.clients.get(caller.tenantId, id);
  if (client === undefined || !ownsApplication(caller, client.applicationId)) throw notFound(`client "${truncate(id)}" not found`);
  return client;
}

export function getClient(core: Core, caller: Caller, id: string): Promise<Client> {
  return ownClient(core.storage, caller, id);
}

export function listClients(core: Core, caller: Caller, req: PageRequest & { applicationId?: string | undefined }): Promise<Page<Client>> {
  const applicationId = applicationFilter(caller, req.applicationId);
  return listPage(core, caller, `ListClients\n${applicationId ?? ""}`, req, (after, limit) =>
    core.storage.clients.page(caller.tenantId, after, limit, applicationId),
  );
}

/** Updates the fields the mask names (all updatable ones when empty); the application and authentication method are fixed. */
export async function updateClient(core: Core, caller: Caller, id: string, input: ClientInput, mask: readonly string[]): Promise<Client> {
  const paths = maskPaths(mask, [...CLIENT_UPDATABLE, "application_id", "token_endpoint_auth_method"]);
  const updated = await core.storage.transaction(async (tx) => {
    const current = await ownClient(tx, caller, id);
    const appGiven = mask.length === 0 ? input.applicationId !== "" : paths.has("application_id");
    if (appGiven && input.applicationId !== current.applicationId) throw invalidRequest("client.application_id cannot be changed");
    const methodGiven = mask.length === 0 ? (input.tokenEndpointAuthMethod ?? "") !== "" : paths.has("token_endpoint_auth_method");
    if (methodGiven && authMethodOf(input) !== current.tokenEndpointAuthMethod) {
      throw invalidRequest("client.token_endpoint_auth_method cannot be changed; create a new client instead");
    }
    const given = settingsOf(input);
    const next: ClientSettings = Object.assign({}, current);
    for (const [path, key] of CLIENT_FIELDS) if (paths.has(path)) Object.assign(next, { [key]: given[key] });
    const validated = validateSettings(next);
    const settings = Object.assign({}, validated, { grantTypes: grantTypesFor(current.tokenEndpointAuthMethod, validated.grantTypes) });
    await checkResourceIds(tx, caller, settings.resourceIds, current.resourceIds);
    // Unassigning a resource while keeping its scopes is refused here, naming the scope.
    if (paths.has("scopes") || paths.has("resource_ids")) await checkScopesDefined(tx, caller.tenantId, settings.scopes, settings.resourceIds);
    await tx.clients.update(Object.assign({}, current, settings, { updateTime: core.now() }));
    return (await tx.clients.get(caller.tenantId, id))!;
  });
  core.invalidateCaches();
  if (updated.idTokenSignedResponseAlg !== undefined) await core.keys.ensure(updated.idTokenSignedResponseAlg);
  return updated;
}

/** Deletes a client; its refresh token families go with it (cascade). */
export async function deleteClient(core: Core, caller: Caller, id: string): Promise<void> {
  await core.storage.transaction(async (tx) => {
    await ownClient(tx, caller, id);
    await tx.clients.delete(caller.tenantId, id);
  });
  core.invalidateCaches();
}

/**
 * Replaces the client's secret. The old one stops working at once, or after `graceSeconds`
 * (at most 24 h) during which both work. A second rotation drops any earlier previous secret.
 */
export async function rotateClientSecret(core: Core, caller: Caller, id: string, graceSeconds: number): Promise<ClientWithSecret> {
  validateSeconds(graceSeconds, "grace_period", 0, MAX_GRACE_PERIOD);
  const clientSecret = newSecret();
  const secretHash = core.secrets.hash("client-secret", clientSecret);
  const client = await core.storage.transaction(async (tx) => {
    const current = await ownClient(tx, caller, id);
    if (current.tokenEndpointAuthMethod === "none") {
      throw failedPrecondition('client is public (token_endpoint_auth_method "none") and has no secret to rotate');
    }
    const now = core.now();
    const previous = graceSeconds > 0 && current.secretHash !== undefined ? { hash: current.secretHash, expireTime: now + graceSeconds } : undefined;
    await tx.clients.setSecret(id, secretHash, previous, now);
    return (await tx.clients.get(caller.tenantId, id))!;
  });
  core.invalidateCaches();
  return { client, clientSecret };
}
