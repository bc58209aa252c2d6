import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../helpers/server.js";
import { adminClients, Code, DOORS, expectFailure, managementToken, unique, type Admin } from "./admin-helpers.js";

const DAY = 86400n;

interface Ctx {
  token: string;
  appId: string;
  resourceId: string;
  defaultResourceId: string;
  clientId: string;
  userId: string;
}

interface Case {
  name: string;
  call: (admin: Admin, c: Ctx) => Promise<unknown>;
  code: number;
  message: RegExp;
}

const res = (resource: Record<string, unknown>) => (a: Admin, c: Ctx) => a.resources.createResource({ resource: { uri: `https://${unique("v")}.example.com`, ...resource } }, c.token);
const cli = (client: Record<string, unknown>) => (a: Admin, c: Ctx) => a.applications.createClient({ client: { applicationId: c.appId, ...client } }, c.token);
const usr = (user: Record<string, unknown>, password?: string) => (a: Admin, c: Ctx) =>
  a.users.createUser({ user: { username: unique("v"), ...user }, ...(password === undefined ? {} : { password }) }, c.token);

const CASES: Case[] = [
  // Resources
  { name: "resource missing", call: (a, c) => a.resources.createResource({}, c.token), code: Code.InvalidArgument, message: /^resource is required/ },
  { name: "resource.uri empty", call: res({ uri: "" }), code: Code.InvalidArgument, message: /resource\.uri is required/ },
  { name: "resource.uri relative", call: res({ uri: "/orders" }), code: Code.InvalidArgument, message: /resource\.uri.*absolute/ },
  { name: "resource.uri with fragment", call: res({ uri: "https://api.example.com/#x" }), code: Code.InvalidArgument, message: /resource\.uri.*fragment/ },
  { name: "resource.uri reserved", call: res({ uri: "userid-api" }), code: Code.InvalidArgument, message: /resource\.uri.*reserved/ },
  { name: "resource.display_name too long", call: res({ displayName: "x".repeat(257) }), code: Code.InvalidArgument, message: /resource\.display_name/ },
  { name: "resource.display_name control character", call: res({ displayName: "a\u0007b" }), code: Code.InvalidArgument, message: /resource\.display_name.*control/ },
  { name: "resource.access_token_ttl below 60 s", call: res({ accessTokenTtl: { seconds: 59n } }), code: Code.InvalidArgument, message: /resource\.access_token_ttl.*between 60/ },
  { name: "resource.access_token_ttl above 24 h", call: res({ accessTokenTtl: { seconds: DAY + 1n } }), code: Code.InvalidArgument, message: /resource\.access_token_ttl/ },
  { name: "resource.access_token_ttl fractional", call: res({ accessTokenTtl: { seconds: 600n, nanos: 5 } }), code: Code.InvalidArgument, message: /resource\.access_token_ttl.*whole/ },
  { name: "resource.access_token_ttl negative", call: res({ accessTokenTtl: { seconds: -600n } }), code: Code.InvalidArgument, message: /resource\.access_token_ttl.*negative/ },
  { name: "resource.refresh_token_ttl below 60 s", call: res({ refreshTokenTtl: { seconds: 10n } }), code: Code.InvalidArgument, message: /resource\.refresh_token_ttl/ },
  { name: "resource.refresh_token_ttl above 365 d", call: res({ refreshTokenTtl: { seconds: 365n * DAY + 1n } }), code: Code.InvalidArgument, message: /resource\.refresh_token_ttl/ },
  { name: "resource.max_rotation above 5 y", call: res({ maxRotation: { seconds: 5n * 365n * DAY + 1n } }), code: Code.InvalidArgument, message: /resource\.max_rotation/ },
  {
    name: "resource.max_rotation shorter than refresh_token_ttl",
    call: res({ refreshTokenTtl: { seconds: 30n * DAY }, maxRotation: { seconds: 10n * DAY } }),
    code: Code.InvalidArgument,
    message: /resource\.max_rotation.*refresh_token_ttl/,
  },
  { name: "resource.max_rotation shorter than the default refresh TTL", call: res({ maxRotation: { seconds: 7n * DAY } }), code: Code.InvalidArgument, message: /resource\.max_rotation \(604800 s\)/ },
  {
    name: "resource uri cannot change",
    call: (a, c) => a.resources.updateResource({ resource: { id: c.resourceId, uri: "https://moved.example.com" } }, c.token),
    code: Code.InvalidArgument,
    message: /resource\.uri cannot be changed/,
  },
  {
    name: "resource unknown mask path",
    call: (a, c) => a.resources.updateResource({ resource: { id: c.resourceId }, updateMask: { paths: ["bogus"] } }, c.token),
    code: Code.InvalidArgument,
    message: /update_mask.*bogus/,
  },
  { name: "resource update of unknown id", call: (a, c) => a.resources.updateResource({ resource: { id: "res_nope", displayName: "x" } }, c.token), code: Code.NotFound, message: /res_nope/ },
  { name: "resource id missing", call: (a, c) => a.resources.getResource({ id: "" }, c.token), code: Code.InvalidArgument, message: /^id is required/ },
  // Applications
  { name: "application missing", call: (a, c) => a.applications.createApplication({}, c.token), code: Code.InvalidArgument, message: /application is required/ },
  { name: "application.display_name too long", call: (a, c) => a.applications.createApplication({ application: { displayName: "x".repeat(300) } }, c.token), code: Code.InvalidArgument, message: /application\.display_name/ },
  // Clients
  { name: "client missing", call: (a, c) => a.applications.createClient({}, c.token), code: Code.InvalidArgument, message: /^client is required/ },
  { name: "client.application_id empty", call: cli({ applicationId: "" }), code: Code.InvalidArgument, message: /client\.application_id is required/ },
  { name: "client.application_id unknown", call: cli({ applicationId: "app_nope" }), code: Code.NotFound, message: /app_nope/ },
  { name: "client.redirect_uris relative", call: cli({ redirectUris: ["/cb"] }), code: Code.InvalidArgument, message: /client\.redirect_uris\[0\].*absolute/ },
  { name: "client.redirect_uris http non-loopback", call: cli({ redirectUris: ["https://ok.example.com/cb", "http://app.example.com/cb"] }), code: Code.InvalidArgument, message: /client\.redirect_uris\[1\].*https/ },
  { name: "client.redirect_uris fragment", call: cli({ redirectUris: ["https://app.example.com/cb#x"] }), code: Code.InvalidArgument, message: /client\.redirect_uris\[0\].*fragment/ },
  { name: "client.redirect_uris other scheme", call: cli({ redirectUris: ["ftp://app.example.com/cb"] }), code: Code.InvalidArgument, message: /client\.redirect_uris\[0\].*https/ },
  { name: "client.redirect_uris too many", call: cli({ redirectUris: Array.from({ length: 101 }, (_, i) => `https://a.example.com/${i}`) }), code: Code.InvalidArgument, message: /client\.redirect_uris.*at most 100/ },
  { name: "client.post_logout_redirect_uris fragment", call: cli({ postLogoutRedirectUris: ["https://app.example.com/bye#x"] }), code: Code.InvalidArgument, message: /client\.post_logout_redirect_uris\[0\]/ },
  { name: "client.web_origins with path", call: cli({ webOrigins: ["https://app.example.com/path"] }), code: Code.InvalidArgument, message: /client\.web_origins\[0\].*origin/ },
  { name: "client.web_origins trailing slash", call: cli({ webOrigins: ["https://app.example.com/"] }), code: Code.InvalidArgument, message: /client\.web_origins\[0\].*origin/ },
  { name: "client.web_origins not a URL", call: cli({ webOrigins: ["app.example.com"] }), code: Code.InvalidArgument, message: /client\.web_origins\[0\]/ },
  { name: "client.grant_types unknown", call: cli({ grantTypes: ["client_credentials", "password"] }), code: Code.InvalidArgument, message: /client\.grant_types\[1\] "password"/ },
  { name: "client.scopes with space", call: cli({ scopes: ["read write"] }), code: Code.InvalidArgument, message: /client\.scopes\[0\]/ },
  { name: "client.scopes empty entry", call: cli({ scopes: [""] }), code: Code.InvalidArgument, message: /client\.scopes\[0\]/ },
  { name: "client.resource_ids unknown", call: cli({ resourceIds: ["res_nope"] }), code: Code.NotFound, message: /client\.resource_ids.*res_nope/ },
  { name: "client.resource_ids default", call: (a, c) => cli({ resourceIds: [c.defaultResourceId] })(a, c), code: Code.InvalidArgument, message: /client\.resource_ids.*default resource/ },
  { name: "client.access_token_ttl below 60 s", call: cli({ accessTokenTtl: { seconds: 30n } }), code: Code.InvalidArgument, message: /client\.access_token_ttl/ },
  { name: "client.refresh_token_ttl above 365 d", call: cli({ refreshTokenTtl: { seconds: 400n * DAY } }), code: Code.InvalidArgument, message: /client\.refresh_token_ttl/ },
  { name: "client.max_rotation shorter than refresh", call: cli({ refreshTokenTtl: { seconds: 2n * DAY }, maxRotation: { seconds: DAY } }), code: Code.InvalidArgument, message: /client\.max_rotation/ },
  { name: "client.reuse_leeway above 300 s", call: cli({ reuseLeeway: { seconds: 301n } }), code: Code.InvalidArgument, message: /client\.reuse_leeway.*between 0 s and 300 s/ },
  { name: "client.reuse_leeway fractional", call: cli({ reuseLeeway: { seconds: 1n, nanos: 500_000_000 } }), code: Code.InvalidArgument, message: /client\.reuse_leeway.*whole/ },
  {
    name: "client application cannot change",
    call: (a, c) => a.applications.updateClient({ client: { id: c.clientId, applicationId: "app_other" }, updateMask: { paths: ["application_id"] } }, c.token),
    code: Code.InvalidArgument,
    message: /client\.application_id cannot be changed/,
  },
  {
    name: "client update bad field",
    call: (a, c) => a.applications.updateClient({ client: { id: c.clientId, redirectUris: ["nope"] }, updateMask: { paths: ["redirect_uris"] } }, c.token),
    code: Code.InvalidArgument,
    message: /client\.redirect_uris\[0\]/,
  },
  { name: "grace_period above 24 h", call: (a, c) => a.applications.rotateClientSecret({ id: c.clientId, gracePeriod: { seconds: DAY + 1n } }, c.token), code: Code.InvalidArgument, message: /grace_period/ },
  // Users
  { name: "user missing", call: (a, c) => a.users.createUser({}, c.token), code: Code.InvalidArgument, message: /^user is required/ },
  { name: "user.username empty", call: usr({ username: "" }), code: Code.InvalidArgument, message: /user\.username is required/ },
  { name: "user.username too long", call: usr({ username: "u".repeat(257) }), code: Code.InvalidArgument, message: /user\.username.*256/ },
  { name: "user.username control character", call: usr({ username: "bad\nname" }), code: Code.InvalidArgument, message: /user\.username.*control/ },
  { name: "user.username surrounding space", call: usr({ username: " padded" }), code: Code.InvalidArgument, message: /user\.username.*white space/ },
  { name: "user.email invalid", call: usr({ email: "not-an-email" }), code: Code.InvalidArgument, message: /user\.email/ },
  { name: "user.email with space", call: usr({ email: "a b@example.com" }), code: Code.InvalidArgument, message: /user\.email/ },
  { name: "password too short", call: usr({}, "short"), code: Code.InvalidArgument, message: /^password must be at least 8/ },
  { name: "password too long", call: usr({}, "p".repeat(1025)), code: Code.InvalidArgument, message: /^password must be at most 1024/ },
  { name: "user.roles with space", call: usr({ roles: ["ok", "not ok"] }), code: Code.InvalidArgument, message: /user\.roles\[1\]/ },
  { name: "user.custom_claims registered claim", call: usr({ customClaims: { sub: "x", aud: "y", plan: "gold" } }), code: Code.InvalidArgument, message: /user\.custom_claims.*sub, aud/ },
  { name: "user.custom_claims empty name", call: usr({ customClaims: { "": 1 } }), code: Code.InvalidArgument, message: /user\.custom_claims names/ },
  { name: "user.custom_claims over 4 KiB", call: usr({ customClaims: { blob: "x".repeat(4100) } }), code: Code.InvalidArgument, message: /user\.custom_claims.*4096/ },
  { name: "user.application_ids unknown", call: usr({ applicationIds: ["app_nope"] }), code: Code.NotFound, message: /user\.application_ids.*app_nope/ },
  { name: "user update unknown mask path", call: (a, c) => a.users.updateUser({ user: { id: c.userId }, updateMask: { paths: ["password"] } }, c.token), code: Code.InvalidArgument, message: /update_mask.*password/ },
  { name: "set password too short", call: (a, c) => a.users.setUserPassword({ id: c.userId, password: "1234567" }, c.token), code: Code.InvalidArgument, message: /password/ },
  { name: "list sessions without user_id", call: (a, c) => a.users.listSessions({}, c.token), code: Code.InvalidArgument, message: /user_id is required/ },
  { name: "page_size negative", call: (a, c) => a.users.listUsers({ pageSize: -5 }, c.token), code: Code.InvalidArgument, message: /page_size/ },
  { name: "page_token garbage", call: (a, c) => a.resources.listResources({ pageToken: "not-a-token" }, c.token), code: Code.InvalidArgument, message: /page_token/ },
];

describe.each(DOORS)("admin validation over %s", (door) => {
  let server: TestServer;
  let admin: Admin;
  let ctx: Ctx;
  beforeAll(async () => {
    server = await startServer();
    admin = adminClients(server, door);
    const token = await managementToken(server);
    const { application } = await admin.applications.createApplication({ application: { displayName: "validation" } }, token);
    const { resource } = await admin.resources.createResource({ resource: { uri: "https://validation.example.com" } }, token);
    const { client } = await admin.applications.createClient({ client: { applicationId: application!.id } }, token);
    const { user } = await admin.users.createUser({ user: { username: "validation-user" } }, token);
    const defaultResourceId = (await admin.resources.listResources({}, token)).resources.find((r) => r.default)!.id;
    ctx = { token, appId: application!.id, resourceId: resource!.id, defaultResourceId, clientId: client!.id, userId: user!.id };
  });
  afterAll(async () => {
    admin.close();
    await server.dispose();
  });

  it.each(CASES)("$name", async ({ call, code, message }) => {
    await expectFailure(call(admin, ctx), code, message);
  });

  it("accepts loopback http redirect URIs, origins with ports and every bound at its limit", async () => {
    const { client } = await admin.applications.createClient(
      {
        client: {
          applicationId: ctx.appId,
          redirectUris: ["http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]:9000/cb", "https://app.example.com/cb?x=1"],
          webOrigins: ["https://app.example.com:8443", "http://localhost:3000"],
          grantTypes: ["authorization_code", "refresh_token"],
          scopes: ["openid", "profile"],
          accessTokenTtl: { seconds: 86400n },
          refreshTokenTtl: { seconds: 365n * DAY },
          maxRotation: { seconds: 5n * 365n * DAY },
          reuseLeeway: { seconds: 300n },
        },
      },
      ctx.token,
    );
    expect(client?.redirectUris).toHaveLength(4);
    expect(client?.maxRotation?.seconds).toBe(5n * 365n * DAY);
    const { resource } = await admin.resources.createResource({ resource: { uri: "urn:example:api", accessTokenTtl: { seconds: 60n }, refreshTokenTtl: { seconds: 60n }, maxRotation: { seconds: 60n } } }, ctx.token);
    expect(resource?.uri).toBe("urn:example:api");
  });

  it("a duplicate resource uri is ALREADY_EXISTS", async () => {
    await expectFailure(admin.resources.createResource({ resource: { uri: "https://validation.example.com" } }, ctx.token), Code.AlreadyExists, /already exists/);
  });

  it("usernames are unique case-insensitively, on create and on rename", async () => {
    await expectFailure(admin.users.createUser({ user: { username: "VALIDATION-user" } }, ctx.token), Code.AlreadyExists, /user\.username/);
    const { user } = await admin.users.createUser({ user: { username: unique("other") } }, ctx.token);
    await expectFailure(
      admin.users.updateUser({ user: { id: user!.id, username: "Validation-User" }, updateMask: { paths: ["username"] } }, ctx.token),
      Code.AlreadyExists,
    );
  });

  it("a failed CreateClient writes nothing (one bad resource id among good ones)", async () => {
    const before = (await admin.applications.listClients({ applicationId: ctx.appId, pageSize: 500 }, ctx.token)).clients.length;
    await expectFailure(cli({ resourceIds: [ctx.resourceId, "res_missing"] })(admin, ctx), Code.NotFound);
    const after = (await admin.applications.listClients({ applicationId: ctx.appId, pageSize: 500 }, ctx.token)).clients.length;
    expect(after).toBe(before);
    expect((await server.app.core.storage.resources.clientsUsing(ctx.resourceId)).length).toBe(0);
  });

  it("a failed UpdateClient leaves the client as it was", async () => {
    const { client } = await admin.applications.createClient({ client: { applicationId: ctx.appId, displayName: "keep", resourceIds: [ctx.resourceId] } }, ctx.token);
    await expectFailure(
      admin.applications.updateClient({ client: { id: client!.id, displayName: "changed", resourceIds: ["res_missing"] }, updateMask: { paths: ["display_name", "resource_ids"] } }, ctx.token),
      Code.NotFound,
    );
    const got = await admin.applications.getClient({ id: client!.id }, ctx.token);
    expect(got.client).toMatchObject({ displayName: "keep", resourceIds: [ctx.resourceId] });
  });

  it("a failed CreateUser writes nothing", async () => {
    const username = unique("ghost");
    await expectFailure(admin.users.createUser({ user: { username, applicationIds: [ctx.appId, "app_missing"] } }, ctx.token), Code.NotFound);
    expect((await server.app.core.storage.users.findByUsername("default", username))).toBeUndefined();
  });
});
