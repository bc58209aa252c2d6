import type { ServiceImpl } from "@connectrpc/connect";
import type { Resource as ResourceMessage, ResourceAdminService } from "../../../../gen/tessera/v1/resource_admin_service_pb.js";
import { createResource, deleteResource, getResource, listResources, updateResource, type ResourceInput } from "../../../core/admin/resources.js";
import type { Core } from "../../../core/core.js";
import type { Resource } from "../../../domain/types.js";
import { callerOf, lifetimeFields, lifetimesFrom, maskOf, pageRequest, pageResponse, required, requiredId, toTimestamp } from "./mapping.js";

function resourceInput(m: ResourceMessage): ResourceInput {
  return {
    uri: m.uri,
    displayName: m.displayName,
    scopes: m.scopes,
    ...lifetimesFrom(m, "resource"),
    signingAlg: m.signingAlg,
  };
}

function resourceMessage(r: Resource) {
  return {
    id: r.id,
    uri: r.uri,
    displayName: r.displayName,
    ...lifetimeFields(r),
    default: r.isDefault,
    scopes: r.scopes,
    signingAlg: r.signingAlg ?? "",
    createTime: toTimestamp(r.createTime),
    updateTime: toTimestamp(r.updateTime),
  };
}

/** ResourceAdminService: tenant-level resources (APIs tokens are issued for). */
export function resourceAdminImpl(core: Core): Partial<ServiceImpl<typeof ResourceAdminService>> {
  return {
    async createResource(req, ctx) {
      const caller = await callerOf(core, ctx);
      return { resource: resourceMessage(await createResource(core, caller, resourceInput(required(req.resource, "resource")))) };
    },
    async getResource(req, ctx) {
      return { resource: resourceMessage(await getResource(core, await callerOf(core, ctx), requiredId(req.id))) };
    },
    async listResources(req, ctx) {
      const page = await listResources(core, await callerOf(core, ctx), pageRequest(req));
      return pageResponse("resources", page, resourceMessage);
    },
    async updateResource(req, ctx) {
      const caller = await callerOf(core, ctx);
      const resource = required(req.resource, "resource");
      const updated = await updateResource(core, caller, requiredId(resource.id, "resource.id"), resourceInput(resource), maskOf(req.updateMask));
      return { resource: resourceMessage(updated) };
    },
    async deleteResource(req, ctx) {
      await deleteResource(core, await callerOf(core, ctx), requiredId(req.id), req.force);
      return {};
    },
  };
}
