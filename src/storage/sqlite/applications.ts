import type { Application } from "../../domain/types.js";
import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";
import type { PageCursor } from "./rows.js";

interface ApplicationRow {
  id: string;
  tenant_id: string;
  display_name: string;
  management: number;
  create_time: number;
  update_time: number;
}

const toApplication = (r: ApplicationRow): Application => ({
  id: r.id,
  tenantId: r.tenant_id,
  displayName: r.display_name,
  management: r.management === 1,
  createTime: r.create_time,
  updateTime: r.update_time,
});

export class ApplicationRepository implements Sync<ports.ApplicationRepository> {
  private readonly insertStmt;
  private readonly deleteStmt;
  private readonly getStmt;
  private readonly pageStmt;
  private readonly managementStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO applications (id, tenant_id, display_name, management, create_time, update_time)
       VALUES (@id, @tenant_id, @display_name, @management, @create_time, @update_time)`,
    );
    this.deleteStmt = db.prepare<[string, string]>("DELETE FROM applications WHERE tenant_id = ? AND id = ?");
    this.getStmt = db.prepare<[string, string], ApplicationRow>("SELECT * FROM applications WHERE tenant_id = ? AND id = ?");
    this.pageStmt = db.prepare<[string, number, number, string, number], ApplicationRow>(
      `SELECT * FROM applications WHERE tenant_id = ? AND (create_time > ? OR (create_time = ? AND id > ?))
       ORDER BY create_time, id LIMIT ?`,
    );
    this.managementStmt = db.prepare<[string], ApplicationRow>(
      "SELECT * FROM applications WHERE tenant_id = ? AND management = 1 ORDER BY create_time, id LIMIT 1",
    );
  }

  insert(a: Application): void {
    this.insertStmt.run({
      id: a.id,
      tenant_id: a.tenantId,
      display_name: a.displayName,
      management: a.management ? 1 : 0,
      create_time: a.createTime,
      update_time: a.updateTime,
    });
  }
  delete(tenantId: string, id: string): boolean {
    return this.deleteStmt.run(tenantId, id).changes === 1;
  }
  get(tenantId: string, id: string): Application | undefined {
    const row = this.getStmt.get(tenantId, id);
    return row && toApplication(row);
  }
  firstManagement(tenantId: string): Application | undefined {
    const row = this.managementStmt.get(tenantId);
    return row && toApplication(row);
  }
  page(tenantId: string, after: PageCursor | undefined, limit: number): Application[] {
    const c = after ?? { createTime: -1, id: "" };
    return this.pageStmt.all(tenantId, c.createTime, c.createTime, c.id, limit).map(toApplication);
  }
}
