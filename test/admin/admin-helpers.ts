import type { DescMethodUnary, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { ServiceError } from "@grpc/grpc-js";
import { expect } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ApplicationAdminService } from "../../gen/tessera/v1/application_admin_service_pb.js";
import { ResourceAdminService } from "../../gen/tessera/v1/resource_admin_service_pb.js";
import { UserAdminService } from "../../gen/tessera/v1/user_admin_service_pb.js";
import { createApplication, createClient as createClientFixture, createTenant } from "../helpers/fixtures.js";
import { createGrpcClient, errorReason as grpcReason } from "../helpers/grpc-client.js";
import { clientToken, type TestServer } from "../helpers/server.js";

export type DoorName = "connect" | "grpc";
export const DOORS: DoorName[] = ["connect", "grpc"];

/** A unary method taking the bearer token as a second argument. */
export type Api<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, token?: string) => Promise<MessageShape<O>>
    : never;
};

/** What every failed call is turned into, whichever door it went through. */
export class RpcFailure extends Error {
  constructor(
    readonly code: number,
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface Admin {
  door: DoorName;
  resources: Api<typeof ResourceAdminService>;
  applications: Api<typeof ApplicationAdminService>;
  users: Api<typeof UserAdminService>;
  close(): void;
}

function connectApi<S extends DescService>(service: S, server: TestServer): Api<S> {
  const client = createClient(service, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" })) as unknown as Record<
    string,
    (req: unknown, opts: { headers: Record<string, string> }) => Promise<unknown>
  >;
  const api: Record<string, unknown> = {};
  for (const method of service.methods) {
    api[method.localName] = async (req: unknown, token?: string) => {
      try {
        return await client[method.localName]!(req, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
      } catch (err) {
        if (!(err instanceof ConnectError)) throw err;
        throw new RpcFailure(err.code, err.findDetails(ErrorInfoSchema)[0]?.reason, err.rawMessage);
      }
    };
  }
  return api as Api<S>;
}

function grpcApi<S extends DescService>(service: S, server: TestServer, opened: { close(): void }[]): Api<S> {
  const client = createGrpcClient(service, server.grpcAddress);
  opened.push(client);
  const calls = client as unknown as Record<string, (req: unknown, md: Record<string, string>) => Promise<unknown>>;
  const api: Record<string, unknown> = {};
  for (const method of service.methods) {
    api[method.localName] = async (req: unknown, token?: string) => {
      try {
        return await calls[method.localName]!(req, token === undefined ? {} : { authorization: `Bearer ${token}` });
      } catch (err) {
        const e = err as ServiceError;
        if (typeof e.code !== "number") throw err;
        throw new RpcFailure(e.code, grpcReason(e), e.details);
      }
    };
  }
  return api as Api<S>;
}


/** The three admin services over one door. */
export function adminClients(server: TestServer, door: DoorName): Admin {
  const opened: { close(): void }[] = [];
  const make = <S extends DescService>(s: S) => (door === "connect" ? connectApi(s, server) : grpcApi(s, server, opened));
  return {
    door,
    resources: make(ResourceAdminService),
    applications: make(ApplicationAdminService),
    users: make(UserAdminService),
    close: () => opened.forEach((c) => c.close()),
  };
}

/** Expects the call to fail with the gRPC code (and, when given, ErrorInfo reason and message text). */
export async function expectFailure(call: Promise<unknown>, code: number, message?: RegExp | string, reason?: string): Promise<RpcFailure> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the call should have failed").toBeInstanceOf(RpcFailure);
  const failure = err as RpcFailure;
  expect({ code: failure.code, message: failure.message }).toMatchObject({ code });
  if (message !== undefined) expect(failure.message).toMatch(message);
  if (reason !== undefined) expect(failure.reason).toBe(reason);
  return failure;
}

/** The bootstrap (management) client's token for the default resource. */
export const managementToken = (server: TestServer): Promise<string> => clientToken(server);

/** A client of a fresh application (fixtures), and a token minting function for it. */
export async function fixtureClient(server: TestServer, opts: { tenantId?: string; management?: boolean } = {}) {
  const applicationId = await createApplication(server.app, opts);
  const { clientId, clientSecret } = await createClientFixture(server.app, applicationId, { tenantId: opts.tenantId ?? "default" });
  return { applicationId, clientId, clientSecret, token: (form: Record<string, string> = {}) => clientToken(server, form, server.basic(clientId, clientSecret)) };
}

/** A second tenant with its own management application and client. */
export async function secondTenant(server: TestServer, name: string) {
  await createTenant(server.app, name);
  return await fixtureClient(server, { tenantId: name, management: true });
}

export const Code = {
  InvalidArgument: 3,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  FailedPrecondition: 9,
  Unauthenticated: 16,
} as const;

let counter = 0;
/** A name unique within the test run. */
export const unique = (prefix: string): string => `${prefix}-${process.pid}-${++counter}`;
