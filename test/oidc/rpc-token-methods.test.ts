import * as grpc from "@grpc/grpc-js";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createApplication, createClient, createUser } from "../helpers/fixtures.js";
import { createGrpcClient, errorReason } from "../helpers/grpc-client.js";
import { jwtPayload, startServer, type TestServer } from "../helpers/server.js";
import { completeLogin, CookieBrowser, REDIRECT_URI } from "./oidc-helpers.js";

describe("TokenService ExchangeAuthorizationCode, IntrospectToken, RevokeToken", () => {
  let server: TestServer;
  let grpcClient: ReturnType<typeof createGrpcClient<typeof TokenService>>;
  let client: { clientId: string; clientSecret: string };
  let user: { username: string; password: string; userId: string };

  beforeAll(async () => {
    server = await startServer();
    grpcClient = createGrpcClient(TokenService, server.grpcAddress);
    const appId = await createApplication(server.app);
    client = await createClient(server.app, appId, { redirectUris: [REDIRECT_URI] });
    user = await createUser(server.app, { applicationIds: [appId] });
  });
  afterAll(async () => {
    grpcClient.close();
    await server.dispose();
  });

  async function authorizationCode(verifier: string): Promise<string> {
    const url = new URL(`${server.httpUrl}/oidc/auth`);
    url.search = new URLSearchParams({
      client_id: client.clientId,
      redirect_uri: REDIRECT_URI,
      response_type: "code",
      scope: "openid offline_access",
      prompt: "consent",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    }).toString();
    const callback = await completeLogin(new CookieBrowser(server.httpUrl), url.href, user);
    return callback.searchParams.get("code")!;
  }

  it("over gRPC: exchanges a code once, introspects and revokes the refresh token", async () => {
    const verifier = randomBytes(32).toString("base64url");
    const code = await authorizationCode(verifier);
    const request = { code, redirectUri: REDIRECT_URI, codeVerifier: verifier, clientId: client.clientId, clientSecret: client.clientSecret };
    const tokens = await grpcClient.exchangeAuthorizationCode(request);
    expect(jwtPayload(tokens.idToken)).toMatchObject({ sub: user.userId, aud: client.clientId });
    expect(tokens.refreshToken).not.toBe("");

    const creds = { clientId: client.clientId, clientSecret: client.clientSecret };
    const access = await grpcClient.introspectToken({ token: tokens.accessToken, ...creds });
    expect(access).toMatchObject({ active: true, sub: user.userId, clientId: client.clientId, aud: "userid-api", username: user.username });
    const second = await grpcClient.exchangeAuthorizationCode({ ...request, code: await authorizationCode(verifier) });
    await grpcClient.revokeToken({ token: second.accessToken, ...creds });
    expect((await grpcClient.introspectToken({ token: second.accessToken, ...creds })).active).toBe(false);

    // A replayed code revokes what its first exchange issued, access token included.
    const reused = (await grpcClient.exchangeAuthorizationCode(request).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(reused.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorReason(reused)).toBe("invalid_grant");
    expect((await grpcClient.introspectToken({ token: tokens.refreshToken, ...creds })).active).toBe(false);
    expect((await grpcClient.introspectToken({ token: tokens.accessToken, ...creds })).active).toBe(false);

    const noAuth = (await grpcClient.introspectToken({ token: tokens.accessToken }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(noAuth.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it("over Connect with Basic: the same exchange and revocation of a refresh family", async () => {
    const connect = createConnectClient(TokenService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const headers = { authorization: server.basic(client.clientId, client.clientSecret) };
    const verifier = randomBytes(32).toString("base64url");
    const code = await authorizationCode(verifier);
    const tokens = await connect.exchangeAuthorizationCode({ code, redirectUri: REDIRECT_URI, codeVerifier: verifier }, { headers });
    expect((await connect.introspectToken({ token: tokens.refreshToken }, { headers })).active).toBe(true);
    await connect.revokeToken({ token: tokens.refreshToken }, { headers });
    expect((await connect.introspectToken({ token: tokens.refreshToken }, { headers })).active).toBe(false);
  });
});
