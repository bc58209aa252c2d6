// RFC 7009, the MUST items covered here:
// - §2.1: the server first validates the client credentials and then verifies that the token was issued
//   to the client making the request; if not, the request is refused. Tessera answers 200 (as §2.2 allows
//   for tokens it will not act on) and changes nothing: the token keeps working.
// - §2.1: revoking a refresh token also invalidates the access tokens based on the same authorization
//   grant (tessera: every access token of the refresh family answers inactive to introspection and 401 to userinfo).
// - §2.2: the server responds 200 when the token was revoked or is unknown.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createClient } from "../helpers/fixtures.js";
import { createGrpcClient, type GrpcClient } from "../helpers/grpc-client.js";
import { postForm, startServer, type TestServer } from "../helpers/server.js";
import { backendApp, login, refresh, type BackendApp } from "../sessions/setup.js";
import { isActive, userinfoStatus } from "./binding-helpers.js";

describe("RFC 7009 revocation is for the client the token was issued to", () => {
  let server: TestServer;
  let owner: BackendApp;
  let sibling: { clientId: string; clientSecret: string };
  let publicSibling: { clientId: string };
  let grpcClient: GrpcClient<typeof TokenService>;

  beforeAll(async () => {
    server = await startServer();
    owner = await backendApp(server);
    sibling = await createClient(server.app, owner.appId);
    publicSibling = await createClient(server.app, owner.appId, { public: true, tokenEndpointAuthMethod: "none" });
    grpcClient = createGrpcClient(TokenService, server.grpcAddress);
  });
  afterAll(async () => {
    grpcClient.close();
    await server.dispose();
  });

  const revoke = (token: string, auth?: string, form: Record<string, string> = {}) =>
    postForm(`${server.httpUrl}/oidc/revoke`, { token, ...form }, auth);

  it("revocation by another client of the same application answers 200 and changes nothing", async () => {
    const tokens = await login(server, owner);
    const byConfidential = await revoke(tokens.refresh_token, server.basic(sibling.clientId, sibling.clientSecret));
    expect(byConfidential.status).toBe(200);
    expect((await revoke(tokens.refresh_token, undefined, { client_id: publicSibling.clientId })).status).toBe(200);
    expect((await revoke(tokens.access_token, server.basic(sibling.clientId, sibling.clientSecret))).status).toBe(200);
    await grpcClient.revokeToken({ token: tokens.refresh_token }, { authorization: server.basic(sibling.clientId, sibling.clientSecret) });
    await grpcClient.revokeToken({ token: tokens.access_token }, { authorization: server.basic(sibling.clientId, sibling.clientSecret) });

    expect(await isActive(server, tokens.access_token, owner.clientId, owner.clientSecret)).toBe(true);
    expect(await userinfoStatus(server, tokens.access_token)).toBe(200);
    expect(await isActive(server, tokens.refresh_token, owner.clientId, owner.clientSecret)).toBe(true);
    expect((await refresh(server, owner, tokens.refresh_token)).status).toBe(200);
  });

  it("the owner revoking a refresh token makes every access token of its family inactive", async () => {
    const tokens = await login(server, owner);
    const rotated = await refresh(server, owner, tokens.refresh_token);
    expect(rotated.status).toBe(200);
    const accessTokens = [tokens.access_token, rotated.body.access_token];
    for (const at of accessTokens) expect(await userinfoStatus(server, at)).toBe(200);

    expect((await revoke(rotated.body.refresh_token, server.basic(owner.clientId, owner.clientSecret))).status).toBe(200);
    for (const at of accessTokens) {
      expect(await isActive(server, at, owner.clientId, owner.clientSecret)).toBe(false);
      expect(await userinfoStatus(server, at)).toBe(401);
    }
    const again = await refresh(server, owner, rotated.body.refresh_token);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe("invalid_grant");
  });

  it("RevokeToken over gRPC by the owner revokes the family the same way", async () => {
    const tokens = await login(server, owner);
    await grpcClient.revokeToken({ token: tokens.refresh_token }, { authorization: server.basic(owner.clientId, owner.clientSecret) });
    expect(await isActive(server, tokens.access_token, owner.clientId, owner.clientSecret)).toBe(false);
    expect(await userinfoStatus(server, tokens.access_token)).toBe(401);
    const err = (await grpcClient
      .refreshToken({ refreshToken: tokens.refresh_token }, { authorization: server.basic(owner.clientId, owner.clientSecret) })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
  });
});
