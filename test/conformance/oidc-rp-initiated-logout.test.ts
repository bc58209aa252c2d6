/*
 * OpenID Connect RP-Initiated Logout 1.0.
 * MUST items covered:
 * - §2 without an `id_token_hint` naming the signed-in End-User, the OP asks the End-User whether to
 *   log out (a cross-site link or the cookie alone never ends the session); a hint for another user
 *   is treated the same way.
 * - §2 the OP validates the `id_token_hint` (an ID token it issued; access tokens refused) and
 *   `post_logout_redirect_uri` against the client's registered URIs (error page, never a redirect).
 * - §3 after logout the OP redirects to the registered `post_logout_redirect_uri` with `state`
 *   unchanged, also after the confirmation.
 * - the confirmation is a hosted page without JavaScript under the hosted pages' CSP, and only its
 *   POST with a CSRF token bound to the session ends the session; "stay signed in" ends nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "../helpers/fixtures.js";
import { postForm, startServer, TestClock, type TestServer } from "../helpers/server.js";
import { authorizationRequest, CookieBrowser, hiddenField, POST_LOGOUT_URI, relyingParty, signIn, type RelyingParty } from "../oidc/oidc-helpers.js";

describe("RP-Initiated Logout 1.0", () => {
  let server: TestServer;
  let rp: RelyingParty;
  let otherUsersIdToken: string;

  beforeAll(async () => {
    server = await startServer({ clock: new TestClock(Date.now()) });
    rp = await relyingParty(server);
    const b = await createUser(server.app, { applicationIds: [rp.appId] });
    const { tokens } = await signIn(server, { ...rp, username: b.username, password: b.password, userId: b.userId }, { scope: "openid" });
    otherUsersIdToken = tokens.id_token!;
  });
  afterAll(() => server.dispose());

  /** A browser signed in as the RP's user, with its ID token. */
  async function signedIn(): Promise<{ browser: CookieBrowser; idToken: string }> {
    const browser = new CookieBrowser(server.httpUrl);
    const { tokens } = await signIn(server, rp, { scope: "openid" }, browser);
    return { browser, idToken: tokens.id_token! };
  }

  /** Whether the browser's session still signs it in silently. */
  async function stillSignedIn(browser: CookieBrowser): Promise<boolean> {
    const { url } = await authorizationRequest(rp.config, { scope: "openid", prompt: "none" });
    const location = new URL((await browser.get(url.href)).headers.get("location")!);
    if (location.searchParams.get("error") === "login_required") return false;
    expect(location.searchParams.has("code")).toBe(true);
    return true;
  }

  function endSessionUrl(params: Record<string, string>): string {
    return `/oidc/session/end?${new URLSearchParams(params)}`;
  }

  function expectConfirmationPage(res: Response, page: string): void {
    expect(res.status).toBe(200);
    expect(page).toContain("Sign out?");
    expect(page).toContain('action="/oidc/session/end/confirm"');
    expect(page).not.toMatch(/<script/i);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("script-src");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.getSetCookie().some((c) => c.startsWith("tessera_session="))).toBe(false);
  }

  it("the session cookie alone (no id_token_hint) only shows a confirmation page; the session lives on", async () => {
    const { browser } = await signedIn();
    const res = await browser.get(endSessionUrl({ client_id: rp.clientId, post_logout_redirect_uri: POST_LOGOUT_URI, state: "bye" }));
    expectConfirmationPage(res, await res.text());
    expect(await stillSignedIn(browser)).toBe(true);
    // The RP may also POST the logout request (§2): same answer.
    const posted = await browser.post("/oidc/session/end", {});
    expectConfirmationPage(posted, await posted.text());
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("another user's id_token_hint shows the confirmation page and ends nothing", async () => {
    const { browser } = await signedIn();
    const res = await browser.get(endSessionUrl({ id_token_hint: otherUsersIdToken, post_logout_redirect_uri: POST_LOGOUT_URI, state: "bye" }));
    expectConfirmationPage(res, await res.text());
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("confirming ends the session and returns to post_logout_redirect_uri with state", async () => {
    const { browser } = await signedIn();
    const page = await (await browser.get(endSessionUrl({ id_token_hint: otherUsersIdToken, post_logout_redirect_uri: POST_LOGOUT_URI, state: "bye" }))).text();
    const form = {
      csrf: hiddenField(page, "csrf"),
      client_id: hiddenField(page, "client_id"),
      post_logout_redirect_uri: hiddenField(page, "post_logout_redirect_uri"),
      state: hiddenField(page, "state"),
    };
    expect(form.client_id).toBe(rp.clientId);
    const done = await browser.post("/oidc/session/end/confirm", { ...form, decision: "logout" });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe(`${POST_LOGOUT_URI}?state=bye`);
    expect(await stillSignedIn(browser)).toBe(false);
  });

  it("the confirmation POST needs the CSRF token bound to this browser's session", async () => {
    const { browser } = await signedIn();
    const page = await (await browser.get(endSessionUrl({}))).text();
    const csrf = hiddenField(page, "csrf");
    expect((await browser.post("/oidc/session/end/confirm", { decision: "logout" })).status).toBe(403);
    expect((await browser.post("/oidc/session/end/confirm", { decision: "logout", csrf: "A".repeat(43) })).status).toBe(403);
    // Another browser's token does not fit this session.
    const other = await signedIn();
    const otherCsrf = hiddenField(await (await other.browser.get(endSessionUrl({}))).text(), "csrf");
    expect((await browser.post("/oidc/session/end/confirm", { decision: "logout", csrf: otherCsrf })).status).toBe(403);
    expect(await stillSignedIn(browser)).toBe(true);
    // "Stay signed in" ends nothing.
    const stay = await browser.post("/oidc/session/end/confirm", { decision: "stay", csrf });
    expect(stay.status).toBe(200);
    expect(await stillSignedIn(browser)).toBe(true);
    const done = await browser.post("/oidc/session/end/confirm", { decision: "logout", csrf });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain("Signed out");
    expect(await stillSignedIn(browser)).toBe(false);
  });

  it("the confirmation POST still checks post_logout_redirect_uri against the client's registration", async () => {
    const { browser } = await signedIn();
    const csrf = hiddenField(await (await browser.get(endSessionUrl({}))).text(), "csrf");
    const res = await browser.post("/oidc/session/end/confirm", { decision: "logout", csrf, client_id: rp.clientId, post_logout_redirect_uri: "https://evil.example/" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("an id_token_hint of the signed-in user ends the session at once, without a page", async () => {
    const { browser, idToken } = await signedIn();
    const res = await browser.get(endSessionUrl({ id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT_URI, state: "bye" }));
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`${POST_LOGOUT_URI}?state=bye`);
    expect(await stillSignedIn(browser)).toBe(false);
  });

  it("an access token is not an id_token_hint; an unregistered post_logout_redirect_uri is an error page", async () => {
    const { browser } = await signedIn();
    const accessToken = ((await (await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, server.basic(rp.clientId, rp.clientSecret))).json()) as { access_token: string }).access_token;
    const res = await browser.get(endSessionUrl({ id_token_hint: accessToken }));
    expect(res.status).toBe(400);
    const bad = await browser.get(endSessionUrl({ client_id: rp.clientId, post_logout_redirect_uri: "https://evil.example/" }));
    expect(bad.status).toBe(400);
    expect(bad.headers.get("location")).toBeNull();
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("without a session there is nothing to confirm: the browser goes straight back", async () => {
    const res = await new CookieBrowser(server.httpUrl).get(endSessionUrl({ client_id: rp.clientId, post_logout_redirect_uri: POST_LOGOUT_URI, state: "s" }));
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`${POST_LOGOUT_URI}?state=s`);
  });
});
