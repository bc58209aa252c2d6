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
import type { SigningKeyRecord } from "../../storage/signing-keys.js";

const STATES: Record<KeyState, SigningKeyState> = {
  pending: SigningKeyState.PENDING,
  active: SigningKeyState.ACTIVE,
  retired: SigningKeyState.RETIRED,
};

const ts = (seconds: number | undefined) => (seconds === undefined ? undefined : timestampFromMs(seconds * 1000));

/** Key administration is deployment-wide: only the management application of tenant `default` may call it. */
function authorizeKeyAdmin(core: Core, ctx: HandlerContext): void {
  const caller = authorizeAdmin(core, ctx.requestHeader.get("authorization"));
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
    listSigningKeys(_req, ctx) {
      authorizeKeyAdmin(core, ctx);
      core.keys.purgeExpired();
      return { keys: core.keys.list().map((k) => toSigningKey(core, k)) };
    },
    rotateSigningKey(req, ctx) {
      authorizeKeyAdmin(core, ctx);
      return { key: toSigningKey(core, rotateSigningKey(core, validateSigningAlg(req.algorithm, "algorithm"))) };
    },
  };
}
