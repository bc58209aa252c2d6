/*
 * RFC 6750 (Bearer Token Usage) at tessera's protected resources: userinfo and the /cis JSON endpoints.
 * MUST items covered:
 * - §3 a request without a valid token is answered 401 with a `WWW-Authenticate: Bearer` challenge
 *   carrying a `realm`.
 * - §3.1 when the request carries no authentication information, the challenge SHOULD NOT carry an
 *   error code: exactly `Bearer realm="tessera"`.
 * - §3.1 an expired, revoked, malformed or otherwise invalid token gets `error="invalid_token"` (401).
 * - §2.1 / §2.2 the token is accepted in the Authorization header and (userinfo) in a form body.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postForm, startServer, TestClock, type TestServer } from "../helpers/server.js";
import { relyingParty, signIn, type RelyingParty } from "../oidc/oidc-helpers.js";

describe("RFC 6750 §3: the Bearer challenge", () => {
  let server: TestServer;
  let rp: RelyingParty;
  let accessToken: string;

  beforeAll(async () => {
    server = await startServer({ clock: new TestClock(Date.now()) });
    rp = await relyingParty(server);
    accessToken = (await signIn(server, rp, { scope: "openid" })).tokens.access_token;
  });
  afterAll(() => server.dispose());

  const userinfo = (headers: Record<string, string> = {}) => fetch(`${server.httpUrl}/oidc/userinfo`, { headers });
  const cis = (headers: Record<string, string> = {}) =>
    fetch(`${server.httpUrl}/cis/v1/auth/logout`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ session_id: "x" }) });

  it("userinfo without any credentials: 401 and a challenge without an error code", async () => {
    for (const res of [await userinfo(), await fetch(`${server.httpUrl}/oidc/userinfo`, { method: "POST" })]) {
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="tessera"');
    }
  });

  it("the /cis endpoints without any credentials: 401 and a challenge without an error code", async () => {
    const res = await cis();
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="tessera"');
  });

  it("a bad token gets error=\"invalid_token\"", async () => {
    const [h, p] = accessToken.split(".");
    for (const token of ["not-a-jwt", `${h}.${p}.${"A".repeat(86)}`]) {
      for (const res of [await userinfo({ authorization: `Bearer ${token}` }), await cis({ authorization: `Bearer ${token}` })]) {
        expect(res.status).toBe(401);
        const challenge = res.headers.get("www-authenticate")!;
        expect(challenge).toMatch(/^Bearer realm="tessera", error="invalid_token"/);
      }
    }
    // In a form body (§2.2) the same.
    const form = await postForm(`${server.httpUrl}/oidc/userinfo`, { access_token: "not-a-jwt" });
    expect(form.status).toBe(401);
    expect(form.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
  });

  it("an expired token gets error=\"invalid_token\"", async () => {
    const before = server.clock.ms;
    server.clock.advance(2 * 3600);
    try {
      const res = await userinfo({ authorization: `Bearer ${accessToken}` });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="tessera", error="invalid_token"/);
    } finally {
      server.clock.ms = before;
    }
  });

  it("a valid token is accepted in the header and in a form body", async () => {
    expect((await userinfo({ authorization: `Bearer ${accessToken}` })).status).toBe(200);
    expect((await postForm(`${server.httpUrl}/oidc/userinfo`, { access_token: accessToken })).status).toBe(200);
  });
});
