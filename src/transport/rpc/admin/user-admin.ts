import type { ServiceImpl } from "@connectrpc/connect";
import type { User as UserMessage, UserAdminService } from "../../../../gen/tessera/v1/user_admin_service_pb.js";
import { listSessions, revokeSession } from "../../../core/admin/sessions.js";
import { createUser, deleteUser, getUser, listUsers, setUserPassword, updateUser, type UserInput } from "../../../core/admin/users.js";
import type { Core } from "../../../core/core.js";
import type { Session, User } from "../../../domain/types.js";
import { callerOf, maskOf, pageRequest, pageResponse, required, requiredId, toTimestamp } from "./mapping.js";

function userInput(m: UserMessage): UserInput {
  return {
    username: m.username,
    email: m.email,
    roles: m.roles,
    customClaims: m.customClaims ?? {},
    applicationIds: m.applicationIds,
  };
}

function userMessage(u: User) {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    applicationIds: u.applicationIds,
    roles: u.roles,
    customClaims: u.customClaims as UserMessage["customClaims"],
    createTime: toTimestamp(u.createTime),
    updateTime: toTimestamp(u.updateTime),
  };
}

function sessionMessage(s: Session) {
  return {
    id: s.id,
    userId: s.userId,
    applicationId: s.applicationId ?? "",
    authTime: toTimestamp(s.authTime),
    createTime: toTimestamp(s.createTime),
    expireTime: toTimestamp(s.expireTime),
  };
}

/** UserAdminService: users, their passwords and sessions. */
export function userAdminImpl(core: Core): Partial<ServiceImpl<typeof UserAdminService>> {
  return {
    async createUser(req, ctx) {
      const caller = await callerOf(core, ctx);
      const password = req.password === "" ? undefined : req.password;
      return { user: userMessage(await createUser(core, caller, userInput(required(req.user, "user")), password)) };
    },
    async getUser(req, ctx) {
      return { user: userMessage(await getUser(core, await callerOf(core, ctx), requiredId(req.id))) };
    },
    async listUsers(req, ctx) {
      const page = await listUsers(core, await callerOf(core, ctx), pageRequest(req));
      return pageResponse("users", page, userMessage);
    },
    async updateUser(req, ctx) {
      const caller = await callerOf(core, ctx);
      const user = required(req.user, "user");
      return { user: userMessage(await updateUser(core, caller, requiredId(user.id, "user.id"), userInput(user), maskOf(req.updateMask))) };
    },
    async deleteUser(req, ctx) {
      await deleteUser(core, await callerOf(core, ctx), requiredId(req.id));
      return {};
    },
    async setUserPassword(req, ctx) {
      await setUserPassword(core, await callerOf(core, ctx), requiredId(req.id), req.password);
      return {};
    },
    async listSessions(req, ctx) {
      const page = await listSessions(core, await callerOf(core, ctx), requiredId(req.userId, "user_id"), pageRequest(req));
      return pageResponse("sessions", page, sessionMessage);
    },
    async revokeSession(req, ctx) {
      await revokeSession(core, await callerOf(core, ctx), requiredId(req.id));
      return {};
    },
  };
}
