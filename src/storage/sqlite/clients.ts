import type { Client, GrantType, SigningAlg, TokenEndpointAuthMethod } from "../../domain/types.js";
import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";
import { json, nullable, optionalNumber, parseList, type PageCursor } from "./rows.js";

interface ClientRow {
  id: string;
  tenant_id: string;
  application_id: string;
  display_name: string;
  secret_hash: Buffer | null;
  previous_secret_hash: Buffer | null;
  previous_secret_expire_time: number | null;
  redirect_uris: string;
  post_logout_redirect_uris: string;
  grant_types: string;
  scopes: string;
  web_origins: string;
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  max_rotation: number | null;
  reuse_leeway: number;
  token_endpoint_auth_method: string;
  id_token_signed_response_alg: string | null;
  create_time: number;
  update_time: number;
  resource_ids: string | null;
}

const toClient = (r: ClientRow): Client => ({
  id: r.id,
  tenantId: r.tenant_id,
  applicationId: r.application_id,
  displayName: r.display_name,
  tokenEndpointAuthMethod: r.token_endpoint_auth_method as TokenEndpointAuthMethod,
  idTokenSignedResponseAlg: (r.id_token_signed_response_alg ?? undefined) as SigningAlg | undefined,
  secretHash: r.secret_hash ?? undefined,
  previousSecretHash: r.previous_secret_hash ?? undefined,
  previousSecretExpireTime: optionalNumber(r.previous_secret_expire_time),
  redirectUris: parseList(r.redirect_uris),
  postLogoutRedirectUris: parseList(r.post_logout_redirect_uris),
  grantTypes: parseList(r.grant_types) as GrantType[],
  scopes: parseList(r.scopes),
  webOrigins: parseList(r.web_origins),
  resourceIds: r.resource_ids === null ? [] : (JSON.parse(r.resource_ids) as string[]).sort(),
  accessTokenTtl: optionalNumber(r.access_token_ttl),
  refreshTokenTtl: optionalNumber(r.refresh_token_ttl),
  maxRotation: optionalNumber(r.max_rotation),
  reuseLeeway: r.reuse_leeway,
  createTime: r.create_time,
  updateTime: r.update_time,
});

const SELECT = `SELECT c.*, (SELECT json_group_array(resource_id) FROM client_resources WHERE client_id = c.id) AS resource_ids FROM clients c`;

export class ClientRepository implements Sync<ports.ClientRepository> {
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly setSecretStmt;
  private readonly deleteStmt;
  private readonly getStmt;
  private readonly getAnyTenantStmt;
  private readonly pageStmt;
  private readonly pageForApplicationStmt;
  private readonly clearResourcesStmt;
  private readonly addResourceStmt;
  private readonly webOriginsStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO clients (id, tenant_id, application_id, display_name, secret_hash, redirect_uris, post_logout_redirect_uris,
         grant_types, scopes, web_origins, access_token_ttl, refresh_token_ttl, max_rotation, reuse_leeway, token_endpoint_auth_method,
         id_token_signed_response_alg, create_time, update_time)
       VALUES (@id, @tenant_id, @application_id, @display_name, @secret_hash, @redirect_uris, @post_logout_redirect_uris,
         @grant_types, @scopes, @web_origins, @access_token_ttl, @refresh_token_ttl, @max_rotation, @reuse_leeway, @token_endpoint_auth_method,
         @id_token_signed_response_alg, @create_time, @update_time)`,
    );
    this.updateStmt = db.prepare(
      `UPDATE clients SET display_name = @display_name, redirect_uris = @redirect_uris, post_logout_redirect_uris = @post_logout_redirect_uris,
         grant_types = @grant_types, scopes = @scopes, web_origins = @web_origins, access_token_ttl = @access_token_ttl,
         refresh_token_ttl = @refresh_token_ttl, max_rotation = @max_rotation, reuse_leeway = @reuse_leeway,
         id_token_signed_response_alg = @id_token_signed_response_alg, update_time = @update_time
       WHERE id = @id AND tenant_id = @tenant_id`,
    );
    this.setSecretStmt = db.prepare(
      `UPDATE clients SET secret_hash = @secret_hash, previous_secret_hash = @previous_secret_hash,
         previous_secret_expire_time = @previous_secret_expire_time, update_time = @update_time WHERE id = @id`,
    );
    this.deleteStmt = db.prepare<[string, string]>("DELETE FROM clients WHERE tenant_id = ? AND id = ?");
    this.getStmt = db.prepare<[string, string], ClientRow>(`${SELECT} WHERE c.tenant_id = ? AND c.id = ?`);
    this.getAnyTenantStmt = db.prepare<[string], ClientRow>(`${SELECT} WHERE c.id = ?`);
    this.pageStmt = db.prepare<[string, number, number, string, number], ClientRow>(
      `${SELECT} WHERE c.tenant_id = ? AND (c.create_time > ? OR (c.create_time = ? AND c.id > ?)) ORDER BY c.create_time, c.id LIMIT ?`,
    );
    this.pageForApplicationStmt = db.prepare<[string, string, number, number, string, number], ClientRow>(
      `${SELECT} WHERE c.tenant_id = ? AND c.application_id = ? AND (c.create_time > ? OR (c.create_time = ? AND c.id > ?))
       ORDER BY c.create_time, c.id LIMIT ?`,
    );
    this.clearResourcesStmt = db.prepare<[string]>("DELETE FROM client_resources WHERE client_id = ?");
    this.addResourceStmt = db.prepare<[string, string]>("INSERT INTO client_resources (client_id, resource_id) VALUES (?, ?)");
    this.webOriginsStmt = db.prepare<[], string>("SELECT DISTINCT web_origins FROM clients WHERE web_origins <> '[]'").pluck();
  }

  /** Every web origin any client of any tenant lists (the CORS allow list). */
  allWebOrigins(): string[] {
    return [...new Set(this.webOriginsStmt.all().flatMap((list) => parseList(list)))];
  }

  private params(c: Client) {
    return {
      id: c.id,
      tenant_id: c.tenantId,
      application_id: c.applicationId,
      display_name: c.displayName,
      secret_hash: nullable(c.secretHash),
      redirect_uris: json(c.redirectUris),
      post_logout_redirect_uris: json(c.postLogoutRedirectUris),
      grant_types: json(c.grantTypes),
      scopes: json(c.scopes),
      web_origins: json(c.webOrigins),
      access_token_ttl: nullable(c.accessTokenTtl),
      refresh_token_ttl: nullable(c.refreshTokenTtl),
      max_rotation: nullable(c.maxRotation),
      reuse_leeway: c.reuseLeeway,
      token_endpoint_auth_method: c.tokenEndpointAuthMethod,
      id_token_signed_response_alg: nullable(c.idTokenSignedResponseAlg),
      create_time: c.createTime,
      update_time: c.updateTime,
    };
  }

  /** Inserts the client with its resource assignments; call inside a transaction. */
  insert(c: Client): void {
    this.insertStmt.run(this.params(c));
    this.setResources(c.id, c.resourceIds);
  }
  /** Updates settings and resource assignments (not the secret); call inside a transaction. */
  update(c: Client): boolean {
    const { application_id: _a, secret_hash: _s, create_time: _c, ...rest } = this.params(c);
    if (this.updateStmt.run(rest).changes !== 1) return false;
    this.setResources(c.id, c.resourceIds);
    return true;
  }
  setSecret(id: string, secretHash: Buffer, previous: { hash: Buffer; expireTime: number } | undefined, now: number): void {
    this.setSecretStmt.run({
      id,
      secret_hash: secretHash,
      previous_secret_hash: previous?.hash ?? null,
      previous_secret_expire_time: previous?.expireTime ?? null,
      update_time: now,
    });
  }
  private setResources(clientId: string, resourceIds: string[]): void {
    this.clearResourcesStmt.run(clientId);
    for (const r of new Set(resourceIds)) this.addResourceStmt.run(clientId, r);
  }
  delete(tenantId: string, id: string): boolean {
    return this.deleteStmt.run(tenantId, id).changes === 1;
  }
  get(tenantId: string, id: string): Client | undefined {
    const row = this.getStmt.get(tenantId, id);
    return row && toClient(row);
  }
  /** Looks a client up by client_id alone: client authentication does not know the tenant yet. */
  findById(id: string): Client | undefined {
    const row = this.getAnyTenantStmt.get(id);
    return row && toClient(row);
  }
  page(tenantId: string, after: PageCursor | undefined, limit: number, applicationId?: string): Client[] {
    const c = after ?? { createTime: -1, id: "" };
    const rows =
      applicationId === undefined
        ? this.pageStmt.all(tenantId, c.createTime, c.createTime, c.id, limit)
        : this.pageForApplicationStmt.all(tenantId, applicationId, c.createTime, c.createTime, c.id, limit);
    return rows.map(toClient);
  }
}
