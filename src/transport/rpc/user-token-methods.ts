import { authenticateClientToken, bearerFrom } from "../../core/access-tokens.js";
import { authenticateClient, readClientCredentials } from "../../core/client-auth.js";
import type { ClientContext, Core } from "../../core/core.js";
import { authenticatePassword } from "../../core/grants/password.js";
import { authenticateSession, logout } from "../../core/grants/session.js";
import { refreshTokenGrant, rotateRefreshToken } from "../../core/rotation.js";
import { invalidRequest } from "../../domain/errors.js";
import { opt, tokenResponse } from "./request.js";
import type { TokenServiceImpl } from "./token-service.js";

const isBearer = (authorization: string | null): authorization is string => authorization !== null && /^bearer /i.test(authorization);

/**
 * The calling client of a backend method: `authorization: Bearer <client access token>` of the
 * application, or client credentials (Basic metadata or the client_id/client_secret fields).
 */
async function callingClient(core: Core, authorization: string | null, clientId: string, clientSecret: string): Promise<ClientContext> {
  if (isBearer(authorization)) {
    if (clientId !== "" || clientSecret !== "") throw invalidRequest("use one client authentication method, not both a Bearer token and client_id/client_secret");
    return (await authenticateClientToken(core, bearerFrom(authorization))).ctx;
  }
  return authenticateClient(core, readClientCredentials(authorization, opt(clientId), opt(clientSecret)));
}

/** RefreshToken, AuthenticatePassword, AuthenticateSession, Logout (rotation engine and sessions). */
export function userTokenMethods(core: Core): TokenServiceImpl {
  return {
    async refreshToken(req, hctx) {
      const authorization = hctx.requestHeader.get("authorization");
      const input = { refreshToken: opt(req.refreshToken), resource: opt(req.resource), scope: opt(req.scope) };
      const tokens = isBearer(authorization)
        ? await rotateRefreshToken(core, Object.assign({}, input, { ctx: await callingClient(core, authorization, req.clientId, req.clientSecret) }))
        : await refreshTokenGrant(core, readClientCredentials(authorization, opt(req.clientId), opt(req.clientSecret)), input);
      return tokenResponse(tokens);
    },
    async authenticatePassword(req, hctx) {
      const ctx = await callingClient(core, hctx.requestHeader.get("authorization"), req.clientId, req.clientSecret);
      const input = { ctx, username: opt(req.username), password: opt(req.password), resource: opt(req.resource), scope: opt(req.scope) };
      return tokenResponse(await authenticatePassword(core, input));
    },
    async authenticateSession(req, hctx) {
      const ctx = await callingClient(core, hctx.requestHeader.get("authorization"), req.clientId, req.clientSecret);
      return tokenResponse(await authenticateSession(core, { ctx, sessionId: opt(req.sessionId), resource: opt(req.resource) }));
    },
    async logout(req, hctx) {
      const ctx = await callingClient(core, hctx.requestHeader.get("authorization"), req.clientId, req.clientSecret);
      await logout(core, { ctx, sessionId: opt(req.sessionId) });
      return {};
    },
  };
}
