import type * as ports from "../../domain/ports.js";
import type { PageCursor } from "../../domain/records.js";
import type { Client, GrantType, SigningAlg, TokenEndpointAuthMethod } from "../../domain/types.js";
import { stmt, type Exec } from "./exec.js";
import { after, json, nullable, optionalNumber, sortedList } from "./rows.js";

interface ClientRow {
  id: string;
  tenant_id: string;
  application_id: string;
  display_name: string;
  secret_hash: Buffer | null;
  previous_secret_hash: Buffer | null;
  previous_secret_expire_time: number | null;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  scopes: string[];
  web_origins: string[];
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  max_rotation: number | null;
  reuse_leeway: number;
  token_endpoint_auth_method: string;
  id_token_signed_response_alg: string | null;
  create_time: number;
  update_time: number;
  resource_ids: string[] | null;
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
  redirectUris: r.redirect_uris,
  postLogoutRedirectUris: r.post_logout_redirect_uris,
  grantTypes: r.grant_types as GrantType[],
  scopes: r.scopes,
  webOrigins: r.web_origins,
  resourceIds: sortedList(r.resource_ids),
  accessTokenTtl: optionalNumber(r.access_token_ttl),
  refreshTokenTtl: optionalNumber(r.refresh_token_ttl),
  maxRotation: optionalNumber(r.max_rotation),
  reuseLeeway: r.reuse_leeway,
  createTime: r.create_time,
  updateTime: r.update_time,
});

const SELECT = `SELECT c.*, (SELECT array_agg(resource_id) FROM client_resources WHERE client_id = c.id) AS resource_ids FROM clients c`;

const INSERT = stmt(
  `INSERT INTO clients (id, tenant_id, application_id, display_name, secret_hash, redirect_uris, post_logout_redirect_uris,
     grant_types, scopes, web_origins, access_token_ttl, refresh_token_ttl, max_rotation, reuse_leeway, token_endpoint_auth_method,
     id_token_signed_response_alg, create_time, update_time)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
);
const UPDATE = stmt(
  `UPDATE clients SET display_name = $3, redirect_uris = $4, post_logout_redirect_uris = $5, grant_types = $6, scopes = $7,
     web_origins = $8, access_token_ttl = $9, refresh_token_ttl = $10, max_rotation = $11, reuse_leeway = $12,
     id_token_signed_response_alg = $13, update_time = $14
   WHERE tenant_id = $1 AND id = $2`,
);
const SET_SECRET = stmt(
  "UPDATE clients SET secret_hash = $2, previous_secret_hash = $3, previous_secret_expire_time = $4, update_time = $5 WHERE id = $1",
);
const DELETE = stmt("DELETE FROM clients WHERE tenant_id = $1 AND id = $2");
const GET = stmt(`${SELECT} WHERE c.tenant_id = $1 AND c.id = $2`);
const GET_ANY_TENANT = stmt(`${SELECT} WHERE c.id = $1`);
const PAGE = stmt(`${SELECT} WHERE c.tenant_id = $1 AND ${after("c.", 2)}`);
const PAGE_FOR_APPLICATION = stmt(`${SELECT} WHERE c.tenant_id = $1 AND c.application_id = $5 AND ${after("c.", 2)}`);
// One statement replaces the assignments: delete those not listed, add the missing ones.
const SET_RESOURCES = stmt(
  `WITH removed AS (DELETE FROM client_resources WHERE client_id = $1 AND NOT (resource_id = ANY($2::text[])))
   INSERT INTO client_resources (client_id, resource_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
);
const WEB_ORIGINS = stmt(
  "SELECT DISTINCT o FROM clients, jsonb_array_elements_text(web_origins) AS o WHERE web_origins <> '[]'::jsonb",
);

export class ClientRepository implements ports.ClientRepository {
  constructor(private readonly db: Exec) {}

  async allWebOrigins(): Promise<string[]> {
    return (await this.db.query<{ o: string }>(WEB_ORIGINS)).rows.map((r) => r.o);
  }

  insert(c: Client): Promise<void> {
    return this.db.atomic(async (db) => {
      await db.query(INSERT, [
        c.id, c.tenantId, c.applicationId, c.displayName, nullable(c.secretHash), json(c.redirectUris), json(c.postLogoutRedirectUris),
        json(c.grantTypes), json(c.scopes), json(c.webOrigins), nullable(c.accessTokenTtl), nullable(c.refreshTokenTtl),
        nullable(c.maxRotation), c.reuseLeeway, c.tokenEndpointAuthMethod, nullable(c.idTokenSignedResponseAlg), c.createTime, c.updateTime,
      ]);
      await db.query(SET_RESOURCES, [c.id, [...new Set(c.resourceIds)]]);
    });
  }
  update(c: Client): Promise<boolean> {
    return this.db.atomic(async (db) => {
      const r = await db.query(UPDATE, [
        c.tenantId, c.id, c.displayName, json(c.redirectUris), json(c.postLogoutRedirectUris), json(c.grantTypes), json(c.scopes),
        json(c.webOrigins), nullable(c.accessTokenTtl), nullable(c.refreshTokenTtl), nullable(c.maxRotation), c.reuseLeeway,
        nullable(c.idTokenSignedResponseAlg), c.updateTime,
      ]);
      if (r.rowCount !== 1) return false;
      await db.query(SET_RESOURCES, [c.id, [...new Set(c.resourceIds)]]);
      return true;
    });
  }
  async setSecret(id: string, secretHash: Buffer, previous: { hash: Buffer; expireTime: number } | undefined, now: number): Promise<void> {
    await this.db.query(SET_SECRET, [id, secretHash, previous?.hash ?? null, previous?.expireTime ?? null, now]);
  }
  async delete(tenantId: string, id: string): Promise<boolean> {
    return (await this.db.query(DELETE, [tenantId, id])).rowCount === 1;
  }
  async get(tenantId: string, id: string): Promise<Client | undefined> {
    const r = await this.db.query<ClientRow>(GET, [tenantId, id]);
    return r.rows[0] && toClient(r.rows[0]);
  }
  async findById(id: string): Promise<Client | undefined> {
    const r = await this.db.query<ClientRow>(GET_ANY_TENANT, [id]);
    return r.rows[0] && toClient(r.rows[0]);
  }
  async page(tenantId: string, cursor: PageCursor | undefined, limit: number, applicationId?: string): Promise<Client[]> {
    const c = cursor ?? { createTime: -1, id: "" };
    const r =
      applicationId === undefined
        ? await this.db.query<ClientRow>(PAGE, [tenantId, c.createTime, c.id, limit])
        : await this.db.query<ClientRow>(PAGE_FOR_APPLICATION, [tenantId, c.createTime, c.id, limit, applicationId]);
    return r.rows.map(toClient);
  }
}
