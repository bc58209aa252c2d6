import type { Resource, SigningAlg } from "../../domain/types.js";
import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";
import { json, nullable, optionalNumber, parseList, type PageCursor } from "./rows.js";

interface ResourceRow {
  id: string;
  tenant_id: string;
  uri: string;
  display_name: string;
  is_default: number;
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  max_rotation: number | null;
  scopes: string;
  signing_alg: string | null;
  create_time: number;
  update_time: number;
}

const toResource = (r: ResourceRow): Resource => ({
  id: r.id,
  tenantId: r.tenant_id,
  uri: r.uri,
  displayName: r.display_name,
  isDefault: r.is_default === 1,
  accessTokenTtl: optionalNumber(r.access_token_ttl),
  refreshTokenTtl: optionalNumber(r.refresh_token_ttl),
  maxRotation: optionalNumber(r.max_rotation),
  scopes: parseList(r.scopes),
  signingAlg: (r.signing_alg ?? undefined) as SigningAlg | undefined,
  createTime: r.create_time,
  updateTime: r.update_time,
});

export class ResourceRepository implements Sync<ports.ResourceRepository> {
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly deleteStmt;
  private readonly getStmt;
  private readonly byUriStmt;
  private readonly defaultStmt;
  private readonly pageStmt;
  private readonly pageForApplicationStmt;
  private readonly clientsUsingStmt;
  private readonly assignedToApplicationStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO resources (id, tenant_id, uri, display_name, is_default, access_token_ttl, refresh_token_ttl, max_rotation, scopes, signing_alg,
         create_time, update_time)
       VALUES (@id, @tenant_id, @uri, @display_name, @is_default, @access_token_ttl, @refresh_token_ttl, @max_rotation, @scopes, @signing_alg,
         @create_time, @update_time)`,
    );
    this.updateStmt = db.prepare(
      `UPDATE resources SET display_name = @display_name, access_token_ttl = @access_token_ttl, refresh_token_ttl = @refresh_token_ttl,
       max_rotation = @max_rotation, scopes = @scopes, signing_alg = @signing_alg, update_time = @update_time
       WHERE id = @id AND tenant_id = @tenant_id`,
    );
    this.deleteStmt = db.prepare<[string, string]>("DELETE FROM resources WHERE tenant_id = ? AND id = ?");
    this.getStmt = db.prepare<[string, string], ResourceRow>("SELECT * FROM resources WHERE tenant_id = ? AND id = ?");
    this.byUriStmt = db.prepare<[string, string], ResourceRow>("SELECT * FROM resources WHERE tenant_id = ? AND uri = ?");
    this.defaultStmt = db.prepare<[string], ResourceRow>("SELECT * FROM resources WHERE tenant_id = ? AND is_default = 1");
    this.pageStmt = db.prepare<[string, number, number, string, number], ResourceRow>(
      `SELECT * FROM resources WHERE tenant_id = ? AND (create_time > ? OR (create_time = ? AND id > ?))
       ORDER BY create_time, id LIMIT ?`,
    );
    this.pageForApplicationStmt = db.prepare<[string, string, number, number, string, number], ResourceRow>(
      `SELECT * FROM resources r WHERE r.tenant_id = ? AND (r.is_default = 1 OR r.id IN (
         SELECT cr.resource_id FROM client_resources cr JOIN clients c ON c.id = cr.client_id WHERE c.application_id = ?))
       AND (r.create_time > ? OR (r.create_time = ? AND r.id > ?)) ORDER BY r.create_time, r.id LIMIT ?`,
    );
    this.assignedToApplicationStmt = db.prepare<[string, string], number>(
      "SELECT 1 FROM client_resources cr JOIN clients c ON c.id = cr.client_id WHERE cr.resource_id = ? AND c.application_id = ? LIMIT 1",
    ).pluck();
    this.clientsUsingStmt = db.prepare<[string], { client_id: string }>(
      "SELECT client_id FROM client_resources WHERE resource_id = ? ORDER BY client_id",
    );
  }

  private params(r: Resource) {
    return {
      id: r.id,
      tenant_id: r.tenantId,
      uri: r.uri,
      display_name: r.displayName,
      is_default: r.isDefault ? 1 : 0,
      access_token_ttl: nullable(r.accessTokenTtl),
      refresh_token_ttl: nullable(r.refreshTokenTtl),
      max_rotation: nullable(r.maxRotation),
      scopes: json(r.scopes),
      signing_alg: nullable(r.signingAlg),
      create_time: r.createTime,
      update_time: r.updateTime,
    };
  }

  insert(r: Resource): void {
    this.insertStmt.run(this.params(r));
  }
  update(r: Resource): boolean {
    const { uri: _uri, is_default: _d, create_time: _c, ...rest } = this.params(r);
    return this.updateStmt.run(rest).changes === 1;
  }
  delete(tenantId: string, id: string): boolean {
    return this.deleteStmt.run(tenantId, id).changes === 1;
  }
  get(tenantId: string, id: string): Resource | undefined {
    const row = this.getStmt.get(tenantId, id);
    return row && toResource(row);
  }
  findByUri(tenantId: string, uri: string): Resource | undefined {
    const row = this.byUriStmt.get(tenantId, uri);
    return row && toResource(row);
  }
  getDefault(tenantId: string): Resource | undefined {
    const row = this.defaultStmt.get(tenantId);
    return row && toResource(row);
  }
  /** A page of the tenant's resources; with an application, the default one and those assigned to its clients. */
  page(tenantId: string, after: PageCursor | undefined, limit: number, applicationId?: string): Resource[] {
    const c = after ?? { createTime: -1, id: "" };
    const rows =
      applicationId === undefined
        ? this.pageStmt.all(tenantId, c.createTime, c.createTime, c.id, limit)
        : this.pageForApplicationStmt.all(tenantId, applicationId, c.createTime, c.createTime, c.id, limit);
    return rows.map(toResource);
  }
  /** Whether any client of the application has the resource assigned. */
  assignedToApplication(resourceId: string, applicationId: string): boolean {
    return this.assignedToApplicationStmt.get(resourceId, applicationId) !== undefined;
  }
  clientsUsing(resourceId: string): string[] {
    return this.clientsUsingStmt.all(resourceId).map((r) => r.client_id);
  }
}
