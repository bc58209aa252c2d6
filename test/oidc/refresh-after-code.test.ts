import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, TestClock, type TestServer } from "../helpers/server.js";
import { relyingParty, signIn } from "./oidc-helpers.js";

// Needs the refresh_token grant of the rotation engine (merged separately).
describe("refresh after the code flow", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ clock: new TestClock(Date.now()) });
  });
  afterAll(() => server.dispose());

  it("openid-client refreshes the code flow's refresh token, which rotates", async () => {
    const rp = await relyingParty(server);
    const { tokens: first } = await signIn(server, rp, { scope: "openid offline_access", prompt: "consent" });
    const refreshed = await oidc.refreshTokenGrant(rp.config, first.refresh_token!);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    expect(refreshed.claims()!.sub).toBe(rp.userId);
    expect(refreshed.claims()!.auth_time).toBe(first.claims()!.auth_time);
    expect(await oidc.tokenIntrospection(rp.config, first.refresh_token!)).toEqual({ active: false });
    expect(await oidc.tokenIntrospection(rp.config, refreshed.refresh_token!)).toMatchObject({ active: true });
  });
});
