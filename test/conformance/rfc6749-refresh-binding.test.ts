// RFC 6749 (with RFC 9700), the MUST items covered here:
// - §6 / RFC 9700 §4.14: a refresh token is bound to the client it was issued to; the server MUST verify
//   that binding, so another client (even of the same application, even a public one) gets invalid_grant,
//   and its attempt neither consumes nor revokes the owner's token.
// - §4.1.2 / §10.5: an authorization code is single use; when it is presented again the server SHOULD
//   (tessera: does) revoke every token issued from that code: the refresh family and its access tokens
//   (introspection active:false, userinfo 401).
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createApplication, createClient } from "../helpers/fixtures.js";
import { createGrpcClient, errorReason, type GrpcClient } from "../helpers/grpc-client.js";
import { clientToken, postForm, startServer, type TestServer } from "../helpers/server.js";
import { backendApp, cis, login, refresh, refreshForm, type BackendApp } from "../sessions/setup.js";
import { authorizationCode, codeClient, exchangeCode, isActive, userinfoStatus } from "./binding-helpers.js";

describe("RFC 6749 §6: a refresh token belongs to the client it was issued to", () => {
  let server: TestServer;
  let owner: BackendApp;
  let sibling: { clientId: string; clientSecret: string; bearer: string };
  let publicSibling: { clientId: string };
  let grpcClient: GrpcClient<typeof TokenService>;

  beforeAll(async () => {
    server = await startServer();
    owner = await backendApp(server);
    const s = await createClient(server.app, owner.appId);
    sibling = { ...s, bearer: await clientToken(server, {}, server.basic(s.clientId, s.clientSecret)) };
    publicSibling = await createClient(server.app, owner.appId, { public: true, tokenEndpointAuthMethod: "none" });
    grpcClient = createGrpcClient(TokenService, server.grpcAddress);
  });
  afterAll(async () => {
    grpcClient.close();
    await server.dispose();
  });

  it("another client of the same application gets invalid_grant on every door and the owner can still refresh", async () => {
    const tokens = await login(server, owner);
    const rt = tokens.refresh_token;

    const confidential = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "refresh_token", refresh_token: rt }, server.basic(sibling.clientId, sibling.clientSecret));
    expect(confidential.status).toBe(400);
    expect(((await confidential.json()) as { error: string }).error).toBe("invalid_grant");

    const publicClient = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "refresh_token", refresh_token: rt, client_id: publicSibling.clientId });
    expect(publicClient.status).toBe(400);
    expect(((await publicClient.json()) as { error: string }).error).toBe("invalid_grant");

    const viaCis = await cis(server, "token/refresh", sibling.bearer, { refresh_token: rt });
    expect(viaCis.status).toBe(400);
    expect(viaCis.body.error).toBe("invalid_grant");

    const viaGrpc = (await grpcClient
      .refreshToken({ refreshToken: rt }, { authorization: server.basic(sibling.clientId, sibling.clientSecret) })
      .then(() => expect.unreachable("refreshed"), (e: unknown) => e)) as grpc.ServiceError;
    expect(viaGrpc.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorReason(viaGrpc)).toBe("invalid_grant");

    const connect = createConnectClient(TokenService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const viaConnect = await connect
      .refreshToken({ refreshToken: rt }, { headers: { authorization: `Bearer ${sibling.bearer}` } })
      .then(() => expect.unreachable("refreshed"), (e: unknown) => ConnectError.from(e));
    expect(viaConnect.code).toBe(Code.FailedPrecondition);

    // Neither consumed nor revoked: the owner's very token still rotates, without any reuse verdict.
    expect(await isActive(server, rt, owner.clientId, owner.clientSecret)).toBe(true);
    const mine = await refreshForm(server, owner, rt);
    expect(mine.status).toBe(200);
    expect((await refresh(server, owner, mine.body.refresh_token)).status).toBe(200);
  });
});

describe("RFC 6749 §4.1.2: a replayed authorization code revokes everything issued from it", () => {
  let server: TestServer;
  let appId: string;

  beforeAll(async () => {
    server = await startServer();
    appId = await createApplication(server.app);
  });
  afterAll(() => server.dispose());

  it("replay revokes the refresh family and the access tokens of the exchange and of its refreshes", async () => {
    const rp = await codeClient(server, appId);
    const code = await authorizationCode(server, rp, { scope: "openid offline_access", prompt: "consent" });
    const first = await exchangeCode(server, rp, code);
    expect(first.status).toBe(200);
    const refreshed = await postForm(
      `${server.httpUrl}/oidc/token`,
      { grant_type: "refresh_token", refresh_token: first.body.refresh_token! },
      server.basic(rp.clientId, rp.clientSecret),
    );
    const second = (await refreshed.json()) as Record<string, string>;
    expect(refreshed.status).toBe(200);
    for (const at of [first.body.access_token!, second.access_token!]) {
      expect(await isActive(server, at, rp.clientId, rp.clientSecret)).toBe(true);
      expect(await userinfoStatus(server, at)).toBe(200);
    }

    const replay = await exchangeCode(server, rp, code);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe("invalid_grant");

    for (const at of [first.body.access_token!, second.access_token!]) {
      expect(await isActive(server, at, rp.clientId, rp.clientSecret)).toBe(false);
      expect(await userinfoStatus(server, at)).toBe(401);
    }
    expect(await isActive(server, second.refresh_token!, rp.clientId, rp.clientSecret)).toBe(false);
  });

  it("replay of a code exchanged without offline_access revokes its access token", async () => {
    const rp = await codeClient(server, appId);
    const code = await authorizationCode(server, rp);
    const first = await exchangeCode(server, rp, code);
    expect(first.status).toBe(200);
    expect(first.body.refresh_token).toBeUndefined();
    expect(await userinfoStatus(server, first.body.access_token!)).toBe(200);
    expect((await exchangeCode(server, rp, code)).status).toBe(400);
    expect(await isActive(server, first.body.access_token!, rp.clientId, rp.clientSecret)).toBe(false);
    expect(await userinfoStatus(server, first.body.access_token!)).toBe(401);
  });
});
