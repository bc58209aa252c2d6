import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { clientToken, jwtPayload, postForm, sqliteOf, startServer, type TestServer } from "../helpers/server.js";
import { createClient, createResource } from "../helpers/fixtures.js";
import { backendApp, cis, errorBody, login, refresh, refreshForm, renewBearer, type BackendApp, type Tokens } from "./setup.js";

describe("backend authentication over /cis JSON", () => {
  let server: TestServer;
  let app: BackendApp;
  beforeAll(async () => {
    server = await startServer();
    app = await backendApp(server, {}, { roles: ["reader"], customClaims: { tier: "gold", sub: "spoofed" } });
  });
  afterAll(() => server.dispose());
  beforeEach(() => renewBearer(server, app));

  it("password authentication returns tokens and a session for the user, application and resource", async () => {
    const res = await cis<Tokens>(server, "password/authenticate", app.bearer, { username: app.username.toUpperCase(), password: app.password });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(Object.keys(res.body).sort()).toEqual(["access_token", "expires_in", "id_token", "refresh_token", "session_id", "token_type"]);
    expect(res.body.token_type).toBe("Bearer");
    expect(res.body.expires_in).toBe(3600);
    expect(Buffer.from(res.body.refresh_token, "base64url").length).toBeGreaterThanOrEqual(32);
    const at = jwtPayload(res.body.access_token);
    expect(at).toMatchObject({ sub: app.userId, aud: "userid-api", client_id: app.clientId, app_id: app.appId, tid: "default", roles: ["reader"], tier: "gold" });
    expect(at.auth_time).toBe(server.clock.ms / 1000);
    expect(typeof at.sid).toBe("string");
    expect(at.sid).not.toBe(res.body.session_id);
    const id = jwtPayload(res.body.id_token);
    expect(id).toMatchObject({ sub: app.userId, aud: app.clientId, sid: at.sid, amr: ["pwd"], auth_time: at.auth_time });
    expect(typeof id.at_hash).toBe("string");
  });

  it("a refresh rotates, keeps sub, auth_time, sid and claims, and returns no session_id", async () => {
    const first = await login(server, app);
    server.clock.advance(600);
    const res = await refresh(server, app, first.refresh_token);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body.session_id).toBeUndefined();
    expect(res.body.refresh_token).not.toBe(first.refresh_token);
    const before = jwtPayload(first.access_token);
    const after = jwtPayload(res.body.access_token);
    expect(after).toMatchObject({ sub: before.sub, sid: before.sid, auth_time: before.auth_time, tier: "gold", roles: ["reader"] });
    expect(after.iat).toBe((before.iat as number) + 600);
    expect(jwtPayload(res.body.id_token)).toMatchObject({ amr: ["pwd"], sid: before.sid, auth_time: before.auth_time });
  });

  it("a reused refresh token revokes the family: the newest token fails too", async () => {
    const first = await login(server, app);
    const second = await refresh(server, app, first.refresh_token);
    const third = await refresh(server, app, second.body.refresh_token);
    expect(third.status).toBe(200);
    const reuse = await refresh(server, app, first.refresh_token);
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe("invalid_grant");
    expect(reuse.body.error_description).toMatch(/reuse detected/);
    const newest = await refresh(server, app, third.body.refresh_token);
    expect(newest.status).toBe(400);
    expect(newest.body.error).toBe("invalid_grant");
    const events = sqliteOf(server).prepare("SELECT count(*) AS n FROM refresh_reuse_events").get() as { n: number };
    expect(events.n).toBeGreaterThanOrEqual(1);
  });

  it("session authentication issues a new family, keeps the session and slides its expiry", async () => {
    const first = await login(server, app);
    server.clock.advance(13 * 86400);
    await renewBearer(server, app);
    const res = await cis<Tokens>(server, "session/authenticate", app.bearer, { session_id: first.session_id });
    expect(res.status).toBe(200);
    expect(res.body.session_id).toBe(first.session_id);
    expect(res.body.refresh_token).not.toBe(first.refresh_token);
    const at = jwtPayload(res.body.access_token);
    expect(at.sid).toBe(jwtPayload(first.access_token).sid);
    expect(at.auth_time).toBe(jwtPayload(first.access_token).auth_time);
    // 13 + 13 days after the login: alive only because session/authenticate extended it.
    server.clock.advance(13 * 86400);
    await renewBearer(server, app);
    expect((await cis(server, "session/authenticate", app.bearer, { session_id: first.session_id })).status).toBe(200);
    server.clock.advance(14 * 86400 + 1);
    await renewBearer(server, app);
    const expired = await cis(server, "session/authenticate", app.bearer, { session_id: first.session_id });
    expect(expired.status).toBe(400);
    expect(expired.body.error).toBe("invalid_grant");
  });

  it("logout ends the session and every refresh token born in it, and is idempotent", async () => {
    const first = await login(server, app);
    const viaSession = await cis<Tokens>(server, "session/authenticate", app.bearer, { session_id: first.session_id });
    const out = await cis(server, "logout", app.bearer, { session_id: first.session_id });
    expect(out.status).toBe(204);
    expect(out.headers.get("cache-control")).toBe("no-store");
    for (const token of [first.refresh_token, viaSession.body.refresh_token]) {
      const res = await refresh(server, app, token);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("invalid_grant");
    }
    expect((await cis(server, "session/authenticate", app.bearer, { session_id: first.session_id })).status).toBe(400);
    expect((await cis(server, "logout", app.bearer, { session_id: first.session_id })).status).toBe(204);
    expect((await cis(server, "logout", app.bearer, { session_id: "no-such-session" })).status).toBe(204);
  });

  it("a refresh of another application's token is refused and does not revoke it", async () => {
    const other = await backendApp(server);
    const mine = await login(server, app);
    const foreign = await refresh(server, other, mine.refresh_token);
    expect(foreign.status).toBe(400);
    expect(foreign.body.error).toBe("invalid_grant");
    expect(foreign.body.error_description).not.toMatch(/reuse/);
    expect((await refresh(server, app, mine.refresh_token)).status).toBe(200);
  });

  it("another client of the same application may not refresh, and the owner's token stays usable", async () => {
    const sibling = await createClient(server.app, app.appId);
    const mine = await login(server, app);
    const res = await refreshForm(server, { ...app, ...sibling }, mine.refresh_token);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_grant");
    expect((await refreshForm(server, app, mine.refresh_token)).status).toBe(200);
  });

  it("a user who is not a member, an unknown user and a wrong password get identical answers", async () => {
    const outsider = await backendApp(server);
    const answers = await Promise.all([
      cis(server, "password/authenticate", app.bearer, { username: app.username, password: "wrong password!" }),
      cis(server, "password/authenticate", app.bearer, { username: "nobody-here", password: "wrong password!" }),
      cis(server, "password/authenticate", app.bearer, { username: outsider.username, password: outsider.password }),
    ]);
    for (const a of answers) expect(a.status).toBe(400);
    expect(errorBody(answers[0]!.body)).toEqual({ error: "invalid_grant", error_description: "invalid username or password" });
    expect(errorBody(answers[1]!.body)).toEqual(errorBody(answers[0]!.body));
    expect(errorBody(answers[2]!.body)).toEqual(errorBody(answers[0]!.body));
  });

  it("requires a client access token: missing, malformed and user tokens get 401 invalid_token", async () => {
    const user = await login(server, app);
    for (const bearer of [undefined, "not-a-jwt", user.access_token]) {
      const res = await cis(server, "token/refresh", bearer, { refresh_token: user.refresh_token });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe("invalid_token");
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
    expect((await refresh(server, app, user.refresh_token)).status).toBe(200);
  });

  it("validates JSON bodies with errors naming the member", async () => {
    const wrongType = await cis(server, "password/authenticate", app.bearer, { username: 42, password: "x" });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body).toMatchObject({ error: "invalid_request", error_description: '"username" must be a string' });
    const missing = await cis(server, "token/refresh", app.bearer, {});
    expect(missing.body).toMatchObject({ error: "invalid_request", error_description: "refresh_token is required" });
    expect((await cis(server, "session/authenticate", app.bearer, { session_id: "" })).body).toMatchObject({ error: "invalid_request" });
    expect((await cis(server, "logout", app.bearer, [])).body).toMatchObject({ error: "invalid_request" });
    const form = await postForm(`${server.httpUrl}/cis/v1/auth/logout`, { session_id: "x" }, `Bearer ${app.bearer}`);
    expect(form.status).toBe(415);
  });

  it("scope may narrow on refresh but never widen", async () => {
    const first = await login(server, app, { scope: "openid email" });
    expect(first.scope).toBe("openid email");
    const narrow = await refresh(server, app, first.refresh_token, { scope: "email" });
    expect(narrow.status).toBe(200);
    expect(jwtPayload(narrow.body.access_token).scope).toBe("email");
    const wide = await refresh(server, app, narrow.body.refresh_token, { scope: "openid profile" });
    expect(wide.status).toBe(400);
    expect(wide.body.error).toBe("invalid_scope");
    // The family keeps its scopes: the next refresh without scope gets both again.
    const back = await refresh(server, app, narrow.body.refresh_token);
    expect(jwtPayload(back.body.access_token).scope).toBe("openid email");
  });

  it("a refresh may target only the resource its grant was issued for", async () => {
    const assigned = await createResource(server.app, "https://api.example.com/orders", { accessTokenTtl: 120 });
    await createResource(server.app, "https://api.example.com/secret");
    const target = await backendApp(server, { resourceIds: [assigned] });
    const wider = await refreshForm(server, target, (await login(server, target)).refresh_token, { resource: "https://api.example.com/orders" });
    expect(wider.status).toBe(400);
    expect(wider.body.error).toBe("invalid_target");
    const login2 = await login(server, target, { resource: "https://api.example.com/orders" });
    const tokens = await refreshForm(server, target, login2.refresh_token, { resource: "https://api.example.com/orders" });
    expect(tokens.status).toBe(200);
    expect(tokens.body.expires_in).toBe(120);
    expect(jwtPayload(tokens.body.access_token).aud).toBe("https://api.example.com/orders");
    const denied = await refreshForm(server, target, tokens.body.refresh_token, { resource: "https://api.example.com/secret" });
    expect(denied.status).toBe(400);
    expect(denied.body.error).toBe("invalid_target");
  });

  it("roles are re-read on refresh; a user removed from the application can no longer refresh", async () => {
    const member = await backendApp(server, {}, { roles: ["admin"] });
    const first = await login(server, member);
    const { core } = server.app;
    const user = (await core.storage.users.get("default", member.userId))!;
    await core.storage.users.update({ ...user, roles: ["viewer"] });
    const next = await refresh(server, member, first.refresh_token);
    expect(jwtPayload(next.body.access_token).roles).toEqual(["viewer"]);
    await core.storage.users.update({ ...user, applicationIds: [] });
    const refused = await refresh(server, member, next.body.refresh_token);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe("invalid_grant");
  });

  it("an access token is not a refresh token, and client_credentials never returns one", async () => {
    const res = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, server.basic(app.clientId, app.clientSecret));
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.refresh_token).toBeUndefined();
    const attempt = await refresh(server, app, body.access_token as string);
    expect(attempt.status).toBe(400);
    expect(attempt.body.error).toBe("invalid_grant");
  });

  it("a client barred from the refresh_token grant gets no refresh token and cannot refresh", async () => {
    const barred = await backendApp(server, { grantTypes: ["client_credentials"] });
    const res = await cis<Tokens>(server, "password/authenticate", barred.bearer, { username: barred.username, password: barred.password });
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).toBeUndefined();
    expect(res.body.session_id).toBeDefined();
    const sibling = await createClient(server.app, barred.appId);
    const tokens = await login(server, { ...barred, ...sibling, bearer: await clientToken(server, {}, server.basic(sibling.clientId, sibling.clientSecret)) });
    const refused = await refreshForm(server, barred, tokens.refresh_token);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe("unauthorized_client");
  });

  it("a public client cannot redeem a confidential client's refresh token; a confidential one needs its secret", async () => {
    const spa = await createClient(server.app, app.appId, { public: true });
    const tokens = await login(server, app);
    const form = (extra: Record<string, string>) =>
      postForm(`${server.httpUrl}/oidc/token`, { grant_type: "refresh_token", refresh_token: tokens.refresh_token, ...extra });
    const noSecret = await form({ client_id: app.clientId });
    expect(noSecret.status).toBe(401);
    expect(((await noSecret.json()) as { error: string }).error).toBe("invalid_client");
    const res = await form({ client_id: spa.clientId });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_grant");
    const owner = await form({ client_id: app.clientId, client_secret: app.clientSecret });
    expect(owner.status).toBe(200);
    expect(jwtPayload(((await owner.json()) as Tokens).access_token).client_id).toBe(app.clientId);
  });

  it("a deleted client's access token stops working at once", async () => {
    const doomed = await backendApp(server);
    const tokens = await login(server, doomed);
    (await server.app.core.storage.clients.delete("default", doomed.clientId));
    server.app.core.invalidateCaches();
    const res = await refresh(server, doomed, tokens.refresh_token);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("invalid_token");
  });

  it("another application can neither use nor end a session", async () => {
    const other = await backendApp(server);
    const mine = await login(server, app);
    const use = await cis(server, "session/authenticate", other.bearer, { session_id: mine.session_id });
    expect(use.status).toBe(400);
    expect(use.body.error).toBe("invalid_grant");
    expect((await cis(server, "logout", other.bearer, { session_id: mine.session_id })).status).toBe(204);
    expect((await cis(server, "session/authenticate", app.bearer, { session_id: mine.session_id })).status).toBe(200);
    expect((await refresh(server, app, mine.refresh_token)).status).toBe(200);
  });

  it("a deleted user's refresh tokens and sessions stop working", async () => {
    const member = await backendApp(server);
    const tokens = await login(server, member);
    (await server.app.core.storage.users.delete("default", member.userId));
    expect((await refresh(server, member, tokens.refresh_token)).body.error).toBe("invalid_grant");
    expect((await cis(server, "session/authenticate", member.bearer, { session_id: tokens.session_id })).body.error).toBe("invalid_grant");
  });
});
