/*
 * OpenID Connect Core 1.0 ID token signing, RFC 7591 `id_token_signed_response_alg`, CONTRACT §7:
 * - §15.1 / Discovery §3: RS256 is supported; `id_token_signing_alg_values_supported` lists ES256, EdDSA and RS256.
 * - Client.id_token_signed_response_alg (JSON idTokenSignedResponseAlg; empty = TESSERA_SIGNING_ALG) picks the
 *   client's ID token algorithm (§2 "ID token": signed with the registered alg; RFC 7591 §2); other values are
 *   INVALID_ARGUMENT on both doors.
 * - §3.1.3.6 / §3.2.2.9: `at_hash` is the left half of the hash of the access token with the hash of the ID token's
 *   JOSE `alg` (SHA-256 for ES256 and RS256, SHA-512 for Ed25519).
 * - ID tokens verify against the published JWKS (jose createRemoteJWKSet, and jsonwebtoken 9 for RS256).
 */
import { createHash, createPublicKey, type JsonWebKey } from "node:crypto";
import { createRemoteJWKSet, jwtVerify } from "jose";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminClients, Code, DOORS, expectFailure, managementToken, type Admin } from "../admin/admin-helpers.js";
import { jwtHeader, startServer, type TestServer } from "../helpers/server.js";
import { backendApp, login, type BackendApp } from "../sessions/setup.js";

function atHash(hash: "sha256" | "sha512", accessToken: string): string {
  const digest = createHash(hash).update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString("base64url");
}

describe("OIDC Core ID token algorithms per client", () => {
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

  async function verifyIdToken(app: BackendApp, idToken: string, alg: string) {
    const jwks = createRemoteJWKSet(new URL(`${server.httpUrl}/oidc/jwks`));
    return jwtVerify(idToken, jwks, { issuer: server.httpUrl, audience: app.clientId, algorithms: [alg], currentDate: new Date(server.clock.ms) });
  }

  /** A backend application whose client registers `alg` through UpdateClient. */
  async function appWithAlg(alg: string): Promise<BackendApp> {
    const app = await backendApp(server);
    const token = await managementToken(server);
    const { client } = await admin.applications.updateClient(
      { client: { id: app.clientId, idTokenSignedResponseAlg: alg }, updateMask: { paths: ["id_token_signed_response_alg"] } },
      token,
    );
    expect(client!.idTokenSignedResponseAlg).toBe(alg);
    expect((await admin.applications.getClient({ id: app.clientId }, token)).client!.idTokenSignedResponseAlg).toBe(alg);
    return app;
  }

  it("discovery lists ES256, EdDSA and RS256 as ID token algorithms", async () => {
    for (const path of ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]) {
      const doc = (await (await fetch(`${server.httpUrl}${path}`)).json()) as Record<string, unknown>;
      expect(doc.id_token_signing_alg_values_supported).toEqual(["ES256", "EdDSA", "RS256"]);
    }
  });

  it("a client without a registered algorithm gets ES256 ID tokens with a SHA-256 at_hash", async () => {
    const app = await backendApp(server);
    const tokens = await login(server, app);
    const { payload, protectedHeader } = await verifyIdToken(app, tokens.id_token, "ES256");
    expect(protectedHeader).toMatchObject({ alg: "ES256", typ: "JWT" });
    expect(payload.at_hash).toBe(atHash("sha256", tokens.access_token));
  });

  it("a client registered for RS256 gets RS256 ID tokens that jose and jsonwebtoken verify; its access tokens keep the resource's algorithm", async () => {
    const app = await appWithAlg("RS256");
    const tokens = await login(server, app);
    const { payload, protectedHeader } = await verifyIdToken(app, tokens.id_token, "RS256");
    expect(protectedHeader).toMatchObject({ alg: "RS256", typ: "JWT" });
    expect(payload).toMatchObject({ sub: app.userId, aud: app.clientId, at_hash: atHash("sha256", tokens.access_token) });
    expect(jwtHeader(tokens.access_token).alg).toBe("ES256");

    const { keys } = (await (await fetch(`${server.httpUrl}/oidc/jwks`)).json()) as { keys: (JsonWebKey & { kid: string })[] };
    const key = keys.find((k) => k.kid === protectedHeader.kid)!;
    const pem = createPublicKey({ key, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
    const claims = jwt.verify(tokens.id_token, pem, {
      algorithms: ["RS256"],
      issuer: server.httpUrl,
      audience: app.clientId,
      clockTimestamp: Math.floor(server.clock.ms / 1000),
    }) as jwt.JwtPayload;
    expect(claims.sub).toBe(app.userId);
  });

  it("a client registered for EdDSA gets EdDSA ID tokens whose at_hash uses SHA-512", async () => {
    const app = await appWithAlg("EdDSA");
    const tokens = await login(server, app);
    const { payload, protectedHeader } = await verifyIdToken(app, tokens.id_token, "EdDSA");
    expect(protectedHeader.alg).toBe("EdDSA");
    expect(payload.at_hash).toBe(atHash("sha512", tokens.access_token));
  });

  it("clearing the registration returns the client to the default algorithm", async () => {
    const app = await appWithAlg("RS256");
    await admin.applications.updateClient(
      { client: { id: app.clientId, idTokenSignedResponseAlg: "" }, updateMask: { paths: ["id_token_signed_response_alg"] } },
      await managementToken(server),
    );
    expect(jwtHeader((await login(server, app)).id_token).alg).toBe("ES256");
  });

  it.each(DOORS)("refuses other ID token algorithms with INVALID_ARGUMENT over %s and keeps the registration", async (door) => {
    const rpc = adminClients(server, door);
    try {
      const app = await appWithAlg("RS256");
      const token = await managementToken(server);
      for (const alg of ["HS256", "none", "rs256", "ES384"]) {
        await expectFailure(
          rpc.applications.updateClient({ client: { id: app.clientId, idTokenSignedResponseAlg: alg }, updateMask: { paths: ["id_token_signed_response_alg"] } }, token),
          Code.InvalidArgument,
          /client\.id_token_signed_response_alg/,
          "invalid_request",
        );
        await expectFailure(
          rpc.applications.createClient({ client: { applicationId: app.appId, idTokenSignedResponseAlg: alg } }, token),
          Code.InvalidArgument,
          /client\.id_token_signed_response_alg/,
        );
      }
      expect(jwtHeader((await login(server, app)).id_token).alg).toBe("RS256");
    } finally {
      rpc.close();
    }
  });
});

describe("a client whose algorithm was set by another process", () => {
  it("gets a key generated on first use when no key of that algorithm exists yet", async () => {
    const server = await startServer();
    try {
      const app = await backendApp(server, { idTokenSignedResponseAlg: "RS256" });
      const tokens = await login(server, app);
      const { protectedHeader } = await jwtVerify(tokens.id_token, createRemoteJWKSet(new URL(`${server.httpUrl}/oidc/jwks`)), {
        issuer: server.httpUrl,
        audience: app.clientId,
        currentDate: new Date(server.clock.ms),
      });
      expect(protectedHeader.alg).toBe("RS256");
    } finally {
      await server.dispose();
    }
  });
});
