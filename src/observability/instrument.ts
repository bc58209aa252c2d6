import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type TextMapGetter } from "@opentelemetry/api";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_SCHEME,
} from "@opentelemetry/semantic-conventions";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Core } from "../core/core.js";
import type { Route } from "../transport/http/gateway.js";
import type { TokenGrant } from "../transport/http/token-endpoint.js";
import type { GrpcCallTracer } from "../transport/rpc/grpc-server.js";
import { basicClientId } from "./observer.js";

/*
 * Spans for tessera's own code, written against @opentelemetry/api only. server.ts applies these
 * wrappers only when tracing is on, so with the OTEL_* variables unset none of this runs.
 * Attributes carry names, ids and codes: never a token, secret, code, password, session id or header value.
 */

const TRACER = "tessera";
// rpc.* and db.* are still "incubating" in @opentelemetry/semantic-conventions; their names are fixed here.
const ATTR_RPC_SYSTEM = "rpc.system";
const ATTR_RPC_SERVICE = "rpc.service";
const ATTR_RPC_METHOD = "rpc.method";
const ATTR_RPC_GRPC_STATUS_CODE = "rpc.grpc.status_code";
const ATTR_RPC_CONNECT_ERROR_CODE = "rpc.connect_rpc.error_code";
const ATTR_DB_SYSTEM = "db.system";
const ATTR_DB_SYSTEM_NAME = "db.system.name";
const ATTR_DB_OPERATION_NAME = "db.operation.name";
export const ATTR_GRANT_TYPE = "tessera.grant_type";
export const ATTR_CLIENT_ID = "tessera.client_id";
export const ATTR_TENANT_ID = "tessera.tenant_id";

const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"]);

/** The error's stable name (an OAuth error string, an SQLite code, a class name), never its message. */
function errorType(err: unknown): string {
  if (err instanceof ConnectError) return Code[err.code] ?? String(err.code);
  const e = err as { error?: unknown; code?: unknown; name?: unknown } | null;
  if (typeof e?.error === "string") return e.error;
  if (typeof e?.code === "string") return e.code;
  return typeof e?.name === "string" ? e.name : "Error";
}

function fail(span: Span, err: unknown): void {
  const type = errorType(err);
  span.setAttribute(ATTR_ERROR_TYPE, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/** Runs `fn` inside `span` as the active span and ends it when `fn` returns or its promise settles. */
function within<T>(span: Span, fn: () => T): T {
  let result: T;
  try {
    result = context.with(trace.setSpan(context.active(), span), fn);
  } catch (err) {
    fail(span, err);
    span.end();
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        fail(span, err);
        span.end();
        throw err;
      },
    ) as T;
  }
  span.end();
  return result;
}

/**
 * The HTTP port's server span: continues a W3C `traceparent`, named `METHOD /route` (or
 * `tessera.v1.Service/Method` for Connect calls) once the route is known, ended when the answer is sent.
 */
export function traceHttp(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  rpcPaths: ReadonlySet<string>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const tracer = trace.getTracer(TRACER);
  return (req, res) => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const method = HTTP_METHODS.has(req.method ?? "") ? req.method! : "_OTHER";
    const span = tracer.startSpan(
      method,
      { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_SCHEME]: "http" } },
      parent,
    );
    res.once("close", () => {
      const raw = req.url ?? "/";
      const q = raw.indexOf("?");
      const path = q === -1 ? raw : raw.slice(0, q);
      if (rpcPaths.has(path)) {
        const name = path.slice(1);
        const slash = name.indexOf("/");
        span.updateName(name);
        span.setAttributes({
          [ATTR_HTTP_ROUTE]: path,
          [ATTR_RPC_SYSTEM]: "connect_rpc",
          [ATTR_RPC_SERVICE]: name.slice(0, slash),
          [ATTR_RPC_METHOD]: name.slice(slash + 1),
        });
      } else if (res.locals?.route !== undefined) {
        span.updateName(`${method} ${res.locals.route}`);
        span.setAttribute(ATTR_HTTP_ROUTE, res.locals.route);
      }
      if (res.headersSent) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      if (!res.writableFinished) {
        span.setAttribute(ATTR_ERROR_TYPE, "aborted");
      } else if (res.statusCode >= 500) {
        span.setAttribute(ATTR_ERROR_TYPE, String(res.statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    });
    context.with(trace.setSpan(parent, span), () => handler(req, res));
  };
}

/** Connect calls on the HTTP port: the RPC's code on the request's server span. */
export const connectTracingInterceptor: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    const code = ConnectError.from(err).code;
    // Semconv spells Connect codes in snake case (`invalid_argument`).
    const name = (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
    trace.getActiveSpan()?.setAttribute(ATTR_RPC_CONNECT_ERROR_CODE, name);
    throw err;
  }
};

const headersGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};

/** The gRPC port's server span per call, named `tessera.v1.Service/Method`, continuing `traceparent` metadata. */
export function grpcCallTracer(): GrpcCallTracer {
  const tracer = trace.getTracer(TRACER);
  return {
    start(service, method, requestHeader) {
      const parent = propagation.extract(ROOT_CONTEXT, requestHeader, headersGetter);
      const span = tracer.startSpan(
        `${service}/${method}`,
        { kind: SpanKind.SERVER, attributes: { [ATTR_RPC_SYSTEM]: "grpc", [ATTR_RPC_SERVICE]: service, [ATTR_RPC_METHOD]: method } },
        parent,
      );
      const active = trace.setSpan(parent, span);
      return {
        run: (fn) => context.with(active, fn),
        end: (code) => {
          span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, code);
          // Server spans count only codes that are the server's fault as errors (semconv for gRPC).
          if ([2, 4, 12, 13, 14, 15].includes(code)) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        },
      };
    },
  };
}

/**
 * Wraps a storage object so that each repository method call, and each call of the object's own
 * methods (`transaction`, `batched`), is a CLIENT span with `db.system`. Works for synchronous
 * methods and for methods returning promises; properties named in `passThrough` are handed out
 * untouched. Methods run with the original object as `this`, so private state keeps working.
 * Calls made outside any span (start-up, background sweeps) make none.
 */
export function traceStorage<T extends object>(store: T, dbSystem: string, passThrough: readonly string[] = ["db", "close"]): T {
  const tracer = trace.getTracer(TRACER);
  const skip = new Set(passThrough);
  const tracedMethod = (target: object, operation: string, fn: (...args: unknown[]) => unknown) =>
    function (...args: unknown[]): unknown {
      // Only inside a request's span: start-up, sweeps and key rotation would each be a trace of their own.
      if (trace.getSpan(context.active()) === undefined) return fn.apply(target, args);
      const span = tracer.startSpan(`store.${operation}`, {
        kind: SpanKind.CLIENT,
        attributes: { [ATTR_DB_SYSTEM]: dbSystem, [ATTR_DB_SYSTEM_NAME]: dbSystem, [ATTR_DB_OPERATION_NAME]: operation },
      });
      return within(span, () => fn.apply(target, args));
    };
  // Repositories are the store's object-valued properties: one level deep, their methods traced.
  const wrap = <O extends object>(target: O, prefix: string, nested: boolean): O => {
    const cache = new Map<string, { original: unknown; wrapped: unknown }>();
    return new Proxy(target, {
      get(obj, prop) {
        const value: unknown = Reflect.get(obj, prop, obj);
        if (typeof prop === "symbol" || skip.has(prop) || value === null) return value;
        if (typeof value !== "function" && (typeof value !== "object" || nested)) return value;
        const hit = cache.get(prop);
        if (hit?.original === value) return hit.wrapped;
        const wrapped =
          typeof value === "function"
            ? tracedMethod(obj, `${prefix}${prop}`, value as (...args: unknown[]) => unknown)
            : wrap(value as object, `${prop}.`, true);
        cache.set(prop, { original: value, wrapped });
        return wrapped;
      },
    });
  };
  return wrap(store, "", false);
}

/** The issued access token's `client_id` and `tid` claims (a JWT tessera just signed; nothing else is read). */
function issuedTo(accessToken: string | undefined): { clientId?: string; tenantId?: string } {
  const payload = accessToken?.split(".")[1];
  if (payload === undefined) return {};
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { client_id?: unknown; tid?: unknown };
    return {
      ...(typeof claims.client_id === "string" ? { clientId: claims.client_id.slice(0, 128) } : {}),
      ...(typeof claims.tid === "string" ? { tenantId: claims.tid.slice(0, 128) } : {}),
    };
  } catch {
    return {};
  }
}

function issuanceSpan(grantType: string, clientId: string | undefined): Span {
  return trace.getTracer(TRACER).startSpan("tessera.token.issue", {
    kind: SpanKind.INTERNAL,
    attributes: { [ATTR_GRANT_TYPE]: grantType, ...(clientId === undefined ? {} : { [ATTR_CLIENT_ID]: clientId.slice(0, 128) }) },
  });
}

function recordIssued(span: Span, accessToken: string | undefined): void {
  const { clientId, tenantId } = issuedTo(accessToken);
  if (clientId !== undefined) span.setAttribute(ATTR_CLIENT_ID, clientId);
  if (tenantId !== undefined) span.setAttribute(ATTR_TENANT_ID, tenantId);
}

/** The token endpoint's grants, each issuance inside a `tessera.token.issue` span. */
export function traceGrants(grants: readonly TokenGrant[]): TokenGrant[] {
  return grants.map((grant) => ({
    grantType: grant.grantType,
    handle: (core: Core, params, credentials) => {
      const span = issuanceSpan(grant.grantType, credentials?.clientId);
      return within(span, () => {
        const tokens = grant.handle(core, params, credentials);
        if (tokens instanceof Promise) return tokens.then((t) => (recordIssued(span, t.access_token), t));
        recordIssued(span, tokens.access_token);
        return tokens;
      });
    },
  }));
}

/** TokenService methods that issue tokens, by the grant they are. */
const RPC_GRANTS: Record<string, string> = {
  issueClientToken: "client_credentials",
  refreshToken: "refresh_token",
  exchangeAuthorizationCode: "authorization_code",
  authenticatePassword: "password",
  authenticateSession: "session",
};

type RpcMethod = (req: { clientId?: unknown }, ctx: { requestHeader: Headers }) => unknown;

/** The TokenService implementation with each issuing method inside a `tessera.token.issue` span. */
export function traceTokenService<I extends object>(impl: I): I {
  const traced: Record<string, unknown> = Object.assign({}, impl as Record<string, unknown>);
  for (const [name, grantType] of Object.entries(RPC_GRANTS)) {
    const fn = (impl as Record<string, RpcMethod | undefined>)[name];
    if (fn === undefined) continue;
    traced[name] = (req: { clientId?: unknown }, ctx: { requestHeader: Headers }) => {
      const clientId = typeof req.clientId === "string" && req.clientId !== "" ? req.clientId : basicClientId(ctx.requestHeader.get("authorization"));
      const span = issuanceSpan(grantType, clientId);
      return within(span, () =>
        Promise.resolve(fn.call(impl, req, ctx)).then((res) => {
          recordIssued(span, (res as { accessToken?: string } | undefined)?.accessToken);
          return res;
        }),
      );
    };
  }
  return traced as I;
}

/** The /cis endpoints that issue tokens, by path. */
const CIS_GRANTS: Record<string, string> = {
  "/cis/v1/auth/password/authenticate": "password",
  "/cis/v1/auth/session/authenticate": "session",
  "/cis/v1/auth/token/refresh": "refresh_token",
};

/** Routes with the /cis issuing endpoints inside a `tessera.token.issue` span. */
export function traceCisRoutes(routes: readonly Route[]): Route[] {
  return routes.map((route) => {
    const grantType = CIS_GRANTS[route.path];
    if (grantType === undefined) return route;
    return {
      ...route,
      handler: (ctx) => {
        const span = issuanceSpan(grantType, undefined);
        return within(span, () =>
          Promise.resolve(route.handler(ctx)).then(() => {
            const { clientId, tenantId } = ctx.res.locals;
            if (clientId !== undefined) span.setAttribute(ATTR_CLIENT_ID, clientId);
            if (tenantId !== undefined) span.setAttribute(ATTR_TENANT_ID, tenantId);
            if (ctx.res.statusCode >= 400) span.setStatus({ code: SpanStatusCode.ERROR, message: String(ctx.res.statusCode) });
          }),
        );
      },
    };
  });
}
