import type { ServiceImpl } from "@connectrpc/connect";
import { TokenService } from "../../../gen/tessera/v1/token_service_pb.js";
import { readClientCredentials } from "../../core/client-auth.js";
import type { Core } from "../../core/core.js";
import { issueClientToken } from "../../core/grants/client-credentials.js";
import { oidcTokenMethods } from "./oidc-token-methods.js";
import { opt, tokenResponse } from "./request.js";
import { userTokenMethods } from "./user-token-methods.js";

export type TokenServiceImpl = Partial<ServiceImpl<typeof TokenService>>;

/** TokenService over RPC: the same core calls as the OAuth HTTP endpoints. */
export function tokenServiceImpl(core: Core): TokenServiceImpl {
  return {
    async issueClientToken(req, ctx) {
      const credentials = readClientCredentials(ctx.requestHeader.get("authorization"), opt(req.clientId), opt(req.clientSecret));
      return tokenResponse(await issueClientToken(core, { credentials, resource: opt(req.resource), scope: opt(req.scope) }));
    },
    getJwks() {
      return { keys: core.keys.jwks().map((k) => Object.assign({}, k, { y: k.y ?? "" })) };
    },
    ...userTokenMethods(core),
    ...oidcTokenMethods(core),
  };
}
