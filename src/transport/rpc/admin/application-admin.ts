import type { ServiceImpl } from "@connectrpc/connect";
import type { ApplicationAdminService, Client as ClientMessage } from "../../../../gen/tessera/v1/application_admin_service_pb.js";
import { createApplication, deleteApplication, getApplication, listApplications } from "../../../core/admin/applications.js";
import { createClient, deleteClient, getClient, listClients, rotateClientSecret, updateClient, type ClientInput } from "../../../core/admin/clients.js";
import type { Core } from "../../../core/core.js";
import type { Application, Client } from "../../../domain/types.js";
import { callerOf, durationSeconds, lifetimeFields, lifetimesFrom, maskOf, pageRequest, pageResponse, required, requiredId, toDuration, toTimestamp } from "./mapping.js";

function clientInput(m: ClientMessage): ClientInput {
  return {
    applicationId: m.applicationId,
    displayName: m.displayName,
    redirectUris: m.redirectUris,
    postLogoutRedirectUris: m.postLogoutRedirectUris,
    grantTypes: m.grantTypes,
    scopes: m.scopes,
    webOrigins: m.webOrigins,
    resourceIds: m.resourceIds,
    ...lifetimesFrom(m, "client"),
    reuseLeeway: durationSeconds(m.reuseLeeway, "client.reuse_leeway"),
    tokenEndpointAuthMethod: m.tokenEndpointAuthMethod,
    idTokenSignedResponseAlg: m.idTokenSignedResponseAlg,
  };
}

function clientMessage(c: Client) {
  return {
    id: c.id,
    applicationId: c.applicationId,
    displayName: c.displayName,
    redirectUris: c.redirectUris,
    resourceIds: c.resourceIds,
    grantTypes: c.grantTypes,
    scopes: c.scopes,
    ...lifetimeFields(c),
    reuseLeeway: toDuration(c.reuseLeeway),
    idTokenSignedResponseAlg: c.idTokenSignedResponseAlg ?? "",
    webOrigins: c.webOrigins,
    postLogoutRedirectUris: c.postLogoutRedirectUris,
    tokenEndpointAuthMethod: c.tokenEndpointAuthMethod,
    createTime: toTimestamp(c.createTime),
    updateTime: toTimestamp(c.updateTime),
  };
}

function applicationMessage(a: Application) {
  return { id: a.id, displayName: a.displayName, management: a.management, createTime: toTimestamp(a.createTime) };
}

/** ApplicationAdminService: applications and their OAuth clients. */
export function applicationAdminImpl(core: Core): Partial<ServiceImpl<typeof ApplicationAdminService>> {
  return {
    async createApplication(req, ctx) {
      const caller = await callerOf(core, ctx);
      const application = required(req.application, "application");
      return { application: applicationMessage(await createApplication(core, caller, { displayName: application.displayName, management: application.management })) };
    },
    async getApplication(req, ctx) {
      return { application: applicationMessage(await getApplication(core, await callerOf(core, ctx), requiredId(req.id))) };
    },
    async listApplications(req, ctx) {
      return pageResponse("applications", await listApplications(core, await callerOf(core, ctx), pageRequest(req)), applicationMessage);
    },
    async deleteApplication(req, ctx) {
      await deleteApplication(core, await callerOf(core, ctx), requiredId(req.id));
      return {};
    },
    async createClient(req, ctx) {
      const caller = await callerOf(core, ctx);
      const { client, clientSecret } = await createClient(core, caller, clientInput(required(req.client, "client")));
      return { client: clientMessage(client), clientSecret };
    },
    async getClient(req, ctx) {
      return { client: clientMessage(await getClient(core, await callerOf(core, ctx), requiredId(req.id))) };
    },
    async listClients(req, ctx) {
      const page = await listClients(core, await callerOf(core, ctx), pageRequest(req));
      return pageResponse("clients", page, clientMessage);
    },
    async updateClient(req, ctx) {
      const caller = await callerOf(core, ctx);
      const client = required(req.client, "client");
      return { client: clientMessage(await updateClient(core, caller, requiredId(client.id, "client.id"), clientInput(client), maskOf(req.updateMask))) };
    },
    async deleteClient(req, ctx) {
      await deleteClient(core, await callerOf(core, ctx), requiredId(req.id));
      return {};
    },
    async rotateClientSecret(req, ctx) {
      const caller = await callerOf(core, ctx);
      const grace = durationSeconds(req.gracePeriod, "grace_period") ?? 0;
      const { client, clientSecret } = await rotateClientSecret(core, caller, requiredId(req.id), grace);
      return { client: clientMessage(client), clientSecret };
    },
  };
}
