import type * as ports from "../../domain/ports.js";
import type { PageCursor } from "../../domain/records.js";
import type { Application } from "../../domain/types.js";
import { stmt, type Exec } from "./exec.js";
import { after } from "./rows.js";

interface ApplicationRow {
  id: string;
  tenant_id: string;
  display_name: string;
  management: boolean;
  create_time: number;
  update_time: number;
}

const toApplication = (r: ApplicationRow): Application => ({
  id: r.id,
  tenantId: r.tenant_id,
  displayName: r.display_name,
  management: r.management,
  createTime: r.create_time,
  updateTime: r.update_time,
});

const INSERT = stmt(
  "INSERT INTO applications (id, tenant_id, display_name, management, create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6)",
);
const DELETE = stmt("DELETE FROM applications WHERE tenant_id = $1 AND id = $2");
const GET = stmt("SELECT * FROM applications WHERE tenant_id = $1 AND id = $2");
const PAGE = stmt(`SELECT * FROM applications WHERE tenant_id = $1 AND ${after("", 2)}`);
const MANAGEMENT = stmt("SELECT * FROM applications WHERE tenant_id = $1 AND management ORDER BY create_time, id LIMIT 1");

export class ApplicationRepository implements ports.ApplicationRepository {
  constructor(private readonly db: Exec) {}

  async insert(a: Application): Promise<void> {
    await this.db.query(INSERT, [a.id, a.tenantId, a.displayName, a.management, a.createTime, a.updateTime]);
  }
  async delete(tenantId: string, id: string): Promise<boolean> {
    return (await this.db.query(DELETE, [tenantId, id])).rowCount === 1;
  }
  async get(tenantId: string, id: string): Promise<Application | undefined> {
    const r = await this.db.query<ApplicationRow>(GET, [tenantId, id]);
    return r.rows[0] && toApplication(r.rows[0]);
  }
  async firstManagement(tenantId: string): Promise<Application | undefined> {
    const r = await this.db.query<ApplicationRow>(MANAGEMENT, [tenantId]);
    return r.rows[0] && toApplication(r.rows[0]);
  }
  async page(tenantId: string, cursor: PageCursor | undefined, limit: number): Promise<Application[]> {
    const c = cursor ?? { createTime: -1, id: "" };
    return (await this.db.query<ApplicationRow>(PAGE, [tenantId, c.createTime, c.id, limit])).rows.map(toApplication);
  }
}
