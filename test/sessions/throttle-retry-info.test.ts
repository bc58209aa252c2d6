import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createGrpcClient } from "../helpers/grpc-client.js";
import { startServer, type TestServer } from "../helpers/server.js";
import { backendApp, type BackendApp } from "./setup.js";

describe("throttled password attempts carry google.rpc.RetryInfo", () => {
  let server: TestServer;
  let app: BackendApp;
  beforeAll(async () => {
    server = await startServer();
    app = await backendApp(server);
  });
  afterAll(() => server.dispose());

  const basic = () => ({ authorization: server.basic(app.clientId, app.clientSecret) });

  it("over Connect: RESOURCE_EXHAUSTED with ErrorInfo too_many_attempts and RetryInfo.retry_delay 30 s", async () => {
    const client = createClient(TokenService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    for (let i = 0; i < 5; i++) {
      await client.authenticatePassword({ username: app.username, password: "wrong password" }, { headers: basic() }).catch(() => undefined);
    }
    const err = ConnectError.from(await client.authenticatePassword({ username: app.username, password: app.password }, { headers: basic() }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("too_many_attempts");
    const [retry] = err.findDetails(RetryInfoSchema);
    expect(retry?.retryDelay?.seconds).toBe(30n);
  });

  it("over grpc-js: the same RetryInfo in grpc-status-details-bin", async () => {
    const grpcClient = createGrpcClient(TokenService, server.grpcAddress);
    try {
      const err = (await grpcClient.authenticatePassword({ username: app.username, password: app.password }, basic()).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(Code.ResourceExhausted);
      const [bin] = err.metadata.get("grpc-status-details-bin");
      const details = fromBinary(StatusSchema, bin as Buffer).details;
      const retry = details.map((d) => anyUnpack(d, RetryInfoSchema)).find((d) => d !== undefined);
      expect(Number(retry?.retryDelay?.seconds)).toBeGreaterThan(0);
      expect(Number(retry?.retryDelay?.seconds)).toBeLessThanOrEqual(30);
      expect(details.map((d) => anyUnpack(d, ErrorInfoSchema)).find((d) => d !== undefined)?.reason).toBe("too_many_attempts");
    } finally {
      grpcClient.close();
    }
  });
});
