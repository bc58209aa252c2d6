import type { Client } from "../../src/domain/types.js";
import { createApplication, createClient, createUser } from "../helpers/fixtures.js";
import { clientToken, postForm, type TestServer } from "../helpers/server.js";

export interface Tokens {
  access_token: string;
  id_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  session_id?: string;
  scope?: string;
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** An application with one confidential client (and its client access token) and one member user. */
export interface BackendApp {
  appId: string;
  clientId: string;
  clientSecret: string;
  bearer: string;
  username: string;
  password: string;
  userId: string;
}

export async function backendApp(
  server: TestServer,
  client: Partial<Omit<Client, "id" | "applicationId" | "secretHash">> = {},
  user: { roles?: string[]; customClaims?: Record<string, unknown> } = {},
): Promise<BackendApp> {
  const appId = await createApplication(server.app);
  const { clientId, clientSecret } = await createClient(server.app, appId, client);
  const u = await createUser(server.app, { applicationIds: [appId], ...user });
  const bearer = await clientToken(server, {}, server.basic(clientId, clientSecret));
  return { appId, clientId, clientSecret, bearer, username: u.username, password: u.password, userId: u.userId };
}

/** POSTs JSON to a /cis endpoint with a Bearer client token. */
export async function cis<T = Record<string, unknown>>(server: TestServer, path: string, bearer: string | undefined, body: unknown): Promise<Answer<T>> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
  const res = await fetch(`${server.httpUrl}/cis/v1/auth/${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text === "" ? {} : JSON.parse(text)) as T, headers: res.headers };
}

export async function login(server: TestServer, app: BackendApp, extra: Record<string, string> = {}): Promise<Tokens> {
  const res = await cis<Tokens>(server, "password/authenticate", app.bearer, { username: app.username, password: app.password, ...extra });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export const refresh = (server: TestServer, app: BackendApp, refreshToken: string, extra: Record<string, string> = {}) =>
  cis<Tokens & { error?: string; error_description?: string }>(server, "token/refresh", app.bearer, { refresh_token: refreshToken, ...extra });

/** grant_type=refresh_token on /oidc/token with Basic client authentication. */
export async function refreshForm(server: TestServer, app: BackendApp, refreshToken: string, extra: Record<string, string> = {}): Promise<Answer<Tokens & { error?: string; error_description?: string }>> {
  const res = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "refresh_token", refresh_token: refreshToken, ...extra }, server.basic(app.clientId, app.clientSecret));
  return { status: res.status, body: (await res.json()) as Tokens & { error?: string; error_description?: string }, headers: res.headers };
}

/** An error body without its per-request id. */
export function errorBody(body: Record<string, unknown>): Record<string, unknown> {
  const { request_id: _ignored, ...rest } = body;
  return rest;
}

/** Gets the application a new client access token (after the clock moved past the old one's expiry). */
export async function renewBearer(server: TestServer, app: BackendApp): Promise<void> {
  app.bearer = await clientToken(server, {}, server.basic(app.clientId, app.clientSecret));
}
