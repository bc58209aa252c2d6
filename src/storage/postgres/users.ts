import type * as ports from "../../domain/ports.js";
import type { PageCursor } from "../../domain/records.js";
import { usernameKey, type User } from "../../domain/types.js";
import { stmt, type Exec } from "./exec.js";
import { after, json, sortedList } from "./rows.js";

interface UserRow {
  id: string;
  tenant_id: string;
  username: string;
  username_key: string;
  email: string;
  password_hash: string | null;
  roles: string[];
  custom_claims: Record<string, unknown>;
  create_time: number;
  update_time: number;
  application_ids: string[] | null;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  tenantId: r.tenant_id,
  username: r.username,
  email: r.email,
  passwordHash: r.password_hash ?? undefined,
  roles: r.roles,
  customClaims: r.custom_claims,
  applicationIds: sortedList(r.application_ids),
  createTime: r.create_time,
  updateTime: r.update_time,
});

const SELECT = `SELECT u.*, (SELECT array_agg(application_id) FROM user_applications WHERE user_id = u.id) AS application_ids FROM users u`;

const INSERT = stmt(
  `INSERT INTO users (id, tenant_id, username, username_key, email, password_hash, roles, custom_claims, create_time, update_time)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
);
const UPDATE = stmt(
  `UPDATE users SET username = $3, username_key = $4, email = $5, roles = $6, custom_claims = $7, update_time = $8
   WHERE tenant_id = $1 AND id = $2`,
);
const SET_PASSWORD = stmt("UPDATE users SET password_hash = $3, update_time = $4 WHERE tenant_id = $1 AND id = $2");
const DELETE = stmt("DELETE FROM users WHERE tenant_id = $1 AND id = $2");
const GET = stmt(`${SELECT} WHERE u.tenant_id = $1 AND u.id = $2`);
const BY_USERNAME = stmt(`${SELECT} WHERE u.tenant_id = $1 AND u.username_key = $2`);
const PAGE = stmt(`${SELECT} WHERE u.tenant_id = $1 AND ${after("u.", 2)}`);
const PAGE_FOR_APPLICATION = stmt(
  `${SELECT} WHERE u.tenant_id = $1 AND u.id IN (SELECT user_id FROM user_applications WHERE application_id = $5) AND ${after("u.", 2)}`,
);
const MEMBER_ROLES = stmt(
  "SELECT u.roles FROM users u JOIN user_applications a ON a.user_id = u.id AND a.application_id = $3 WHERE u.tenant_id = $1 AND u.id = $2",
);
const SET_APPLICATIONS = stmt(
  `WITH removed AS (DELETE FROM user_applications WHERE user_id = $1 AND NOT (application_id = ANY($2::text[])))
   INSERT INTO user_applications (user_id, application_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
);

export class UserRepository implements ports.UserRepository {
  constructor(private readonly db: Exec) {}

  insert(u: User): Promise<void> {
    return this.db.atomic(async (db) => {
      await db.query(INSERT, [
        u.id, u.tenantId, u.username, usernameKey(u.username), u.email, u.passwordHash ?? null, json(u.roles), json(u.customClaims),
        u.createTime, u.updateTime,
      ]);
      await db.query(SET_APPLICATIONS, [u.id, [...new Set(u.applicationIds)]]);
    });
  }
  update(u: User): Promise<boolean> {
    return this.db.atomic(async (db) => {
      const r = await db.query(UPDATE, [
        u.tenantId, u.id, u.username, usernameKey(u.username), u.email, json(u.roles), json(u.customClaims), u.updateTime,
      ]);
      if (r.rowCount !== 1) return false;
      await db.query(SET_APPLICATIONS, [u.id, [...new Set(u.applicationIds)]]);
      return true;
    });
  }
  async setPassword(tenantId: string, id: string, passwordHash: string, now: number): Promise<boolean> {
    return (await this.db.query(SET_PASSWORD, [tenantId, id, passwordHash, now])).rowCount === 1;
  }
  async delete(tenantId: string, id: string): Promise<boolean> {
    return (await this.db.query(DELETE, [tenantId, id])).rowCount === 1;
  }
  async get(tenantId: string, id: string): Promise<User | undefined> {
    const r = await this.db.query<UserRow>(GET, [tenantId, id]);
    return r.rows[0] && toUser(r.rows[0]);
  }
  async memberRoles(tenantId: string, userId: string, applicationId: string): Promise<string[] | undefined> {
    return (await this.db.query<{ roles: string[] }>(MEMBER_ROLES, [tenantId, userId, applicationId])).rows[0]?.roles;
  }
  async findByUsername(tenantId: string, username: string): Promise<User | undefined> {
    const r = await this.db.query<UserRow>(BY_USERNAME, [tenantId, usernameKey(username)]);
    return r.rows[0] && toUser(r.rows[0]);
  }
  async page(tenantId: string, cursor: PageCursor | undefined, limit: number, applicationId?: string): Promise<User[]> {
    const c = cursor ?? { createTime: -1, id: "" };
    const r =
      applicationId === undefined
        ? await this.db.query<UserRow>(PAGE, [tenantId, c.createTime, c.id, limit])
        : await this.db.query<UserRow>(PAGE_FOR_APPLICATION, [tenantId, c.createTime, c.id, limit, applicationId]);
    return r.rows.map(toUser);
  }
}
