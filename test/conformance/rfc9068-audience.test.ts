// RFC 9068, the MUST items covered here:
// - §4: a resource server MUST validate that the `aud` claim contains a resource indicator value
//   corresponding to an identifier it expects for itself. Tessera, acting as the resource server for
//   its /cis endpoints and backend TokenService RPCs, accepts only client tokens whose `aud` is the
//   tenant's default resource (`userid-api`); others get 401 invalid_token (gRPC UNAUTHENTICATED), so an
//   API that receives a client's token cannot replay it to tessera as that client.
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createResource } from "../helpers/fixtures.js";
import { createGrpcClient, errorReason, type GrpcClient } from "../helpers/grpc-client.js";
import { clientToken, jwtPayload, startServer, type TestServer } from "../helpers/server.js";
import { backendApp, cis, login, type BackendApp } from "../sessions/setup.js";

const ORDERS = "https://orders.example.com/api";

describe("RFC 9068 §4: tessera's own endpoints take only client tokens for the default resource", () => {
  let server: TestServer;
  let app: BackendApp;
  let ordersToken: string;
  let grpcClient: GrpcClient<typeof TokenService>;

  beforeAll(async () => {
    server = await startServer();
    const orders = await createResource(server.app, ORDERS);
    app = await backendApp(server, { resourceIds: [orders] });
    ordersToken = await clientToken(server, { resource: ORDERS }, server.basic(app.clientId, app.clientSecret));
    expect(jwtPayload(ordersToken).aud).toBe(ORDERS);
    grpcClient = createGrpcClient(TokenService, server.grpcAddress);
  });
  afterAll(async () => {
    grpcClient.close();
    await server.dispose();
  });

  it("every /cis endpoint answers 401 invalid_token to a client token for another resource", async () => {
    const tokens = await login(server, app);
    const calls: [string, Record<string, string>][] = [
      ["password/authenticate", { username: app.username, password: app.password }],
      ["session/authenticate", { session_id: tokens.session_id! }],
      ["token/refresh", { refresh_token: tokens.refresh_token }],
      ["logout", { session_id: tokens.session_id! }],
    ];
    for (const [path, body] of calls) {
      const res = await cis(server, path, ordersToken, body);
      expect(res.status, path).toBe(401);
      expect(res.body.error, path).toBe("invalid_token");
      expect(res.headers.get("www-authenticate"), path).toMatch(/^Bearer .*error="invalid_token"/);
    }
    // The default-resource token still works, and nothing above took effect.
    expect((await cis(server, "token/refresh", app.bearer, { refresh_token: tokens.refresh_token })).status).toBe(200);
    expect((await cis(server, "session/authenticate", app.bearer, { session_id: tokens.session_id })).status).toBe(200);
  });

  it("backend TokenService RPCs answer UNAUTHENTICATED over gRPC and Connect", async () => {
    const metadata = { authorization: `Bearer ${ordersToken}` };
    const err = (await grpcClient
      .authenticatePassword({ username: app.username, password: app.password }, metadata)
      .then(() => expect.unreachable("authenticated"), (e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(errorReason(err)).toBe("invalid_token");

    const tokens = await login(server, app);
    const refreshErr = (await grpcClient.refreshToken({ refreshToken: tokens.refresh_token }, metadata).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(refreshErr.code).toBe(grpc.status.UNAUTHENTICATED);

    const connect = createConnectClient(TokenService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const viaConnect = await connect
      .authenticateSession({ sessionId: tokens.session_id! }, { headers: metadata })
      .then(() => expect.unreachable("authenticated"), (e: unknown) => ConnectError.from(e));
    expect(viaConnect.code).toBe(Code.Unauthenticated);

    const ok = await grpcClient.authenticatePassword({ username: app.username, password: app.password }, { authorization: `Bearer ${app.bearer}` });
    expect(ok.accessToken).not.toBe("");
  });
});
