import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createGrpcClient, errorReason, type GrpcClient } from "../helpers/grpc-client.js";
import { jwtPayload, startServer, type TestServer } from "../helpers/server.js";
import { backendApp, renewBearer, type BackendApp } from "./setup.js";

describe("TokenService backend methods over gRPC and Connect", () => {
  let server: TestServer;
  let app: BackendApp;
  let grpcClient: GrpcClient<typeof TokenService>;
  beforeAll(async () => {
    server = await startServer();
    app = await backendApp(server);
    grpcClient = createGrpcClient(TokenService, server.grpcAddress);
  });
  afterAll(async () => {
    grpcClient.close();
    await server.dispose();
  });
  beforeEach(() => renewBearer(server, app));

  const basic = () => ({ authorization: server.basic(app.clientId, app.clientSecret) });
  const bearer = () => ({ authorization: `Bearer ${app.bearer}` });

  async function grpcError(call: Promise<unknown>): Promise<{ code: number; reason: string | undefined; details: string }> {
    const err = (await call.then(
      () => expect.unreachable("the call succeeded"),
      (e: unknown) => e,
    )) as grpc.ServiceError;
    return { code: err.code, reason: errorReason(err), details: err.details };
  }

  it("authenticate, refresh, session authenticate and logout over gRPC", async () => {
    const login = await grpcClient.authenticatePassword({ username: app.username, password: app.password }, basic());
    expect(login.sessionId).not.toBe("");
    expect(jwtPayload(login.accessToken)).toMatchObject({ sub: app.userId, client_id: app.clientId });

    // Client credentials in the request fields, then a Bearer client token.
    const r1 = await grpcClient.refreshToken({ refreshToken: login.refreshToken, clientId: app.clientId, clientSecret: app.clientSecret });
    expect(r1.sessionId).toBe("");
    const r2 = await grpcClient.refreshToken({ refreshToken: r1.refreshToken }, bearer());
    expect(jwtPayload(r2.accessToken).sid).toBe(jwtPayload(login.accessToken).sid);

    const viaSession = await grpcClient.authenticateSession({ sessionId: login.sessionId }, bearer());
    expect(viaSession.sessionId).toBe(login.sessionId);

    await grpcClient.logout({ sessionId: login.sessionId }, basic());
    const dead = await grpcError(grpcClient.refreshToken({ refreshToken: r2.refreshToken }, basic()));
    expect(dead).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: "invalid_grant" });
    const ended = await grpcError(grpcClient.authenticateSession({ sessionId: login.sessionId }, basic()));
    expect(ended).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: "invalid_grant" });
  });

  it("reuse is FAILED_PRECONDITION invalid_grant saying reuse was detected", async () => {
    const login = await grpcClient.authenticatePassword({ username: app.username, password: app.password }, bearer());
    await grpcClient.refreshToken({ refreshToken: login.refreshToken }, basic());
    const reuse = await grpcError(grpcClient.refreshToken({ refreshToken: login.refreshToken }, basic()));
    expect(reuse.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(reuse.reason).toBe("invalid_grant");
    expect(reuse.details).toMatch(/reuse detected/);
  });

  it("maps caller mistakes to INVALID_ARGUMENT and bad credentials to UNAUTHENTICATED", async () => {
    expect(await grpcError(grpcClient.refreshToken({}, basic()))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, reason: "invalid_request" });
    expect(await grpcError(grpcClient.authenticatePassword({ username: app.username }, basic()))).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: "password is required",
    });
    expect(await grpcError(grpcClient.logout({ sessionId: "x" }, { authorization: "Bearer nope" }))).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      reason: "invalid_token",
    });
    expect(await grpcError(grpcClient.logout({ sessionId: "x" }))).toMatchObject({ code: grpc.status.UNAUTHENTICATED, reason: "invalid_client" });
    expect(
      await grpcError(grpcClient.authenticatePassword({ username: app.username, password: "not the password" }, basic())),
    ).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: "invalid_grant", details: "invalid username or password" });
  });

  it("the same methods over Connect on the HTTP port", async () => {
    const transport = createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" });
    const client = createClient(TokenService, transport);
    const headers = bearer();
    const login = await client.authenticatePassword({ username: app.username, password: app.password }, { headers });
    const next = await client.refreshToken({ refreshToken: login.refreshToken }, { headers });
    expect(next.refreshToken).not.toBe(login.refreshToken);
    const err = await client.refreshToken({ refreshToken: login.refreshToken }, { headers }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    await client.logout({ sessionId: login.sessionId }, { headers });
  });
});
