import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type { ServiceError } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createApplication, createClient as createOAuthClient, createResource } from "../helpers/fixtures.js";
import { createGrpcClient, errorReason, type GrpcClient } from "../helpers/grpc-client.js";
import { startServer, type TestServer } from "../helpers/server.js";
import { verifyAccessToken } from "../helpers/tokens.js";

async function grpcError(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected the call to fail");
}

async function connectError(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

const reasonOf = (err: ConnectError) => err.findDetails(ErrorInfoSchema)[0]?.reason;

describe("TokenService.IssueClientToken over RPC", () => {
  let server: TestServer;
  let grpc: GrpcClient<typeof TokenService>;
  let client: { clientId: string; clientSecret: string };
  const ordersApi = "https://orders.example.com/api";

  beforeAll(async () => {
    server = await startServer();
    grpc = createGrpcClient(TokenService, server.grpcAddress);
    const appId = await createApplication(server.app);
    const orders = await createResource(server.app, ordersApi, { accessTokenTtl: 120, scopes: ["orders:read"] });
    client = await createOAuthClient(server.app, appId, { resourceIds: [orders], scopes: ["orders:read"] });
  });
  afterAll(async () => {
    grpc.close();
    await server.dispose();
  });

  describe("grpc-js on the gRPC port", () => {
    it("issues a token with Basic metadata", async () => {
      const res = await grpc.issueClientToken({}, { authorization: server.basic() });
      expect(res).toMatchObject({ tokenType: "Bearer", expiresIn: 3600, refreshToken: "", scope: "" });
      const claims = await verifyAccessToken(server, res.accessToken);
      expect(claims).toMatchObject({ sub: server.bootstrap.client_id, aud: "userid-api", tid: "default" });
    });

    it("issues a token with client_id and client_secret fields, for a resource and scope", async () => {
      const res = await grpc.issueClientToken({ clientId: client.clientId, clientSecret: client.clientSecret, resource: ordersApi, scope: "orders:read" });
      expect(res.expiresIn).toBe(120);
      expect(res.scope).toBe("orders:read");
      const claims = await verifyAccessToken(server, res.accessToken, ordersApi);
      expect(claims).toMatchObject({ sub: client.clientId, scope: "orders:read" });
    });

    it("answers invalid_client with UNAUTHENTICATED and ErrorInfo reason", async () => {
      const err = await grpcError(grpc.issueClientToken({ clientId: client.clientId, clientSecret: "wrong" }));
      expect(err.code).toBe(status.UNAUTHENTICATED);
      expect(errorReason(err)).toBe("invalid_client");
      expect(err.details).not.toContain("wrong");
    });

    it("answers invalid_target with INVALID_ARGUMENT and ErrorInfo reason", async () => {
      const err = await grpcError(grpc.issueClientToken({ resource: "https://billing.example.com" }, { authorization: server.basic() }));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(errorReason(err)).toBe("invalid_target");
    });

    it("answers invalid_scope with INVALID_ARGUMENT", async () => {
      const err = await grpcError(grpc.issueClientToken({ scope: "admin" }, { authorization: server.basic(client.clientId, client.clientSecret) }));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(errorReason(err)).toBe("invalid_scope");
    });

    it("serves GetJwks with the same keys as /oidc/jwks", async () => {
      const res = await grpc.getJwks({});
      const http = (await (await fetch(`${server.httpUrl}/oidc/jwks`)).json()) as { keys: { kid: string; x: string }[] };
      expect(res.keys.map((k) => [k.kid, k.x])).toEqual(http.keys.map((k) => [k.kid, k.x]));
    });
  });

  describe.each([
    ["Connect JSON", () => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" })],
    ["Connect binary", () => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true })],
    ["gRPC-web", () => createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" })],
  ])("%s on the HTTP port", (_, transport: () => Transport) => {
    const tokens = () => createClient(TokenService, transport());

    it("issues a token with the Basic header", async () => {
      const res = await tokens().issueClientToken({}, { headers: { authorization: server.basic() } });
      expect(res.tokenType).toBe("Bearer");
      expect((await verifyAccessToken(server, res.accessToken)).sub).toBe(server.bootstrap.client_id);
    });

    it("issues a token with request fields for an assigned resource", async () => {
      const res = await tokens().issueClientToken({ clientId: client.clientId, clientSecret: client.clientSecret, resource: ordersApi });
      expect(res.expiresIn).toBe(120);
      expect((await verifyAccessToken(server, res.accessToken, ordersApi)).aud).toBe(ordersApi);
    });

    it("maps invalid_client to Unauthenticated and invalid_target to InvalidArgument, with ErrorInfo", async () => {
      const unauth = await connectError(tokens().issueClientToken({}, { headers: { authorization: server.basic("nobody", "nothing") } }));
      expect(unauth.code).toBe(Code.Unauthenticated);
      expect(reasonOf(unauth)).toBe("invalid_client");
      const target = await connectError(tokens().issueClientToken({ resource: "relative/path" }, { headers: { authorization: server.basic() } }));
      expect(target.code).toBe(Code.InvalidArgument);
      expect(reasonOf(target)).toBe("invalid_target");
    });
  });

  it("takes a plain curl-style Connect JSON request", async () => {
    const res = await fetch(`${server.httpUrl}/tessera.v1.TokenService/IssueClientToken`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: server.basic() },
      body: JSON.stringify({ scope: "" }),
    });
    expect(res.status).toBe(200);
    // Tokens (and admin answers with secrets) never go to a cache, on this door either.
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as { accessToken: string; tokenType: string; expiresIn: number };
    expect(body).toMatchObject({ tokenType: "Bearer", expiresIn: 3600 });
    await verifyAccessToken(server, body.accessToken);
    const refused = await fetch(`${server.httpUrl}/tessera.v1.TokenService/IssueClientToken`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: server.basic("nobody", "nothing") },
      body: "{}",
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("cache-control")).toBe("no-store");
  });
});
