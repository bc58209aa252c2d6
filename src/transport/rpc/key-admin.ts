import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { KeyAdminService, SigningKeyState } from "../../../gen/tessera/v1/key_admin_service_pb.js";
import { authorizeAdmin, requireManagement } from "../../core/admin/authorize.js";
import { DEFAULT_TENANT } from "../../core/bootstrap.js";
import type { Core } from "../../core/core.js";
import { rotateSigningKey } from "../../core/key-rotation.js";
import type { KeyState } from "../../core/keys.js";
import { validateSigningAlg } from "../../core/admin/validation.js";
import { forbidden } from "../../domain/errors.js";
import type { SigningKeyRecord } from "../../domain/records.js";

const STATES: Record<KeyState, SigningKeyState> = {
  pending: SigningKeyState.PENDING,
  active: SigningKeyState.ACTIVE,
  retired: SigningKeyState.RETIRED,
};

const ts = (seconds: number | undefined) => (seconds === undefined ? undefined : timestampFromMs(seconds * 1000));

/** Key administration is deployment-wide: only the management application of tenant `default` may call it. */
async function authorizeKeyAdmin(core: Core, ctx: HandlerContext): Promise<void> {
  const caller = await authorizeAdmin(core, ctx.requestHeader.get("authorization"));
  requireManagement(caller, "manage signing keys");
  if (caller.tenantId !== DEFAULT_TENANT) throw forbidden("only the management application of tenant default may manage signing keys");
}

function toSigningKey(core: Core, k: SigningKeyRecord) {
  return {
    kid: k.kid,
    algorithm: k.algorithm,
    state: STATES[core.keys.state(k)],
    createTime: ts(k.createTime),
    activateTime: ts(k.activateTime),
    retireTime: ts(k.retireTime),
    expireTime: ts(k.expireTime),
  };
}

/** KeyAdminService: ListSigningKeys, RotateSigningKey. */
export function keyAdminImpl(core: Core): Partial<ServiceImpl<typeof KeyAdminService>> {
  return {
    async listSigningKeys(_req, ctx) {
      await authorizeKeyAdmin(core, ctx);
      await core.keys.purgeExpired();
      return { keys: core.keys.list().map((k) => toSigningKey(core, k)) };
    },
    async rotateSigningKey(req, ctx) {
      await authorizeKeyAdmin(core, ctx);
      return { key: toSigningKey(core, await rotateSigningKey(core, validateSigningAlg(req.algorithm, "algorithm"))) };
    },
  };
}
