import { OAuthError } from "../../domain/errors.js";
import { clientAllowsGrant } from "../../domain/types.js";
import { authenticateClient, type ClientCredentials } from "../client-auth.js";
import type { Core } from "../core.js";
import { formatScope, parseScope, requireGrantableScopes } from "../scopes.js";
import { lifetimesFor, resolveTargetResource, signAccessToken, type TokenSet } from "../tokens.js";

export interface ClientCredentialsInput {
  credentials: ClientCredentials | undefined;
  resource: string | undefined;
  scope: string | undefined;
}

/**
 * The client_credentials grant (RFC 6749 §4.4): a client access token for the targeted
 * resource, `sub` = client_id, never a refresh token. No write to the database.
 */
export async function issueClientToken(core: Core, input: ClientCredentialsInput): Promise<TokenSet> {
  const ctx = await authenticateClient(core, input.credentials);
  if (!clientAllowsGrant(ctx.client, "client_credentials")) {
    throw new OAuthError("unauthorized_client", "this client may not use the client_credentials grant");
  }
  const resource = await resolveTargetResource(core, ctx, input.resource);
  const scopes = parseScope(input.scope);
  requireGrantableScopes(scopes, ctx.client, resource, false);
  const { accessTokenTtl } = lifetimesFor(ctx, resource);
  const keysReady = core.keys.ready(resource.signingAlg);
  if (keysReady !== undefined) await keysReady;
  const { token, expiresIn } = signAccessToken(core, {
    ctx,
    resource,
    subject: ctx.client.id,
    scopes,
    ttl: accessTokenTtl,
  });
  core.events.tokenIssued?.("client_credentials");
  const result: TokenSet = { access_token: token, token_type: "Bearer", expires_in: expiresIn };
  if (scopes.length > 0) result.scope = formatScope(scopes);
  return result;
}
