/*
 * RFC 8252 (OAuth 2.0 for Native Apps), loopback interface redirection.
 * MUST items covered:
 * - §7.3 the authorization server MUST allow any port to be specified at the time of the request for
 *   loopback IP redirect URIs (`http://127.0.0.1:PORT/…`, `http://[::1]:PORT/…`); the rest of the URI
 *   (scheme, host, path, query) still matches exactly.
 * - §8.3 `localhost` is NOT RECOMMENDED and is not a loopback IP literal: tessera matches it exactly,
 *   port included.
 * - RFC 6749 §4.1.3 (with §7.3's ports): the token request's redirect_uri MUST be identical to the
 *   authorization request's, port included.
 * - RFC 6749 §4.1.2.1 / §3.1.2.4: a redirect URI that does not match is never redirected to (error page).
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApplication, createClient, createUser } from "../helpers/fixtures.js";
import { postForm, startServer, type TestServer } from "../helpers/server.js";
import { completeLogin, CookieBrowser } from "../oidc/oidc-helpers.js";

describe("RFC 8252 §7.3: loopback redirect URIs match any port", () => {
  let server: TestServer;
  let client: { clientId: string; clientSecret: string };
  let publicClient: string;
  let user: { username: string; password: string };

  beforeAll(async () => {
    server = await startServer();
    const appId = await createApplication(server.app);
    const redirectUris = ["http://127.0.0.1/callback", "http://[::1]:8000/callback", "http://localhost:9000/callback", "https://rp.example/callback"];
    client = await createClient(server.app, appId, { redirectUris });
    publicClient = (await createClient(server.app, appId, { redirectUris, public: true })).clientId;
    user = await createUser(server.app, { applicationIds: [appId] });
  });
  afterAll(() => server.dispose());

  function authorizationUrl(clientId: string, redirectUri: string, verifier: string): string {
    const query = new URLSearchParams({
      client_id: clientId,
      redirect_uri: redirectUri,
      response_type: "code",
      scope: "openid",
      state: "st",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    });
    return `${server.httpUrl}/oidc/auth?${query}`;
  }

  /** The hosted pages through to the redirect back; returns the code and the URI it came back to. */
  async function code(clientId: string, redirectUri: string, verifier: string): Promise<URL> {
    const callback = await completeLogin(new CookieBrowser(server.httpUrl), authorizationUrl(clientId, redirectUri, verifier), user);
    expect(callback.searchParams.get("error")).toBeNull();
    return callback;
  }

  it.each(["http://127.0.0.1:51004/callback", "http://127.0.0.1/callback", "http://[::1]:8000/callback", "http://[::1]:61234/callback"])(
    "%s is accepted and the code comes back to that very URI",
    async (redirectUri) => {
      const verifier = randomBytes(32).toString("base64url");
      const callback = await code(client.clientId, redirectUri, verifier);
      expect(`${callback.origin}${callback.pathname}`).toBe(redirectUri);
      const token = await postForm(
        `${server.httpUrl}/oidc/token`,
        { grant_type: "authorization_code", code: callback.searchParams.get("code")!, redirect_uri: redirectUri, code_verifier: verifier },
        server.basic(client.clientId, client.clientSecret),
      );
      expect(token.status).toBe(200);
    },
  );

  it("a public (native) client exchanges at the port it chose; another port at the token endpoint is invalid_grant", async () => {
    const verifier = randomBytes(32).toString("base64url");
    const callback = await code(publicClient, "http://127.0.0.1:49152/callback", verifier);
    const exchange = (redirectUri: string) =>
      postForm(`${server.httpUrl}/oidc/token`, {
        grant_type: "authorization_code",
        client_id: publicClient,
        code: callback.searchParams.get("code")!,
        redirect_uri: redirectUri,
        code_verifier: verifier,
      });
    const wrongPort = await exchange("http://127.0.0.1:49153/callback");
    expect(wrongPort.status).toBe(400);
    expect(((await wrongPort.json()) as { error: string }).error).toBe("invalid_grant");
    const ok = await exchange("http://127.0.0.1:49152/callback");
    expect(ok.status).toBe(200);
  });

  it.each([
    ["localhost on another port (not a loopback IP literal, RFC 8252 §8.3)", "http://localhost:9001/callback"],
    ["another path", "http://127.0.0.1:5000/other"],
    ["https instead of http", "https://127.0.0.1:5000/callback"],
    ["an added query", "http://127.0.0.1:5000/callback?x=1"],
    ["a dot segment", "http://127.0.0.1:5000/x/../callback"],
    ["another loopback address", "http://127.0.0.2:5000/callback"],
    ["an IPv6 loopback URI with another path", "http://[::1]:5000/other"],
    ["a non-loopback host on another port", "https://rp.example:8443/callback"],
  ])("%s is refused on an error page, never redirected to", async (_name, redirectUri) => {
    const res = await fetch(authorizationUrl(client.clientId, redirectUri, randomBytes(32).toString("base64url")), { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("redirect_uri is not registered");
  });

  it("localhost matches only exactly as registered", async () => {
    const res = await fetch(authorizationUrl(client.clientId, "http://localhost:9000/callback", randomBytes(32).toString("base64url")), { redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toMatch(/^\/oidc\/interaction\?/);
  });
});
