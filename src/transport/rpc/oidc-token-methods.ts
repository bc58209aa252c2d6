import { readClientCredentials } from "../../core/client-auth.js";
import type { Core } from "../../core/core.js";
import { exchangeAuthorizationCode } from "../../core/grants/authorization-code.js";
import { introspectToken, revokeToken } from "../../core/introspection.js";
import { opt, tokenResponse } from "./request.js";
import type { TokenServiceImpl } from "./token-service.js";

/** ExchangeAuthorizationCode, IntrospectToken, RevokeToken (OpenID Connect). */
export function oidcTokenMethods(core: Core): TokenServiceImpl {
  const credentials = (authorization: string | null, clientId: string, clientSecret: string) =>
    readClientCredentials(authorization, opt(clientId), opt(clientSecret));
  return {
    async exchangeAuthorizationCode(req, ctx) {
      return tokenResponse(
        await exchangeAuthorizationCode(core, {
          credentials: credentials(ctx.requestHeader.get("authorization"), req.clientId, req.clientSecret),
          code: opt(req.code),
          redirectUri: opt(req.redirectUri),
          codeVerifier: opt(req.codeVerifier),
          resource: opt(req.resource),
        }),
      );
    },
    async introspectToken(req, ctx) {
      const r = await introspectToken(core, {
        credentials: credentials(ctx.requestHeader.get("authorization"), req.clientId, req.clientSecret),
        token: opt(req.token),
        tokenTypeHint: opt(req.tokenTypeHint),
      });
      return {
        active: r.active,
        scope: r.scope ?? "",
        clientId: r.client_id ?? "",
        username: r.username ?? "",
        tokenType: r.token_type ?? "",
        exp: BigInt(r.exp ?? 0),
        iat: BigInt(r.iat ?? 0),
        sub: r.sub ?? "",
        aud: r.aud ?? "",
        iss: r.iss ?? "",
        jti: r.jti ?? "",
        tid: r.tid ?? "",
        sid: r.sid ?? "",
      };
    },
    async revokeToken(req, ctx) {
      await revokeToken(core, {
        credentials: credentials(ctx.requestHeader.get("authorization"), req.clientId, req.clientSecret),
        token: opt(req.token),
        tokenTypeHint: opt(req.tokenTypeHint),
      });
      return {};
    },
  };
}
