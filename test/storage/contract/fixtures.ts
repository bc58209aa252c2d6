import { randomBytes } from "node:crypto";
import type { Repositories } from "../../../src/domain/ports.js";
import type { RefreshFamily } from "../../../src/domain/records.js";
import { clientDefaults, type Application, type Client, type Resource, type Session, type User } from "../../../src/domain/types.js";

export const NOW = 1_800_000_000;
export const hash = (): Buffer => randomBytes(32);

let counter = 0;
/** Ids that sort in creation order within a test. */
export const id = (prefix: string): string => `${prefix}_${String(++counter).padStart(6, "0")}_${randomBytes(3).toString("hex")}`;

export const tenant = (name: string) => ({ id: name, name, createTime: NOW });

export function resource(tenantId: string, over: Partial<Resource> = {}): Resource {
  return {
    id: id("res"),
    tenantId,
    uri: `https://api.example/${randomBytes(4).toString("hex")}`,
    displayName: "API",
    isDefault: false,
    accessTokenTtl: undefined,
    refreshTokenTtl: undefined,
    maxRotation: undefined,
    scopes: [],
    signingAlg: undefined,
    createTime: NOW,
    updateTime: NOW,
    ...over,
  };
}

export function application(tenantId: string, over: Partial<Application> = {}): Application {
  return { id: id("app"), tenantId, displayName: "App", management: false, createTime: NOW, updateTime: NOW, ...over };
}

export function client(tenantId: string, applicationId: string, over: Partial<Client> = {}): Client {
  return { ...clientDefaults(NOW), id: id("cli"), tenantId, applicationId, displayName: "Client", secretHash: hash(), ...over };
}

export function user(tenantId: string, over: Partial<User> = {}): User {
  return {
    id: id("usr"),
    tenantId,
    username: `user-${randomBytes(4).toString("hex")}`,
    email: "",
    passwordHash: undefined,
    roles: [],
    customClaims: {},
    applicationIds: [],
    createTime: NOW,
    updateTime: NOW,
    ...over,
  };
}

export function session(tenantId: string, userId: string, over: Partial<Session> = {}): Session {
  return {
    id: id("ses"),
    tenantId,
    userId,
    applicationId: undefined,
    amr: ["pwd"],
    createTime: NOW,
    authTime: NOW,
    expireTime: NOW + 3600,
    revokeTime: undefined,
    ...over,
  };
}

export interface World {
  tenantId: string;
  app: Application;
  client: Client;
  user: User;
}

/** A tenant with an application, a client and a member user: what refresh families and sessions refer to. */
export async function world(db: Repositories, tenantId = `t-${randomBytes(3).toString("hex")}`): Promise<World> {
  await db.tenants.insert(tenant(tenantId));
  const app = application(tenantId);
  await db.applications.insert(app);
  const c = client(tenantId, app.id);
  await db.clients.insert(c);
  const u = user(tenantId, { applicationIds: [app.id] });
  await db.users.insert(u);
  return { tenantId, app, client: c, user: u };
}

export function family(w: World, over: Partial<RefreshFamily> = {}): RefreshFamily {
  return {
    id: id("fam"),
    tenantId: w.tenantId,
    applicationId: w.app.id,
    clientId: w.client.id,
    userId: w.user.id,
    sessionId: undefined,
    resourceId: undefined,
    scope: "openid",
    claims: { roles: ["a"], custom: { nested: [1, "two"] } },
    authTime: NOW,
    createTime: NOW,
    maxExpireTime: NOW + 86400,
    revokeTime: undefined,
    revokeReason: undefined,
    ...over,
  };
}
