import type { ServiceImpl } from "@connectrpc/connect";
import { TokenService } from "../../../gen/tessera/v1/token_service_pb.js";
import { readClientCredentials } from "../../core/client-auth.js";
import type { Core } from "../../core/core.js";
import { issueClientToken } from "../../core/grants/client-credentials.js";

/** Empty proto3 strings mean "not sent". */
export const opt = (value: string): string | undefined => (value === "" ? undefined : value);

/** TokenService over RPC: the same core calls as the OAuth HTTP endpoints. */
export function tokenServiceImpl(core: Core): Partial<ServiceImpl<typeof TokenService>> {
  return {
    issueClientToken(req, ctx) {
      const credentials = readClientCredentials(ctx.requestHeader.get("authorization"), opt(req.clientId), opt(req.clientSecret));
      const t = issueClientToken(core, { credentials, resource: opt(req.resource), scope: opt(req.scope) });
      return { accessToken: t.access_token, tokenType: t.token_type, expiresIn: t.expires_in, scope: t.scope ?? "" };
    },
    getJwks() {
      return { keys: core.keys.jwks().map((k) => ({ ...k, y: k.y ?? "" })) };
    },
  };
}
