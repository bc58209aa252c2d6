import { Code, ConnectError, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Core } from "../core/core.js";
import { toOAuthError } from "../domain/errors.js";
import type { GrpcCallEvent } from "../transport/rpc/grpc-server.js";
import { errorFields, type AccessLogger, type Logger } from "./log.js";
import { Metrics } from "./metrics.js";

/** gRPC status names as in the gRPC spec (`INVALID_ARGUMENT`), for labels and log lines. */
export function codeName(code: number): string {
  if (code === 0) return "OK";
  const name = (Code as unknown as Record<number, string | undefined>)[code];
  return name === undefined ? String(code) : name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** The client id of `Authorization: Basic`, never the secret. */
export function basicClientId(header: string | null | undefined): string | undefined {
  if (header == null || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon)).slice(0, 128);
  } catch {
    return undefined;
  }
}

/** Status label values, made once per status instead of once per request. */
const statusTexts: string[] = [];
function statusText(status: number): string {
  return status >= 0 && status < 1000 ? (statusTexts[status] ??= String(status)) : String(status);
}

interface RpcOutcome {
  transport: "grpc" | "connect";
  service: string;
  method: string;
  code: number;
  durationMs: number;
  requestId: string | undefined;
  /** Read only when the line is logged. */
  clientId: () => string | undefined;
}

/**
 * Access logs and metrics for both doors. The HTTP gateway calls `http` first on every request;
 * Connect calls run through `interceptor`; grpc-js calls report through `grpcCallEnd`.
 * Log lines carry ids, names, codes and durations only: never headers, bodies or credentials.
 */
export class Observer {
  readonly metrics: Metrics;
  /** Connect RPC paths: their HTTP line is the RPC line, so the HTTP one is not logged twice. */
  private readonly rpcPaths = new Set<string>();

  constructor(
    readonly log: Logger,
    core: Core,
    /** Where the access lines go (createLoggers' `access`: the same stream, written without pino). */
    private readonly access: AccessLogger = log,
  ) {
    this.metrics = new Metrics(core.keys);
    core.events = {
      ...core.events,
      tokenIssued: (grant) => this.metrics.tokensIssued.inc(grant),
      refreshReuseDetected: () => this.metrics.refreshReuse.inc(),
    };
    core.storage.events.retried = () => this.metrics.busyRetries.inc();
    core.storage.events.checkpointed = (by) => this.metrics.checkpoints.inc(by);
  }

  addRpcPaths(paths: Iterable<string>): void {
    for (const p of paths) this.rpcPaths.add(p);
  }

  /** Times one HTTP request; logs and counts it when the answer is sent (or the peer gives up). */
  http(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    // A ServerResponse always emits "close", after "finish" when the answer went out.
    res.once("close", () => {
      const seconds = (performance.now() - started) / 1000;
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = (q === -1 ? url : url.slice(0, q)).slice(0, 200);
      const rpc = this.rpcPaths.has(path);
      const route = res.locals.route ?? (rpc ? path : "other");
      const method = req.method ?? "GET";
      const status = res.writableFinished ? res.statusCode : 499;
      this.metrics.httpRequests.inc(route, method, statusText(status));
      this.metrics.httpDuration.observe(seconds, route, method);
      const { requestId, clientId, tenantId, error } = res.locals;
      if (error !== undefined) this.log.error({ request_id: requestId, path, ...errorFields(error) }, "unexpected error");
      if (rpc || !this.access.isLevelEnabled("info")) return;
      this.access.info(
        {
          kind: "http",
          method,
          path,
          route,
          status,
          duration_ms: Math.round(seconds * 1e6) / 1000,
          request_id: requestId,
          client_id: clientId,
          tenant_id: tenantId,
        },
        "http request",
      );
    });
  }

  /** The connect-node interceptor: one RPC line and metric per Connect/gRPC-web call on the HTTP port. */
  readonly interceptor: Interceptor = (next) => async (req) => {
    const started = performance.now();
    const message = req.stream ? undefined : (req.message as { clientId?: unknown });
    const clientId = () =>
      basicClientId(req.header.get("authorization")) ??
      (typeof message?.clientId === "string" && message.clientId !== "" ? message.clientId.slice(0, 128) : undefined);
    const outcome = (code: number) =>
      this.rpc({
        transport: "connect",
        service: req.service.typeName,
        method: req.method.name,
        code,
        durationMs: performance.now() - started,
        requestId: req.header.get("x-request-id") ?? undefined,
        clientId,
      });
    try {
      const res = await next(req);
      outcome(0);
      return res;
    } catch (err) {
      outcome(ConnectError.from(err).code);
      throw err;
    }
  };

  grpcCallEnd = (e: GrpcCallEvent): void => {
    this.rpc({
      transport: "grpc",
      service: e.service,
      method: e.method,
      code: e.code,
      durationMs: e.durationMs,
      requestId: e.requestHeader.get("x-request-id") ?? undefined,
      clientId: () => basicClientId(e.requestHeader.get("authorization")),
    });
  };

  /** `withErrorMapping`'s onError: unexpected failures get an error line with name and stack. */
  rpcError = (err: unknown, ctx: HandlerContext): void => {
    const kind = toOAuthError(err).kind;
    if (kind !== "server_error" && kind !== "unavailable") return;
    this.log[kind === "unavailable" ? "warn" : "error"](
      { request_id: ctx.requestHeader.get("x-request-id") ?? undefined, rpc: `${ctx.service.typeName}/${ctx.method.name}`, ...errorFields(err) },
      kind === "unavailable" ? "database unavailable" : "unexpected error",
    );
  };

  private rpc(o: RpcOutcome): void {
    const code = codeName(o.code);
    this.metrics.rpcRequests.inc(o.service, o.method, code, o.transport);
    this.metrics.rpcDuration.observe(o.durationMs / 1000, o.service, o.method, o.transport);
    if (!this.access.isLevelEnabled("info")) return;
    const clientId = o.clientId();
    this.access.info(
      {
        kind: "rpc",
        transport: o.transport,
        service: o.service,
        method: o.method,
        code,
        duration_ms: Math.round(o.durationMs * 1000) / 1000,
        request_id: o.requestId,
        client_id: clientId,
      },
      "rpc",
    );
  }
}
