import * as grpc from "@grpc/grpc-js";
import { createRemoteJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyAdminService, SigningKeyState } from "../../gen/tessera/v1/key_admin_service_pb.js";
import { rotateKeysIfDue } from "../../src/core/key-rotation.js";
import { RETIRED_KEY_PUBLISH_SECONDS } from "../../src/core/keys.js";
import { createApplication, createClient } from "../helpers/fixtures.js";
import { createGrpcClient, errorReason } from "../helpers/grpc-client.js";
import { clientToken, jwtHeader, startServer, type TestServer } from "../helpers/server.js";

describe("signing key rotation through KeyAdminService", () => {
  let server: TestServer;
  let keys: ReturnType<typeof createGrpcClient<typeof KeyAdminService>>;
  const admin = async () => ({ authorization: `Bearer ${await clientToken(server)}` });

  beforeAll(async () => {
    server = await startServer({ env: { TESSERA_KEY_ANNOUNCE_PERIOD: "5m" } });
    keys = createGrpcClient(KeyAdminService, server.grpcAddress);
  });
  afterAll(async () => {
    keys.close();
    await server.dispose();
  });

  async function jwks(): Promise<JSONWebKeySet> {
    return (await (await fetch(`${server.httpUrl}/oidc/jwks`)).json()) as JSONWebKeySet;
  }
  // A fresh remote key set each time fetches /oidc/jwks like a resource server; verified at the server's clock.
  async function verifies(token: string): Promise<boolean> {
    try {
      const keySet = createRemoteJWKSet(new URL(`${server.httpUrl}/oidc/jwks`));
      await jwtVerify(token, keySet, { issuer: server.httpUrl, currentDate: new Date(server.clock.ms) });
      return true;
    } catch {
      return false;
    }
  }

  it("only the management application of tenant default may list or rotate keys", async () => {
    const other = await createClient(server.app, await createApplication(server.app));
    const token = await clientToken(server, {}, server.basic(other.clientId, other.clientSecret));
    const denied = await keys.listSigningKeys({}, { authorization: `Bearer ${token}` }).catch((e: grpc.ServiceError) => e);
    expect((denied as grpc.ServiceError).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(errorReason(denied as grpc.ServiceError)).toBe("forbidden");
    const anonymous = await keys.rotateSigningKey({}).catch((e: grpc.ServiceError) => e);
    expect((anonymous as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
    const badAlg = await keys.rotateSigningKey({ algorithm: "HS256" }, await admin()).catch((e: grpc.ServiceError) => e);
    expect((badAlg as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("announces the next key, switches after the announce period, keeps the old one until its tokens expired, then drops it", async () => {
    const before = await keys.listSigningKeys({}, await admin());
    expect(before.keys).toHaveLength(1);
    expect(before.keys[0]!.state).toBe(SigningKeyState.ACTIVE);
    const oldKid = before.keys[0]!.kid;
    const oldToken = await clientToken(server);
    expect(jwtHeader(oldToken).kid).toBe(oldKid);

    const { key } = await keys.rotateSigningKey({}, await admin());
    expect(key!.state).toBe(SigningKeyState.PENDING);
    expect(Number(key!.activateTime!.seconds) - Number(key!.createTime!.seconds)).toBe(300);
    expect((await jwks()).keys.map((k) => k.kid).sort()).toEqual([oldKid, key!.kid].sort());
    expect(jwtHeader(await clientToken(server)).kid).toBe(oldKid);

    server.clock.advance(300);
    const newToken = await clientToken(server);
    expect(jwtHeader(newToken).kid).toBe(key!.kid);
    expect(await verifies(newToken)).toBe(true);
    expect(await verifies(oldToken)).toBe(true);
    const listed = await keys.listSigningKeys({}, await admin());
    expect(listed.keys.map((k) => [k.kid, k.state])).toEqual([
      [key!.kid, SigningKeyState.ACTIVE],
      [oldKid, SigningKeyState.RETIRED],
    ]);
    const retired = listed.keys[1]!;
    expect(Number(retired.expireTime!.seconds) - Number(retired.retireTime!.seconds)).toBe(RETIRED_KEY_PUBLISH_SECONDS);

    server.clock.advance(3000);
    expect(await verifies(oldToken)).toBe(true);
    server.clock.advance(RETIRED_KEY_PUBLISH_SECONDS - 3000);
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([key!.kid]);
    expect((await keys.listSigningKeys({}, await admin())).keys.map((k) => k.kid)).toEqual([key!.kid]);
  });

  it("rotating another algorithm publishes its key and leaves the default (ES256) signing", async () => {
    const signer = jwtHeader(await clientToken(server)).kid;
    const { key } = await keys.rotateSigningKey({ algorithm: "EdDSA" }, await admin());
    expect(key!.algorithm).toBe("EdDSA");
    expect((await jwks()).keys.map((k) => k.kid)).toContain(key!.kid);
    server.clock.advance(300);
    const token = await clientToken(server);
    expect(jwtHeader(token)).toMatchObject({ alg: "ES256", kid: signer });
    expect(await verifies(token)).toBe(true);
    const discovery = (await (await fetch(`${server.httpUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.id_token_signing_alg_values_supported).toEqual(["ES256", "EdDSA", "RS256"]);
  });
});

describe("automatic rotation", () => {
  it("rotates once the newest key is a rotation period old", async () => {
    const server = await startServer({ env: { TESSERA_KEY_ROTATION_PERIOD: "1d" } });
    try {
      const { core } = server.app;
      expect(await rotateKeysIfDue(core)).toBeUndefined();
      server.clock.advance(86399);
      expect(await rotateKeysIfDue(core)).toBeUndefined();
      server.clock.advance(1);
      const next = await rotateKeysIfDue(core);
      expect(next).toBeDefined();
      server.clock.advance(60); // the default announce period: the JWKS max-age
      expect(jwtHeader(await clientToken(server)).kid).toBe(next!.kid);
      expect(await rotateKeysIfDue(core)).toBeUndefined();
    } finally {
      await server.dispose();
    }
  });
});
