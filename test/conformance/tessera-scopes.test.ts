// Scopes are defined by resources (CONTRACT §7, issue #11 item 4):
// - Resource.scopes is mapped through the Admin API and only a management application may set it;
// - scope values are validated (RFC 6749 §3.3 charset, 128 characters, 100 entries, no OpenID names);
// - a client may hold only scopes its resources or the default resource define, plus the OpenID scopes,
//   through CreateClient and UpdateClient (INVALID_ARGUMENT naming the scope), on both admin doors;
// - removing a scope still held by a client, or unassigning the resource that defines it, is refused;
// - client_credentials grants a scope only if the client holds it AND the targeted resource defines it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminClients, Code, DOORS, expectFailure, managementToken, unique, type Admin } from "../admin/admin-helpers.js";
import { clientToken, jwtPayload, postForm, startServer, type TestServer } from "../helpers/server.js";

let server: TestServer;
let mgmt: string;

beforeAll(async () => {
  server = await startServer();
  mgmt = await managementToken(server);
});
afterAll(() => server.dispose());

const tokenFor = (clientId: string, secret: string, form: Record<string, string>) =>
  postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials", ...form }, server.basic(clientId, secret));

/** A normal (non-management) application with a client, created through the Admin API. */
async function normalApp(admin: Admin) {
  const { application } = await admin.applications.createApplication({ application: { displayName: unique("app") } }, mgmt);
  const { client, clientSecret } = await admin.applications.createClient({ client: { applicationId: application!.id } }, mgmt);
  const token = await clientToken(server, {}, server.basic(client!.id, clientSecret));
  return { appId: application!.id, clientId: client!.id, clientSecret, token };
}

describe.each(DOORS)("scopes defined by resources over %s", (door) => {
  let admin: Admin;
  beforeAll(() => {
    admin = adminClients(server, door);
  });
  afterAll(() => admin.close());

  it("a normal application cannot grant its own client a scope no resource defines", async () => {
    const app = await normalApp(admin);
    await expectFailure(
      admin.applications.createClient({ client: { applicationId: app.appId, scopes: ["orders:admin"] } }, app.token),
      Code.InvalidArgument,
      /client\.scopes: scope "orders:admin" is not defined/,
    );
    await expectFailure(
      admin.applications.updateClient({ client: { id: app.clientId, scopes: ["orders:admin"] }, updateMask: { paths: ["scopes"] } }, app.token),
      Code.InvalidArgument,
      /orders:admin/,
    );
    const res = await tokenFor(app.clientId, app.clientSecret, { scope: "orders:admin" });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_scope" });
  });

  it("only a management application may set a resource's scopes", async () => {
    const app = await normalApp(admin);
    await expectFailure(
      admin.resources.createResource({ resource: { uri: `https://${unique("api")}.example.com`, scopes: ["x:read"] } }, app.token),
      Code.PermissionDenied,
    );
    const { resources } = await admin.resources.listResources({}, app.token);
    const defaultResource = resources.find((r) => r.default)!;
    await expectFailure(
      admin.resources.updateResource({ resource: { id: defaultResource.id, scopes: ["x:read"] }, updateMask: { paths: ["scopes"] } }, app.token),
      Code.PermissionDenied,
    );
  });

  it("a resource's scopes round-trip and its clients get tokens carrying them, for that resource only", async () => {
    const uri = `https://${unique("orders")}.example.com/api`;
    const { resource } = await admin.resources.createResource({ resource: { uri, scopes: ["orders:read", "orders:write"] } }, mgmt);
    expect(resource!.scopes).toEqual(["orders:read", "orders:write"]);
    expect((await admin.resources.getResource({ id: resource!.id }, mgmt)).resource!.scopes).toEqual(["orders:read", "orders:write"]);

    const { application } = await admin.applications.createApplication({ application: { displayName: unique("app") } }, mgmt);
    const { client, clientSecret } = await admin.applications.createClient(
      { client: { applicationId: application!.id, resourceIds: [resource!.id], scopes: ["orders:read", "openid"] } },
      mgmt,
    );
    expect(client!.scopes).toEqual(["orders:read", "openid"]);

    const ok = await tokenFor(client!.id, clientSecret, { resource: uri, scope: "orders:read" });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe("orders:read");
    expect(jwtPayload(body.access_token)).toMatchObject({ aud: uri, scope: "orders:read" });

    // Held by the client, defined by the orders API, but asked for the default resource: refused.
    const elsewhere = await tokenFor(client!.id, clientSecret, { scope: "orders:read" });
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.json()).toMatchObject({ error: "invalid_scope", error_description: expect.stringContaining("not defined by resource") });
    // Defined by the resource but not held by the client: refused.
    const notHeld = await tokenFor(client!.id, clientSecret, { resource: uri, scope: "orders:write" });
    expect(notHeld.status).toBe(400);
    expect(await notHeld.json()).toMatchObject({ error: "invalid_scope" });
  });

  it("validates scope values", async () => {
    const create = (scopes: string[]) => admin.resources.createResource({ resource: { uri: `https://${unique("v")}.example.com`, scopes } }, mgmt);
    await expectFailure(create(["has space"]), Code.InvalidArgument, /resource\.scopes\[0\]/);
    await expectFailure(create(['quote"d']), Code.InvalidArgument, /resource\.scopes\[0\]/);
    await expectFailure(create(["x".repeat(129)]), Code.InvalidArgument, /resource\.scopes\[0\]/);
    await expectFailure(create(Array.from({ length: 101 }, (_, i) => `s${i}`)), Code.InvalidArgument, /resource\.scopes/);
    await expectFailure(create(["openid"]), Code.InvalidArgument, /OpenID scope/);
  });

  it("a scope still held by a client cannot be removed from its resource, nor the resource unassigned", async () => {
    const { resource } = await admin.resources.createResource({ resource: { uri: `https://${unique("inv")}.example.com`, scopes: ["inv:read", "inv:write"] } }, mgmt);
    const { application } = await admin.applications.createApplication({ application: { displayName: unique("app") } }, mgmt);
    const { client } = await admin.applications.createClient({ client: { applicationId: application!.id, resourceIds: [resource!.id], scopes: ["inv:read"] } }, mgmt);

    const setScopes = (scopes: string[]) => admin.resources.updateResource({ resource: { id: resource!.id, scopes }, updateMask: { paths: ["scopes"] } }, mgmt);
    await expectFailure(setScopes(["inv:write"]), Code.FailedPrecondition, new RegExp(`"inv:read" is still granted to clients ${client!.id}`));
    // Removing a scope nobody holds is fine.
    expect((await setScopes(["inv:read"])).resource!.scopes).toEqual(["inv:read"]);

    await expectFailure(
      admin.applications.updateClient({ client: { id: client!.id, resourceIds: [] }, updateMask: { paths: ["resource_ids"] } }, mgmt),
      Code.InvalidArgument,
      /client\.scopes: scope "inv:read"/,
    );
    // Taking the scope off the client with the resource in one update works; then the scope can go.
    await admin.applications.updateClient({ client: { id: client!.id, resourceIds: [], scopes: [] }, updateMask: { paths: ["resource_ids", "scopes"] } }, mgmt);
    expect((await setScopes([])).resource!.scopes).toEqual([]);
  });

  it("scopes of the default resource may be held by any client and are granted for it", async () => {
    const { resources } = await admin.resources.listResources({}, mgmt);
    const defaultResource = resources.find((r) => r.default)!;
    const scope = unique("profile").replace(/-/g, ":");
    await admin.resources.updateResource({ resource: { id: defaultResource.id, scopes: [...defaultResource.scopes, scope] }, updateMask: { paths: ["scopes"] } }, mgmt);
    const { application } = await admin.applications.createApplication({ application: { displayName: unique("app") } }, mgmt);
    const { client, clientSecret } = await admin.applications.createClient({ client: { applicationId: application!.id, scopes: [scope] } }, mgmt);
    const res = await tokenFor(client!.id, clientSecret, { scope });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { scope: string }).scope).toBe(scope);
    await expectFailure(
      admin.resources.updateResource({ resource: { id: defaultResource.id, scopes: defaultResource.scopes }, updateMask: { paths: ["scopes"] } }, mgmt),
      Code.FailedPrecondition,
      new RegExp(client!.id),
    );
  });
});
