import { OAuthError, invalidRequest } from "../../domain/errors.js";
import { readClientCredentials, type ClientCredentials } from "../../core/client-auth.js";
import type { Core } from "../../core/core.js";
import { issueClientToken } from "../../core/grants/client-credentials.js";
import type { TokenSet } from "../../core/tokens.js";
import { readForm } from "./body.js";
import { NO_STORE, sendError, sendJson, type HttpContext } from "./respond.js";

/** One grant type of the token endpoint: which form parameters it reads and the core call it maps to. */
export interface TokenGrant {
  grantType: string;
  handle(core: Core, params: Map<string, string>, credentials: ClientCredentials | undefined): Promise<TokenSet> | TokenSet;
}

export const clientCredentialsGrant: TokenGrant = {
  grantType: "client_credentials",
  handle: (core, params, credentials) =>
    issueClientToken(core, { credentials, resource: params.get("resource"), scope: params.get("scope") }),
};

/** `POST /oidc/token`: form body, client authentication by Basic or form fields, grants from the table. */
export function tokenEndpoint(core: Core, grants: readonly TokenGrant[]) {
  const byType = new Map(grants.map((g) => [g.grantType, g]));
  return async (ctx: HttpContext): Promise<void> => {
    try {
      // resource may legally repeat (RFC 8707); tessera then refuses it as one-resource-per-request.
      const params = await readForm(ctx.req, ["resource"]);
      const grantType = params.get("grant_type");
      if (grantType === undefined || grantType === "") throw invalidRequest("grant_type is required");
      const grant = byType.get(grantType);
      if (grant === undefined) throw new OAuthError("unsupported_grant_type", `grant_type "${grantType.slice(0, 64)}" is not supported`);
      if (params.get("resource")?.includes(" ")) throw new OAuthError("invalid_target", "only one resource may be requested at a time");
      const credentials = readClientCredentials(ctx.req.headers.authorization, params.get("client_id"), params.get("client_secret"));
      if (credentials !== undefined) ctx.res.locals.clientId = credentials.clientId;
      const tokens = await grant.handle(core, params, credentials);
      // Authenticated by now: the (cached) client names the tenant for the access log.
      ctx.res.locals.tenantId = credentials === undefined ? undefined : core.cachedClientContext(credentials.clientId)?.tenant.id;
      sendJson(ctx.res, 200, tokens, NO_STORE);
    } catch (err) {
      sendError(ctx, err);
    }
  };
}
