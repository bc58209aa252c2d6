// RFC 7519 / RFC 7515, the MUST items covered here, wherever tessera verifies its own JWTs
// (Bearer client tokens on /cis and the admin RPCs, userinfo, introspection, id_token_hint):
// - RFC 7515 §2 and §7.1 / RFC 7519 §7.2: every part is base64url without padding or characters outside
//   the alphabet, and decodes canonically (no non-zero unused bits); otherwise the JWT MUST be rejected.
// - RFC 7519 §4.1.5: `nbf`, when present, MUST be honoured (tessera's clock tolerance is at most 2 s).
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResourceAdminService } from "../../gen/tessera/v1/resource_admin_service_pb.js";
import { createGrpcClient, type GrpcClient } from "../helpers/grpc-client.js";
import { clientToken, jwtPayload, startServer, type TestServer } from "../helpers/server.js";
import { backendApp, cis, login, type BackendApp } from "../sessions/setup.js";
import { isActive, userinfoStatus } from "./binding-helpers.js";

const POST_LOGOUT = "https://rp.example/signed-out";
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Tampered copies whose signature bytes Buffer.from(…, "base64url") still decodes to the original. */
function tampered(jwt: string): Record<string, string> {
  const last = jwt.at(-1)!;
  // A 64-byte (or 256-byte) signature leaves 4 unused bits in its last character; set one of them.
  const sloppy = jwt.slice(0, -1) + ALPHABET[ALPHABET.indexOf(last) ^ 1]!;
  return { padded: `${jwt}=`, star: `${jwt}*`, bangs: `${jwt}!!!`, "non-canonical bits": sloppy };
}

describe("RFC 7515/7519: tessera verifies its own JWTs strictly", () => {
  let server: TestServer;
  let app: BackendApp;
  let admin: GrpcClient<typeof ResourceAdminService>;
  let managementToken: string;

  beforeAll(async () => {
    server = await startServer();
    app = await backendApp(server, { postLogoutRedirectUris: [POST_LOGOUT] });
    managementToken = await clientToken(server);
    admin = createGrpcClient(ResourceAdminService, server.grpcAddress);
  });
  afterAll(async () => {
    admin.close();
    await server.dispose();
  });

  const sign = (claims: Record<string, unknown>, typ = "at+jwt") => server.app.core.keys.sign(claims, typ).jwt;
  const now = () => Math.floor(server.clock.ms / 1000);
  const adminCode = (token: string) =>
    admin.listResources({}, { authorization: `Bearer ${token}` }).then(
      () => grpc.status.OK,
      (e: grpc.ServiceError) => e.code,
    );

  it("a signature with characters outside base64url or non-canonical bits is refused everywhere", async () => {
    const user = await login(server, app);
    expect(await adminCode(managementToken)).toBe(grpc.status.OK);
    expect(await userinfoStatus(server, user.access_token)).toBe(200);
    for (const [name, token] of Object.entries(tampered(app.bearer))) {
      const res = await cis(server, "password/authenticate", token, { username: app.username, password: app.password });
      expect(res.status, name).toBe(401);
      expect(res.body.error, name).toBe("invalid_token");
    }
    for (const [name, token] of Object.entries(tampered(managementToken))) {
      expect(await adminCode(token), name).toBe(grpc.status.UNAUTHENTICATED);
    }
    for (const [name, token] of Object.entries(tampered(user.access_token))) {
      expect(await userinfoStatus(server, token), name).toBe(401);
      expect(await isActive(server, token, app.clientId, app.clientSecret), name).toBe(false);
    }
    for (const [name, hint] of Object.entries(tampered(user.id_token))) {
      const url = new URL(`${server.httpUrl}/oidc/session/end`);
      url.searchParams.set("id_token_hint", hint);
      url.searchParams.set("post_logout_redirect_uri", POST_LOGOUT);
      const res = await fetch(url, { redirect: "manual" });
      await res.body?.cancel();
      expect(res.headers.get("location") ?? "", name).not.toContain(POST_LOGOUT);
    }
  });

  it("a client token with nbf in the future is refused until nbf (2 s tolerance)", async () => {
    const claims = jwtPayload(app.bearer);
    const early = sign({ ...claims, nbf: now() + 60 });
    const edge = sign({ ...claims, nbf: now() + 2 });
    const tooEarly = await cis(server, "password/authenticate", early, { username: app.username, password: app.password });
    expect(tooEarly.status).toBe(401);
    expect(tooEarly.body.error).toBe("invalid_token");
    expect((await cis(server, "password/authenticate", edge, { username: app.username, password: app.password })).status).toBe(200);

    const mgmt = sign({ ...jwtPayload(managementToken), nbf: now() + 3 });
    expect(await adminCode(mgmt)).toBe(grpc.status.UNAUTHENTICATED);

    server.clock.advance(60);
    expect((await cis(server, "password/authenticate", early, { username: app.username, password: app.password })).status).toBe(200);
    expect(await adminCode(mgmt)).toBe(grpc.status.OK);
  });

  it("a user token with nbf in the future is inactive to introspection and refused by userinfo", async () => {
    const user = await login(server, app);
    const early = sign({ ...jwtPayload(user.access_token), nbf: now() + 30 });
    expect(await userinfoStatus(server, early)).toBe(401);
    expect(await isActive(server, early, app.clientId, app.clientSecret)).toBe(false);
    server.clock.advance(30);
    expect(await userinfoStatus(server, early)).toBe(200);
    expect(await isActive(server, early, app.clientId, app.clientSecret)).toBe(true);
  });

  it("a non-numeric nbf is refused", async () => {
    const bad = sign({ ...jwtPayload(app.bearer), nbf: "soon" });
    expect((await cis(server, "password/authenticate", bad, { username: app.username, password: app.password })).status).toBe(401);
  });
});
