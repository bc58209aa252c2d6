import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApplication, createClient, createResource, createUser } from "../helpers/fixtures.js";
import { jwtPayload, postForm, startServer, type TestServer } from "../helpers/server.js";
import { completeLogin, CookieBrowser, hiddenField, REDIRECT_URI } from "./oidc-helpers.js";

const json = async (res: Response) => (await res.json()) as Record<string, unknown>;
const verifier = () => randomBytes(32).toString("base64url");
const challenge = (v: string) => createHash("sha256").update(v).digest("base64url");

describe("authorization endpoint, hosted pages and code exchange: refusals", () => {
  let server: TestServer;
  let appId: string;
  let conf: { clientId: string; clientSecret: string };
  let pub: { clientId: string };
  let user: { username: string; password: string; userId: string };
  let resourceId: string;

  beforeAll(async () => {
    server = await startServer();
    appId = await createApplication(server.app);
    resourceId = await createResource(server.app, "https://api.example/orders");
    conf = await createClient(server.app, appId, { redirectUris: [REDIRECT_URI], displayName: "<b>Shop</b>", resourceIds: [resourceId] });
    pub = await createClient(server.app, appId, { public: true, redirectUris: [REDIRECT_URI] });
    user = await createUser(server.app, { applicationIds: [appId] });
  });
  afterAll(() => server.dispose());

  function authUrl(params: Record<string, string>): string {
    const url = new URL(`${server.httpUrl}/oidc/auth`);
    for (const [k, v] of Object.entries({ response_type: "code", scope: "openid", redirect_uri: REDIRECT_URI, ...params })) {
      url.searchParams.set(k, v);
    }
    return url.href;
  }

  async function errorRedirect(params: Record<string, string>, browser = new CookieBrowser(server.httpUrl)): Promise<URLSearchParams> {
    const res = await browser.get(authUrl(params));
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get("location")!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get("iss")).toBe(server.httpUrl);
    return location.searchParams;
  }

  async function code(clientId: string, extra: Record<string, string> = {}, browser = new CookieBrowser(server.httpUrl)): Promise<string> {
    const callback = await completeLogin(browser, authUrl({ client_id: clientId, ...extra }), user);
    const c = callback.searchParams.get("code");
    if (c === null) throw new Error(`no code: ${callback.href}`);
    return c;
  }

  const exchange = (form: Record<string, string>, auth = server.basic(conf.clientId, conf.clientSecret)) =>
    postForm(`${server.httpUrl}/oidc/token`, { grant_type: "authorization_code", redirect_uri: REDIRECT_URI, ...form }, auth);

  it("an unknown client_id or an unregistered redirect_uri is an error page, never a redirect", async () => {
    for (const params of <Record<string, string>[]>[{ client_id: "nope" }, { client_id: conf.clientId, redirect_uri: "https://evil.example/cb" }, { client_id: conf.clientId, redirect_uri: `${REDIRECT_URI}/x` }]) {
      const res = await fetch(authUrl(params), { redirect: "manual" });
      expect(res.status).toBe(400);
      expect(res.headers.get("location")).toBeNull();
      expect(res.headers.get("content-type")).toContain("text/html");
      expect(await res.text()).not.toContain("evil.example");
    }
  });

  it("request errors go back to the redirect URI with state", async () => {
    expect(Object.fromEntries(await errorRedirect({ client_id: conf.clientId, response_type: "token", state: "s1" }))).toMatchObject({
      error: "unsupported_response_type",
      state: "s1",
    });
    expect((await errorRedirect({ client_id: conf.clientId, scope: "profile" })).get("error")).toBe("invalid_scope");
    expect((await errorRedirect({ client_id: conf.clientId, scope: "openid admin" })).get("error")).toBe("invalid_scope");
    expect((await errorRedirect({ client_id: conf.clientId, resource: "https://other.example/" })).get("error")).toBe("invalid_target");
    expect((await errorRedirect({ client_id: conf.clientId, prompt: "none login" })).get("error")).toBe("invalid_request");
    expect(Object.fromEntries(await errorRedirect({ client_id: conf.clientId, prompt: "login  consent", state: "s2" }))).toMatchObject({ error: "invalid_request", state: "s2" });
    const twoResources = await new CookieBrowser(server.httpUrl).get(`${authUrl({ client_id: conf.clientId, resource: "https://api.example/orders" })}&resource=userid-api`);
    expect(new URL(twoResources.headers.get("location")!).searchParams.get("error")).toBe("invalid_target");
    expect((await errorRedirect({ client_id: conf.clientId, max_age: "-1" })).get("error")).toBe("invalid_request");
  });

  it("PKCE: a public client must send S256; plain is refused for everyone", async () => {
    const noPkce = await errorRedirect({ client_id: pub.clientId, state: "p" });
    expect(noPkce.get("error")).toBe("invalid_request");
    expect(noPkce.get("error_description")).toMatch(/code_challenge/);
    const v = verifier();
    const plain = await errorRedirect({ client_id: conf.clientId, code_challenge: v, code_challenge_method: "plain" });
    expect(plain.get("error")).toBe("invalid_request");
    const implicitPlain = await errorRedirect({ client_id: pub.clientId, code_challenge: v });
    expect(implicitPlain.get("error")).toBe("invalid_request");
  });

  it("prompt=none without a browser session answers login_required", async () => {
    const p = await errorRedirect({ client_id: conf.clientId, prompt: "none", state: "q" });
    expect(p.get("error")).toBe("login_required");
    expect(p.get("state")).toBe("q");
  });

  it("prompt=none with a session but no remembered consent answers consent_required", async () => {
    const browser = new CookieBrowser(server.httpUrl);
    await code(conf.clientId, { scope: "openid" }, browser);
    expect((await errorRedirect({ client_id: conf.clientId, scope: "openid profile", prompt: "none" }, browser)).get("error")).toBe("consent_required");
  });

  it("hosted pages send strict security headers, escape the client's name and set HttpOnly SameSite cookies", async () => {
    const browser = new CookieBrowser(server.httpUrl);
    const first = await fetch(authUrl({ client_id: conf.clientId }), { redirect: "manual" });
    const setCookie = first.headers.getSetCookie()[0]!;
    expect(setCookie).toMatch(/^tessera_ix_ixn_[\w-]+=[\w-]+; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax$/);
    await browser.get(authUrl({ client_id: conf.clientId }));
    const [name] = [...browser.cookies.keys()];
    const res = await browser.get(`/oidc/interaction?id=${name!.replace("tessera_ix_", "")}`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("form-action 'self' https://rp.example");
    expect(csp).toMatch(/style-src 'nonce-[^']+'/);
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    const page = await res.text();
    expect(page).toContain("&#60;b&#62;Shop&#60;/b&#62;");
    expect(page).not.toContain("<b>Shop");
    expect(page).not.toContain("<script");
    expect(page).toMatch(/<label for="username">/);
    expect(page).toMatch(/<label for="password">/);
  });

  it("a login post without or with a wrong CSRF token is refused with 403", async () => {
    const browser = new CookieBrowser(server.httpUrl);
    const location = (await browser.get(authUrl({ client_id: conf.clientId }))).headers.get("location")!;
    const page = await (await browser.get(location)).text();
    const interaction = hiddenField(page, "interaction");
    const form = { interaction, username: user.username, password: user.password };
    expect((await browser.post("/oidc/interaction/login", form)).status).toBe(403);
    expect((await browser.post("/oidc/interaction/login", { ...form, csrf: "x".repeat(43) })).status).toBe(403);
    // The right token from a browser without the interaction cookie (a cross-site post) is refused too.
    const stranger = new CookieBrowser(server.httpUrl);
    expect((await stranger.post("/oidc/interaction/login", { ...form, csrf: hiddenField(page, "csrf") })).status).toBe(403);
    expect(browser.cookies.has("tessera_session")).toBe(false);
  });

  it("a wrong password and a user of another application get the same generic message", async () => {
    const outsider = await createUser(server.app, { applicationIds: [await createApplication(server.app)] });
    for (const [username, password] of [[user.username, "wrong password!"], ["nobody-here", "whatever123"], [outsider.username, outsider.password]]) {
      const browser = new CookieBrowser(server.httpUrl);
      const location = (await browser.get(authUrl({ client_id: conf.clientId }))).headers.get("location")!;
      const page = await (await browser.get(location)).text();
      const res = await browser.post("/oidc/interaction/login", {
        interaction: hiddenField(page, "interaction"),
        csrf: hiddenField(page, "csrf"),
        username: username!,
        password: password!,
      });
      expect(res.status).toBe(400);
      const again = await res.text();
      expect(again).toContain("Wrong username or password.");
      expect(again).toContain('action="/oidc/interaction/login"');
      expect(browser.cookies.has("tessera_session")).toBe(false);
    }
  });

  it("Deny on the consent screen returns access_denied", async () => {
    const callback = await completeLogin(new CookieBrowser(server.httpUrl), authUrl({ client_id: conf.clientId, state: "d", prompt: "consent" }), { ...user, consent: "deny" });
    expect(callback.searchParams.get("error")).toBe("access_denied");
    expect(callback.searchParams.get("state")).toBe("d");
  });

  it("a consent form submitted twice issues one code", async () => {
    const browser = new CookieBrowser(server.httpUrl);
    const location = (await browser.get(authUrl({ client_id: conf.clientId, prompt: "consent" }))).headers.get("location")!;
    let page = await (await browser.get(location)).text();
    const login = await browser.post("/oidc/interaction/login", { interaction: hiddenField(page, "interaction"), csrf: hiddenField(page, "csrf"), ...user });
    page = await (await browser.get(login.headers.get("location")!)).text();
    const form = { interaction: hiddenField(page, "interaction"), csrf: hiddenField(page, "csrf"), decision: "allow" };
    const cookies = new Map(browser.cookies);
    const first = await browser.post("/oidc/interaction/consent", form);
    expect(first.headers.get("location")).toMatch(/^https:\/\/rp\.example\/callback\?code=/);
    for (const [k, v] of cookies) browser.cookies.set(k, v);
    const second = await browser.post("/oidc/interaction/consent", form);
    expect(second.status).toBe(400);
    expect(second.headers.get("location")).toBeNull();
  });

  it("prompt=login and an exceeded max_age show the login form again despite a session", async () => {
    const browser = new CookieBrowser(server.httpUrl);
    await code(conf.clientId, {}, browser);
    const silent = await browser.get(authUrl({ client_id: conf.clientId }));
    expect(silent.headers.get("location")).toMatch(/^https:\/\/rp\.example\/callback\?code=/);
    const cases: [Record<string, string>, number][] = [[{ prompt: "login" }, 0], [{ max_age: "0" }, 0], [{ max_age: "30" }, 31]];
    for (const [extra, wait] of cases) {
      server.clock.advance(wait);
      const res = await browser.get(authUrl({ client_id: conf.clientId, ...extra }));
      expect(res.headers.get("location")).toMatch(/^\/oidc\/interaction\?id=/);
      const page = await (await browser.get(res.headers.get("location")!)).text();
      expect(page).toContain('action="/oidc/interaction/login"');
    }
  });

  it("the code exchange checks PKCE, redirect_uri, client and expiry", async () => {
    const v = verifier();
    const pkce = { code_challenge: challenge(v), code_challenge_method: "S256" };
    const c1 = await code(conf.clientId, pkce);
    expect(await json(await exchange({ code: c1 }))).toMatchObject({ error: "invalid_grant", error_description: "code_verifier is required" });
    const c2 = await code(conf.clientId, pkce);
    expect((await json(await exchange({ code: c2, code_verifier: verifier() }))).error).toBe("invalid_grant");
    const c3 = await code(conf.clientId, pkce);
    expect((await json(await exchange({ code: c3, code_verifier: v, redirect_uri: "https://rp.example/other" }))).error).toBe("invalid_grant");
    const other = await createClient(server.app, appId, { redirectUris: [REDIRECT_URI] });
    const c4 = await code(conf.clientId, pkce);
    const wrongClient = await exchange({ code: c4, code_verifier: v }, server.basic(other.clientId, other.clientSecret));
    expect((await json(wrongClient)).error).toBe("invalid_grant");
    const c5 = await code(conf.clientId, pkce);
    server.clock.advance(61);
    expect(await json(await exchange({ code: c5, code_verifier: v }))).toMatchObject({ error: "invalid_grant", error_description: "authorization code expired" });
    const c6 = await code(conf.clientId, {});
    expect((await json(await exchange({ code: c6, code_verifier: v }))).error).toBe("invalid_grant");
    const c7 = await code(conf.clientId, pkce);
    const ok = await exchange({ code: c7, code_verifier: v });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toBe("no-store");
  });

  it("a public client exchanges with client_id and code_verifier only; without the verifier it is invalid_grant (RFC 7636 §4.6)", async () => {
    const v = verifier();
    const c = await code(pub.clientId, { code_challenge: challenge(v), code_challenge_method: "S256" });
    const without = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "authorization_code", code: c, redirect_uri: REDIRECT_URI, client_id: pub.clientId });
    expect(without.status).toBe(400);
    expect(await json(without)).toMatchObject({ error: "invalid_grant", error_description: "code_verifier is required" });
    const res = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "authorization_code", code: c, redirect_uri: REDIRECT_URI, client_id: pub.clientId, code_verifier: v });
    expect(res.status).toBe(200);
    const cc = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials", client_id: pub.clientId });
    expect(cc.status).toBe(401);
  });

  it("a reused code is refused and revokes the refresh token the first exchange issued", async () => {
    const v = verifier();
    const c = await code(conf.clientId, { scope: "openid offline_access", prompt: "consent", code_challenge: challenge(v), code_challenge_method: "S256" });
    const first = (await json(await exchange({ code: c, code_verifier: v }))) as { refresh_token: string; access_token: string };
    expect(first.refresh_token).toEqual(expect.any(String));
    const introspect = () => postForm(`${server.httpUrl}/oidc/introspect`, { token: first.refresh_token }, server.basic(conf.clientId, conf.clientSecret));
    expect(await (await introspect()).json()).toMatchObject({ active: true });
    const again = await exchange({ code: c, code_verifier: v });
    expect(again.status).toBe(400);
    expect((await json(again)).error_description).toMatch(/already used/);
    expect(await (await introspect()).json()).toEqual({ active: false });
  });

  it("two exchanges of one code at once: one wins, and what it issued is revoked as for any replay", async () => {
    // Both exchanges read the code before either consumes it: the first two reads wait for each other.
    const repo = server.app.core.storage.authorizations;
    const getCode = repo.getCode;
    for (let round = 0; round < 2; round++) {
      const v = verifier();
      const c = await code(conf.clientId, { scope: "openid offline_access", prompt: "consent", code_challenge: challenge(v), code_challenge_method: "S256" });
      let arrived = 0;
      let release!: () => void;
      const both = new Promise<void>((resolve) => (release = resolve));
      repo.getCode = async (hash) => {
        const read = await getCode.call(repo, hash);
        if (++arrived === 2) release();
        if (arrived <= 2) await both;
        return read;
      };
      const answers = await Promise.all([exchange({ code: c, code_verifier: v }), exchange({ code: c, code_verifier: v })]).finally(() => (repo.getCode = getCode));
      expect(answers.map((a) => a.status).sort()).toEqual([200, 400]);
      const [won, lost] = answers[0]!.status === 200 ? answers : [answers[1]!, answers[0]!];
      expect((await json(lost!)).error_description).toMatch(/already used/);
      const tokens = (await json(won!)) as { refresh_token: string; access_token: string };
      for (const token of [tokens.refresh_token, tokens.access_token]) {
        const res = await postForm(`${server.httpUrl}/oidc/introspect`, { token }, server.basic(conf.clientId, conf.clientSecret));
        expect(await res.json()).toEqual({ active: false });
      }
      expect(arrived).toBe(3); // the two exchanges, then the loser's read of what the winner issued
    }
  });

  it("an assigned resource becomes the access token's audience", async () => {
    const v = verifier();
    const c = await code(conf.clientId, { resource: "https://api.example/orders", code_challenge: challenge(v), code_challenge_method: "S256" });
    const body = (await json(await exchange({ code: c, code_verifier: v }))) as { access_token: string; id_token: string };
    expect(jwtPayload(body.access_token).aud).toBe("https://api.example/orders");
    expect(jwtPayload(body.id_token).aud).toBe(conf.clientId);
    const info = await fetch(`${server.httpUrl}/oidc/userinfo`, { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(info.status).toBe(401);
    expect(info.headers.get("www-authenticate")).toMatch(/^Bearer .*error="invalid_token"/);
  });

  it("introspection by another application's client says inactive; unknown tokens revoke with 200", async () => {
    const v = verifier();
    const c = await code(conf.clientId, { code_challenge: challenge(v), code_challenge_method: "S256" });
    const { access_token } = (await json(await exchange({ code: c, code_verifier: v }))) as { access_token: string };
    const stranger = await createClient(server.app, await createApplication(server.app));
    const res = await postForm(`${server.httpUrl}/oidc/introspect`, { token: access_token }, server.basic(stranger.clientId, stranger.clientSecret));
    expect(await res.json()).toEqual({ active: false });
    const revoke = await postForm(`${server.httpUrl}/oidc/revoke`, { token: "not-a-token" }, server.basic(conf.clientId, conf.clientSecret));
    expect(revoke.status).toBe(200);
    const unauthenticated = await postForm(`${server.httpUrl}/oidc/introspect`, { token: access_token });
    expect(unauthenticated.status).toBe(401);
    const noToken = await fetch(`${server.httpUrl}/oidc/userinfo`);
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get("www-authenticate")).toMatch(/^Bearer /);
  });

  it("end session without a redirect shows a page; an unregistered post_logout_redirect_uri is an error page", async () => {
    const ok = await fetch(`${server.httpUrl}/oidc/session/end`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("Signed out");
    const bad = await fetch(`${server.httpUrl}/oidc/session/end?client_id=${conf.clientId}&post_logout_redirect_uri=https://evil.example/`, { redirect: "manual" });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("location")).toBeNull();
  });

  it("an access token is not an id_token_hint, though tessera signed it too", async () => {
    const accessToken = (await json(await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, server.basic(conf.clientId, conf.clientSecret))))
      .access_token as string;
    const res = await fetch(`${server.httpUrl}/oidc/session/end?id_token_hint=${accessToken}`, { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("not an ID token issued here");
  });

  it("a state longer than 4096 characters is refused, and not echoed into the redirect", async () => {
    const params = await errorRedirect({ client_id: conf.clientId, state: "s".repeat(4097) });
    expect(params.get("error")).toBe("invalid_request");
    expect(params.get("error_description")).toContain("state");
    expect(params.has("state")).toBe(false);
    // At the limit it is echoed as usual (here with another error to get a redirect at once).
    const atLimit = await errorRedirect({ client_id: conf.clientId, state: "s".repeat(4096), prompt: "bogus" });
    expect(atLimit.get("state")).toHaveLength(4096);
  });
});

describe("cookies behind an https issuer", () => {
  it("are Secure", async () => {
    const server = await startServer({ env: { TESSERA_ISSUER: "https://id.example" } });
    try {
      const { port } = server.app.httpServer.address() as { port: number };
      const appId = await createApplication(server.app);
      const { clientId } = await createClient(server.app, appId, { redirectUris: [REDIRECT_URI] });
      const res = await fetch(`http://127.0.0.1:${port}/oidc/auth?client_id=${clientId}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&response_type=code&scope=openid`, {
        redirect: "manual",
      });
      expect(res.headers.getSetCookie()[0]).toMatch(/; HttpOnly; SameSite=Lax; Secure$/);
    } finally {
      await server.dispose();
    }
  });
});
