import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { createApplication, createClient } from "../helpers/fixtures.js";
import { clientToken, jwtHeader, startServer, type TestServer } from "../helpers/server.js";
import { verifyAccessToken } from "../helpers/tokens.js";

const jwks = async (server: TestServer) =>
  ((await (await fetch(`${server.httpUrl}/oidc/jwks`)).json()) as { keys: Record<string, string>[] }).keys;

describe("a restart on the same data dir", () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0).reverse()) await s.dispose().catch(() => undefined);
  });

  it("keeps signing keys, clients and bootstrap credentials", async () => {
    const first = await startServer();
    servers.push(first);
    const extra = await createClient(first.app, await createApplication(first.app));
    const before = await clientToken(first);
    const kid = jwtHeader(before).kid;

    const second = await first.restart();
    servers.push(second);
    expect(second.bootstrap).toEqual(first.bootstrap);
    expect(second.app.bootstrapCredentials).toBeUndefined();
    expect((await jwks(second)).map((k) => k.kid)).toEqual([kid]);

    // A token from before the restart still verifies (its iss is the first server's URL: port 0 moved); new ones carry the same kid.
    const { payload } = await jwtVerify(before, createRemoteJWKSet(new URL(`${second.httpUrl}/oidc/jwks`)), {
      issuer: first.httpUrl,
      currentDate: new Date(second.clock.ms),
    });
    expect(payload.sub).toBe(first.bootstrap.client_id);
    const after = await clientToken(second);
    expect(jwtHeader(after).kid).toBe(kid);
    const extraToken = await clientToken(second, {}, second.basic(extra.clientId, extra.clientSecret));
    expect((await verifyAccessToken(second, extraToken)).sub).toBe(extra.clientId);
  });
});

describe("TESSERA_SIGNING_ALG=ES256", () => {
  it("signs with ES256 and publishes a P-256 key", async () => {
    const server = await startServer({ env: { TESSERA_SIGNING_ALG: "ES256" } });
    try {
      const [key, ...rest] = await jwks(server);
      expect(rest).toEqual([]);
      expect(key).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig", x: expect.any(String), y: expect.any(String) });
      expect(key!.d).toBeUndefined();
      const token = await clientToken(server);
      expect(jwtHeader(token)).toMatchObject({ alg: "ES256", typ: "at+jwt", kid: key!.kid });
      const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${server.httpUrl}/oidc/jwks`)), {
        issuer: server.httpUrl,
        audience: "userid-api",
        algorithms: ["ES256"],
        currentDate: new Date(server.clock.ms),
      });
      expect(payload.sub).toBe(server.bootstrap.client_id);
    } finally {
      await server.dispose();
    }
  });
});

describe("token expiry", () => {
  it("a client token stops verifying after its TTL on the injected clock", async () => {
    const server = await startServer();
    try {
      const token = await clientToken(server);
      server.clock.advance(3600 + 1);
      await expect(verifyAccessToken(server, token)).rejects.toThrow(/exp/);
    } finally {
      await server.dispose();
    }
  });
});
