import type * as ports from "../../domain/ports.js";
import type { Tenant } from "../../domain/types.js";
import { stmt, type Exec } from "./exec.js";

interface TenantRow {
  id: string;
  name: string;
  create_time: number;
}

const toTenant = (r: TenantRow): Tenant => ({ id: r.id, name: r.name, createTime: r.create_time });

const INSERT = stmt("INSERT INTO tenants (id, name, create_time) VALUES ($1, $2, $3)");
const GET = stmt("SELECT * FROM tenants WHERE id = $1");
const LIST = stmt("SELECT * FROM tenants ORDER BY create_time, id");

export class TenantRepository implements ports.TenantRepository {
  constructor(private readonly db: Exec) {}

  async insert(t: Tenant): Promise<void> {
    await this.db.query(INSERT, [t.id, t.name, t.createTime]);
  }
  async get(id: string): Promise<Tenant | undefined> {
    const r = await this.db.query<TenantRow>(GET, [id]);
    return r.rows[0] && toTenant(r.rows[0]);
  }
  async list(): Promise<Tenant[]> {
    return (await this.db.query<TenantRow>(LIST)).rows.map(toTenant);
  }
}
