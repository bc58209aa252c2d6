import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";
import { expect } from "vitest";
import type { TestServer } from "./server.js";

/** Verifies an access token against the server's JWKS as a resource server would (RFC 9068). */
export async function verifyAccessToken(server: TestServer, token: string, audience = "userid-api"): Promise<JWTPayload> {
  const jwks = createRemoteJWKSet(new URL(`${server.httpUrl}/oidc/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: server.httpUrl,
    audience,
    typ: "at+jwt",
    currentDate: new Date(server.clock.ms),
  });
  const { keys } = (await (await fetch(`${server.httpUrl}/oidc/jwks`)).json()) as { keys: { kid: string }[] };
  expect(keys.map((k) => k.kid)).toContain(protectedHeader.kid);
  return payload;
}
