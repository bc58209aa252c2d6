import type { DescService } from "@bufbuild/protobuf";
import type { Interceptor, ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { MAX_BODY_BYTES } from "../../config.js";
import { invalidRequest, OAuthError } from "../../domain/errors.js";
import { REQUEST_ID_PATTERN } from "../../domain/ids.js";
import { nulRefused } from "../nul.js";
import { connectUnary } from "./connect-unary.js";
import { deferHeader, NO_STORE, sendError, sendJson, type HttpContext, type HttpHandler } from "./respond.js";

export interface Route {
  method: "GET" | "POST";
  path: string;
  handler: HttpHandler;
}

export interface GatewayOptions {
  /** Connect and gRPC-web services, at POST /<package>.<Service>/<Method>. */
  services: { service: DescService; impl: Partial<ServiceImpl<DescService>> }[];
  /** Everything else: OAuth/OIDC, /cis, health, served through the adapter's fallback. */
  routes: Route[];
  /** Runs first on every request (CORS, metrics); returning true means it answered. */
  before?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
  /** connect-node interceptors (access log and metrics of Connect calls). */
  interceptors?: Interceptor[];
  /** The issuer's path (`/auth`), or "": every route also answers under it (RFC 8414 §3, a proxy that keeps the prefix). */
  basePath?: () => string;
}

/** The HTTP port's request handler: request ids, the body limit, Connect routes, then the fallback routes. */
export function createGateway(opts: GatewayOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const byPath = new Map<string, Map<string, HttpHandler>>();
  for (const r of opts.routes) {
    const methods = byPath.get(r.path) ?? new Map<string, HttpHandler>();
    methods.set(r.method, r.handler);
    byPath.set(r.path, methods);
  }

  const fallback = (req: IncomingMessage, res: ServerResponse) => {
    const ctx = httpContext(req, res);
    // Forms refuse a NUL in a parameter (body.ts); this is for the query parameters read one by one, and paths.
    if (req.url?.includes("%00")) {
      sendError(ctx, nulRefused("the URL"));
      return;
    }
    const pathname = pathOf(req);
    const methods = byPath.get(pathname);
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    const handler = methods?.get(method);
    if (handler === undefined) {
      if (methods !== undefined) {
        res.setHeader("Allow", [...methods.keys()].join(", "));
        sendError(ctx, new OAuthError("method_not_allowed", `${req.method} is not allowed on ${pathname}`));
      } else {
        sendJson(res, 404, { error: "not_found", error_description: `no endpoint at ${pathname.slice(0, 200)}`, request_id: ctx.requestId }, NO_STORE);
      }
      return;
    }
    res.locals.route = pathname;
    Promise.resolve()
      .then(() => handler(ctx))
      .catch((err: unknown) => sendError(ctx, err));
  };

  const connect = connectNodeAdapter({
    routes: (router) => {
      for (const s of opts.services) router.service(s.service, s.impl);
    },
    // The HTTP port is HTTP/1.1 only, so requests are always IncomingMessage.
    fallback: fallback as unknown as Parameters<typeof connectNodeAdapter>[0]["fallback"],
    readMaxBytes: MAX_BODY_BYTES,
    interceptors: opts.interceptors ?? [],
  });

  // Unary Connect calls (nearly all Connect traffic) are answered without connect-node's per-call machinery.
  const unary = connectUnary({ services: opts.services, interceptors: opts.interceptors ?? [], readMaxBytes: MAX_BODY_BYTES, headers: RPC_HEADERS });

  // Connect only sees paths of the services it serves; the OAuth endpoints skip its routing.
  const rpcPrefixes = opts.services.map((s) => `/${s.service.typeName}/`);
  const isRpc = (path: string) => rpcPrefixes.some((p) => path.startsWith(p));

  return (req, res) => {
    const incoming = req.headers["x-request-id"];
    const requestId = typeof incoming === "string" && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    res.locals = { requestId };
    // Connect handlers read the id from their request headers (logs, ErrorInfo metadata).
    req.headers["x-request-id"] = requestId;
    deferHeader(res, "x-request-id", requestId);
    stripBasePath(req, opts.basePath?.() ?? "");
    const answered = opts.before?.(req, res);
    if (answered === true) return;
    if (answered instanceof Promise) {
      answered.then(
        (done) => done || route(req, res),
        (err: unknown) => sendError(httpContext(req, res), err),
      );
      return;
    }
    route(req, res);
  };

  function route(req: IncomingMessage, res: ServerResponse): void {
    // RFC 9112 §3.2 (Node's own check, turned off in server.ts, answers with an empty body).
    if (req.headers.host === undefined && req.httpVersion === "1.1") {
      res.setHeader("Connection", "close");
      sendError(httpContext(req, res), invalidRequest("an HTTP/1.1 request must have a Host header"));
      return;
    }
    if (Number(req.headers["content-length"] ?? "0") > MAX_BODY_BYTES) {
      req.resume();
      res.setHeader("Connection", "close");
      sendError(httpContext(req, res), new OAuthError("payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`));
      return;
    }
    if (isRpc(pathOf(req))) {
      if (unary(req, res)) return;
      for (const [name, value] of Object.entries(RPC_HEADERS)) res.setHeader(name, value);
      connect(req, res);
    }
    else fallback(req, res);
  }
}

/** RPC answers carry tokens and secrets: never stored by a cache (the OAuth endpoints say so themselves). */
const RPC_HEADERS = { "cache-control": "no-store" } as const;

/** Serves `<base>/x` as `/x`: routes, CORS, metrics and Connect all see the path without the issuer's prefix. */
function stripBasePath(req: IncomingMessage, base: string): void {
  const url = req.url ?? "/";
  if (base === "" || !url.startsWith(base)) return;
  const rest = url.slice(base.length);
  if (rest === "" || rest.startsWith("?")) req.url = `/${rest}`;
  else if (rest.startsWith("/")) req.url = rest;
}

function pathOf(req: IncomingMessage): string {
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  return q === -1 ? raw : raw.slice(0, q);
}

/** The handler context; `url` is parsed on first use (the token endpoint never needs it). */
function httpContext(req: IncomingMessage, res: ServerResponse): HttpContext {
  return new RequestContext(req, res, res.locals.requestId!);
}

/**
 * A class, not an object literal with a getter: a literal's getter is a new closure per request, so
 * every context got a map of its own and the request's objects outlived young-generation GCs
 * (≈ 1.1 KB promoted per request; docs/performance.md, "One map per object").
 */
class RequestContext implements HttpContext {
  private parsed: URL | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly requestId: string,
  ) {}

  get url(): URL {
    return (this.parsed ??= new URL(this.req.url ?? "/", "http://localhost"));
  }
}

/**
 * The HTTP server's `clientError` listener: a request Node's parser refuses before any handler runs
 * (headers over the 16 KiB limit, bytes that are not HTTP, a header timeout) gets the same OAuth error
 * JSON and request id as every other answer, instead of Node's bare status line.
 */
export function answerClientError(err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  // Bytes that are not HTTP after a request still being answered (pipelined): its answer goes first, then this one.
  const pending = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (pending != null && !pending.writableFinished) {
    pending.once("finish", () => setImmediate(() => answerClientError(err, socket)));
    pending.once("close", () => pending.writableFinished || socket.destroy());
    return;
  }
  const [status, reason, description] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large", "the request headers exceed 16 KiB"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout", "the request was not received in time"]
        : [400, "Bad Request", "the request is not valid HTTP/1.1"];
  const requestId = randomUUID();
  const body = JSON.stringify({ error: "invalid_request", error_description: description, request_id: requestId });
  // An answer to HEAD has no body (its request line is in the bytes the parser was reading, if it got that far).
  const head = err.rawPacket?.subarray(0, 5).toString("latin1") === "HEAD ";
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nx-request-id: ${requestId}\r\nConnection: close\r\n\r\n${head ? "" : body}`,
  );
}

/**
 * The HTTP server's `checkExpectation` listener: an `Expect` other than 100-continue gets 417 with the same OAuth
 * error JSON and request id as every other answer, instead of Node's empty one.
 */
export function answerExpectationFailed(req: IncomingMessage, res: ServerResponse): void {
  const requestId = randomUUID();
  const expectation = String(req.headers.expect ?? "").slice(0, 64);
  res.setHeader("Connection", "close");
  sendJson(
    res,
    417,
    { error: "invalid_request", error_description: `Expect "${expectation}" is not supported (only 100-continue)`, request_id: requestId },
    { ...NO_STORE, "x-request-id": requestId },
  );
}
