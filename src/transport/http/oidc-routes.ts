import type { IncomingMessage, ServerResponse } from "node:http";
import {
  AuthorizationPageError,
  checkCsrf,
  interactionStage,
  loadInteraction,
  startAuthorization,
  submitConsent,
  submitLogin,
  type AuthorizationStep,
  type Interaction,
} from "../../core/authorization.js";
import { readClientCredentials } from "../../core/client-auth.js";
import type { Core } from "../../core/core.js";
import { confirmLogout, requestLogout } from "../../core/end-session.js";
import { exchangeAuthorizationCode } from "../../core/grants/authorization-code.js";
import { HashesBusyError } from "../../core/hash-slots.js";
import { ThrottledError } from "../../core/password-check.js";
import { introspectToken, revokeToken, userInfo, type TokenRequestInput } from "../../core/introspection.js";
import { OAuthError } from "../../domain/errors.js";
import { SIGNING_ALGS } from "../../domain/types.js";
import { bearerToken, formToMap, readForm } from "./body.js";
import type { Route } from "./gateway.js";
import { consentForm, loggedOut, loginForm, logoutConfirm, stillSignedIn } from "./pages/interaction-pages.js";
import { errorPage, sendPage } from "./pages/render.js";
import { issuerPath, NO_STORE, sendError, sendJson, type HttpContext } from "./respond.js";
import type { TokenGrant } from "./token-endpoint.js";

const SESSION_COOKIE = "tessera_session";
const interactionCookie = (id: string) => `tessera_ix_${id}`;

function readCookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

function cookie(core: Core, name: string, value: string, maxAge: number): string {
  const secure = core.issuer.startsWith("https:") ? "; Secure" : "";
  return `${name}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`;
}

function redirect(res: ServerResponse, location: string, cookies: string[] = []): void {
  const headers: Record<string, string | string[]> = { Location: location, ...NO_STORE, "Referrer-Policy": "no-referrer" };
  if (cookies.length > 0) headers["Set-Cookie"] = cookies;
  res.writeHead(303, headers);
  res.end();
}

/**
 * Parameters of a GET query or a POSTed form (OIDC Core §3.1.2.1 allows both); repeats are refused,
 * except `resource` (RFC 8707), which the authorization request then refuses as invalid_target.
 */
async function requestParams(ctx: HttpContext): Promise<Map<string, string>> {
  return ctx.req.method === "POST" ? readForm(ctx.req, ["resource"]) : formToMap(ctx.url.searchParams, ["resource"]);
}

/** Runs a hosted-page handler: request mistakes become error pages, never JSON or a redirect. */
function page(handler: (ctx: HttpContext) => Promise<void> | void) {
  return async (ctx: HttpContext): Promise<void> => {
    try {
      await handler(ctx);
    } catch (err) {
      if (ctx.res.headersSent) return void ctx.res.destroy();
      if (err instanceof AuthorizationPageError) return errorPage(ctx.res, err.status, err.message);
      if (err instanceof OAuthError && err.status < 500) return errorPage(ctx.res, err.status, err.description);
      throw err;
    }
  };
}

/** The CSP source of the client's redirect URI: its origin, or its scheme for a native app's custom scheme. */
function redirectOrigin(ix: Interaction): string {
  const url = new URL(ix.request.redirectUri);
  return url.origin !== "null" ? url.origin : url.protocol;
}

async function showStage(core: Core, ctx: HttpContext, ix: Interaction, csrf: string, extra: { error?: string; username?: string; status?: number } = {}): Promise<void> {
  const stage = await interactionStage(core, ix);
  const clientName = ix.ctx.client.displayName || ix.ctx.application.displayName || ix.ctx.client.id;
  if (stage.stage === "login") {
    sendPage(ctx.res, {
      title: "Sign in",
      status: extra.status ?? 200,
      formTargets: [redirectOrigin(ix)],
      body: loginForm({ base: issuerPath(core.issuer), interactionId: ix.record.id, csrf, clientName, username: extra.username ?? ix.request.loginHint, error: extra.error }),
    });
    return;
  }
  sendPage(ctx.res, {
    title: "Allow access",
    formTargets: [redirectOrigin(ix)],
    body: consentForm({
      base: issuerPath(core.issuer),
      interactionId: ix.record.id,
      csrf,
      clientName,
      username: stage.username,
      scopes: stage.scopes,
      resource: ix.resource.uri,
    }),
  });
}

function authorizationEndpoint(core: Core) {
  return page(async (ctx) => {
    const params = await requestParams(ctx);
    const step: AuthorizationStep = await startAuthorization(core, params, readCookies(ctx.req).get(SESSION_COOKIE));
    if (step.kind === "redirect") return redirect(ctx.res, step.location);
    redirect(ctx.res, `${issuerPath(core.issuer)}/oidc/interaction?id=${encodeURIComponent(step.interactionId)}`, [
      cookie(core, interactionCookie(step.interactionId), step.csrf, step.expiresIn),
    ]);
  });
}

/** `GET /oidc/interaction?id=…`: the login form or the consent screen; the CSRF token comes from the interaction's cookie. */
function interactionPage(core: Core) {
  return page(async (ctx) => {
    const ix = await loadInteraction(core, ctx.url.searchParams.get("id") ?? undefined);
    const csrf = readCookies(ctx.req).get(interactionCookie(ix.record.id));
    checkCsrf(core, ix, csrf, csrf);
    await showStage(core, ctx, ix, csrf!);
  });
}

async function postedInteraction(core: Core, ctx: HttpContext): Promise<{ ix: Interaction; form: Map<string, string>; cookies: Map<string, string>; csrf: string }> {
  const form = await readForm(ctx.req);
  const ix = await loadInteraction(core, form.get("interaction"));
  const cookies = readCookies(ctx.req);
  const csrf = form.get("csrf");
  checkCsrf(core, ix, csrf, cookies.get(interactionCookie(ix.record.id)));
  return { ix, form, cookies, csrf: csrf! };
}

const clearCookie = (core: Core, id: string) => cookie(core, interactionCookie(id), "", 0);

function loginSubmit(core: Core) {
  return page(async (ctx) => {
    const { ix, form, cookies, csrf } = await postedInteraction(core, ctx);
    const username = form.get("username") ?? "";
    let result: Awaited<ReturnType<typeof submitLogin>>;
    try {
      result = await submitLogin(core, ix, username, form.get("password") ?? "", cookies.get(SESSION_COOKIE));
    } catch (err) {
      if (!(err instanceof ThrottledError || err instanceof HashesBusyError)) throw err;
      ctx.res.setHeader("Retry-After", String(err.retryAfter));
      const error =
        err instanceof ThrottledError
          ? `This account is temporarily locked after too many failed sign-in attempts. Try again in ${err.retryAfter} seconds.`
          : "Too many sign-in attempts are being checked right now. Try again in a moment.";
      return showStage(core, ctx, ix, csrf, { error, username, status: 429 });
    }
    if (!result.ok) return showStage(core, ctx, ix, csrf, { error: "Wrong username or password.", username, status: 400 });
    const sessionCookie = cookie(core, SESSION_COOKIE, result.session.secret, result.session.expireTime - core.now());
    if (result.next === "consent") return redirect(ctx.res, `${issuerPath(core.issuer)}/oidc/interaction?id=${encodeURIComponent(ix.record.id)}`, [sessionCookie]);
    redirect(ctx.res, result.next.location, [sessionCookie, clearCookie(core, ix.record.id)]);
  });
}

function consentSubmit(core: Core) {
  return page(async (ctx) => {
    const { ix, form, cookies } = await postedInteraction(core, ctx);
    const decision = form.get("decision");
    if (decision !== "allow" && decision !== "deny") throw new AuthorizationPageError('The form must say "allow" or "deny".');
    const location = await submitConsent(core, ix, decision === "allow", cookies.get(SESSION_COOKIE));
    redirect(ctx.res, location, [clearCookie(core, ix.record.id)]);
  });
}

/** RFC 7662 / RFC 7009 endpoints: form body, client authentication like the token endpoint. */
async function clientTokenRequest(ctx: HttpContext): Promise<TokenRequestInput> {
  const form = await readForm(ctx.req);
  const credentials = readClientCredentials(ctx.req.headers.authorization, form.get("client_id"), form.get("client_secret"));
  if (credentials !== undefined) ctx.res.locals.clientId = credentials.clientId;
  return { credentials, token: form.get("token"), tokenTypeHint: form.get("token_type_hint") };
}

function userinfoEndpoint(core: Core) {
  return async (ctx: HttpContext): Promise<void> => {
    let token: string | undefined;
    try {
      token = bearerToken(ctx.req);
      if (token === undefined && ctx.req.method === "POST" && /^application\/x-www-form-urlencoded/i.test(ctx.req.headers["content-type"] ?? "")) {
        token = (await readForm(ctx.req)).get("access_token");
      }
      sendJson(ctx.res, 200, await userInfo(core, token), NO_STORE);
    } catch (err) {
      sendError(ctx, err, token === undefined && ctx.req.headers.authorization === undefined ? "no-credentials" : true);
    }
  };
}

function endSessionEndpoint(core: Core) {
  return page(async (ctx) => {
    const params = await requestParams(ctx);
    const opt = (name: string) => (params.get(name) === "" ? undefined : params.get(name));
    const step = await requestLogout(core, {
      idTokenHint: opt("id_token_hint"),
      clientId: opt("client_id"),
      postLogoutRedirectUri: opt("post_logout_redirect_uri"),
      state: opt("state"),
      sessionSecret: readCookies(ctx.req).get(SESSION_COOKIE),
    });
    if (step.kind === "done") return loggedOutAnswer(core, ctx, step.location);
    const { request } = step;
    const client = request.clientId === undefined ? undefined : await core.clientContext(request.clientId);
    // form-action also governs the redirect that follows the POST (to the client's post-logout URI).
    const target = request.postLogoutRedirectUri === undefined ? undefined : new URL(request.postLogoutRedirectUri);
    sendPage(ctx.res, {
      title: "Sign out?",
      ...(target === undefined ? {} : { formTargets: [target.origin !== "null" ? target.origin : target.protocol] }),
      body: logoutConfirm({
        base: issuerPath(core.issuer),
        csrf: step.csrf,
        clientId: request.clientId,
        postLogoutRedirectUri: request.postLogoutRedirectUri,
        state: request.state,
        clientName: client === undefined ? undefined : client.client.displayName || client.application.displayName || client.client.id,
      }),
    });
  });
}

/** `POST /oidc/session/end/confirm`: the confirmation page's answer; only "logout" with the right CSRF token ends the session. */
function endSessionConfirm(core: Core) {
  return page(async (ctx) => {
    const form = await readForm(ctx.req);
    const opt = (name: string) => (form.get(name) === "" ? undefined : form.get(name));
    if (form.get("decision") !== "logout") return sendPage(ctx.res, { title: "Still signed in", body: stillSignedIn() });
    const request = { clientId: opt("client_id"), postLogoutRedirectUri: opt("post_logout_redirect_uri"), state: opt("state") };
    const { location } = await confirmLogout(core, request, form.get("csrf"), readCookies(ctx.req).get(SESSION_COOKIE));
    loggedOutAnswer(core, ctx, location);
  });
}

function loggedOutAnswer(core: Core, ctx: HttpContext, location: string | undefined): void {
  const cleared = cookie(core, SESSION_COOKIE, "", 0);
  if (location !== undefined) return redirect(ctx.res, location, [cleared]);
  sendPage(ctx.res, { title: "Signed out", body: loggedOut(), cookies: [cleared] });
}

/** OpenID Connect endpoints: authorization, hosted login and consent, userinfo, introspection, revocation, end session. */
export function oidcRoutes(core: Core): Route[] {
  const authorize = authorizationEndpoint(core);
  const userinfo = userinfoEndpoint(core);
  const endSession = endSessionEndpoint(core);
  return [
    { method: "GET", path: "/oidc/auth", handler: authorize },
    { method: "POST", path: "/oidc/auth", handler: authorize },
    { method: "GET", path: "/cis/oidc/auth", handler: authorize },
    { method: "POST", path: "/cis/oidc/auth", handler: authorize },
    { method: "GET", path: "/oidc/interaction", handler: interactionPage(core) },
    { method: "POST", path: "/oidc/interaction/login", handler: loginSubmit(core) },
    { method: "POST", path: "/oidc/interaction/consent", handler: consentSubmit(core) },
    { method: "GET", path: "/oidc/userinfo", handler: userinfo },
    { method: "POST", path: "/oidc/userinfo", handler: userinfo },
    {
      method: "POST",
      path: "/oidc/introspect",
      handler: async (ctx) => sendJson(ctx.res, 200, await introspectToken(core, await clientTokenRequest(ctx)), NO_STORE),
    },
    {
      method: "POST",
      path: "/oidc/revoke",
      handler: async (ctx) => {
        await revokeToken(core, await clientTokenRequest(ctx));
        ctx.res.writeHead(200, Object.assign({ "Content-Length": "0" }, NO_STORE));
        ctx.res.end();
      },
    },
    { method: "GET", path: "/oidc/session/end", handler: endSession },
    { method: "POST", path: "/oidc/session/end", handler: endSession },
    { method: "POST", path: "/oidc/session/end/confirm", handler: endSessionConfirm(core) },
  ];
}

/** Token endpoint grants of OpenID Connect (authorization_code). */
export function oidcGrants(): TokenGrant[] {
  return [
    {
      grantType: "authorization_code",
      handle: (core, params, credentials) =>
        exchangeAuthorizationCode(core, {
          credentials,
          code: params.get("code"),
          redirectUri: params.get("redirect_uri"),
          codeVerifier: params.get("code_verifier"),
          resource: params.get("resource"),
        }),
    },
  ];
}

/** Discovery members for the endpoints above (only what is implemented). */
export function oidcDiscovery(issuer: string): Record<string, unknown> {
  return {
    authorization_endpoint: `${issuer}/oidc/auth`,
    userinfo_endpoint: `${issuer}/oidc/userinfo`,
    introspection_endpoint: `${issuer}/oidc/introspect`,
    revocation_endpoint: `${issuer}/oidc/revoke`,
    end_session_endpoint: `${issuer}/oidc/session/end`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    code_challenge_methods_supported: ["S256"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: [...SIGNING_ALGS],
    introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    prompt_values_supported: ["none", "login", "consent"],
    claims_supported: ["iss", "sub", "aud", "exp", "iat", "auth_time", "sid", "nonce", "at_hash", "amr", "azp", "email", "preferred_username", "roles"],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    authorization_response_iss_parameter_supported: true,
    frontchannel_logout_supported: false,
    backchannel_logout_supported: false,
  };
}
