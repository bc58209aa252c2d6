import { authenticateClientToken } from "../../core/access-tokens.js";
import type { ClientContext, Core } from "../../core/core.js";
import { authenticatePassword, ThrottledError } from "../../core/grants/password.js";
import { HashesBusyError } from "../../core/hash-slots.js";
import { authenticateSession, logout } from "../../core/grants/session.js";
import { refreshTokenGrant, rotateRefreshToken } from "../../core/rotation.js";
import type { TokenSet } from "../../core/tokens.js";
import { bearerToken, readJsonObject } from "./body.js";
import type { Route } from "./gateway.js";
import { NO_STORE, sendError, sendJson, type HttpContext, type HttpHandler } from "./respond.js";
import type { TokenGrant } from "./token-endpoint.js";

type Body = Record<string, string | undefined>;

/**
 * A /cis JSON endpoint acting for the application of the Bearer client access token. Answers
 * the TokenSet as JSON, or 204 when the action returns nothing; never cached.
 */
function cisEndpoint(core: Core, members: readonly string[], action: (ctx: ClientContext, body: Body) => Promise<TokenSet | void> | TokenSet | void): HttpHandler {
  return async (http: HttpContext) => {
    try {
      const { ctx } = await authenticateClientToken(core, bearerToken(http.req));
      http.res.locals.clientId = ctx.client.id;
      http.res.locals.tenantId = ctx.tenant.id;
      const body = await readJsonObject(http.req, members);
      const result = await action(ctx, body);
      if (result === undefined) {
        http.res.writeHead(204, NO_STORE);
        http.res.end();
      } else {
        sendJson(http.res, 200, result, NO_STORE);
      }
    } catch (err) {
      if (err instanceof ThrottledError || err instanceof HashesBusyError) http.res.setHeader("Retry-After", String(err.retryAfter));
      sendError(http, err, http.req.headers.authorization === undefined ? "no-credentials" : true);
    }
  };
}

/** /cis/v1/auth/* backend authentication endpoints (rotation engine and sessions). */
export function userRoutes(core: Core): Route[] {
  return [
    {
      method: "POST",
      path: "/cis/v1/auth/password/authenticate",
      handler: cisEndpoint(core, ["username", "password", "resource", "scope"], (ctx, b) =>
        authenticatePassword(core, { ctx, username: b.username, password: b.password, resource: b.resource, scope: b.scope }),
      ),
    },
    {
      method: "POST",
      path: "/cis/v1/auth/session/authenticate",
      handler: cisEndpoint(core, ["session_id", "resource"], (ctx, b) =>
        authenticateSession(core, { ctx, sessionId: b.session_id, resource: b.resource }),
      ),
    },
    {
      method: "POST",
      path: "/cis/v1/auth/token/refresh",
      // A refresh does not touch the session, so no session_id is returned.
      handler: cisEndpoint(core, ["refresh_token", "resource", "scope"], (ctx, b) =>
        rotateRefreshToken(core, { ctx, refreshToken: b.refresh_token, resource: b.resource, scope: b.scope }),
      ),
    },
    {
      method: "POST",
      path: "/cis/v1/auth/logout",
      handler: cisEndpoint(core, ["session_id"], (ctx, b) => logout(core, { ctx, sessionId: b.session_id })),
    },
  ];
}

/** Token endpoint grants of the rotation engine (refresh_token). */
export function userGrants(): TokenGrant[] {
  return [
    {
      grantType: "refresh_token",
      handle: (core, params, credentials) =>
        refreshTokenGrant(core, credentials, { refreshToken: params.get("refresh_token"), resource: params.get("resource"), scope: params.get("scope") }),
    },
  ];
}
