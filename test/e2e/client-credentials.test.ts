import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApplication, createClient, createResource } from "../helpers/fixtures.js";
import { jwtHeader, postForm, startServer, type TestServer } from "../helpers/server.js";
import { verifyAccessToken } from "../helpers/tokens.js";

describe("client_credentials on POST /oidc/token", () => {
  let server: TestServer;
  let appId: string;
  let client: { clientId: string; clientSecret: string };
  const ordersApi = "https://orders.example.com/api";
  const billingApi = "https://billing.example.com";
  const token = (form: Record<string, string | string[]>, auth?: string) =>
    postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials", ...form }, auth);

  beforeAll(async () => {
    server = await startServer();
    appId = await createApplication(server.app);
    const orders = await createResource(server.app, ordersApi, { accessTokenTtl: 300, scopes: ["orders:read", "orders:write"] });
    await createResource(server.app, billingApi);
    client = await createClient(server.app, appId, { scopes: ["orders:read", "orders:write"], resourceIds: [orders], accessTokenTtl: 900 });
  });
  afterAll(() => server.dispose());

  it("issues a token with HTTP Basic whose claims follow the contract", async () => {
    const res = await token({}, server.basic());
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({ access_token: expect.any(String), token_type: "Bearer", expires_in: 3600 });
    expect(jwtHeader(body.access_token as string)).toMatchObject({ alg: "ES256", typ: "at+jwt", kid: expect.any(String) });
    const claims = await verifyAccessToken(server, body.access_token as string);
    const bootstrapClient = (await server.app.core.storage.clients.findById(server.bootstrap.client_id))!;
    expect(claims).toEqual({
      iss: server.httpUrl,
      sub: server.bootstrap.client_id,
      aud: "userid-api",
      iat: Math.floor(server.clock.ms / 1000),
      exp: Math.floor(server.clock.ms / 1000) + 3600,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      client_id: server.bootstrap.client_id,
      tid: "default",
      app_id: bootstrapClient.applicationId,
    });
  });

  it("issues a token with client_secret_post, using the client's TTL override", async () => {
    const res = await token({ client_id: client.clientId, client_secret: client.clientSecret });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; expires_in: number };
    expect(body.expires_in).toBe(900);
    const claims = await verifyAccessToken(server, body.access_token);
    expect(claims).toMatchObject({ sub: client.clientId, client_id: client.clientId, app_id: appId, tid: "default" });
    expect(claims.exp! - claims.iat!).toBe(900);
  });

  it("gives every token its own jti", async () => {
    const bodies = await Promise.all([1, 2, 3].map(async () => (await (await token({}, server.basic())).json()) as { access_token: string }));
    const jtis = await Promise.all(bodies.map(async (b) => (await verifyAccessToken(server, b.access_token)).jti));
    expect(new Set(jtis).size).toBe(3);
  });

  it("targets an assigned resource: aud is its URI and its TTL wins over the client's", async () => {
    const res = await token({ resource: ordersApi }, server.basic(client.clientId, client.clientSecret));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; expires_in: number };
    expect(body.expires_in).toBe(300);
    const claims = await verifyAccessToken(server, body.access_token, ordersApi);
    expect(claims.aud).toBe(ordersApi);
    expect(claims.exp! - claims.iat!).toBe(300);
  });

  it("accepts userid-api explicitly as the default resource", async () => {
    const res = await token({ resource: "userid-api" }, server.basic(client.clientId, client.clientSecret));
    const body = (await res.json()) as { access_token: string };
    expect((await verifyAccessToken(server, body.access_token)).aud).toBe("userid-api");
  });

  it.each([
    ["an unassigned resource", { resource: billingApi }],
    ["an unknown resource", { resource: "https://nowhere.example.com" }],
    ["a relative resource", { resource: "/orders" }],
    ["a resource with a fragment", { resource: `${ordersApi}#x` }],
    ["two resources", { resource: [ordersApi, "userid-api"] }],
  ])("refuses %s with invalid_target", async (_, form) => {
    const res = await token(form, server.basic(client.clientId, client.clientSecret));
    expect(res.status).toBe(400);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toMatchObject({ error: "invalid_target", error_description: expect.any(String) });
  });

  it("grants requested scopes the client has, echoing them and putting them in the token", async () => {
    const res = await token({ scope: "orders:read", resource: ordersApi }, server.basic(client.clientId, client.clientSecret));
    const body = (await res.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe("orders:read");
    expect((await verifyAccessToken(server, body.access_token, ordersApi)).scope).toBe("orders:read");
  });

  it("grants no scopes when none are requested", async () => {
    const res = await token({}, server.basic(client.clientId, client.clientSecret));
    const body = (await res.json()) as { access_token: string; scope?: string };
    expect(body.scope).toBeUndefined();
    expect((await verifyAccessToken(server, body.access_token)).scope).toBeUndefined();
  });

  it("refuses a scope the client was not granted with invalid_scope", async () => {
    const res = await token({ scope: "orders:read admin" }, server.basic(client.clientId, client.clientSecret));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_scope", error_description: expect.stringContaining("admin") });
  });

  it("refuses a client whose grant types exclude client_credentials with unauthorized_client", async () => {
    const limited = await createClient(server.app, appId, { grantTypes: ["refresh_token"] });
    const res = await token({}, server.basic(limited.clientId, limited.clientSecret));
    expect(res.status).toBe(400);
    expect((await res.json()) as object).toMatchObject({ error: "unauthorized_client" });
  });

  describe("invalid_client", () => {
    it("answers 401 with WWW-Authenticate: Basic when Basic was used", async () => {
      for (const auth of [server.basic(client.clientId, "wrong"), server.basic("unknown-client", "whatever")]) {
        const res = await token({}, auth);
        expect(res.status).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Basic realm="tessera"/);
        expect(res.headers.get("cache-control")).toBe("no-store");
        expect(await res.json()).toMatchObject({ error: "invalid_client" });
      }
    });

    it("answers 401 without WWW-Authenticate for client_secret_post", async () => {
      const res = await token({ client_id: client.clientId, client_secret: "wrong" });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBeNull();
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toMatchObject({ error: "invalid_client" });
    });

    it("answers 401 when no client authentication is sent", async () => {
      const res = await token({});
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: "invalid_client" });
    });

    it("refuses Basic and client_secret together with invalid_request", async () => {
      const res = await token({ client_id: client.clientId, client_secret: client.clientSecret }, server.basic(client.clientId, client.clientSecret));
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "invalid_request" });
    });
  });
});
