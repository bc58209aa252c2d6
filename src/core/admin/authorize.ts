import { forbidden, invalidToken, notFound } from "../../domain/errors.js";
import { authenticateClientToken, bearerFrom } from "../access-tokens.js";
import type { Core } from "../core.js";

/** Who is calling an admin RPC: a client of an application in one tenant. */
export interface Caller {
  tenantId: string;
  applicationId: string;
  clientId: string;
  /** A management application's token acts on the whole tenant. */
  management: boolean;
}

/**
 * Authenticates an admin call: a Bearer client access token tessera issued for the tenant's
 * default resource, whose client, application and tenant still exist. Anything else is invalid_token.
 */
export async function authorizeAdmin(core: Core, authorization: string | null | undefined): Promise<Caller> {
  const token = bearerFrom(authorization);
  if (token === undefined) throw invalidToken("a Bearer access token is required");
  const { ctx, claims } = await authenticateClientToken(core, token);
  if (claims.aud !== ctx.defaultResource.uri) throw invalidToken("token is for another resource");
  return { tenantId: ctx.tenant.id, applicationId: ctx.application.id, clientId: ctx.client.id, management: ctx.application.management };
}

/** Creating tenant-level objects (resources, applications) takes a management application. */
export function requireManagement(caller: Caller, action: string): void {
  if (!caller.management) throw forbidden(`only a management application may ${action}`);
}

/** Whether the caller may see and manage objects of this application. */
export function ownsApplication(caller: Caller, applicationId: string): boolean {
  return caller.management || caller.applicationId === applicationId;
}

/** The application filter a list runs with: a non-management caller only ever sees its own. */
export function applicationFilter(caller: Caller, requested: string | undefined): string | undefined {
  if (caller.management) return requested;
  if (requested !== undefined && requested !== caller.applicationId) throw notFound(`application "${requested}" not found`);
  return caller.applicationId;
}
