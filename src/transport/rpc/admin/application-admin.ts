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
    createApplication(req, ctx) {
      const caller = callerOf(core, ctx);
      const application = required(req.application, "application");
      return { application: applicationMessage(createApplication(core, caller, { displayName: application.displayName, management: application.management })) };
    },
    getApplication(req, ctx) {
      return { application: applicationMessage(getApplication(core, callerOf(core, ctx), requiredId(req.id))) };
    },
    listApplications(req, ctx) {
      return pageResponse("applications", listApplications(core, callerOf(core, ctx), pageRequest(req)), applicationMessage);
    },
    deleteApplication(req, ctx) {
      deleteApplication(core, callerOf(core, ctx), requiredId(req.id));
      return {};
    },
    createClient(req, ctx) {
      const caller = callerOf(core, ctx);
      const { client, clientSecret } = createClient(core, caller, clientInput(required(req.client, "client")));
      return { client: clientMessage(client), clientSecret };
    },
    getClient(req, ctx) {
      return { client: clientMessage(getClient(core, callerOf(core, ctx), requiredId(req.id))) };
    },
    listClients(req, ctx) {
      const page = listClients(core, callerOf(core, ctx), pageRequest(req));
      return pageResponse("clients", page, clientMessage);
    },
    updateClient(req, ctx) {
      const caller = callerOf(core, ctx);
      const client = required(req.client, "client");
      return { client: clientMessage(updateClient(core, caller, requiredId(client.id, "client.id"), clientInput(client), maskOf(req.updateMask))) };
    },
    deleteClient(req, ctx) {
      deleteClient(core, callerOf(core, ctx), requiredId(req.id));
      return {};
    },
    rotateClientSecret(req, ctx) {
      const caller = callerOf(core, ctx);
      const grace = durationSeconds(req.gracePeriod, "grace_period") ?? 0;
      const { client, clientSecret } = rotateClientSecret(core, caller, requiredId(req.id), grace);
      return { client: clientMessage(client), clientSecret };
    },
  };
}
