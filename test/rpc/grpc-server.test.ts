import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ResourceAdminService } from "../../gen/tessera/v1/resource_admin_service_pb.js";
import { GetJwksRequestSchema, TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { UserAdminService } from "../../gen/tessera/v1/user_admin_service_pb.js";
import { createGrpcServer } from "../../src/transport/rpc/grpc-server.js";
import type { GrpcCallEvent, GrpcServerHandle } from "../../src/transport/rpc/grpc-server.js";
import { createGrpcClient, errorReason } from "../helpers/grpc-client.js";

const run = promisify(execFile);
const SECRET = "s3cr3t-db-password";

let introspectionStarted: (context: HandlerContext) => void;
const introspection = new Promise<HandlerContext>((resolve) => (introspectionStarted = resolve));

const tokenService: Partial<ServiceImpl<typeof TokenService>> = {
  introspectToken(_req, context) {
    introspectionStarted(context);
    return new Promise(() => {});
  },
  getJwks(_req, context) {
    context.responseHeader.set("x-key-source", "memory");
    context.responseTrailer.set("x-key-count", "1");
    const kid = context.requestHeader.get("authorization") ?? "anonymous";
    return { keys: [{ kty: "OKP", crv: "Ed25519", x: "AAAA", kid, alg: "EdDSA", use: "sig" }] };
  },
  issueClientToken(_req, context) {
    context.responseTrailer.set("x-request-id", "req-1");
    throw new ConnectError("bad client", Code.Unauthenticated, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "invalid_client", domain: "tessera" } },
    ]);
  },
  async revokeToken() {
    throw new Error(`connection to postgres://admin:${SECRET}@db failed`);
  },
};

const userAdminService: Partial<ServiceImpl<typeof UserAdminService>> = {
  getUser: (req) => ({
    user: {
      id: req.id,
      customClaims: { tier: "gold" },
      createTime: timestampFromDate(new Date("2024-01-02T03:04:05Z")),
    },
  }),
};

describe("grpc-js adapter", () => {
  const events: GrpcCallEvent[] = [];
  let handle: GrpcServerHandle;
  let address: string;
  let client: ReturnType<typeof createGrpcClient<typeof TokenService>>;

  beforeAll(async () => {
    handle = createGrpcServer({
      services: [
        { service: TokenService, impl: tokenService },
        { service: ResourceAdminService, impl: {} },
        { service: UserAdminService, impl: userAdminService },
      ],
      onCallEnd: (e) => events.push(e),
    });
    address = `127.0.0.1:${await handle.listen("127.0.0.1", 0)}`;
    client = createGrpcClient(TokenService, address);
  });

  afterAll(async () => {
    client.close();
    await handle.close(100);
  });

  it("round-trips a unary call and exposes request metadata as headers", async () => {
    const res = await client.getJwks({}, { authorization: "Basic abc" });
    expect(res.keys).toHaveLength(1);
    expect(res.keys[0]).toMatchObject({ kty: "OKP", kid: "Basic abc", alg: "EdDSA" });
  });

  it("sends responseHeader as initial metadata and responseTrailer as trailers", async () => {
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    const { header, trailer } = await new Promise<{ header: grpc.Metadata; trailer: grpc.Metadata }>(
      (resolve, reject) => {
        let header = new grpc.Metadata();
        const call = raw.makeUnaryRequest(
          `/${TokenService.typeName}/GetJwks`,
          () => Buffer.from(toBinary(GetJwksRequestSchema, create(GetJwksRequestSchema))),
          (b: Buffer) => b,
          {},
          (err) => err && reject(err),
        );
        call.on("metadata", (md) => (header = md));
        call.on("status", (status) => resolve({ header, trailer: status.metadata }));
      },
    );
    raw.close();
    expect(header.get("x-key-source")).toEqual(["memory"]);
    expect(trailer.get("x-key-count")).toEqual(["1"]);
  });

  it("maps a ConnectError to its grpc code with ErrorInfo in grpc-status-details-bin", async () => {
    const err = await client.issueClientToken({ clientId: "c" }).catch((e: grpc.ServiceError) => e);
    expect(err).toBeInstanceOf(Error);
    const serviceError = err as grpc.ServiceError;
    expect(serviceError.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(serviceError.details).toBe("bad client");
    expect(errorReason(serviceError)).toBe("invalid_client");
    expect(serviceError.metadata.get("x-request-id")).toEqual(["req-1"]);
  });

  it("answers INTERNAL without leaking the message of a plain Error", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const err = (await client.revokeToken({ token: "t" }).catch((e) => e)) as grpc.ServiceError;
    logged.mockRestore();
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe("internal error");
    expect(err.message).not.toContain(SECRET);
    expect(JSON.stringify(err.metadata.toJSON())).not.toContain(SECRET);
    expect(JSON.stringify(logged.mock.calls)).not.toContain(SECRET);
  });

  it("refuses requests above 64 KiB by default", async () => {
    const err = (await client.issueClientToken({ scope: "x".repeat(65 * 1024) }).catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it("answers UNIMPLEMENTED for a method the impl does not provide", async () => {
    const err = (await client.logout({}).catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("reports each call's final code to onCallEnd", async () => {
    events.length = 0;
    await client.getJwks({}, { authorization: "Basic abc" });
    await client.issueClientToken({}).catch(() => {});
    await client.logout({}).catch(() => {});
    expect(events.map((e) => [e.method, e.code])).toEqual([
      ["GetJwks", grpc.status.OK],
      ["IssueClientToken", grpc.status.UNAUTHENTICATED],
      ["Logout", grpc.status.UNIMPLEMENTED],
    ]);
    expect(events[0]).toMatchObject({ service: "tessera.v1.TokenService", peer: expect.stringContaining("127.0.0.1") });
    expect(events[0]!.requestHeader.get("authorization")).toBe("Basic abc");
    expect(events[0]!.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("passes the deadline on, aborts the handler's signal and reports CANCELLED when the client cancels", async () => {
    events.length = 0;
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    const call = raw.makeUnaryRequest(
      `/${TokenService.typeName}/IntrospectToken`,
      () => Buffer.alloc(0),
      (b: Buffer) => b,
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + 60_000 },
      () => {},
    );
    const context = await introspection;
    expect(context.timeoutMs()).toBeGreaterThan(50_000);
    expect(context.timeoutMs()).toBeLessThanOrEqual(60_000);
    const aborted = new Promise((resolve) => context.signal.addEventListener("abort", resolve));
    call.cancel();
    await aborted;
    raw.close();
    expect(events.map((e) => [e.method, e.code])).toEqual([["IntrospectToken", grpc.status.CANCELLED]]);
  });

  it("answers health checks for the server and every service, following setServing", async () => {
    const Health = grpc.makeClientConstructor(healthService as grpc.ServiceDefinition, "Health");
    const health = new Health(address, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<string>((resolve, reject) =>
        health.check({ service }, (err: grpc.ServiceError | null, res: { status: string }) =>
          err ? reject(err) : resolve(res.status),
        ),
      );
    try {
      expect(await check("")).toBe("SERVING");
      expect(await check("tessera.v1.TokenService")).toBe("SERVING");
      handle.setServing(false);
      expect(await check("")).toBe("NOT_SERVING");
      expect(await check("tessera.v1.TokenService")).toBe("NOT_SERVING");
    } finally {
      handle.setServing(true);
      health.close();
    }
  });

  describe("server reflection, through buf curl", () => {
    const bufCurl = (...args: string[]) =>
      run("node_modules/.bin/buf", ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], {
        timeout: 20_000,
      });

    it("lists every method of every served service", async () => {
      const { stdout } = await bufCurl("--list-methods", `http://${address}`);
      const methods = stdout.trim().split("\n");
      expect(methods).toContain("tessera.v1.TokenService/GetJwks");
      expect(methods).toContain("tessera.v1.ResourceAdminService/CreateResource");
      expect(methods).toContain("tessera.v1.UserAdminService/GetUser");
      expect(methods).toContain("grpc.health.v1.Health/Check");
      const served = [TokenService, ResourceAdminService, UserAdminService];
      // The served services, plus Health's Check and Watch.
      expect(methods).toHaveLength(served.reduce((n, s) => n + s.methods.length, 0) + 2);
    });

    it("describes the health service, so a generic client can check it", async () => {
      const { stdout } = await bufCurl("-d", '{"service":"tessera.v1.TokenService"}', `http://${address}/grpc.health.v1.Health/Check`);
      expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
    });

    it("resolves request and response schemas to call a method", async () => {
      const { stdout } = await bufCurl("-H", "authorization: Basic xyz", "-d", "{}", `http://${address}/tessera.v1.TokenService/GetJwks`);
      expect(JSON.parse(stdout)).toEqual({
        keys: [{ kty: "OKP", crv: "Ed25519", x: "AAAA", kid: "Basic xyz", alg: "EdDSA", use: "sig" }],
      });
    });

    it("resolves imported well-known types", async () => {
      const { stdout } = await bufCurl("-d", '{"id":"u1"}', `http://${address}/tessera.v1.UserAdminService/GetUser`);
      expect(JSON.parse(stdout)).toEqual({
        user: { id: "u1", customClaims: { tier: "gold" }, createTime: "2024-01-02T03:04:05Z" },
      });
    });
  });
});

describe("grpc-js adapter lifecycle", () => {
  it("rejects streaming methods at construction", () => {
    const streaming = {
      ...TokenService,
      methods: [{ ...TokenService.methods[0]!, methodKind: "server_streaming" as const }],
    } as unknown as typeof TokenService;
    expect(() => createGrpcServer({ services: [{ service: streaming, impl: {} }] })).toThrow(/unary methods only/);
  });

  it("close() resolves and the port stops accepting calls", async () => {
    const handle = createGrpcServer({ services: [{ service: TokenService, impl: tokenService }] });
    const address = `127.0.0.1:${await handle.listen("127.0.0.1", 0)}`;
    const first = createGrpcClient(TokenService, address);
    await first.getJwks({});
    first.close();

    await handle.close(1000);

    const second = createGrpcClient(TokenService, address);
    const err = (await second.getJwks({}).catch((e) => e)) as grpc.ServiceError;
    second.close();
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});
