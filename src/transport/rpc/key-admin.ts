import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { KeyAdminService, SigningKeyState } from "../../../gen/tessera/v1/key_admin_service_pb.js";
import type { SigningAlgorithm } from "../../config.js";
import { verifyAccessToken } from "../../core/access-tokens.js";
import type { Core } from "../../core/core.js";
import { rotateSigningKey } from "../../core/key-rotation.js";
import type { KeyState } from "../../core/keys.js";
import { forbidden, invalidRequest, invalidToken } from "../../domain/errors.js";
import type { SigningKeyRecord } from "../../storage/signing-keys.js";

const STATES: Record<KeyState, SigningKeyState> = {
  pending: SigningKeyState.PENDING,
  active: SigningKeyState.ACTIVE,
  retired: SigningKeyState.RETIRED,
};

const ts = (seconds: number | undefined) => (seconds === undefined ? undefined : timestampFromMs(seconds * 1000));

/**
 * Key administration is deployment-wide: only a client token of the management application of
 * tenant `default` (aud = the default resource) may call it.
 */
function authorizeKeyAdmin(core: Core, ctx: HandlerContext): void {
  const header = ctx.requestHeader.get("authorization") ?? "";
  if (!/^bearer /i.test(header)) throw invalidToken("a Bearer access token is required");
  const claims = verifyAccessToken(core, header.slice(7).trim(), { audience: "userid-api" });
  const client = claims.sub === claims.client_id ? core.clientContext(claims.client_id) : undefined;
  if (client === undefined || client.tenant.id !== claims.tid) throw invalidToken("a client access token of an existing client is required");
  if (!client.application.management || client.tenant.id !== "default") {
    throw forbidden("only the management application of tenant default may manage signing keys");
  }
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
      let algorithm: SigningAlgorithm | undefined;
      if (req.algorithm !== "") {
        if (req.algorithm !== "EdDSA" && req.algorithm !== "ES256") throw invalidRequest('algorithm must be "EdDSA" or "ES256"');
        algorithm = req.algorithm;
      }
      return { key: toSigningKey(core, rotateSigningKey(core, algorithm)) };
    },
  };
}
