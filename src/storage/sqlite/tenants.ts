import type { Tenant } from "../../domain/types.js";
import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";

interface TenantRow {
  id: string;
  name: string;
  create_time: number;
}

const toTenant = (r: TenantRow): Tenant => ({ id: r.id, name: r.name, createTime: r.create_time });

export class TenantRepository implements Sync<ports.TenantRepository> {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly listStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare<[string, string, number]>("INSERT INTO tenants (id, name, create_time) VALUES (?, ?, ?)");
    this.getStmt = db.prepare<[string], TenantRow>("SELECT * FROM tenants WHERE id = ?");
    this.listStmt = db.prepare<[], TenantRow>("SELECT * FROM tenants ORDER BY create_time, id");
  }

  insert(t: Tenant): void {
    this.insertStmt.run(t.id, t.name, t.createTime);
  }
  get(id: string): Tenant | undefined {
    const row = this.getStmt.get(id);
    return row && toTenant(row);
  }
  list(): Tenant[] {
    return this.listStmt.all().map(toTenant);
  }
}
