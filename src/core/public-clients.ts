import { invalidClient } from "../domain/errors.js";
import { authenticateClient, type ClientCredentials } from "./client-auth.js";
import type { ClientContext, Core } from "./core.js";

/**
 * Authenticates a confidential client by its secret, or identifies a public client (one created
 * without a secret) by `client_id` alone. Only for endpoints where that is safe: the code exchange
 * (PKCE binds the code to the client) and revocation (RFC 7009 §2.1).
 */
export async function authenticateClientOrPublic(core: Core, credentials: ClientCredentials | undefined): Promise<ClientContext> {
  if (credentials?.method !== "none") return authenticateClient(core, credentials);
  const ctx = credentials.clientId.length <= 256 ? await core.clientContext(credentials.clientId) : undefined;
  if (ctx === undefined) throw invalidClient();
  if (ctx.client.secretHash !== undefined) throw invalidClient("client secret is required");
  return ctx;
}
