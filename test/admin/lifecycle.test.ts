import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueUserTokens, snapshotOf } from "../../src/core/user-tokens.js";
import { createUser } from "../helpers/fixtures.js";
import { clientToken, jwtPayload, postForm, startServer, type TestServer } from "../helpers/server.js";
import { adminClients, Code, DOORS, expectFailure, managementToken, unique, type Admin } from "./admin-helpers.js";

const DAY = 86400n;

describe.each(DOORS)("admin lifecycle over %s", (door) => {
  let server: TestServer;
  let admin: Admin;
  beforeAll(async () => {
    server = await startServer();
    admin = adminClients(server, door);
  });
  afterAll(async () => {
    admin.close();
    await server.dispose();
  });

  const tokenFor = async (clientId: string, secret: string, form: Record<string, string> = {}) => {
    const res = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials", ...form }, server.basic(clientId, secret));
    return { status: res.status, body: (await res.json()) as { access_token?: string; expires_in?: number; error?: string } };
  };

  it("resource → application → client → client_credentials for the resource gives its aud and TTL", async () => {
    const token = await managementToken(server);
    const uri = `https://${unique("orders")}.example.com/api`;
    const { resource } = await admin.resources.createResource({ resource: { uri, displayName: "Orders", accessTokenTtl: { seconds: 900n } } }, token);
    expect(resource).toMatchObject({ uri, displayName: "Orders", default: false });
    expect(resource!.accessTokenTtl?.seconds).toBe(900n);
    expect(resource!.refreshTokenTtl).toBeUndefined();

    const { application } = await admin.applications.createApplication({ application: { displayName: "Shop" } }, token);
    expect(application).toMatchObject({ displayName: "Shop", management: false });

    const created = await admin.applications.createClient(
      { client: { applicationId: application!.id, displayName: "Shop backend", resourceIds: [resource!.id], grantTypes: ["client_credentials"] } },
      token,
    );
    expect(created.clientSecret.length).toBeGreaterThanOrEqual(43);
    expect(created.client).toMatchObject({ applicationId: application!.id, resourceIds: [resource!.id], grantTypes: ["client_credentials"] });

    const got = await admin.applications.getClient({ id: created.client!.id }, token);
    expect(got.client?.displayName).toBe("Shop backend");

    const issued = await tokenFor(created.client!.id, created.clientSecret, { resource: uri });
    expect(issued.status).toBe(200);
    const claims = jwtPayload(issued.body.access_token!);
    expect(claims).toMatchObject({ aud: uri, client_id: created.client!.id, app_id: application!.id, tid: "default" });
    expect(issued.body.expires_in).toBe(900);
    expect((claims.exp as number) - (claims.iat as number)).toBe(900);
  });

  it("lifetime precedence: the resource beats the client, the client beats the tenant default", async () => {
    const token = await managementToken(server);
    const withTtl = `https://${unique("ttl")}.example.com`;
    const withoutTtl = `https://${unique("nottl")}.example.com`;
    const r1 = (await admin.resources.createResource({ resource: { uri: withTtl, accessTokenTtl: { seconds: 600n } } }, token)).resource!;
    const r2 = (await admin.resources.createResource({ resource: { uri: withoutTtl } }, token)).resource!;
    const { application } = await admin.applications.createApplication({ application: { displayName: "ttl" } }, token);
    const overridden = await admin.applications.createClient(
      { client: { applicationId: application!.id, resourceIds: [r1.id, r2.id], accessTokenTtl: { seconds: 1200n } } },
      token,
    );
    const plain = await admin.applications.createClient({ client: { applicationId: application!.id, resourceIds: [r1.id] } }, token);
    const ttl = async (c: typeof overridden, resource?: string) =>
      (await tokenFor(c.client!.id, c.clientSecret, resource === undefined ? {} : { resource })).body.expires_in;

    expect(await ttl(overridden, withTtl)).toBe(600);
    expect(await ttl(overridden, withoutTtl)).toBe(1200);
    expect(await ttl(overridden)).toBe(1200);
    expect(await ttl(plain, withTtl)).toBe(600);
    expect(await ttl(plain)).toBe(3600);

    // The default resource's lifetimes can be changed (and then beat the client's override).
    const list = await admin.resources.listResources({ pageSize: 500 }, token);
    const defaultResource = list.resources.find((r) => r.default)!;
    expect(defaultResource.uri).toBe("userid-api");
    await admin.resources.updateResource({ resource: { id: defaultResource.id, accessTokenTtl: { seconds: 300n } }, updateMask: { paths: ["access_token_ttl"] } }, token);
    expect(await ttl(overridden)).toBe(300);
    expect(await ttl(plain)).toBe(300);
    await admin.resources.updateResource({ resource: { id: defaultResource.id }, updateMask: { paths: ["access_token_ttl"] } }, token);
    expect(await ttl(plain)).toBe(3600);
  });

  it("rotating a secret: the old one fails at once, the new one works", async () => {
    const token = await managementToken(server);
    const { application } = await admin.applications.createApplication({ application: { displayName: "rot" } }, token);
    const created = await admin.applications.createClient({ client: { applicationId: application!.id } }, token);
    const rotated = await admin.applications.rotateClientSecret({ id: created.client!.id }, token);
    expect(rotated.clientSecret).not.toBe(created.clientSecret);
    expect((await tokenFor(created.client!.id, created.clientSecret)).status).toBe(401);
    expect((await tokenFor(created.client!.id, rotated.clientSecret)).status).toBe(200);
  });

  it("rotating with a grace period keeps the old secret working until it ends", async () => {
    const token = await managementToken(server);
    const { application } = await admin.applications.createApplication({ application: { displayName: "grace" } }, token);
    const created = await admin.applications.createClient({ client: { applicationId: application!.id } }, token);
    const rotated = await admin.applications.rotateClientSecret({ id: created.client!.id, gracePeriod: { seconds: 3600n } }, token);
    expect((await tokenFor(created.client!.id, created.clientSecret)).status).toBe(200);
    expect((await tokenFor(created.client!.id, rotated.clientSecret)).status).toBe(200);
    server.clock.advance(3599);
    expect((await tokenFor(created.client!.id, created.clientSecret)).status).toBe(200);
    server.clock.advance(1);
    expect((await tokenFor(created.client!.id, created.clientSecret)).status).toBe(401);
    expect((await tokenFor(created.client!.id, rotated.clientSecret)).status).toBe(200);
    await expectFailure(
      admin.applications.rotateClientSecret({ id: created.client!.id, gracePeriod: { seconds: DAY + 1n } }, await managementToken(server)),
      Code.InvalidArgument,
      /grace_period/,
    );
  });

  it("deleting an application deletes its clients and their refresh tokens", async () => {
    const token = await managementToken(server);
    const { application } = await admin.applications.createApplication({ application: { displayName: "doomed" } }, token);
    const created = await admin.applications.createClient({ client: { applicationId: application!.id } }, token);
    const { userId } = await createUser(server.app, { applicationIds: [application!.id] });
    const core = server.app.core;
    const ctx = (await core.clientContext(created.client!.id))!;
    const user = (await core.storage.users.get("default", userId))!;
    const tokens = await issueUserTokens(core, {
      ctx,
      resource: ctx.defaultResource,
      userId,
      scopes: [],
      snapshot: snapshotOf(user, ["pwd"]),
      authTime: core.now(),
      sid: undefined,
      offline: true,
    });
    const hash = core.secrets.hash("refresh-token", tokens.refresh_token!);
    const familyId = (await core.storage.refreshTokens.getToken(hash))!.familyId;
    expect((await core.storage.refreshTokens.getFamily(familyId))).toBeDefined();

    await admin.applications.deleteApplication({ id: application!.id }, token);

    expect((await core.storage.refreshTokens.getToken(hash))).toBeUndefined();
    expect((await core.storage.refreshTokens.getFamily(familyId))).toBeUndefined();
    expect((await tokenFor(created.client!.id, created.clientSecret)).status).toBe(401);
    await expectFailure(admin.applications.getClient({ id: created.client!.id }, token), Code.NotFound);
    await expectFailure(admin.applications.getApplication({ id: application!.id }, token), Code.NotFound);
    // The user stays, without the membership.
    expect((await admin.users.getUser({ id: userId }, token)).user?.applicationIds).toEqual([]);
  });

  it("deleting a client stops its credentials", async () => {
    const token = await managementToken(server);
    const { application } = await admin.applications.createApplication({ application: { displayName: "c" } }, token);
    const created = await admin.applications.createClient({ client: { applicationId: application!.id } }, token);
    await admin.applications.deleteClient({ id: created.client!.id }, token);
    expect((await tokenFor(created.client!.id, created.clientSecret)).status).toBe(401);
    await expectFailure(admin.applications.deleteClient({ id: created.client!.id }, token), Code.NotFound);
  });

  it("a resource still assigned needs force; the default resource cannot be deleted", async () => {
    const token = await managementToken(server);
    const uri = `https://${unique("assigned")}.example.com`;
    const { resource } = await admin.resources.createResource({ resource: { uri } }, token);
    const { application } = await admin.applications.createApplication({ application: { displayName: "r" } }, token);
    const created = await admin.applications.createClient({ client: { applicationId: application!.id, resourceIds: [resource!.id] } }, token);
    await expectFailure(admin.resources.deleteResource({ id: resource!.id }, token), Code.FailedPrecondition, new RegExp(created.client!.id));
    expect((await tokenFor(created.client!.id, created.clientSecret, { resource: uri })).status).toBe(200);
    await admin.resources.deleteResource({ id: resource!.id, force: true }, token);
    expect((await admin.applications.getClient({ id: created.client!.id }, token)).client?.resourceIds).toEqual([]);
    expect((await tokenFor(created.client!.id, created.clientSecret, { resource: uri })).body.error).toBe("invalid_target");

    const defaultResource = (await admin.resources.listResources({}, token)).resources.find((r) => r.default)!;
    await expectFailure(admin.resources.deleteResource({ id: defaultResource.id, force: true }, token), Code.FailedPrecondition, /default/);
  });

  it("updates a client through a field mask", async () => {
    const token = await managementToken(server);
    const { application } = await admin.applications.createApplication({ application: { displayName: "m" } }, token);
    const created = await admin.applications.createClient(
      { client: { applicationId: application!.id, displayName: "before", scopes: ["email"], redirectUris: ["https://app.example.com/cb"] } },
      token,
    );
    const masked = await admin.applications.updateClient(
      { client: { id: created.client!.id, displayName: "after", scopes: ["ignored"] }, updateMask: { paths: ["display_name"] } },
      token,
    );
    expect(masked.client).toMatchObject({ displayName: "after", scopes: ["email"], redirectUris: ["https://app.example.com/cb"] });
    const full = await admin.applications.updateClient({ client: { id: created.client!.id, displayName: "all", reuseLeeway: { seconds: 30n } } }, token);
    expect(full.client).toMatchObject({ displayName: "all", scopes: [], redirectUris: [] });
    expect(full.client?.reuseLeeway?.seconds).toBe(30n);
    await expectFailure(
      admin.applications.updateClient({ client: { id: created.client!.id }, updateMask: { paths: ["display_name", "secret", "create_time"] } }, token),
      Code.InvalidArgument,
      /secret, create_time/,
    );
    // Still usable with its secret: updates never touch it.
    expect((await tokenFor(created.client!.id, created.clientSecret)).status).toBe(200);
  });

  it("users: create, read, update, password and delete", async () => {
    const token = await managementToken(server);
    const { application } = await admin.applications.createApplication({ application: { displayName: "u" } }, token);
    const username = unique("Alice");
    const { user } = await admin.users.createUser(
      {
        user: { username, email: "alice@example.com", roles: ["admin"], customClaims: { plan: "gold", seats: 3 }, applicationIds: [application!.id] },
        password: "a long enough password",
      },
      token,
    );
    expect(user).toMatchObject({ username, email: "alice@example.com", roles: ["admin"], customClaims: { plan: "gold", seats: 3 } });
    const stored = (await server.app.core.storage.users.get("default", user!.id))!;
    expect(stored.passwordHash).toMatch(/^scrypt\$/);
    await expectFailure(admin.users.createUser({ user: { username: username.toUpperCase() } }, token), Code.AlreadyExists, /username/);
    const updated = await admin.users.updateUser({ user: { id: user!.id, roles: ["viewer"] }, updateMask: { paths: ["roles"] } }, token);
    expect(updated.user).toMatchObject({ username, roles: ["viewer"], email: "alice@example.com" });
    await admin.users.setUserPassword({ id: user!.id, password: "another long password" }, token);
    expect((await server.app.core.storage.users.get("default", user!.id))!.passwordHash).not.toBe(stored.passwordHash);
    const listed = await admin.users.listUsers({ applicationId: application!.id }, token);
    expect(listed.users.map((u) => u.id)).toEqual([user!.id]);
    await admin.users.deleteUser({ id: user!.id }, token);
    await expectFailure(admin.users.getUser({ id: user!.id }, token), Code.NotFound);
  });

  it("pages over 120 objects with page_size 50, each exactly once; a tampered or foreign token is refused", async () => {
    const token = await managementToken(server);
    const { application } = await admin.applications.createApplication({ application: { displayName: "paging" } }, token);
    const ids = new Set<string>();
    for (let i = 0; i < 120; i++) {
      ids.add((await admin.applications.createClient({ client: { applicationId: application!.id } }, token)).client!.id);
      if (i % 7 === 0) server.clock.advance(1);
    }
    const seen: string[] = [];
    const sizes: number[] = [];
    let pageToken = "";
    let first = "";
    do {
      const page = await admin.applications.listClients({ applicationId: application!.id, pageSize: 50, pageToken }, token);
      seen.push(...page.clients.map((c) => c.id));
      sizes.push(page.clients.length);
      pageToken = page.nextPageToken;
      first ||= pageToken;
    } while (pageToken !== "");
    expect(sizes).toEqual([50, 50, 20]);
    expect(seen.length).toBe(120);
    expect(new Set(seen)).toEqual(ids);

    const tampered = `${first.slice(0, 3)}${first[3] === "A" ? "B" : "A"}${first.slice(4)}`;
    await expectFailure(admin.applications.listClients({ applicationId: application!.id, pageSize: 50, pageToken: tampered }, token), Code.InvalidArgument, /page_token/);
    // A token from another list (unfiltered) does not continue this one.
    await expectFailure(admin.applications.listClients({ pageSize: 50, pageToken: first }, token), Code.InvalidArgument, /page_token/);
    await expectFailure(admin.users.listUsers({ pageToken: first }, token), Code.InvalidArgument, /page_token/);
    await expectFailure(admin.applications.listClients({ pageSize: -1 }, token), Code.InvalidArgument, /page_size/);
    const clamped = await admin.applications.listClients({ applicationId: application!.id, pageSize: 100_000 }, token);
    expect(clamped.clients.length).toBe(120);
    expect(clamped.nextPageToken).toBe("");
    const defaulted = await admin.applications.listClients({ applicationId: application!.id }, token);
    expect(defaulted.clients.length).toBe(50);
  });

  it("a fresh client's token works for the admin API and reads its tenant", async () => {
    const token = await clientToken(server);
    const apps = await admin.applications.listApplications({}, token);
    expect(apps.applications.some((a) => a.management)).toBe(true);
  });
});
