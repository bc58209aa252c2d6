import { newClientId, newId, newSecret } from "../../src/domain/ids.js";
import { clientDefaults, type Client, type LifetimeOverrides, type User } from "../../src/domain/types.js";
import { hashPassword } from "../../src/core/passwords.js";
import { insertTenant } from "../../src/core/tenants.js";
import type { App } from "../../src/server.js";

/**
 * Direct-to-store fixtures for tests that need objects before (or without) the admin API.
 * They bypass validation on purpose; admin tests go through the real RPCs.
 */
export function createTenant(app: App, name: string): string {
  const { core } = app;
  core.store.transaction(() => insertTenant(core.store, name, core.now()));
  return name;
}

export function createApplication(app: App, opts: { tenantId?: string; management?: boolean; displayName?: string } = {}): string {
  const { core } = app;
  const id = newId("app");
  const now = core.now();
  core.store.applications.insert({
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

export function createResource(app: App, uri: string, lifetimes: LifetimeOverrides & { scopes?: string[] } = {}, tenantId = "default"): string {
  const { core } = app;
  const id = newId("res");
  const now = core.now();
  core.store.resources.insert({ id, tenantId, uri, displayName: uri, isDefault: false, scopes: [], signingAlg: undefined, ...lifetimes, createTime: now, updateTime: now });
  core.invalidateCaches();
  return id;
}

export function createClient(
  app: App,
  applicationId: string,
  opts: Partial<Omit<Client, "id" | "applicationId" | "secretHash">> & { public?: boolean } = {},
): { clientId: string; clientSecret: string } {
  const { core } = app;
  const clientId = newClientId();
  const clientSecret = newSecret();
  const now = core.now();
  const tenantId = opts.tenantId ?? "default";
  core.store.transaction(() =>
    core.store.clients.insert({
      ...clientDefaults(now),
      tenantId,
      displayName: "Test client",
      ...opts,
      id: clientId,
      applicationId,
      secretHash: opts.public ? undefined : core.secrets.hash("client-secret", clientSecret),
    }),
  );
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
  core.store.transaction(() => core.store.users.insert(user));
  return { userId: user.id, username: user.username, password };
}
