import type { AccessTokenClaims } from "./access-tokens.js";
import type { ClientContext, Core } from "./core.js";

/**
 * Who may introspect an access token (RFC 7662 §4: the server decides): a client of the token's own
 * application, or a resource server's client, of any application of the same tenant, assigned the
 * resource the token is for. Never across tenants; never the default resource across applications
 * (those are tessera's own tokens, e.g. for its admin API).
 */
export async function mayIntrospectAccessToken(core: Core, caller: ClientContext, claims: AccessTokenClaims): Promise<boolean> {
  if (claims.tid !== caller.tenant.id) return false;
  if (claims.app_id === caller.application.id) return true;
  if (claims.aud === caller.defaultResource.uri) return false;
  const resource = await core.resourceByUri(caller.tenant.id, claims.aud);
  return resource !== undefined && caller.client.resourceIds.includes(resource.id);
}
