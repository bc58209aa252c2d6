import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientToken, startServer, type TestServer } from "../helpers/server.js";

describe("a fresh server", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.dispose());

  it("answers /healthz with SERVING", async () => {
    const res = await fetch(`${server.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING" });
  });

  it("issues a bootstrap client token that verifies against /oidc/jwks", async () => {
    const token = await clientToken(server);
    const jwks = createRemoteJWKSet(new URL(`${server.httpUrl}/oidc/jwks`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: server.httpUrl,
      audience: "userid-api",
      currentDate: new Date(server.clock.ms),
    });
    expect(protectedHeader).toMatchObject({ alg: "ES256", typ: "at+jwt" });
    expect(payload.sub).toBe(server.bootstrap.client_id);
  });
});
