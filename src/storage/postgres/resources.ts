import type * as ports from "../../domain/ports.js";
import type { PageCursor } from "../../domain/records.js";
import type { Resource, SigningAlg } from "../../domain/types.js";
import { stmt, type Exec } from "./exec.js";
import { after, json, nullable, optionalNumber } from "./rows.js";

interface ResourceRow {
  id: string;
  tenant_id: string;
  uri: string;
  display_name: string;
  is_default: boolean;
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  max_rotation: number | null;
  scopes: string[];
  signing_alg: string | null;
  create_time: number;
  update_time: number;
}

const toResource = (r: ResourceRow): Resource => ({
  id: r.id,
  tenantId: r.tenant_id,
  uri: r.uri,
  displayName: r.display_name,
  isDefault: r.is_default,
  accessTokenTtl: optionalNumber(r.access_token_ttl),
  refreshTokenTtl: optionalNumber(r.refresh_token_ttl),
  maxRotation: optionalNumber(r.max_rotation),
  scopes: r.scopes,
  signingAlg: (r.signing_alg ?? undefined) as SigningAlg | undefined,
  createTime: r.create_time,
  updateTime: r.update_time,
});

const INSERT = stmt(
  `INSERT INTO resources (id, tenant_id, uri, display_name, is_default, access_token_ttl, refresh_token_ttl, max_rotation, scopes,
     signing_alg, create_time, update_time)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
);
const UPDATE = stmt(
  `UPDATE resources SET display_name = $3, access_token_ttl = $4, refresh_token_ttl = $5, max_rotation = $6, scopes = $7,
     signing_alg = $8, update_time = $9
   WHERE tenant_id = $1 AND id = $2`,
);
const DELETE = stmt("DELETE FROM resources WHERE tenant_id = $1 AND id = $2");
const GET = stmt("SELECT * FROM resources WHERE tenant_id = $1 AND id = $2");
const BY_URI = stmt("SELECT * FROM resources WHERE tenant_id = $1 AND uri = $2");
const DEFAULT = stmt("SELECT * FROM resources WHERE tenant_id = $1 AND is_default");
const PAGE = stmt(`SELECT * FROM resources r WHERE r.tenant_id = $1 AND ${after("r.", 2)}`);
const PAGE_FOR_APPLICATION = stmt(
  `SELECT * FROM resources r WHERE r.tenant_id = $1 AND (r.is_default OR r.id IN (
     SELECT cr.resource_id FROM client_resources cr JOIN clients c ON c.id = cr.client_id WHERE c.application_id = $5))
   AND ${after("r.", 2)}`,
);
const ASSIGNED = stmt(
  "SELECT 1 FROM client_resources cr JOIN clients c ON c.id = cr.client_id WHERE cr.resource_id = $1 AND c.application_id = $2 LIMIT 1",
);
const CLIENTS_USING = stmt("SELECT client_id FROM client_resources WHERE resource_id = $1");

export class ResourceRepository implements ports.ResourceRepository {
  constructor(private readonly db: Exec) {}

  async insert(r: Resource): Promise<void> {
    await this.db.query(INSERT, [
      r.id, r.tenantId, r.uri, r.displayName, r.isDefault, nullable(r.accessTokenTtl), nullable(r.refreshTokenTtl),
      nullable(r.maxRotation), json(r.scopes), nullable(r.signingAlg), r.createTime, r.updateTime,
    ]);
  }
  async update(r: Resource): Promise<boolean> {
    const res = await this.db.query(UPDATE, [
      r.tenantId, r.id, r.displayName, nullable(r.accessTokenTtl), nullable(r.refreshTokenTtl), nullable(r.maxRotation),
      json(r.scopes), nullable(r.signingAlg), r.updateTime,
    ]);
    return res.rowCount === 1;
  }
  async delete(tenantId: string, id: string): Promise<boolean> {
    return (await this.db.query(DELETE, [tenantId, id])).rowCount === 1;
  }
  async get(tenantId: string, id: string): Promise<Resource | undefined> {
    const r = await this.db.query<ResourceRow>(GET, [tenantId, id]);
    return r.rows[0] && toResource(r.rows[0]);
  }
  async findByUri(tenantId: string, uri: string): Promise<Resource | undefined> {
    const r = await this.db.query<ResourceRow>(BY_URI, [tenantId, uri]);
    return r.rows[0] && toResource(r.rows[0]);
  }
  async getDefault(tenantId: string): Promise<Resource | undefined> {
    const r = await this.db.query<ResourceRow>(DEFAULT, [tenantId]);
    return r.rows[0] && toResource(r.rows[0]);
  }
  async page(tenantId: string, cursor: PageCursor | undefined, limit: number, applicationId?: string): Promise<Resource[]> {
    const c = cursor ?? { createTime: -1, id: "" };
    const r =
      applicationId === undefined
        ? await this.db.query<ResourceRow>(PAGE, [tenantId, c.createTime, c.id, limit])
        : await this.db.query<ResourceRow>(PAGE_FOR_APPLICATION, [tenantId, c.createTime, c.id, limit, applicationId]);
    return r.rows.map(toResource);
  }
  async assignedToApplication(resourceId: string, applicationId: string): Promise<boolean> {
    return (await this.db.query(ASSIGNED, [resourceId, applicationId])).rowCount === 1;
  }
  async clientsUsing(resourceId: string): Promise<string[]> {
    return (await this.db.query<{ client_id: string }>(CLIENTS_USING, [resourceId])).rows.map((r) => r.client_id).sort();
  }
}
