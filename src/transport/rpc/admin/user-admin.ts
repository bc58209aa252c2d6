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
      const caller = callerOf(core, ctx);
      const password = req.password === "" ? undefined : req.password;
      return { user: userMessage(await createUser(core, caller, userInput(required(req.user, "user")), password)) };
    },
    getUser(req, ctx) {
      return { user: userMessage(getUser(core, callerOf(core, ctx), requiredId(req.id))) };
    },
    listUsers(req, ctx) {
      const page = listUsers(core, callerOf(core, ctx), pageRequest(req));
      return pageResponse("users", page, userMessage);
    },
    updateUser(req, ctx) {
      const caller = callerOf(core, ctx);
      const user = required(req.user, "user");
      return { user: userMessage(updateUser(core, caller, requiredId(user.id, "user.id"), userInput(user), maskOf(req.updateMask))) };
    },
    deleteUser(req, ctx) {
      deleteUser(core, callerOf(core, ctx), requiredId(req.id));
      return {};
    },
    async setUserPassword(req, ctx) {
      await setUserPassword(core, callerOf(core, ctx), requiredId(req.id), req.password);
      return {};
    },
    listSessions(req, ctx) {
      const page = listSessions(core, callerOf(core, ctx), requiredId(req.userId, "user_id"), pageRequest(req));
      return pageResponse("sessions", page, sessionMessage);
    },
    revokeSession(req, ctx) {
      revokeSession(core, callerOf(core, ctx), requiredId(req.id));
      return {};
    },
  };
}
