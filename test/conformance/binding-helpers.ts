import { createHash, randomBytes } from "node:crypto";
import { createClient, createUser } from "../helpers/fixtures.js";
import { postForm, type TestServer } from "../helpers/server.js";
import { completeLogin, CookieBrowser, REDIRECT_URI } from "../oidc/oidc-helpers.js";

/** Helpers shared by the binding conformance files (refresh binding, revocation, resource indicators). */

export interface CodeClient {
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
}

/** A confidential client of `appId` registered for the code flow, and a user of the application. */
export async function codeClient(server: TestServer, appId: string, resourceIds: string[] = []): Promise<CodeClient> {
  const client = await createClient(server.app, appId, { redirectUris: [REDIRECT_URI], resourceIds });
  const user = await createUser(server.app, { applicationIds: [appId] });
  return { ...client, username: user.username, password: user.password };
}

/** Runs the hosted login and consent pages and returns a fresh code with its PKCE verifier. */
export async function authorizationCode(server: TestServer, c: CodeClient, params: Record<string, string> = {}): Promise<{ code: string; verifier: string }> {
  const verifier = randomBytes(32).toString("base64url");
  const url = new URL(`${server.httpUrl}/oidc/auth`);
  const query = {
    response_type: "code",
    client_id: c.clientId,
    redirect_uri: REDIRECT_URI,
    scope: "openid",
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    ...params,
  };
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const callback = await completeLogin(new CookieBrowser(server.httpUrl), url.href, { username: c.username, password: c.password });
  const code = callback.searchParams.get("code");
  if (code === null) throw new Error(`no code: ${callback.href}`);
  return { code, verifier };
}

/** grant_type=authorization_code on /oidc/token with Basic authentication. */
export async function exchangeCode(server: TestServer, c: CodeClient, code: { code: string; verifier: string }, extra: Record<string, string> = {}) {
  const res = await postForm(
    `${server.httpUrl}/oidc/token`,
    { grant_type: "authorization_code", code: code.code, code_verifier: code.verifier, redirect_uri: REDIRECT_URI, ...extra },
    server.basic(c.clientId, c.clientSecret),
  );
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/** RFC 7662 introspection by the given client; returns `active`. */
export async function isActive(server: TestServer, token: string, clientId: string, clientSecret: string): Promise<boolean> {
  const res = await postForm(`${server.httpUrl}/oidc/introspect`, { token }, server.basic(clientId, clientSecret));
  return ((await res.json()) as { active: boolean }).active;
}

/** The status of /oidc/userinfo for a Bearer access token. */
export async function userinfoStatus(server: TestServer, accessToken: string): Promise<number> {
  const res = await fetch(`${server.httpUrl}/oidc/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
  await res.body?.cancel();
  return res.status;
}
