/*
 * OpenID Connect Core 1.0, the authorization endpoint (§3.1.2).
 * MUST items covered:
 * - §3.1.2.1 id_token_hint: when the End-User it names is not the one logged in, the OP does not
 *   answer for the logged-in user: `prompt=none` gives `login_required`, otherwise the user logs in again.
 * - §3.1.2.1 id_token_hint is an ID token the OP issued: an access token or a JWT with a broken
 *   signature is refused (`invalid_request`, sent back to the redirect URI with `state`); an expired
 *   ID token is still a valid hint ("the ID Token ... MAY be expired").
 * - §3.1.2.1 / §5.4 scope values the OP does not support are ignored, not refused: `phone` and
 *   `address` (standard scopes tessera has no claims for) do not fail the request and are not granted.
 *   A scope that is neither standard nor the client's stays `invalid_scope` (RFC 6749 §3.3).
 * - §3.1.2.6 errors go to the redirect URI with `state` and (RFC 9207) `iss`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "../helpers/fixtures.js";
import { jwtPayload, startServer, TestClock, type TestServer } from "../helpers/server.js";
import { authorizationRequest, completeLogin, CookieBrowser, REDIRECT_URI, relyingParty, signIn, type RelyingParty } from "../oidc/oidc-helpers.js";

describe("OIDC Core §3.1.2: the authorization request", () => {
  let server: TestServer;
  let rp: RelyingParty;
  let browserA: CookieBrowser;
  let idTokenA: string;
  let idTokenB: string;
  let accessTokenA: string;

  beforeAll(async () => {
    server = await startServer({ clock: new TestClock(Date.now()) });
    rp = await relyingParty(server);
    browserA = new CookieBrowser(server.httpUrl);
    const a = await signIn(server, rp, { scope: "openid" }, browserA);
    idTokenA = a.tokens.id_token!;
    accessTokenA = a.tokens.access_token;
    const b = await createUser(server.app, { applicationIds: [rp.appId] });
    const { url, verifier, state } = await authorizationRequest(rp.config, { scope: "openid" });
    const callback = await completeLogin(new CookieBrowser(server.httpUrl), url.href, { username: b.username, password: b.password });
    expect(callback.searchParams.get("state")).toBe(state);
    const exchanged = await fetch(`${server.httpUrl}/oidc/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: server.basic(rp.clientId, rp.clientSecret) },
      body: new URLSearchParams({ grant_type: "authorization_code", code: callback.searchParams.get("code")!, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
    });
    idTokenB = ((await exchanged.json()) as { id_token: string }).id_token;
    expect(jwtPayload(idTokenB).sub).toBe(b.userId);
  });
  afterAll(() => server.dispose());

  /** One authorization request from browser A (signed in as user A, consent remembered); the 303's Location. */
  async function authorize(params: Record<string, string>): Promise<URL> {
    const { url } = await authorizationRequest(rp.config, { scope: "openid", state: "xyz", ...params });
    const res = await browserA.get(url.href);
    expect(res.status).toBe(303);
    return new URL(res.headers.get("location")!, server.httpUrl);
  }

  it("with no hint, or a hint naming the signed-in user, prompt=none answers with a code", async () => {
    expect((await authorize({ prompt: "none" })).searchParams.has("code")).toBe(true);
    const hinted = await authorize({ prompt: "none", id_token_hint: idTokenA });
    expect(hinted.searchParams.get("error")).toBeNull();
    expect(hinted.searchParams.has("code")).toBe(true);
  });

  it("a hint naming another user gives login_required with prompt=none", async () => {
    const res = await authorize({ prompt: "none", id_token_hint: idTokenB });
    expect(`${res.origin}${res.pathname}`).toBe(REDIRECT_URI);
    expect(res.searchParams.get("error")).toBe("login_required");
    expect(res.searchParams.get("state")).toBe("xyz");
    expect(res.searchParams.get("iss")).toBe(server.httpUrl);
    expect(res.searchParams.has("code")).toBe(false);
  });

  it("a hint naming another user shows the login form instead of reusing the session", async () => {
    const res = await authorize({ id_token_hint: idTokenB });
    expect(res.pathname).toBe("/oidc/interaction");
    const page = await (await browserA.get(res.pathname + res.search)).text();
    expect(page).toContain('action="/oidc/interaction/login"');
  });

  it("an access token as hint is refused with invalid_request at the redirect URI", async () => {
    const res = await authorize({ id_token_hint: accessTokenA });
    expect(res.searchParams.get("error")).toBe("invalid_request");
    expect(res.searchParams.get("error_description")).toContain("id_token_hint");
    expect(res.searchParams.get("state")).toBe("xyz");
  });

  it("a tampered ID token as hint is refused with invalid_request", async () => {
    const [h, , s] = idTokenA.split(".");
    const forged = Buffer.from(JSON.stringify({ ...jwtPayload(idTokenA), sub: jwtPayload(idTokenB).sub })).toString("base64url");
    const res = await authorize({ prompt: "none", id_token_hint: `${h}.${forged}.${s}` });
    expect(res.searchParams.get("error")).toBe("invalid_request");
    const garbage = await authorize({ prompt: "none", id_token_hint: "not.a.jwt" });
    expect(garbage.searchParams.get("error")).toBe("invalid_request");
  });

  it("an expired ID token of the signed-in user is still a valid hint", async () => {
    const exp = jwtPayload(idTokenA).exp as number;
    server.clock.ms = (exp + 3600) * 1000;
    const res = await authorize({ prompt: "none", id_token_hint: idTokenA });
    expect(res.searchParams.get("error")).toBeNull();
    expect(res.searchParams.has("code")).toBe(true);
    const other = await authorize({ prompt: "none", id_token_hint: idTokenB });
    expect(other.searchParams.get("error")).toBe("login_required");
  });

  it("the standard scopes phone and address are ignored, not refused; an undefined scope is still invalid_scope", async () => {
    const { url, verifier, state } = await authorizationRequest(rp.config, { scope: "openid phone address email" });
    const res = await browserA.get(url.href);
    let location = new URL(res.headers.get("location")!, server.httpUrl);
    expect(location.searchParams.get("error")).toBeNull();
    if (!location.searchParams.has("code")) location = await completeLogin(browserA, url.href, { username: rp.username, password: rp.password });
    expect(location.searchParams.get("state")).toBe(state);
    const token = await fetch(`${server.httpUrl}/oidc/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: server.basic(rp.clientId, rp.clientSecret) },
      body: new URLSearchParams({ grant_type: "authorization_code", code: location.searchParams.get("code")!, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
    });
    expect(token.status).toBe(200);
    const body = (await token.json()) as { scope: string };
    expect(body.scope.split(" ").sort()).toEqual(["email", "openid"]);

    const bogus = await authorize({ scope: "openid bogus-scope" });
    expect(bogus.searchParams.get("error")).toBe("invalid_scope");
  });
});
