import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientToken, startServer, type TestServer } from "../helpers/server.js";

/** The docs' curl examples: Connect protocol with proto3 JSON bodies, no generated client. */
describe("admin API over Connect JSON", () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    server = await startServer();
    token = await clientToken(server);
  });
  afterAll(() => server.dispose());

  const call = async (method: string, body: unknown, auth: string | null = `Bearer ${token}`) => {
    const res = await fetch(`${server.httpUrl}/tessera.v1.${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(auth === null ? {} : { authorization: auth }) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it("creates and updates a resource with Duration strings and a FieldMask string", async () => {
    const created = await call("ResourceAdminService/CreateResource", { resource: { uri: "https://orders.example.com", displayName: "Orders", accessTokenTtl: "900s" } });
    expect(created.status).toBe(200);
    expect(created.body.resource).toMatchObject({ uri: "https://orders.example.com", displayName: "Orders", accessTokenTtl: "900s" });
    expect(created.body.resource.createTime).toBe("2026-11-23T12:00:00Z");
    const updated = await call("ResourceAdminService/UpdateResource", {
      resource: { id: created.body.resource.id, displayName: "Order API", refreshTokenTtl: "86400s" },
      updateMask: "displayName,refreshTokenTtl",
    });
    expect(updated.body.resource).toMatchObject({ displayName: "Order API", accessTokenTtl: "900s", refreshTokenTtl: "86400s" });
  });

  it("creates a user with a Struct of custom claims, and a client whose secret is returned once", async () => {
    const app = await call("ApplicationAdminService/CreateApplication", { application: { displayName: "Shop" } });
    const user = await call("UserAdminService/CreateUser", {
      user: { username: "alice", email: "alice@example.com", applicationIds: [app.body.application.id], customClaims: { plan: "gold", limits: { seats: 3 } } },
      password: "correct horse battery staple",
    });
    expect(user.status).toBe(200);
    expect(user.body.user.customClaims).toEqual({ plan: "gold", limits: { seats: 3 } });
    const client = await call("ApplicationAdminService/CreateClient", { client: { applicationId: app.body.application.id, grantTypes: ["client_credentials"] } });
    expect(typeof client.body.clientSecret).toBe("string");
    const got = await call("ApplicationAdminService/GetClient", { id: client.body.client.id });
    expect(got.body.clientSecret).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain(client.body.clientSecret);
  });

  it("answers Connect errors with the code and an ErrorInfo detail", async () => {
    const missing = await call("ApplicationAdminService/ListApplications", {}, null);
    expect(missing.status).toBe(401);
    expect(missing.body.code).toBe("unauthenticated");
    expect(missing.body.details[0].type).toBe("google.rpc.ErrorInfo");
    const invalid = await call("ResourceAdminService/CreateResource", { resource: { uri: "orders" } });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ code: "invalid_argument" });
    expect(invalid.body.message).toMatch(/^resource\.uri/);
    const unknown = await call("UserAdminService/GetUser", { id: "usr_nope" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe("not_found");
  });
});
