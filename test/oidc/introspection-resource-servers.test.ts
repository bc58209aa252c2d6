import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApplication, createClient, createResource, createTenant } from "../helpers/fixtures.js";
import { clientToken, postForm, startServer, type TestServer } from "../helpers/server.js";

const API = "https://orders.example/api";

describe("introspection by resource servers (RFC 7662)", () => {
  let server: TestServer;
  let issuer: { clientId: string; clientSecret: string };
  let token: string;
  let defaultResourceToken: string;
  const basic = (c: { clientId: string; clientSecret: string }) => server.basic(c.clientId, c.clientSecret);
  const introspect = async (caller: { clientId: string; clientSecret: string }, t = token) => {
    const res = await postForm(`${server.httpUrl}/oidc/introspect`, { token: t }, basic(caller));
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  };

  beforeAll(async () => {
    server = await startServer();
    const resourceId = await createResource(server.app, API);
    issuer = await createClient(server.app, await createApplication(server.app), { resourceIds: [resourceId] });
    token = await clientToken(server, { resource: API }, basic(issuer));
    defaultResourceToken = await clientToken(server, {}, basic(issuer));
  });
  afterAll(() => server.dispose());

  it("a client of the token's own application sees it active", async () => {
    expect(await introspect(issuer)).toMatchObject({ active: true, aud: API, client_id: issuer.clientId });
  });

  it("a resource server's client of another application, assigned the resource, sees it active with its claims", async () => {
    const api = await createClient(server.app, await createApplication(server.app), { resourceIds: [(await server.app.core.storage.resources.findByUri("default", API))!.id] });
    expect(await introspect(api)).toMatchObject({
      active: true,
      aud: API,
      client_id: issuer.clientId,
      sub: issuer.clientId,
      tid: "default",
      token_type: "Bearer",
      iss: server.httpUrl,
    });
    // Only the resource it serves: the issuing client's default-resource token stays private.
    expect(await introspect(api, defaultResourceToken)).toEqual({ active: false });
  });

  it("a client of another application not assigned the resource sees active:false", async () => {
    const other = await createClient(server.app, await createApplication(server.app));
    expect(await introspect(other)).toEqual({ active: false });
  });

  it("a client of another tenant, assigned a resource with the same URI, sees active:false", async () => {
    const tenant = await createTenant(server.app, "other-tenant");
    const resourceId = await createResource(server.app, API, {}, tenant);
    const foreign = await createClient(server.app, await createApplication(server.app, { tenantId: tenant }), { tenantId: tenant, resourceIds: [resourceId] });
    expect(await introspect(foreign)).toEqual({ active: false });
  });
});
