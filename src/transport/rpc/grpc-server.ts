import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { ReflectionService } from "@grpc/reflection";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescFile, DescMethod, DescService } from "@bufbuild/protobuf";
import { AnySchema, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { StatusSchema } from "../../../gen/google/rpc/status_pb.js";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { invalidRequest } from "../../domain/errors.js";
import { REQUEST_ID_PATTERN } from "../../domain/ids.js";
import { HeaderView } from "../header-view.js";
import { toConnectError } from "./errors.js";
import { installDirectUnary, type DirectRoute } from "./grpc-direct.js";
import { binaryValues, MalformedRequest, type CallStatus, type UnaryCall } from "./unary-call.js";
import { CALL_ENDED, LazyHandlerContext } from "./handler-context.js";
import { H2GrpcServer } from "./h2/server.js";
import { PEER_FIELD } from "./h2/peer-field.js";

/**
 * grpc-js's own log lines (stderr, `E …`, as its default logger writes them) without the values it quotes: a
 * metadata value it refuses (an `authorization` header with a tab or a non-ASCII byte, say) is printed whole in
 * "Failed to add metadata entry", and no token or secret may reach a log line. Set once, for the process.
 */
export function withheldGrpcLog(message: unknown): string {
  const text = String(message);
  const refused = /^Failed to add metadata entry ([^:]{0,128}):/.exec(text);
  if (refused !== null) return `Failed to add metadata entry ${refused[1]}: the value is not valid metadata (withheld)`;
  return text.replace(/\b(Bearer|Basic)\s+\S+/gi, "$1 [withheld]");
}

const grpcLogLine = (prefix: string) => (message: unknown) => console.error(`${prefix} ${withheldGrpcLog(message)}`);
grpc.setLogger({ error: grpcLogLine("E"), info: grpcLogLine("I"), debug: grpcLogLine("D") });

export interface GrpcService {
  service: DescService;
  impl: Partial<ServiceImpl<DescService>>;
}

export interface GrpcCallEvent {
  service: string;
  method: string;
  code: number;
  durationMs: number;
  requestHeader: Headers;
  peer: string;
}

/** A server span per call (set only when tracing is on): `run` executes the handler inside it, `end` closes it. */
export interface GrpcCallTracer {
  start(service: string, method: string, requestHeader: Headers): { run<T>(fn: () => T): T; end(code: number): void };
}

export interface GrpcServerOptions {
  services: GrpcService[];
  onCallEnd?: (e: GrpcCallEvent) => void;
  tracer?: GrpcCallTracer;
  maxReceiveMessageLength?: number;
  /** Answer unary calls on the HTTP/2 stream (grpc-direct.ts); false leaves every call to grpc-js. Default true. */
  direct?: boolean;
  /**
   * Whose HTTP/2 the port speaks: "tessera" (h2/connection.ts; grpc-js behind it on a Unix socket for what the
   * direct path does not answer) or "node" (grpc-js's server on the port, the direct path on its streams).
   * Default "tessera"; `direct: false` is always "node".
   */
  http2?: "tessera" | "node";
}

export interface GrpcServerHandle {
  server: grpc.Server;
  listen(host: string, port: number): Promise<number>;
  setServing(serving: boolean): void;
  close(graceMs?: number): Promise<void>;
  /** Whether unary calls to tessera's services are answered on the HTTP/2 stream (grpc-direct.ts), once listening. */
  servesDirectly(): boolean;
}

type UnaryHandler = (
  request: unknown,
  context: HandlerContext,
) => Promise<unknown> | unknown;

type ReflectionPackage = ConstructorParameters<typeof ReflectionService>[0];

export function createGrpcServer(opts: GrpcServerOptions): GrpcServerHandle {
  const maxReceive = opts.maxReceiveMessageLength ?? 64 * 1024;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": maxReceive,
    // channelz (per-call counters for a debugging service tessera does not expose) costs ~3% of a call.
    "grpc.enable_channelz": 0,
  });
  const names = opts.services.map(({ service }) => service.typeName);
  const direct = new Map<string, DirectRoute>();
  const own = opts.direct !== false && opts.http2 !== "node";
  for (const { service, impl } of opts.services) {
    server.addService(serviceDefinition(service), serviceHandlers(service, impl, opts.onCallEnd, opts.tracer, direct, own));
  }
  let directServers = 0;
  let front: H2GrpcServer | undefined;
  let socketDir: string | undefined;

  const health = new HealthImplementation();
  const setServing = (serving: boolean) => {
    for (const name of ["", ...names]) health.setStatus(name, serving ? "SERVING" : "NOT_SERVING");
  };
  setServing(false);
  health.addToServer(server);
  // Reflection describes the health service too, so `buf curl .../grpc.health.v1.Health/Check` works.
  new ReflectionService(reflectionPackage([...opts.services.map((s) => s.service), Health]), {
    services: [...names, Health.typeName],
  }).addToServer(server);

  return {
    server,
    listen: async (host, port) => {
      if (!own) return bindPublic(host, port);
      // grpc-js on a Unix socket in a directory only this process's user can enter; the port is tessera's HTTP/2.
      socketDir = mkdtempSync(join(tmpdir(), "tessera-grpc-"));
      const socket = join(socketDir, "grpc-js.sock");
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
      );
      front = new H2GrpcServer({ routes: direct, maxReceive, grpcJsSocket: socket });
      try {
        const bound = await front.listen(host, port);
        setServing(true);
        directServers = 1;
        return bound;
      } catch (err) {
        server.forceShutdown();
        rmSync(socketDir, { recursive: true, force: true });
        throw err;
      }
    },
    setServing,
    servesDirectly: () => directServers > 0,
    close: async (graceMs = 8000) => {
      setServing(false);
      if (front !== undefined) await front.close(graceMs);
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), front === undefined ? graceMs : 0);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      if (socketDir !== undefined) rmSync(socketDir, { recursive: true, force: true });
    },
  };

  function bindPublic(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
        if (err) return reject(err);
        setServing(true);
        if (opts.direct !== false) directServers = installDirectUnary(server, direct, maxReceive);
        resolve(bound);
      });
    });
  }
}

function serviceDefinition(service: DescService): grpc.ServiceDefinition {
  return Object.fromEntries(
    service.methods.map((method) => {
      if (method.methodKind !== "unary") {
        throw new Error(
          `${service.typeName}.${method.name} is ${method.methodKind}; the gRPC adapter serves unary methods only`,
        );
      }
      const definition: grpc.MethodDefinition<unknown, unknown> = {
        path: `/${service.typeName}/${method.name}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: (msg) => Buffer.from(toBinary(method.input, create(method.input, msg as never))),
        // Malformed bytes are the caller's mistake: grpc-js would answer INTERNAL for a throwing deserializer,
        // so the error travels to the handler, which answers INVALID_ARGUMENT.
        requestDeserialize: (bytes) => {
          try {
            return fromBinary(method.input, bytes);
          } catch (err) {
            return new MalformedRequest(err instanceof Error ? err.message : String(err));
          }
        },
        responseSerialize: (msg) => Buffer.from(toBinary(method.output, create(method.output, msg as never))),
        responseDeserialize: (bytes) => fromBinary(method.output, bytes),
        originalName: method.name,
      };
      return [method.localName, definition];
    }),
  );
}

/** grpc-js's handlers for a service; the methods the impl has also go into `direct`, for the HTTP/2 stream path. */
function serviceHandlers(
  service: DescService,
  impl: Partial<ServiceImpl<DescService>>,
  onCallEnd: GrpcServerOptions["onCallEnd"],
  tracer: GrpcCallTracer | undefined,
  direct: Map<string, DirectRoute>,
  behindFront: boolean,
): grpc.UntypedServiceImplementation {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const fn = (impl as Record<string, UnaryHandler | undefined>)[method.localName]?.bind(impl);
    handlers[method.localName] = (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      handleUnary(service, method, fn, new GrpcJsCall(call, callback, behindFront), onCallEnd, tracer).catch(() =>
        callback({ code: grpc.status.INTERNAL, details: "internal error" }),
      );
    };
    // A method the impl lacks stays with grpc-js, which answers UNIMPLEMENTED.
    if (fn === undefined) continue;
    direct.set(`/${service.typeName}/${method.name}`, {
      method,
      run: (call) => void handleUnary(service, method, fn, call, onCallEnd, tracer).catch(() => call.internalError()),
    });
  }
  return handlers;
}

/** A grpc-js unary call and its callback as a UnaryCall. */
class GrpcJsCall implements UnaryCall {
  readonly requestHeader: Headers;
  readonly deadline: number | undefined;
  /** The caller's address as tessera's HTTP/2 front passed it (grpc-js sees only the front's Unix socket). */
  private readonly frontPeer: string | undefined;

  constructor(
    private readonly call: grpc.ServerUnaryCall<unknown, unknown>,
    private readonly callback: grpc.sendUnaryData<unknown>,
    behindFront: boolean,
  ) {
    if (behindFront) {
      const peer = call.metadata.get(PEER_FIELD)[0];
      this.frontPeer = typeof peer === "string" ? peer : undefined;
    }
    // Never a handler's to see, and on the public grpc-js port never the caller's to set.
    call.metadata.remove(PEER_FIELD);
    this.requestHeader = new MetadataHeaders(call.metadata);
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    this.deadline = Number.isFinite(at) ? at : undefined;
  }

  get path(): string {
    return this.call.getPath();
  }

  get request(): unknown {
    return this.call.request;
  }

  peer(): string {
    return this.frontPeer ?? this.call.getPeer();
  }

  onCancel(listener: () => void): void {
    // grpc-js also emits "cancelled" after a call has finished normally; handleUnary ignores that one.
    this.call.on("cancelled", listener);
  }

  ok(requestId: string, header: Headers | undefined, response: unknown, trailer: Headers | undefined): void {
    this.sendHeader(requestId, header);
    this.callback(null, response, headersToMetadata(trailer));
  }

  fail(requestId: string, header: Headers | undefined, status: CallStatus): void {
    this.sendHeader(requestId, header);
    this.callback({ code: status.code, details: status.details, metadata: headersToMetadata(status.trailer) });
  }

  private sendHeader(requestId: string, header: Headers | undefined): void {
    const metadata = headersToMetadata(header);
    if (!metadata.get("x-request-id").length) metadata.set("x-request-id", requestId);
    this.call.sendMetadata(metadata);
  }
}

/**
 * A request id for a call that brought none. randomUUID builds its string from twenty pieces, a tree of about
 * 480 bytes, and HTTP/2 keeps the id in the stream's sent headers until a full collection (see grpc-direct.ts,
 * `settle`); reading a character flattens it in place, to about 60 bytes.
 */
function newRequestId(): string {
  const id = randomUUID();
  id.charCodeAt(0);
  return id;
}

/** Runs a unary handler for a call that arrived either way; reports its end once (observer, span, the context's signal). */
export async function handleUnary(
  service: DescService,
  method: DescMethod,
  fn: UnaryHandler | undefined,
  call: UnaryCall,
  onCallEnd: GrpcServerOptions["onCallEnd"],
  tracer: GrpcCallTracer | undefined,
): Promise<void> {
  const started = performance.now();
  const requestHeader = call.requestHeader;
  const incomingId = requestHeader.get("x-request-id");
  const requestId = incomingId !== null && REQUEST_ID_PATTERN.test(incomingId) ? incomingId : newRequestId();
  requestHeader.set("x-request-id", requestId);
  const context = new LazyHandlerContext(service, method, "grpc", call.path, call.deadline, requestHeader);
  const span = tracer?.start(service.typeName, method.name, requestHeader);

  let ended = false;
  const end = (code: number, reason: ConnectError) => {
    if (ended) return;
    ended = true;
    context.end(reason);
    onCallEnd?.({
      service: service.typeName,
      method: method.name,
      code,
      durationMs: performance.now() - started,
      requestHeader: context.requestHeader,
      peer: call.peer(),
    });
    span?.end(code);
  };
  // end() keeps the first outcome: nothing is built for a cancellation after the answer.
  call.onCancel(() => {
    if (!ended) end(grpc.status.CANCELLED, new ConnectError("call cancelled", Code.Canceled));
  });

  try {
    if (!fn) {
      throw new ConnectError(`${service.typeName}.${method.name} is not implemented`, Code.Unimplemented);
    }
    const request = call.request;
    if (request instanceof MalformedRequest) {
      throw toConnectError(invalidRequest(`the request is not a valid ${method.input.typeName} message (${request.reason.slice(0, 100)})`), requestId);
    }
    const response = create(method.output, (await (span === undefined ? fn(request, context) : span.run(() => fn(request, context)))) as never);
    call.ok(requestId, context.peek("header"), response, context.peek("trailer"));
    end(grpc.status.OK, CALL_ENDED);
  } catch (err) {
    const status = errorToStatus(err, context.peek("trailer"));
    call.fail(requestId, context.peek("header"), status);
    end(status.code, CALL_ENDED);
  }
}

function errorToStatus(err: unknown, responseTrailer: Headers | undefined): CallStatus {
  if (!(err instanceof ConnectError)) {
    // The original message may carry secrets; only the error's class name is logged.
    console.error(`grpc handler failed: ${err instanceof Error ? err.name : typeof err}`);
    return { code: grpc.status.INTERNAL, details: "internal error", trailer: responseTrailer };
  }
  const trailer = new Headers(responseTrailer);
  err.metadata.forEach((value, key) => trailer.append(key, value));
  const status = create(StatusSchema, {
    code: err.code,
    message: err.rawMessage,
    details: err.details.map((d) =>
      "desc" in d
        ? create(AnySchema, { typeUrl: typeUrl(d.desc.typeName), value: toBinary(d.desc, create(d.desc, d.value)) })
        : create(AnySchema, { typeUrl: typeUrl(d.type), value: d.value }),
    ),
  });
  trailer.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)).toString("base64"));
  return { code: err.code as number, details: err.rawMessage, trailer };
}

const typeUrl = (typeName: string) => `type.googleapis.com/${typeName}`;

/** A call's request metadata as Headers, read in place; binary (`-bin`) entries are left out. */
class MetadataHeaders extends HeaderView {
  constructor(private readonly metadata: grpc.Metadata) {
    super();
  }

  protected read(name: string) {
    if (name.endsWith("-bin")) return undefined;
    const values = this.metadata.get(name).filter((v): v is string => typeof v === "string");
    return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
  }

  protected write(name: string, value: string | string[]): void {
    this.metadata.remove(name);
    for (const v of typeof value === "string" ? [value] : value) this.metadata.add(name, v);
  }

  protected remove(name: string): void {
    this.metadata.remove(name);
  }

  protected names(): string[] {
    return Object.keys(this.metadata.getMap()).filter((name) => !name.endsWith("-bin"));
  }
}

/** Headers as grpc-js Metadata (empty for none). */
function headersToMetadata(headers: Headers | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  headers?.forEach((value, key) => {
    if (key.endsWith("-bin")) {
      // grpc-js wants the bytes.
      for (const part of binaryValues(value)) metadata.add(key, Buffer.from(part, "base64"));
    } else {
      metadata.add(key, value);
    }
  });
  return metadata;
}

// @grpc/reflection reads only `fileDescriptorProtos` from each entry of a proto-loader
// package definition, so one entry per service carrying its file and every import suffices.
function reflectionPackage(services: DescService[]): ReflectionPackage {
  const pkg: Record<string, { fileDescriptorProtos: Buffer[] }> = {};
  for (const service of services) {
    const files = new Set<DescFile>();
    const collect = (file: DescFile) => {
      if (files.has(file)) return;
      files.add(file);
      file.dependencies.forEach(collect);
    };
    collect(service.file);
    pkg[service.typeName] = {
      fileDescriptorProtos: [...files].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto))),
    };
  }
  return pkg as unknown as ReflectionPackage;
}
