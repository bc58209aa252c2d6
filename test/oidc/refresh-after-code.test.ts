import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, TestClock, type TestServer } from "../helpers/server.js";
import { completeLogin, CookieBrowser, REDIRECT_URI, relyingParty } from "./oidc-helpers.js";

// Needs the refresh_token grant of the rotation engine (merged separately).
describe("refresh after the code flow", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ clock: new TestClock(Date.now()) });
  });
  afterAll(() => server.dispose());

  it("openid-client refreshes the code flow's refresh token, which rotates", async () => {
    const rp = await relyingParty(server);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp.config, {
      redirect_uri: REDIRECT_URI,
      scope: "openid offline_access",
      prompt: "consent",
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    });
    const callback = await completeLogin(new CookieBrowser(server.httpUrl), url.href, { username: rp.username, password: rp.password });
    const first = await oidc.authorizationCodeGrant(rp.config, callback, { pkceCodeVerifier: verifier, idTokenExpected: true });
    const refreshed = await oidc.refreshTokenGrant(rp.config, first.refresh_token!);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    expect(refreshed.claims()!.sub).toBe(rp.userId);
    expect(refreshed.claims()!.auth_time).toBe(first.claims()!.auth_time);
    expect(await oidc.tokenIntrospection(rp.config, first.refresh_token!)).toEqual({ active: false });
    expect(await oidc.tokenIntrospection(rp.config, refreshed.refresh_token!)).toMatchObject({ active: true });
  });
});
