import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MAX_REUSE_RETRIES } from "../../src/core/rotation.js";
import { sweepOnce } from "../../src/core/sweeper.js";
import { issueUserTokens, snapshotOf } from "../../src/core/user-tokens.js";
import { isActive } from "../conformance/binding-helpers.js";
import { createResource } from "../helpers/fixtures.js";
import { jwtPayload, rowCount, startServer, type TestServer } from "../helpers/server.js";
import { backendApp, cis, errorBody, login, refresh, refreshForm, renewBearer, type BackendApp } from "../sessions/setup.js";

describe("the rotation engine", () => {
  let server: TestServer;
  let app: BackendApp;
  let lenient: BackendApp;
  beforeAll(async () => {
    server = await startServer();
    app = await backendApp(server);
    lenient = await backendApp(server, { reuseLeeway: 60 });
  });
  afterAll(() => server.dispose());
  beforeEach(async () => {
    await renewBearer(server, app);
    await renewBearer(server, lenient);
  });

  it("50 concurrent refreshes of one token over HTTP: exactly one 200, every other answer 400 invalid_grant", async () => {
    const { refresh_token } = await login(server, app);
    const answers = await Promise.all(Array.from({ length: 50 }, () => refresh(server, app, refresh_token)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    for (const a of answers.filter((x) => x.status !== 200)) {
      expect(a.status).toBe(400);
      expect(a.body.error).toBe("invalid_grant");
    }
  });

  it("50 concurrent refreshes on /oidc/token: exactly one 200", async () => {
    const { refresh_token } = await login(server, app);
    const answers = await Promise.all(Array.from({ length: 50 }, () => refreshForm(server, app, refresh_token)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array<number>(49).fill(400)]);
  });

  it("inside the reuse leeway, retries get the same successor (one distinct successor in all)", async () => {
    const { refresh_token } = await login(server, lenient);
    const answers = await Promise.all(Array.from({ length: 50 }, () => refresh(server, lenient, refresh_token)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.body.refresh_token)).size).toBe(1);
    expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(50);
    server.clock.advance(30);
    const retry = await refresh(server, lenient, refresh_token);
    expect(retry.body.refresh_token).toBe(answers[0]!.body.refresh_token);
    expect((await refresh(server, lenient, answers[0]!.body.refresh_token)).status).toBe(200);
  });

  it("a retry after the leeway, or after the successor was used, is reuse", async () => {
    const first = await login(server, lenient);
    const second = await refresh(server, lenient, first.refresh_token);
    server.clock.advance(61);
    const late = await refresh(server, lenient, first.refresh_token);
    expect(late.status).toBe(400);
    expect(late.body.error_description).toMatch(/reuse detected/);
    expect((await refresh(server, lenient, second.body.refresh_token)).status).toBe(400);

    const again = await login(server, lenient);
    const next = await refresh(server, lenient, again.refresh_token);
    await refresh(server, lenient, next.body.refresh_token);
    const stale = await refresh(server, lenient, again.refresh_token);
    expect(stale.body.error_description).toMatch(/reuse detected/);
  });

  it(`the leeway honours at most ${MAX_REUSE_RETRIES} retries of one token`, async () => {
    const { refresh_token } = await login(server, lenient);
    await refresh(server, lenient, refresh_token);
    for (let i = 0; i < MAX_REUSE_RETRIES; i++) expect((await refresh(server, lenient, refresh_token)).status).toBe(200);
    const over = await refresh(server, lenient, refresh_token);
    expect(over.status).toBe(400);
    expect(over.body.error_description).toMatch(/reuse detected/);
  });

  it("each rotation gets a fresh refresh TTL but never beyond the maximum rotation", async () => {
    const res = await createResource(server.app, "https://api.example.com/short", { refreshTokenTtl: 86400, maxRotation: 3 * 86400, accessTokenTtl: 600 });
    const scoped = await backendApp(server, { resourceIds: [res], refreshTokenTtl: 7 * 86400, accessTokenTtl: 60, maxRotation: 30 * 86400 });
    let token = (await login(server, scoped, { resource: "https://api.example.com/short" })).refresh_token;
    // Refresh every 20 hours: each token lives one day from its own issue.
    for (let i = 0; i < 3; i++) {
      server.clock.advance(20 * 3600);
      const next = await refreshForm(server, scoped, token);
      expect(next.status).toBe(200);
      expect(next.body.expires_in).toBe(600);
      token = next.body.refresh_token;
    }
    // 60 h after login; the token's TTL would reach 84 h, but the family dies at 72 h.
    const { core } = server.app;
    const row = (await core.storage.refreshTokens.getToken(core.secrets.hash("refresh-token", token)))!;
    const family = (await core.storage.refreshTokens.getFamily(row.familyId))!;
    expect(row.expireTime).toBe(family.maxExpireTime);
    expect(family.maxExpireTime - family.authTime).toBe(3 * 86400);
    server.clock.advance(12 * 3600);
    const dead = await refreshForm(server, scoped, token);
    expect(dead.status).toBe(400);
    expect(dead.body.error).toBe("invalid_grant");
    expect(dead.body.error_description).toMatch(/re-authentication is required/);
  });

  it("an unused refresh token expires after its TTL", async () => {
    const scoped = await backendApp(server, { refreshTokenTtl: 3600 });
    const { refresh_token } = await login(server, scoped);
    server.clock.advance(3601);
    const res = await refreshForm(server, scoped, refresh_token);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: "invalid_grant", error_description: "the refresh token has expired" });
  });

  it("a resource's lifetimes beat the client's overrides", async () => {
    const res = await createResource(server.app, "https://api.example.com/ttl", { accessTokenTtl: 50, refreshTokenTtl: 100 });
    const scoped = await backendApp(server, { resourceIds: [res], accessTokenTtl: 900, refreshTokenTtl: 5000 });
    const plain = await login(server, scoped);
    expect(plain.expires_in).toBe(900);
    const targeted = await login(server, scoped, { resource: "https://api.example.com/ttl" });
    expect(targeted.expires_in).toBe(50);
    server.clock.advance(101);
    expect((await refreshForm(server, scoped, targeted.refresh_token)).body.error_description).toBe("the refresh token has expired");
    expect((await refreshForm(server, scoped, plain.refresh_token)).status).toBe(200);
  });

  it("the sweeper deletes dead chains in bounded batches and keeps consumed tokens of live families", async () => {
    const { core } = server.app;
    // Every family of the earlier tests is long dead a month on, and swept.
    server.clock.advance(30 * 86400);
    while ((await sweepOnce(core)).families > 0);
    const count = () => rowCount(server, "refresh_tokens");
    const scoped = await backendApp(server, { refreshTokenTtl: 3600 });
    const live = await login(server, scoped);
    const next = await refreshForm(server, scoped, live.refresh_token);
    const chains = await Promise.all([login(server, scoped), login(server, scoped), login(server, scoped)]);
    server.clock.advance(1800);
    const kept = await refreshForm(server, scoped, next.body.refresh_token);
    server.clock.advance(1801);
    // The three idle chains are dead, but an access token they issued could live a day (the longest access-token
    // lifetime), and a family that is gone counts as revoked for it: they are kept that long.
    expect((await sweepOnce(core)).families).toBe(0);
    const idle = chains[0]!.access_token;
    let token = kept.body.refresh_token;
    for (let t = 0; t < 86400; t += 3000) {
      const step = await refreshForm(server, scoped, token);
      expect(step.body).toMatchObject({ refresh_token: expect.any(String) });
      token = step.body.refresh_token;
      server.clock.advance(3000);
    }
    // A day on; the live one goes on rotating.
    const before = await count();
    expect((await sweepOnce(core, 2)).families).toBe(2);
    expect((await sweepOnce(core, 2)).families).toBe(1);
    expect(await count()).toBe(before - 3);
    expect((await sweepOnce(core)).families).toBe(0);
    expect((await refreshForm(server, scoped, token)).status).toBe(200);
    expect(jwtPayload(idle).exp).toBeLessThan(core.now());
    const reuse = await refreshForm(server, scoped, live.refresh_token);
    expect(reuse.body.error_description).toMatch(/reuse detected/);
    for (const c of chains) expect((await refreshForm(server, scoped, c.refresh_token)).body.error).toBe("invalid_grant");
  });

  it("an access token that outlives its family's refresh token stays active through sweeps until it expires", async () => {
    const { core } = server.app;
    const scoped = await backendApp(server, { accessTokenTtl: 86400, refreshTokenTtl: 3600 });
    const tokens = await login(server, scoped);
    server.clock.advance(7200);
    await sweepOnce(core);
    expect(await isActive(server, tokens.access_token, scoped.clientId, scoped.clientSecret)).toBe(true);
    server.clock.advance(86400 - 7200 + 3);
    expect(await isActive(server, tokens.access_token, scoped.clientId, scoped.clientSecret)).toBe(false);
  });

  it("a user deleted between a grant's checks and its write: invalid_grant, and nothing written", async () => {
    const { core } = server.app;
    const scoped = await backendApp(server);
    const ctx = (await core.clientContext(scoped.clientId))!;
    const user = (await core.storage.users.get("default", scoped.userId))!;
    const families = await rowCount(server, "refresh_families");
    const issue = issueUserTokens(core, {
      ctx,
      resource: ctx.defaultResource,
      userId: "usr_deleted_meanwhile",
      scopes: [],
      snapshot: snapshotOf(user, ["pwd"]),
      authTime: core.now(),
      sid: undefined,
      offline: true,
    });
    await expect(issue).rejects.toMatchObject({ kind: "invalid_grant", description: "the user or their session no longer exists" });
    expect(await rowCount(server, "refresh_families")).toBe(families);
  });

  it("sessions outlive their expiry while a refresh family refers to them, then are swept", async () => {
    const { core } = server.app;
    const scoped = await backendApp(server, { refreshTokenTtl: 20 * 86400 });
    const tokens = await login(server, scoped);
    const sid = jwtPayload(tokens.access_token).sid as string;
    server.clock.advance(15 * 86400);
    await sweepOnce(core);
    expect((await core.storage.sessions.get("default", sid))).toBeDefined();
    // Offline access continues after the session expired.
    const next = await refreshForm(server, scoped, tokens.refresh_token);
    expect(next.status).toBe(200);
    server.clock.advance(21 * 86400);
    await sweepOnce(core);
    expect((await core.storage.sessions.get("default", sid))).toBeUndefined();
  });
});

describe("password throttling", () => {
  let server: TestServer;
  let app: BackendApp;
  beforeAll(async () => {
    server = await startServer();
    app = await backendApp(server);
  });
  afterAll(() => server.dispose());
  beforeEach(() => renewBearer(server, app));

  const attempt = (username: string, password: string) => cis(server, "password/authenticate", app.bearer, { username, password });

  it("locks a username after five failures, even for the right password, and releases after the window", async () => {
    for (let i = 0; i < 4; i++) expect((await attempt(app.username, "wrong password")).status).toBe(400);
    const fifth = await attempt(app.username, "wrong password");
    expect(errorBody(fifth.body)).toEqual({ error: "invalid_grant", error_description: "invalid username or password" });
    const locked = await attempt(app.username, app.password);
    expect(locked.status).toBe(429);
    expect(locked.body.error).toBe("too_many_attempts");
    expect(locked.headers.get("retry-after")).toBe("30");
    server.clock.advance(31);
    expect((await attempt(app.username, app.password)).status).toBe(200);
    // Success resets the count: four more failures do not lock.
    for (let i = 0; i < 4; i++) await attempt(app.username, "wrong password");
    expect((await attempt(app.username, app.password)).status).toBe(200);
  });

  it("the lock doubles with each further failure, is capped at 15 minutes and always releases", async () => {
    for (let i = 0; i < 4; i++) await attempt(app.username, "wrong password");
    const locks: number[] = [];
    for (let i = 0; i < 7; i++) {
      expect((await attempt(app.username, "wrong password")).status).toBe(400);
      const res = await attempt(app.username, app.password);
      expect(res.status).toBe(429);
      const wait = Number(/retry in (\d+) s/.exec(res.body.error_description as string)![1]);
      locks.push(wait);
      server.clock.advance(wait - 1);
      expect((await attempt(app.username, app.password)).status).toBe(429);
      server.clock.advance(1);
    }
    expect(locks).toEqual([30, 60, 120, 240, 480, 900, 900]);
    expect((await attempt(app.username, app.password)).status).toBe(200);
  });

  it("throttles per application: failures through another application's client do not lock this one's users", async () => {
    const other = await backendApp(server);
    const elsewhere = (password: string) => cis(server, "password/authenticate", other.bearer, { username: app.username, password });
    for (let i = 0; i < 5; i++) expect((await elsewhere("wrong password")).status).toBe(400);
    expect((await elsewhere(app.password)).status).toBe(429); // locked there (and not a member anyway)
    expect((await attempt(app.username, app.password)).status).toBe(200);
  });

  it("throttles unknown usernames the same way, and per username only", async () => {
    for (let i = 0; i < 5; i++) await attempt("ghost-user", "whatever it is");
    expect((await attempt("ghost-user", "whatever it is")).status).toBe(429);
    expect((await attempt(app.username, app.password)).status).toBe(200);
  });
});
