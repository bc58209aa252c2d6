/*
 * RFC 7518 (JWA) signing algorithms, RFC 7517/7638 JWKS and kids, CONTRACT §7 "Signing algorithms", issue #15:
 * - ES256 (P-256, RFC 7518 §3.4) is the default algorithm of access tokens; RS256 (§3.3, key of 2048 bits or
 *   larger) and EdDSA (RFC 8037, Ed25519) are selectable per resource (`signingAlg`); other values are INVALID_ARGUMENT.
 * - The JWKS publishes every active key of every algorithm in use; each kid is the key's RFC 7638 thumbprint;
 *   a key is generated only for an algorithm in use (the default, one a client/resource names, an explicit rotation).
 * - Tokens verify with jsonwebtoken 9 (the most used Node verifier, which rejects EdDSA) using the JWKS key.
 * - RotateSigningKey { algorithm } rotates that algorithm's key only; with the default settings the new key is
 *   in the JWKS from the moment of rotation and signs only after the JWKS max-age, so a verifier's cached JWKS
 *   never misses a fresh token's kid (issue #15).
 * - A data dir created with EdDSA, restarted with the default ES256, gets an ES256 key encrypted at rest,
 *   keeps verifying its old tokens through the JWKS and issues ES256 tokens.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey } from "node:crypto";
import { calculateJwkThumbprint, createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWK } from "jose";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyAdminService } from "../../gen/tessera/v1/key_admin_service_pb.js";
import { RETIRED_KEY_PUBLISH_SECONDS } from "../../src/core/keys.js";
import { adminClients, Code, DOORS, expectFailure, managementToken, unique, type Admin } from "../admin/admin-helpers.js";
import { createApplication, createClient } from "../helpers/fixtures.js";
import { createGrpcClient } from "../helpers/grpc-client.js";
import { clientToken, jwtHeader, startServer, type TestServer } from "../helpers/server.js";

type Jwk = JWK & { kid: string; alg: string };

async function fetchJwks(server: TestServer): Promise<{ keys: Jwk[]; maxAge: number }> {
  const res = await fetch(`${server.httpUrl}/oidc/jwks`);
  const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get("cache-control") ?? "")?.[1]);
  return { keys: ((await res.json()) as { keys: Jwk[] }).keys, maxAge };
}

/** What jwks-rsa hands jsonwebtoken: the JWKS key of the token's kid as a PEM public key. */
function pemFor(keys: Jwk[], token: string): string {
  const key = keys.find((k) => k.kid === jwtHeader(token).kid);
  if (key === undefined) throw new Error(`kid ${String(jwtHeader(token).kid)} is not in the JWKS`);
  return createPublicKey({ key: key as JsonWebKey, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
}

/** jsonwebtoken 9 verification pinned to one algorithm, at the server's clock. */
function verifyWithJsonwebtoken(server: TestServer, keys: Jwk[], token: string, alg: "ES256" | "RS256", audience = "userid-api"): jwt.JwtPayload {
  return jwt.verify(token, pemFor(keys, token), {
    algorithms: [alg],
    issuer: server.httpUrl,
    audience,
    clockTimestamp: Math.floor(server.clock.ms / 1000),
  }) as jwt.JwtPayload;
}

describe("RFC 7518 algorithms per resource", () => {
  let server: TestServer;
  let admin: Admin;
  beforeAll(async () => {
    server = await startServer();
    admin = adminClients(server, "connect");
  });
  afterAll(async () => {
    admin.close();
    await server.dispose();
  });

  async function resourceClient(signingAlg: string) {
    const uri = `https://${unique("api")}.example.com`;
    const { resource } = await admin.resources.createResource({ resource: { uri, signingAlg } }, await managementToken(server));
    expect(resource!.signingAlg).toBe(signingAlg);
    const { clientId, clientSecret } = await createClient(server.app, await createApplication(server.app), { resourceIds: [resource!.id] });
    return { uri, id: resource!.id, token: () => clientToken(server, { resource: uri }, server.basic(clientId, clientSecret)) };
  }

  it("a fresh server signs ES256 with one P-256 key, generating none for unused algorithms; jsonwebtoken verifies it", async () => {
    const { keys } = await fetchJwks(server);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    const token = await clientToken(server);
    expect(jwtHeader(token)).toMatchObject({ alg: "ES256", typ: "at+jwt", kid: keys[0]!.kid });
    expect(verifyWithJsonwebtoken(server, keys, token, "ES256").client_id).toBe(server.bootstrap.client_id);
  });

  it("a resource with signingAlg RS256 gets RS256 access tokens from a 2048-bit key that jsonwebtoken verifies", async () => {
    const api = await resourceClient("RS256");
    const { keys } = await fetchJwks(server);
    const rsa = keys.filter((k) => k.alg === "RS256");
    expect(rsa).toHaveLength(1); // generated when the resource named it, before any token
    expect(rsa[0]).toMatchObject({ kty: "RSA", e: "AQAB", use: "sig" });
    expect(Buffer.from(rsa[0]!.n!, "base64url").length * 8).toBeGreaterThanOrEqual(2048);
    expect(rsa[0]).not.toHaveProperty("d");
    const token = await api.token();
    expect(jwtHeader(token)).toMatchObject({ alg: "RS256", typ: "at+jwt", kid: rsa[0]!.kid });
    expect(verifyWithJsonwebtoken(server, keys, token, "RS256", api.uri).aud).toBe(api.uri);
    // The default resource's tokens stay ES256.
    expect(jwtHeader(await clientToken(server)).alg).toBe("ES256");
  });

  it("a resource with signingAlg EdDSA gets EdDSA tokens from an Ed25519 key; jose verifies them, jsonwebtoken cannot", async () => {
    const api = await resourceClient("EdDSA");
    const token = await api.token();
    const { keys } = await fetchJwks(server);
    const ed = keys.find((k) => k.kid === jwtHeader(token).kid)!;
    expect(ed).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA" });
    const { protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${server.httpUrl}/oidc/jwks`)), {
      issuer: server.httpUrl,
      audience: api.uri,
      currentDate: new Date(server.clock.ms),
    });
    expect(protectedHeader.alg).toBe("EdDSA");
    expect(() => jwt.verify(token, pemFor(keys, token), { algorithms: ["ES256", "RS256"] })).toThrow();
  });

  it("every kid in the JWKS is the key's RFC 7638 thumbprint and no key carries private members", async () => {
    const { keys } = await fetchJwks(server);
    expect(new Set(keys.map((k) => k.alg))).toEqual(new Set(["ES256", "RS256", "EdDSA"]));
    for (const key of keys) {
      expect(await calculateJwkThumbprint(key)).toBe(key.kid);
      for (const member of ["d", "p", "q", "dp", "dq", "qi"]) expect(key).not.toHaveProperty(member);
    }
  });

  it("UpdateResource sets and clears signing_alg; the access token algorithm follows", async () => {
    const api = await resourceClient("RS256");
    const token = await managementToken(server);
    const { resource } = await admin.resources.updateResource(
      { resource: { id: api.id, signingAlg: "" }, updateMask: { paths: ["signing_alg"] } },
      token,
    );
    expect(resource!.signingAlg).toBe("");
    expect(jwtHeader(await api.token()).alg).toBe("ES256");
    await admin.resources.updateResource({ resource: { id: api.id, signingAlg: "EdDSA" }, updateMask: { paths: ["signing_alg"] } }, token);
    expect((await admin.resources.getResource({ id: api.id }, token)).resource!.signingAlg).toBe("EdDSA");
    expect(jwtHeader(await api.token()).alg).toBe("EdDSA");
  });

  it.each(DOORS)("refuses other algorithms with INVALID_ARGUMENT over %s, writing nothing", async (door) => {
    const rpc = adminClients(server, door);
    try {
      const token = await managementToken(server);
      for (const alg of ["HS256", "none", "es256", "PS256"]) {
        const uri = `https://${unique("bad")}.example.com`;
        await expectFailure(rpc.resources.createResource({ resource: { uri, signingAlg: alg } }, token), Code.InvalidArgument, /resource\.signing_alg/, "invalid_request");
        expect((await server.app.core.storage.resources.findByUri("default", uri))).toBeUndefined();
      }
      const api = await resourceClient("RS256");
      await expectFailure(
        rpc.resources.updateResource({ resource: { id: api.id, signingAlg: "HS512" }, updateMask: { paths: ["signing_alg"] } }, token),
        Code.InvalidArgument,
        /resource\.signing_alg/,
      );
      expect(jwtHeader(await api.token()).alg).toBe("RS256");
    } finally {
      rpc.close();
    }
  });
});

describe("RotateSigningKey with the default settings (issue #15)", () => {
  let server: TestServer;
  let keysRpc: ReturnType<typeof createGrpcClient<typeof KeyAdminService>>;
  beforeAll(async () => {
    server = await startServer();
    keysRpc = createGrpcClient(KeyAdminService, server.grpcAddress);
  });
  afterAll(async () => {
    keysRpc.close();
    await server.dispose();
  });
  const admin = async () => ({ authorization: `Bearer ${await clientToken(server)}` });

  it("publishes the new kid at once and signs with it only after the JWKS max-age, so cached key sets never miss a kid", async () => {
    const cachedBefore = await fetchJwks(server);
    expect(cachedBefore.maxAge).toBeGreaterThan(0);
    const oldKid = jwtHeader(await clientToken(server)).kid;

    const { key } = await keysRpc.rotateSigningKey({}, await admin());
    expect(key!.algorithm).toBe("ES256");
    const cachedAtRotation = await fetchJwks(server);
    expect(cachedAtRotation.keys.map((k) => k.kid)).toContain(key!.kid);

    // Until the old cache may have expired, fresh tokens carry a kid that cache has.
    const rightAfter = await clientToken(server);
    expect(jwtHeader(rightAfter).kid).toBe(oldKid);
    verifyWithJsonwebtoken(server, cachedBefore.keys, rightAfter, "ES256");
    server.clock.advance(cachedBefore.maxAge - 1);
    const lastOld = await clientToken(server);
    expect(jwtHeader(lastOld).kid).toBe(oldKid);
    verifyWithJsonwebtoken(server, cachedBefore.keys, lastOld, "ES256");

    // Once it signs, every cache young enough to be used (fetched since the rotation) has the new kid.
    server.clock.advance(1);
    const fresh = await clientToken(server);
    expect(jwtHeader(fresh).kid).toBe(key!.kid);
    verifyWithJsonwebtoken(server, cachedAtRotation.keys, fresh, "ES256");
    await jwtVerify(fresh, createLocalJWKSet({ keys: cachedAtRotation.keys } as JSONWebKeySet), { currentDate: new Date(server.clock.ms) });
    // Tokens of the old key still verify with the current JWKS.
    verifyWithJsonwebtoken(server, (await fetchJwks(server)).keys, lastOld, "ES256");
  });

  it("RotateSigningKey { algorithm: RS256 } rotates the RSA key only; the default algorithm stays ES256", async () => {
    const token = await admin();
    const first = (await keysRpc.rotateSigningKey({ algorithm: "RS256" }, token)).key!;
    expect(first.algorithm).toBe("RS256");
    const defaultKid = jwtHeader(await clientToken(server)).kid as string;
    const second = (await keysRpc.rotateSigningKey({ algorithm: "RS256" }, token)).key!;
    const listed = (await keysRpc.listSigningKeys({}, token)).keys;
    const byKid = new Map(listed.map((k) => [k.kid, k]));
    expect(byKid.get(defaultKid)!.retireTime).toBeUndefined();
    expect(byKid.get(first.kid)!.retireTime).toEqual(second.activateTime);
    server.clock.advance(3600);
    const after = await clientToken(server);
    expect(jwtHeader(after)).toMatchObject({ alg: "ES256", kid: defaultKid });
    for (const alg of ["HS256", "RS512", "es256"]) {
      const err = await keysRpc.rotateSigningKey({ algorithm: alg }, token).catch((e: { code: number }) => e);
      expect((err as { code: number }).code).toBe(Code.InvalidArgument);
    }
  });
});

describe("upgrade of a data dir created with EdDSA to the default ES256", () => {
  it("keeps the EdDSA key published for its tokens, adds an ES256 key encrypted at rest, and signs ES256 after the announce period", async () => {
    const first = await startServer({ env: { TESSERA_SIGNING_ALG: "EdDSA" } });
    const oldToken = await clientToken(first);
    const oldKid = jwtHeader(oldToken).kid as string;
    expect(jwtHeader(oldToken).alg).toBe("EdDSA");
    await first.stop();

    const server = await startServer({ dataDir: first.dataDir, clock: first.clock });
    try {
      const remote = createRemoteJWKSet(new URL(`${server.httpUrl}/oidc/jwks`));
      // The issuer is the first server's URL (no TESSERA_ISSUER, and each start binds a new port).
      const verify = (token: string) => jwtVerify(token, remote, { issuer: first.httpUrl, currentDate: new Date(server.clock.ms) });
      const { keys, maxAge } = await fetchJwks(server);
      expect(keys.map((k) => k.alg).sort()).toEqual(["ES256", "EdDSA"]);
      const es256 = keys.find((k) => k.alg === "ES256")!;
      await verify(oldToken);

      const stored = (await server.app.core.storage.signingKeys.list()).find((k) => k.kid === es256.kid)!;
      expect(() => createPrivateKey({ key: stored.privateKey, format: "der", type: "pkcs8" })).toThrow();
      expect(createPrivateKey({ key: server.app.core.secrets.decrypt(stored.privateKey), format: "der", type: "pkcs8" }).asymmetricKeyType).toBe("ec");

      // Verifiers may still hold the JWKS without the ES256 key: the EdDSA key signs until the max-age passed.
      expect(jwtHeader(await clientToken(server)).kid).toBe(oldKid);
      server.clock.advance(maxAge);
      const newToken = await clientToken(server);
      expect(jwtHeader(newToken)).toMatchObject({ alg: "ES256", kid: es256.kid });
      expect(verifyWithJsonwebtoken(server, keys, newToken, "ES256").iss).toBe(server.httpUrl);

      // The EdDSA key stays published while its tokens live, then goes.
      server.clock.advance(3600 - maxAge - 5);
      await verify(oldToken);
      server.clock.advance(RETIRED_KEY_PUBLISH_SECONDS);
      expect((await fetchJwks(server)).keys.map((k) => k.kid)).toEqual([es256.kid]);
    } finally {
      await server.dispose();
    }
  });
});
