import type * as ports from "../../domain/ports.js";
import { usernameKey, type User } from "../../domain/types.js";
import type { Sync } from "./sync.js";
import type { Db } from "./database.js";
import { json, parseList, type PageCursor } from "./rows.js";

interface UserRow {
  id: string;
  tenant_id: string;
  username: string;
  username_key: string;
  email: string;
  password_hash: string | null;
  roles: string;
  custom_claims: string;
  create_time: number;
  update_time: number;
  application_ids: string;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  tenantId: r.tenant_id,
  username: r.username,
  email: r.email,
  passwordHash: r.password_hash ?? undefined,
  roles: parseList(r.roles),
  customClaims: JSON.parse(r.custom_claims) as Record<string, unknown>,
  applicationIds: (JSON.parse(r.application_ids) as string[]).sort(),
  createTime: r.create_time,
  updateTime: r.update_time,
});

const SELECT = `SELECT u.*, (SELECT json_group_array(application_id) FROM user_applications WHERE user_id = u.id) AS application_ids FROM users u`;

export class UserRepository implements Sync<ports.UserRepository> {
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly setPasswordStmt;
  private readonly deleteStmt;
  private readonly getStmt;
  private readonly byUsernameStmt;
  private readonly pageStmt;
  private readonly pageForApplicationStmt;
  private readonly memberRolesStmt;
  private readonly clearAppsStmt;
  private readonly addAppStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO users (id, tenant_id, username, username_key, email, password_hash, roles, custom_claims, create_time, update_time)
       VALUES (@id, @tenant_id, @username, @username_key, @email, @password_hash, @roles, @custom_claims, @create_time, @update_time)`,
    );
    this.updateStmt = db.prepare(
      `UPDATE users SET username = @username, username_key = @username_key, email = @email, roles = @roles,
         custom_claims = @custom_claims, update_time = @update_time WHERE id = @id AND tenant_id = @tenant_id`,
    );
    this.setPasswordStmt = db.prepare<[string, number, string, string]>(
      "UPDATE users SET password_hash = ?, update_time = ? WHERE tenant_id = ? AND id = ?",
    );
    this.deleteStmt = db.prepare<[string, string]>("DELETE FROM users WHERE tenant_id = ? AND id = ?");
    this.getStmt = db.prepare<[string, string], UserRow>(`${SELECT} WHERE u.tenant_id = ? AND u.id = ?`);
    this.byUsernameStmt = db.prepare<[string, string], UserRow>(`${SELECT} WHERE u.tenant_id = ? AND u.username_key = ?`);
    this.pageStmt = db.prepare<[string, number, number, string, number], UserRow>(
      `${SELECT} WHERE u.tenant_id = ? AND (u.create_time > ? OR (u.create_time = ? AND u.id > ?)) ORDER BY u.create_time, u.id LIMIT ?`,
    );
    this.pageForApplicationStmt = db.prepare<[string, string, number, number, string, number], UserRow>(
      `${SELECT} WHERE u.tenant_id = ? AND u.id IN (SELECT user_id FROM user_applications WHERE application_id = ?)
       AND (u.create_time > ? OR (u.create_time = ? AND u.id > ?)) ORDER BY u.create_time, u.id LIMIT ?`,
    );
    this.memberRolesStmt = db.prepare<[string, string, string], { roles: string }>(
      `SELECT u.roles FROM users u JOIN user_applications a ON a.user_id = u.id AND a.application_id = ?
       WHERE u.tenant_id = ? AND u.id = ?`,
    );
    this.clearAppsStmt = db.prepare<[string]>("DELETE FROM user_applications WHERE user_id = ?");
    this.addAppStmt = db.prepare<[string, string]>("INSERT INTO user_applications (user_id, application_id) VALUES (?, ?)");
  }

  private params(u: User) {
    return {
      id: u.id,
      tenant_id: u.tenantId,
      username: u.username,
      username_key: usernameKey(u.username),
      email: u.email,
      password_hash: u.passwordHash ?? null,
      roles: json(u.roles),
      custom_claims: json(u.customClaims),
      create_time: u.createTime,
      update_time: u.updateTime,
    };
  }

  /** Inserts the user with its application memberships; call inside a transaction. */
  insert(u: User): void {
    this.insertStmt.run(this.params(u));
    this.setApplications(u.id, u.applicationIds);
  }
  /** Updates profile fields and memberships (not the password); call inside a transaction. */
  update(u: User): boolean {
    const { password_hash: _p, create_time: _c, ...rest } = this.params(u);
    if (this.updateStmt.run(rest).changes !== 1) return false;
    this.setApplications(u.id, u.applicationIds);
    return true;
  }
  setPassword(tenantId: string, id: string, passwordHash: string, now: number): boolean {
    return this.setPasswordStmt.run(passwordHash, now, tenantId, id).changes === 1;
  }
  private setApplications(userId: string, applicationIds: string[]): void {
    this.clearAppsStmt.run(userId);
    for (const a of new Set(applicationIds)) this.addAppStmt.run(userId, a);
  }
  delete(tenantId: string, id: string): boolean {
    return this.deleteStmt.run(tenantId, id).changes === 1;
  }
  get(tenantId: string, id: string): User | undefined {
    const row = this.getStmt.get(tenantId, id);
    return row && toUser(row);
  }
  /** The user's current roles if the user exists and belongs to the application, else undefined. */
  memberRoles(tenantId: string, userId: string, applicationId: string): string[] | undefined {
    const row = this.memberRolesStmt.get(applicationId, tenantId, userId);
    return row && parseList(row.roles);
  }
  findByUsername(tenantId: string, username: string): User | undefined {
    const row = this.byUsernameStmt.get(tenantId, usernameKey(username));
    return row && toUser(row);
  }
  page(tenantId: string, after: PageCursor | undefined, limit: number, applicationId?: string): User[] {
    const c = after ?? { createTime: -1, id: "" };
    const rows =
      applicationId === undefined
        ? this.pageStmt.all(tenantId, c.createTime, c.createTime, c.id, limit)
        : this.pageForApplicationStmt.all(tenantId, applicationId, c.createTime, c.createTime, c.id, limit);
    return rows.map(toUser);
  }
}
