import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageError } from "../../../src/domain/errors.js";
import type { Storage } from "../../../src/domain/ports.js";
import { BACKENDS, type OpenedStorage } from "./backends.js";
import { NOW, application, client, hash, resource, tenant, user, world } from "./fixtures.js";

const conflict = expect.objectContaining({ name: "StorageError", kind: "conflict" });

describe.each(BACKENDS)("directory repositories on $name", (backend) => {
  let opened: OpenedStorage;
  let s: Storage;
  beforeAll(async () => {
    opened = await backend.open();
    s = opened.storage;
  });
  afterAll(() => opened?.dispose());

  it("tenants: insert, get, list in creation order; a duplicate id or name is a conflict", async () => {
    await s.tenants.insert({ id: "tb", name: "tb", createTime: NOW + 1 });
    await s.tenants.insert({ id: "ta", name: "ta", createTime: NOW + 1 });
    await s.tenants.insert({ id: "tz", name: "tz", createTime: NOW });
    expect(await s.tenants.get("ta")).toEqual({ id: "ta", name: "ta", createTime: NOW + 1 });
    expect(await s.tenants.get("nope")).toBeUndefined();
    const ids = (await s.tenants.list()).map((t) => t.id).filter((x) => ["ta", "tb", "tz"].includes(x));
    expect(ids).toEqual(["tz", "ta", "tb"]);
    await expect(s.tenants.insert({ id: "ta", name: "other", createTime: NOW })).rejects.toEqual(conflict);
    await expect(s.tenants.insert({ id: "other", name: "ta", createTime: NOW })).rejects.toBeInstanceOf(StorageError);
  });

  it("resources: CRUD, lookups by uri and default, uri unique per tenant, invisible to other tenants", async () => {
    const w = await world(s);
    const other = await world(s);
    const def = resource(w.tenantId, { isDefault: true, uri: "userid-api" });
    const api = resource(w.tenantId, { uri: "https://api", accessTokenTtl: 60, scopes: ["read", "write"], signingAlg: "RS256" });
    await s.resources.insert(def);
    await s.resources.insert(api);
    expect(await s.resources.get(w.tenantId, api.id)).toEqual(api);
    expect(await s.resources.findByUri(w.tenantId, "https://api")).toEqual(api);
    expect(await s.resources.getDefault(w.tenantId)).toEqual(def);
    expect(await s.resources.get(other.tenantId, api.id)).toBeUndefined();
    expect(await s.resources.findByUri(other.tenantId, "https://api")).toBeUndefined();
    await expect(s.resources.insert(resource(w.tenantId, { uri: "https://api" }))).rejects.toEqual(conflict);
    await s.resources.insert(resource(other.tenantId, { uri: "https://api" }));

    const changed = { ...api, displayName: "Renamed", accessTokenTtl: undefined, maxRotation: 99, scopes: [], signingAlg: undefined, updateTime: NOW + 5 };
    expect(await s.resources.update({ ...changed, uri: "ignored", isDefault: true, createTime: 1 })).toBe(true);
    expect(await s.resources.get(w.tenantId, api.id)).toEqual(changed);
    expect(await s.resources.update({ ...changed, tenantId: other.tenantId })).toBe(false);
    expect(await s.resources.delete(other.tenantId, api.id)).toBe(false);
    expect(await s.resources.delete(w.tenantId, api.id)).toBe(true);
    expect(await s.resources.delete(w.tenantId, api.id)).toBe(false);
  });

  it("resources: pages in (createTime, id) order; per application only the default and assigned ones", async () => {
    const w = await world(s);
    const made = [];
    for (let i = 0; i < 5; i++) made.push(resource(w.tenantId, { isDefault: i === 0, createTime: NOW + (i % 2) }));
    for (const r of [...made].reverse()) await s.resources.insert(r);
    const expected = [...made].sort((a, b) => a.createTime - b.createTime || (a.id < b.id ? -1 : 1)).map((r) => r.id);
    const seen: string[] = [];
    let cursor;
    for (;;) {
      const page = await s.resources.page(w.tenantId, cursor, 2);
      seen.push(...page.map((r) => r.id));
      if (page.length < 2) break;
      cursor = { createTime: page[1]!.createTime, id: page[1]!.id };
    }
    expect(seen).toEqual(expected);

    await s.clients.update({ ...w.client, resourceIds: [made[3]!.id] });
    const forApp = (await s.resources.page(w.tenantId, undefined, 10, w.app.id)).map((r) => r.id);
    expect(forApp.sort()).toEqual([made[0]!.id, made[3]!.id].sort());
    expect(await s.resources.assignedToApplication(made[3]!.id, w.app.id)).toBe(true);
    expect(await s.resources.assignedToApplication(made[2]!.id, w.app.id)).toBe(false);
    expect(await s.resources.clientsUsing(made[3]!.id)).toEqual([w.client.id]);
  });

  it("applications: insert, get, first management application, pages, delete cascades to clients", async () => {
    const w = await world(s);
    const mgmt2 = application(w.tenantId, { management: true, createTime: NOW + 2 });
    const mgmt1 = application(w.tenantId, { management: true, createTime: NOW + 1 });
    await s.applications.insert(mgmt2);
    await s.applications.insert(mgmt1);
    expect(await s.applications.get(w.tenantId, mgmt1.id)).toEqual(mgmt1);
    expect(await s.applications.firstManagement(w.tenantId)).toEqual(mgmt1);
    expect((await s.applications.page(w.tenantId, undefined, 10)).map((a) => a.id)).toEqual([w.app.id, mgmt1.id, mgmt2.id]);
    expect((await s.applications.page(w.tenantId, { createTime: NOW + 1, id: mgmt1.id }, 10)).map((a) => a.id)).toEqual([mgmt2.id]);
    expect(await s.applications.delete(w.tenantId, w.app.id)).toBe(true);
    expect(await s.clients.findById(w.client.id)).toBeUndefined();
    expect(await s.applications.delete(w.tenantId, w.app.id)).toBe(false);
  });

  it("clients: resource assignments sorted and replaced, secrets, lookups, pages, web origins, conflicts", async () => {
    const w = await world(s);
    const [r1, r2, r3] = [resource(w.tenantId), resource(w.tenantId), resource(w.tenantId)];
    for (const r of [r1, r2, r3]) await s.resources.insert(r!);
    const c = client(w.tenantId, w.app.id, {
      resourceIds: [r3!.id, r1!.id, r3!.id],
      redirectUris: ["https://app/cb"],
      grantTypes: ["authorization_code", "refresh_token"],
      scopes: ["openid"],
      webOrigins: ["https://b.example", "https://a.example"],
      accessTokenTtl: 120,
      reuseLeeway: 30,
      tokenEndpointAuthMethod: "client_secret_post",
      idTokenSignedResponseAlg: "EdDSA",
      createTime: NOW + 1,
    });
    await s.clients.insert(c);
    const stored = { ...c, resourceIds: [r1!.id, r3!.id].sort() };
    expect(await s.clients.get(w.tenantId, c.id)).toEqual(stored);
    expect(await s.clients.findById(c.id)).toEqual(stored);
    expect(await s.clients.get("another-tenant", c.id)).toBeUndefined();
    await expect(s.clients.insert({ ...c, resourceIds: [] })).rejects.toEqual(conflict);

    const updated = { ...stored, displayName: "New", resourceIds: [r2!.id], webOrigins: ["https://a.example"], reuseLeeway: 0, updateTime: NOW + 9 };
    expect(await s.clients.update(updated)).toBe(true);
    expect(await s.clients.get(w.tenantId, c.id)).toEqual(updated);
    expect(await s.clients.update({ ...updated, tenantId: "another-tenant" })).toBe(false);

    const h = hash();
    const previous = { hash: c.secretHash!, expireTime: NOW + 60 };
    await s.clients.setSecret(c.id, h, previous, NOW + 10);
    const rotated = await s.clients.get(w.tenantId, c.id);
    expect(rotated?.secretHash).toEqual(h);
    expect(rotated?.previousSecretHash).toEqual(c.secretHash);
    expect(rotated?.previousSecretExpireTime).toBe(NOW + 60);
    expect(rotated?.updateTime).toBe(NOW + 10);

    const other = client(w.tenantId, w.app.id, { webOrigins: ["https://a.example", "https://c.example"], createTime: NOW + 2 });
    await s.clients.insert(other);
    expect((await s.clients.allWebOrigins()).filter((o) => o.endsWith(".example")).sort()).toEqual(["https://a.example", "https://c.example"]);
    expect((await s.clients.page(w.tenantId, undefined, 10, w.app.id)).map((x) => x.id)).toEqual([w.client.id, c.id, other.id]);
    expect((await s.clients.page(w.tenantId, { createTime: NOW + 1, id: c.id }, 10)).map((x) => x.id)).toEqual([other.id]);
    expect(await s.clients.delete(w.tenantId, other.id)).toBe(true);
    expect(await s.clients.delete(w.tenantId, other.id)).toBe(false);
  });

  it("users: usernames unique per tenant by their key (case, NFKC), memberships, roles, claims, password", async () => {
    const w = await world(s);
    const other = await world(s);
    const app2 = application(w.tenantId);
    await s.applications.insert(app2);
    const u = user(w.tenantId, {
      username: "Åsa",
      applicationIds: [app2.id, w.app.id],
      roles: ["admin"],
      customClaims: { dept: "x", levels: [1, 2], nested: { a: true } },
      createTime: NOW + 1,
    });
    await s.users.insert(u);
    const stored = { ...u, applicationIds: [app2.id, w.app.id].sort() };
    expect(await s.users.get(w.tenantId, u.id)).toEqual(stored);
    expect(await s.users.findByUsername(w.tenantId, "åSA")).toEqual(stored);
    expect(await s.users.findByUsername(w.tenantId, "A\u030Asa")).toEqual(stored);
    expect(await s.users.findByUsername(other.tenantId, "åsa")).toBeUndefined();
    await expect(s.users.insert(user(w.tenantId, { username: "ÅSA" }))).rejects.toEqual(conflict);
    await s.users.insert(user(other.tenantId, { username: "Åsa" }));

    expect(await s.users.memberRoles(w.tenantId, u.id, app2.id)).toEqual(["admin"]);
    expect(await s.users.memberRoles(other.tenantId, u.id, app2.id)).toBeUndefined();
    const updated = { ...stored, username: "asa2", roles: [], customClaims: {}, applicationIds: [app2.id], updateTime: NOW + 3 };
    expect(await s.users.update(updated)).toBe(true);
    expect(await s.users.get(w.tenantId, u.id)).toEqual(updated);
    expect(await s.users.memberRoles(w.tenantId, u.id, w.app.id)).toBeUndefined();
    expect(await s.users.setPassword(w.tenantId, u.id, "scrypt$hash", NOW + 4)).toBe(true);
    expect((await s.users.get(w.tenantId, u.id))?.passwordHash).toBe("scrypt$hash");
    expect(await s.users.setPassword(other.tenantId, u.id, "x", NOW)).toBe(false);

    expect((await s.users.page(w.tenantId, undefined, 10)).map((x) => x.id)).toEqual([w.user.id, u.id]);
    expect((await s.users.page(w.tenantId, undefined, 10, app2.id)).map((x) => x.id)).toEqual([u.id]);
    expect(await s.users.delete(w.tenantId, u.id)).toBe(true);
    expect(await s.users.delete(w.tenantId, u.id)).toBe(false);
  });

  it("signing keys: listed newest activation first, retired once, purged when expired", async () => {
    const key = (kid: string, activateTime: number) => ({
      kid, algorithm: "ES256", publicJwk: `{"kid":"${kid}"}`, privateKey: hash(), createTime: NOW, activateTime, retireTime: undefined, expireTime: undefined,
    });
    const before = (await s.signingKeys.list()).length;
    const [oldKey, newKey] = [key("k-old", NOW), key("k-new", NOW + 10)];
    await s.signingKeys.insert(oldKey);
    await s.signingKeys.insert(newKey);
    expect((await s.signingKeys.list()).filter((k) => k.kid.startsWith("k-"))).toEqual([newKey, oldKey]);
    await s.signingKeys.retire("k-old", NOW + 10, NOW + 20);
    await s.signingKeys.retire("k-old", NOW + 99, NOW + 99);
    const retired = (await s.signingKeys.list()).find((k) => k.kid === "k-old");
    expect([retired?.retireTime, retired?.expireTime]).toEqual([NOW + 10, NOW + 20]);
    expect(await s.signingKeys.purgeExpired(NOW + 19)).toBe(0);
    expect(await s.signingKeys.purgeExpired(NOW + 20)).toBe(1);
    expect((await s.signingKeys.list()).length).toBe(before + 1);
    await expect(s.signingKeys.insert(key("k-new", NOW))).rejects.toEqual(conflict);
  });

  it("signing keys: the algorithms resources and clients name, without duplicates", async () => {
    const w = await world(s);
    await s.resources.insert(resource(w.tenantId, { signingAlg: "RS256" }));
    await s.resources.insert(resource(w.tenantId, { signingAlg: "RS256" }));
    await s.clients.insert(client(w.tenantId, w.app.id, { idTokenSignedResponseAlg: "EdDSA" }));
    expect((await s.signingKeys.algorithmsNamed()).sort()).toEqual(["EdDSA", "RS256"]);
  });

  it("settings: get, insert or replace", async () => {
    expect(await s.settings.get("contract")).toBeUndefined();
    await s.settings.put("contract", "1");
    await s.settings.put("contract", "2");
    expect(await s.settings.get("contract")).toBe("2");
  });

  it("tenant isolation: a tenant's reads never return another tenant's rows", async () => {
    const a = await world(s);
    const b = await world(s);
    expect(await s.applications.get(b.tenantId, a.app.id)).toBeUndefined();
    expect(await s.clients.get(b.tenantId, a.client.id)).toBeUndefined();
    expect(await s.users.get(b.tenantId, a.user.id)).toBeUndefined();
    expect((await s.users.page(b.tenantId, undefined, 100)).map((u) => u.id)).toEqual([b.user.id]);
    expect((await s.clients.page(b.tenantId, undefined, 100)).map((c) => c.id)).toEqual([b.client.id]);
    expect(await s.applications.delete(b.tenantId, a.app.id)).toBe(false);
    expect(await s.users.delete(b.tenantId, a.user.id)).toBe(false);
    expect(await s.clients.delete(b.tenantId, a.client.id)).toBe(false);
    await s.tenants.insert(tenant(`${a.tenantId}-x`));
  });
});
