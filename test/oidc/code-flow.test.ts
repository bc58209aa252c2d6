import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jwtHeader, jwtPayload, startServer, TestClock, type TestServer } from "../helpers/server.js";
import { authorizationRequest, CookieBrowser, POST_LOGOUT_URI, REDIRECT_URI, relyingParty, signIn, type RelyingParty } from "./oidc-helpers.js";

describe("authorization code flow with openid-client as the relying party", () => {
  let server: TestServer;
  let rp: RelyingParty;
  // openid-client checks iat against the real clock.
  beforeAll(async () => {
    server = await startServer({ clock: new TestClock(Date.now()) });
    rp = await relyingParty(server);
  });
  afterAll(() => server.dispose());

  const signInAs = (browser: CookieBrowser, scope: string, extra: Record<string, string> = {}) => signIn(server, rp, { scope, ...extra }, browser);

  it("discovery lists every implemented endpoint and only S256", () => {
    const m = rp.config.serverMetadata();
    expect(m.issuer).toBe(server.httpUrl);
    expect(m.authorization_endpoint).toBe(`${server.httpUrl}/oidc/auth`);
    expect(m.userinfo_endpoint).toBe(`${server.httpUrl}/oidc/userinfo`);
    expect(m.introspection_endpoint).toBe(`${server.httpUrl}/oidc/introspect`);
    expect(m.revocation_endpoint).toBe(`${server.httpUrl}/oidc/revoke`);
    expect(m.end_session_endpoint).toBe(`${server.httpUrl}/oidc/session/end`);
    expect(m.code_challenge_methods_supported).toEqual(["S256"]);
    expect(m.response_types_supported).toEqual(["code"]);
    expect(m.grant_types_supported).toContain("authorization_code");
    expect(m.id_token_signing_alg_values_supported).toEqual(["ES256", "EdDSA", "RS256"]);
    expect(m.authorization_response_iss_parameter_supported).toBe(true);
  });

  it("logs in through the hosted pages and returns ID and access tokens the library validates", async () => {
    const { tokens, nonce, callback } = await signInAs(new CookieBrowser(server.httpUrl), "openid profile email");
    expect(callback.searchParams.get("iss")).toBe(server.httpUrl);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: server.httpUrl, sub: rp.userId, aud: rp.clientId, nonce, amr: ["pwd"] });
    expect(typeof claims.auth_time).toBe("number");
    expect(typeof claims.sid).toBe("string");
    // openid-client does not check at_hash in the code flow; OIDC Core §3.1.3.6 with ES256's SHA-256.
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(tokens.access_token));
    expect(claims.at_hash).toBe(Buffer.from(digest.slice(0, 16)).toString("base64url"));
    expect(jwtHeader(tokens.id_token!)).toMatchObject({ alg: "ES256", typ: "JWT" });
    expect(jwtPayload(tokens.access_token)).toMatchObject({ sub: rp.userId, aud: "userid-api", sid: claims.sid, scope: "openid profile email" });
    expect(tokens.refresh_token).toBeUndefined();
  });

  it("userinfo returns sub, email and preferred_username by scope", async () => {
    const { tokens } = await signInAs(new CookieBrowser(server.httpUrl), "openid email profile");
    const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, rp.userId);
    expect(info).toEqual({ sub: rp.userId, email: "ada@example.com", preferred_username: rp.username });
    const { tokens: narrow } = await signInAs(new CookieBrowser(server.httpUrl), "openid");
    expect(await oidc.fetchUserInfo(rp.config, narrow.access_token, rp.userId)).toEqual({ sub: rp.userId });
  });

  it("offline_access with prompt=consent yields a refresh token; introspection sees it until it is revoked", async () => {
    const { tokens } = await signInAs(new CookieBrowser(server.httpUrl), "openid offline_access", { prompt: "consent" });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const active = await oidc.tokenIntrospection(rp.config, tokens.refresh_token!);
    expect(active).toMatchObject({ active: true, sub: rp.userId, client_id: rp.clientId, aud: "userid-api", scope: "openid offline_access" });
    const access = await oidc.tokenIntrospection(rp.config, tokens.access_token);
    expect(access).toMatchObject({ active: true, sub: rp.userId, token_type: "Bearer", username: rp.username });

    await oidc.tokenRevocation(rp.config, tokens.refresh_token!);
    expect(await oidc.tokenIntrospection(rp.config, tokens.refresh_token!)).toEqual({ active: false });
    await oidc.tokenRevocation(rp.config, tokens.access_token);
    expect(await oidc.tokenIntrospection(rp.config, tokens.access_token)).toEqual({ active: false });
    await expect(oidc.fetchUserInfo(rp.config, tokens.access_token, rp.userId)).rejects.toThrow();
  });

  it("offline_access without prompt=consent and without a remembered grant is dropped", async () => {
    const other = await relyingParty(server);
    const { tokens } = await signIn(server, other, { scope: "openid offline_access" });
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.scope).toBe("openid");
  });

  it("a remembered browser session and consent skip both pages", async () => {
    const browser = new CookieBrowser(server.httpUrl);
    const first = await signInAs(browser, "openid profile");
    const { url, verifier, state, nonce } = await authorizationRequest(rp.config, { scope: "openid profile", prompt: "none" });
    const res = await browser.get(url.href);
    expect(res.status).toBe(303);
    const callback = new URL(res.headers.get("location")!);
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    const tokens = await oidc.authorizationCodeGrant(rp.config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    expect(tokens.claims()!.sid).toBe(first.tokens.claims()!.sid);
  });

  it("RP-initiated logout ends the browser session and returns to the registered URI with state", async () => {
    const browser = new CookieBrowser(server.httpUrl);
    const { tokens } = await signInAs(browser, "openid offline_access", { prompt: "consent" });
    const endUrl = oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI, state: "bye" });
    const res = await browser.get(endUrl.href);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`${POST_LOGOUT_URI}?state=bye`);
    expect(browser.cookies.has("tessera_session")).toBe(false);
    expect(await oidc.tokenIntrospection(rp.config, tokens.refresh_token!)).toEqual({ active: false });
    expect(await oidc.tokenIntrospection(rp.config, tokens.access_token)).toEqual({ active: false });
  });

  it("a public client completes the flow with PKCE and no secret", async () => {
    const pub = await relyingParty(server, { public: true });
    const { tokens } = await signIn(server, pub, { scope: "openid" });
    expect(tokens.claims()!.aud).toBe(pub.clientId);
    expect(await oidc.fetchUserInfo(pub.config, tokens.access_token, pub.userId)).toMatchObject({ sub: pub.userId });
    await oidc.tokenRevocation(pub.config, tokens.access_token);
    const refused = (await oidc.fetchUserInfo(pub.config, tokens.access_token, pub.userId).catch((e: unknown) => e)) as oidc.WWWAuthenticateChallengeError;
    expect(refused).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    expect(refused.cause[0]!.parameters.error).toBe("invalid_token");
  });
});
