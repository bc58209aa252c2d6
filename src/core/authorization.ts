import { createHash } from "node:crypto";
import { SESSION_TTL } from "../config.js";
import { newId, newSecret } from "../domain/ids.js";
import { OAuthError } from "../domain/errors.js";
import { clientAllowsGrant, type Resource, type Session, type User } from "../domain/types.js";
import type { Repositories } from "../domain/ports.js";
import type { InteractionRecord } from "../domain/records.js";
import type { ClientContext, Core } from "./core.js";
import { checkPassword, clearFailures } from "./password-check.js";
import { IGNORED_OIDC_SCOPES, parseScope, requireGrantableScopes } from "./scopes.js";
import { readIdTokenHint } from "./id-token-hint.js";
import { findLiveSession, insertSession, newSession } from "./sessions.js";
import { resolveTargetResource } from "./tokens.js";

/** Authorization codes live at most this long (RFC 6749 §4.1.2 recommends ≤ 10 min; tessera keeps it short). */
export const CODE_TTL = 60;
/** How long the browser may take on the hosted login and consent pages. */
export const INTERACTION_TTL = 600;
/** Scopes every client may request on top of its own. */
const PROMPTS = new Set(["none", "login", "consent"]);
const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;

/** The validated authorization request, kept server-side with the interaction. */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  state: string | undefined;
  nonce: string | undefined;
  scopes: string[];
  resourceId: string;
  codeChallenge: string | undefined;
  prompt: string[];
  maxAge: number | undefined;
  loginHint: string | undefined;
  /** The user an `id_token_hint` names: a session of anyone else is not reused (OIDC Core §3.1.2.1). */
  hintedUserId?: string | undefined;
}

/** A mistake shown on an error page: the redirect URI cannot be trusted, so the browser is not sent back. */
export class AuthorizationPageError extends Error {
  override readonly name = "AuthorizationPageError";
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** An error returned to the client at its redirect URI (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). */
export class AuthorizationRedirectError extends Error {
  override readonly name = "AuthorizationRedirectError";
  constructor(
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

/** Where the browser goes next. */
export type AuthorizationStep =
  | { kind: "redirect"; location: string }
  | { kind: "interaction"; interactionId: string; csrf: string; expiresIn: number };

/** The redirect URI with response parameters added to its query, plus `iss` (RFC 9207). */
export function redirectLocation(core: Core, redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v);
  url.searchParams.append("iss", core.issuer);
  return url.toString();
}

function errorLocation(core: Core, req: Pick<AuthorizationRequest, "redirectUri" | "state">, err: AuthorizationRedirectError): string {
  return redirectLocation(core, req.redirectUri, { error: err.error, error_description: err.message, state: req.state });
}

/** Longest `state` echoed back: enough for any RP's encoded state, short of oversized Location headers. */
export const MAX_STATE_LENGTH = 4096;

/** The state to echo in an error redirect: none if it was itself the problem. */
function echoableState(params: Map<string, string>): string | undefined {
  const state = params.get("state");
  return state !== undefined && state.length <= MAX_STATE_LENGTH ? state : undefined;
}

function single(params: Map<string, string>, name: string, max = 2048): string | undefined {
  const value = params.get(name);
  if (value === undefined || value === "") return undefined;
  if (value.length > max) throw new AuthorizationRedirectError("invalid_request", `${name} must be at most ${max} characters`);
  return value;
}

/** Loopback IP literals of RFC 8252 §7.3; `localhost` is not one (§8.3: it may resolve elsewhere), so it matches exactly. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]"]);

/**
 * Exact string match, except that a registered `http` loopback IP redirect URI matches any port
 * (RFC 8252 §7.3: a native app picks a free port at run time); everything else about it must be equal.
 */
export function redirectUriMatches(registered: string, requested: string): boolean {
  if (registered === requested) return true;
  let r: URL;
  let q: URL;
  try {
    r = new URL(registered);
    q = new URL(requested);
  } catch {
    return false;
  }
  if (r.protocol !== "http:" || !LOOPBACK_HOSTS.has(r.hostname) || q.protocol !== "http:" || q.hostname !== r.hostname) return false;
  // Compare the URIs with the ports taken out; the requested one must be written as plainly as the registered one.
  q.port = "";
  r.port = "";
  return q.href === r.href && requested === new URL(requested).href;
}

/** The client and redirect URI of a request; failures here are shown on a page, never redirected. */
export async function identifyClient(core: Core, params: Map<string, string>): Promise<{ ctx: ClientContext; redirectUri: string }> {
  const clientId = params.get("client_id");
  if (clientId === undefined || clientId === "") throw new AuthorizationPageError("The request has no client_id.");
  const ctx = clientId.length <= 256 ? await core.clientContext(clientId) : undefined;
  if (ctx === undefined) throw new AuthorizationPageError("The application that sent you here is not known (unknown client_id).");
  const redirectUri = params.get("redirect_uri");
  if (redirectUri === undefined || redirectUri === "") throw new AuthorizationPageError("The request has no redirect_uri.");
  if (!ctx.client.redirectUris.some((registered) => redirectUriMatches(registered, redirectUri))) {
    throw new AuthorizationPageError("The redirect_uri is not registered for this application.");
  }
  return { ctx, redirectUri };
}

/** Validates everything after client and redirect URI; failures go back to the client. */
async function parseRequest(core: Core, ctx: ClientContext, redirectUri: string, params: Map<string, string>): Promise<AuthorizationRequest> {
  if (params.has("request")) throw new AuthorizationRedirectError("request_not_supported", "request objects are not supported");
  if (params.has("request_uri")) throw new AuthorizationRedirectError("request_uri_not_supported", "request_uri is not supported");
  const responseType = params.get("response_type");
  if (responseType === undefined || responseType === "") throw new AuthorizationRedirectError("invalid_request", "response_type is required");
  if (responseType !== "code") throw new AuthorizationRedirectError("unsupported_response_type", 'only response_type "code" is supported');
  const responseMode = params.get("response_mode");
  if (responseMode !== undefined && responseMode !== "query") {
    throw new AuthorizationRedirectError("invalid_request", 'only response_mode "query" is supported');
  }
  if (!clientAllowsGrant(ctx.client, "authorization_code")) {
    throw new AuthorizationRedirectError("unauthorized_client", "this client may not use the authorization code flow");
  }
  let scopes: string[];
  try {
    scopes = parseScope(params.get("scope"));
  } catch (err) {
    throw new AuthorizationRedirectError("invalid_scope", (err as Error).message);
  }
  scopes = scopes.filter((s) => !IGNORED_OIDC_SCOPES.has(s));
  if (!scopes.includes("openid")) throw new AuthorizationRedirectError("invalid_scope", 'scope must contain "openid"');

  const resourceParam = single(params, "resource");
  if (resourceParam?.includes(" ")) throw new AuthorizationRedirectError("invalid_target", "only one resource may be requested at a time");
  let resource: Resource;
  try {
    resource = await resolveTargetResource(core, ctx, resourceParam);
  } catch (err) {
    throw new AuthorizationRedirectError("invalid_target", err instanceof OAuthError ? err.description : "invalid resource");
  }
  try {
    requireGrantableScopes(scopes, ctx.client, resource, true);
  } catch (err) {
    throw new AuthorizationRedirectError("invalid_scope", (err as Error).message);
  }

  const codeChallenge = single(params, "code_challenge", 128);
  const method = single(params, "code_challenge_method", 16);
  if (codeChallenge === undefined) {
    if (method !== undefined) throw new AuthorizationRedirectError("invalid_request", "code_challenge_method without code_challenge");
    if (ctx.client.secretHash === undefined) {
      throw new AuthorizationRedirectError("invalid_request", "code_challenge (PKCE, S256) is required for public clients");
    }
  } else {
    if (method !== "S256") throw new AuthorizationRedirectError("invalid_request", 'code_challenge_method must be "S256"');
    if (!PKCE_VALUE.test(codeChallenge)) throw new AuthorizationRedirectError("invalid_request", "code_challenge is malformed");
  }

  const promptText = params.get("prompt") ?? "";
  const prompt = promptText === "" ? [] : [...new Set(promptText.split(" "))];
  if (prompt.includes("")) throw new AuthorizationRedirectError("invalid_request", "prompt must be values separated by single spaces");
  const unknownPrompt = prompt.find((p) => !PROMPTS.has(p));
  if (unknownPrompt !== undefined) throw new AuthorizationRedirectError("invalid_request", `prompt "${unknownPrompt.slice(0, 32)}" is not supported`);
  if (prompt.includes("none") && prompt.length > 1) throw new AuthorizationRedirectError("invalid_request", 'prompt "none" cannot be combined');

  const maxAgeText = single(params, "max_age", 10);
  if (maxAgeText !== undefined && !/^\d{1,9}$/.test(maxAgeText)) {
    throw new AuthorizationRedirectError("invalid_request", "max_age must be a non-negative number of seconds");
  }
  const idTokenHint = single(params, "id_token_hint", 16384);
  const hint = idTokenHint === undefined ? undefined : readIdTokenHint(core, idTokenHint);
  if (idTokenHint !== undefined && hint === undefined) throw new AuthorizationRedirectError("invalid_request", "id_token_hint is not an ID token issued here");
  return {
    clientId: ctx.client.id,
    redirectUri,
    state: single(params, "state", MAX_STATE_LENGTH),
    nonce: single(params, "nonce", 512),
    scopes,
    resourceId: resource.id,
    codeChallenge,
    prompt,
    maxAge: maxAgeText === undefined ? undefined : Number(maxAgeText),
    loginHint: single(params, "login_hint", 256),
    hintedUserId: hint?.userId,
  };
}

/** A user of the client's application, or undefined. */
async function memberOf(core: Core, ctx: ClientContext, userId: string): Promise<User | undefined> {
  const user = await core.storage.users.get(ctx.tenant.id, userId);
  return user !== undefined && user.applicationIds.includes(ctx.application.id) ? user : undefined;
}

/**
 * The scopes the code will carry: `offline_access` only survives with `prompt=consent` or a
 * remembered consent that already includes it (OIDC Core §11, seed document 004).
 */
async function effectiveScopes(core: Core, req: AuthorizationRequest, userId: string): Promise<string[]> {
  if (!req.scopes.includes("offline_access") || req.prompt.includes("consent")) return req.scopes;
  const remembered = await core.storage.authorizations.getConsent(userId, req.clientId);
  return remembered?.scopes.includes("offline_access") ? req.scopes : req.scopes.filter((s) => s !== "offline_access");
}

async function needsConsent(core: Core, req: AuthorizationRequest, userId: string): Promise<boolean> {
  if (req.prompt.includes("consent")) return true;
  const remembered = await core.storage.authorizations.getConsent(userId, req.clientId);
  if (remembered === undefined || !remembered.resourceIds.includes(req.resourceId)) return true;
  return (await effectiveScopes(core, req, userId)).some((s) => !remembered.scopes.includes(s));
}

/** Stores a single-use code for the user and returns the redirect that carries it. */
async function issueCode(
  core: Core,
  ctx: ClientContext,
  req: AuthorizationRequest,
  userId: string,
  sessionId: string,
  authTime: number,
  extra?: (tx: Repositories) => Promise<void>,
): Promise<string> {
  const code = newSecret();
  const hash = core.secrets.hash("authorization-code", code);
  const scopes = await effectiveScopes(core, req, userId);
  const now = core.now();
  await core.storage.transaction(async (tx) => {
    await extra?.(tx);
    await tx.authorizations.insertCode({
      hash,
      tenantId: ctx.tenant.id,
      clientId: req.clientId,
      userId,
      sessionId,
      redirectUri: req.redirectUri,
      codeChallenge: req.codeChallenge,
      resourceId: req.resourceId,
      scope: scopes.join(" "),
      nonce: req.nonce,
      offline: scopes.includes("offline_access"),
      authTime,
      createTime: now,
      expireTime: now + CODE_TTL,
    });
  });
  return redirectLocation(core, req.redirectUri, { code, state: req.state });
}

/** The browser's session if it may serve this request without a new login. */
async function reusableSession(core: Core, ctx: ClientContext, req: AuthorizationRequest, sessionSecret: string | undefined): Promise<Session | undefined> {
  if (sessionSecret === undefined || req.prompt.includes("login")) return undefined;
  const session = await findLiveSession(core, sessionSecret);
  if (session === undefined || session.tenantId !== ctx.tenant.id || (await memberOf(core, ctx, session.userId)) === undefined) return undefined;
  if (req.hintedUserId !== undefined && req.hintedUserId !== session.userId) return undefined;
  // max_age=0 means "authenticate now", like prompt=login (OIDC Core §3.1.2.1).
  if (req.maxAge !== undefined && (req.maxAge === 0 || core.now() - session.authTime > req.maxAge)) return undefined;
  return session;
}

/**
 * `GET /oidc/auth`: validates the request, then either answers at once (a code through a live
 * browser session, or an error) or opens an interaction for the hosted login/consent pages.
 */
export async function startAuthorization(core: Core, params: Map<string, string>, sessionSecret: string | undefined): Promise<AuthorizationStep> {
  const { ctx, redirectUri } = await identifyClient(core, params);
  let req: AuthorizationRequest;
  try {
    req = await parseRequest(core, ctx, redirectUri, params);
  } catch (err) {
    if (err instanceof AuthorizationRedirectError) {
      return { kind: "redirect", location: errorLocation(core, { redirectUri, state: echoableState(params) }, err) };
    }
    throw err;
  }
  const session = await reusableSession(core, ctx, req, sessionSecret);
  if (req.prompt.includes("none")) {
    if (session === undefined) {
      return { kind: "redirect", location: errorLocation(core, req, new AuthorizationRedirectError("login_required", "the user is not logged in")) };
    }
    if (await needsConsent(core, req, session.userId)) {
      return { kind: "redirect", location: errorLocation(core, req, new AuthorizationRedirectError("consent_required", "the user has not consented")) };
    }
  }
  if (session !== undefined && !(await needsConsent(core, req, session.userId))) {
    return { kind: "redirect", location: await issueCode(core, ctx, req, session.userId, session.id, session.authTime) };
  }
  const csrf = newSecret();
  const now = core.now();
  const interaction: InteractionRecord = {
    id: newId("ixn"),
    tenantId: ctx.tenant.id,
    clientId: ctx.client.id,
    request: JSON.stringify(req),
    csrfHash: core.secrets.hash("csrf", csrf),
    userId: session?.userId,
    sessionId: session?.id,
    loginTime: undefined,
    createTime: now,
    expireTime: now + INTERACTION_TTL,
  };
  await core.storage.transaction(async (tx) => {
    await tx.authorizations.sweep(now);
    await tx.authorizations.insertInteraction(interaction);
  });
  return { kind: "interaction", interactionId: interaction.id, csrf, expiresIn: INTERACTION_TTL };
}

/** An interaction being shown or submitted, with everything the pages need. */
export interface Interaction {
  record: InteractionRecord;
  request: AuthorizationRequest;
  ctx: ClientContext;
  resource: Resource;
}

/** A live interaction by id, or a page error (unknown or expired: the user starts over at the application). */
export async function loadInteraction(core: Core, id: string | undefined): Promise<Interaction> {
  const record = id === undefined || id.length > 64 ? undefined : await core.storage.authorizations.getInteraction(id);
  if (record === undefined || record.expireTime <= core.now()) {
    throw new AuthorizationPageError("This sign-in request has expired or is unknown. Go back to the application and start again.");
  }
  const ctx = await core.clientContext(record.clientId);
  const request = JSON.parse(record.request) as AuthorizationRequest;
  const resource = ctx === undefined ? undefined : await core.storage.resources.get(ctx.tenant.id, request.resourceId);
  if (ctx === undefined || resource === undefined) throw new AuthorizationPageError("The application of this sign-in request no longer exists.");
  return { record, request, ctx, resource };
}

/** Checks the CSRF token of a form post: the hidden field, the per-interaction cookie and the stored hash agree. */
export function checkCsrf(core: Core, ix: Interaction, field: string | undefined, cookie: string | undefined): void {
  if (field === undefined || cookie === undefined || field !== cookie || !core.secrets.matches("csrf", field, ix.record.csrfHash)) {
    throw new AuthorizationPageError("The form could not be verified (missing or wrong CSRF token). Go back to the application and start again.", 403);
  }
}

/** Ends an interaction inside the transaction that answers it; a second submission (another tab, a double click) loses. */
async function completeInteraction(tx: Repositories, ix: Interaction): Promise<void> {
  if (!(await tx.authorizations.deleteInteraction(ix.record.id))) {
    throw new AuthorizationPageError("This sign-in request was already completed. Go back to the application.");
  }
}

/** What the interaction shows next: the login form, or the consent screen for a known user. */
export async function interactionStage(core: Core, ix: Interaction): Promise<{ stage: "login" } | { stage: "consent"; scopes: string[]; username: string }> {
  const { userId } = ix.record;
  if (userId === undefined) return { stage: "login" };
  const [scopes, user] = await Promise.all([effectiveScopes(core, ix.request, userId), core.storage.users.get(ix.ctx.tenant.id, userId)]);
  return { stage: "consent", scopes, username: user?.username ?? "" };
}

export type LoginResult =
  | { ok: false }
  | { ok: true; session: { secret: string; expireTime: number }; next: { location: string } | "consent" };

/**
 * The login form: checks the password (outside any transaction), then starts a new browser
 * session and either issues the code or moves on to consent. Unknown user, wrong password and
 * a user of another application fail the same way; the check is throttled like the password grant
 * (ThrottledError for a locked username, HashesBusyError when too many checks wait).
 */
export async function submitLogin(
  core: Core,
  ix: Interaction,
  username: string,
  password: string,
  previousSessionSecret: string | undefined,
): Promise<LoginResult> {
  const user = await checkPassword(core, ix.ctx, username, password);
  if (user === undefined) return { ok: false };
  // The same user logging in again (prompt=login, max_age) refreshes the browser session instead of forking it.
  const previous = previousSessionSecret === undefined ? undefined : await findLiveSession(core, previousSessionSecret);
  const now = core.now();
  let sessionId: string;
  let session: { secret: string; expireTime: number };
  let persistSession: (tx: Repositories) => Promise<unknown>;
  if (previous !== undefined && previous.userId === user.id && previous.tenantId === ix.ctx.tenant.id) {
    sessionId = previous.id;
    session = { secret: previousSessionSecret!, expireTime: now + SESSION_TTL };
    persistSession = (tx) => tx.sessions.touch(previous.id, now, now + SESSION_TTL);
  } else {
    const fresh = newSession(core, { tenantId: ix.ctx.tenant.id, userId: user.id, applicationId: ix.ctx.application.id, amr: ["pwd"] });
    sessionId = fresh.session.id;
    session = { secret: fresh.secret, expireTime: fresh.session.expireTime };
    persistSession = (tx) => insertSession(tx, fresh);
  }
  const persistLogin = async (tx: Repositories) => {
    await persistSession(tx);
    await clearFailures(tx, ix.ctx, username);
    await tx.authorizations.setInteractionUser(ix.record.id, user.id, sessionId, now);
  };
  if (await needsConsent(core, ix.request, user.id)) {
    await core.storage.transaction(persistLogin);
    return { ok: true, session, next: "consent" };
  }
  const location = await issueCode(core, ix.ctx, ix.request, user.id, sessionId, now, async (tx) => {
    await persistLogin(tx);
    await completeInteraction(tx, ix);
  });
  return { ok: true, session, next: { location } };
}

/**
 * The consent screen: Allow remembers the grant (merged with earlier ones) and issues the code;
 * Deny sends `access_denied` back. The browser session that logged in must still be live.
 */
export async function submitConsent(core: Core, ix: Interaction, allow: boolean, sessionSecret: string | undefined): Promise<string> {
  const { record, request, ctx } = ix;
  const session = sessionSecret === undefined ? undefined : await findLiveSession(core, sessionSecret);
  if (record.userId === undefined || record.sessionId === undefined || session?.id !== record.sessionId) {
    throw new AuthorizationPageError("You are not signed in any more. Go back to the application and start again.", 403);
  }
  if (!allow) {
    await core.storage.transaction((tx) => completeInteraction(tx, ix));
    return errorLocation(core, request, new AuthorizationRedirectError("access_denied", "the user denied the request"));
  }
  const userId = record.userId;
  const scopes = await effectiveScopes(core, request, userId);
  const now = core.now();
  return issueCode(core, ctx, request, userId, session.id, session.authTime, async (tx) => {
    const before = await tx.authorizations.getConsent(userId, request.clientId);
    await tx.authorizations.putConsent({
      userId,
      clientId: request.clientId,
      tenantId: ctx.tenant.id,
      scopes: [...new Set([...(before?.scopes ?? []), ...scopes])],
      resourceIds: [...new Set([...(before?.resourceIds ?? []), request.resourceId])],
      createTime: before?.createTime ?? now,
      updateTime: now,
    });
    await completeInteraction(tx, ix);
  });
}

/** PKCE S256 (RFC 7636 §4.6): BASE64URL(SHA256(verifier)) must equal the challenge. */
export function pkceMatches(verifier: string, challenge: string): boolean {
  return PKCE_VALUE.test(verifier) && createHash("sha256").update(verifier).digest("base64url") === challenge;
}
