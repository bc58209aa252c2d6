import { newClientId, newId, newSecret } from "../../src/domain/ids.js";
import { clientDefaults, type Client, type LifetimeOverrides, type User } from "../../src/domain/types.js";
import { hashPassword } from "../../src/core/passwords.js";
import { insertTenant } from "../../src/core/tenants.js";
import type { App } from "../../src/server.js";

/**
 * Direct-to-storage fixtures (through the ports) for tests that need objects before (or without) the admin API.
 * They bypass validation on purpose; admin tests go through the real RPCs.
 */
export async function createTenant(app: App, name: string): Promise<string> {
  const { core } = app;
  await core.storage.transaction((tx) => insertTenant(tx, name, core.now()));
  return name;
}

export async function createApplication(app: App, opts: { tenantId?: string; management?: boolean; displayName?: string } = {}): Promise<string> {
  const { core } = app;
  const id = newId("app");
  const now = core.now();
  await core.storage.applications.insert({
    id,
    tenantId: opts.tenantId ?? "default",
    displayName: opts.displayName ?? "Test app",
    management: opts.management ?? false,
    createTime: now,
    updateTime: now,
  });
  core.invalidateCaches();
  return id;
}

export async function createResource(app: App, uri: string, lifetimes: LifetimeOverrides & { scopes?: string[] } = {}, tenantId = "default"): Promise<string> {
  const { core } = app;
  const id = newId("res");
  const now = core.now();
  await core.storage.resources.insert({ id, tenantId, uri, displayName: uri, isDefault: false, scopes: [], signingAlg: undefined, ...lifetimes, createTime: now, updateTime: now });
  core.invalidateCaches();
  return id;
}

export async function createClient(
  app: App,
  applicationId: string,
  opts: Partial<Omit<Client, "id" | "applicationId" | "secretHash">> & { public?: boolean } = {},
): Promise<{ clientId: string; clientSecret: string }> {
  const { core } = app;
  const clientId = newClientId();
  const clientSecret = newSecret();
  const now = core.now();
  const tenantId = opts.tenantId ?? "default";
  await core.storage.clients.insert({
    ...clientDefaults(now),
    tenantId,
    displayName: "Test client",
    ...opts,
    id: clientId,
    applicationId,
    secretHash: opts.public ? undefined : core.secrets.hash("client-secret", clientSecret),
  });
  core.invalidateCaches();
  return { clientId, clientSecret };
}

export async function createUser(
  app: App,
  opts: Partial<Omit<User, "id" | "passwordHash">> & { password?: string } = {},
): Promise<{ userId: string; username: string; password: string }> {
  const { core } = app;
  const password = opts.password ?? "correct horse battery staple";
  const passwordHash = await hashPassword(password);
  const now = core.now();
  const user: User = {
    tenantId: "default",
    username: `user-${newId("u").slice(2, 10)}`,
    email: "",
    roles: [],
    customClaims: {},
    applicationIds: [],
    createTime: now,
    updateTime: now,
    ...opts,
    id: newId("usr"),
    passwordHash,
  };
  await core.storage.users.insert(user);
  return { userId: user.id, username: user.username, password };
}
