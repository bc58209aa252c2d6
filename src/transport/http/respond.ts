import { ServerResponse, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { OAuthError, toOAuthError } from "../../domain/errors.js";
import { answerAtEndOfTurn, type Answer } from "../end-of-turn.js";

/** What every HTTP handler receives. */
export interface HttpContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  requestId: string;
}

export type HttpHandler = (ctx: HttpContext) => Promise<void> | void;

/** The issuer's path without a trailing slash (`/auth`), "" for an issuer at the root of its host. */
export function issuerPath(issuer: string): string {
  // Asked on every request; the issuer changes at most once (set after listen), so remember the last answer.
  if (issuer !== lastIssuer.issuer) {
    const path = new URL(issuer).pathname;
    lastIssuer = { issuer, path: path === "/" ? "" : path };
  }
  return lastIssuer.path;
}
let lastIssuer = { issuer: "", path: "" };

export const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" } as const;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  const head: OutgoingHttpHeaders = {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  };
  // The object is ours: the deferred headers go straight into it (GatewayResponse would copy it).
  if (res instanceof GatewayResponse) res.takeDeferred(head);
  res.writeHead(status, head);
  res.end(text);
}

/**
 * RFC 6749 §5.2 error JSON, never cached; 401s name the scheme the caller used. `bearer` marks a
 * protected resource; "no-credentials" when none were sent, which gets a bare challenge (RFC 6750 §3.1).
 */
export function sendError(ctx: HttpContext, err: unknown, bearer: boolean | "no-credentials" = false): void {
  const e: OAuthError = toOAuthError(err);
  if (e.kind === "server_error" && !(err instanceof OAuthError)) ctx.res.locals.error = err;
  const headers: Record<string, string> = Object.assign({}, NO_STORE);
  if (e.status === 401) {
    // A client that tried Basic is told to use Basic again, whichever layer refused it.
    const triedBasic = e.basicAuth || (e.kind === "invalid_client" && /^basic /i.test(ctx.req.headers.authorization ?? ""));
    if (triedBasic) headers["WWW-Authenticate"] = 'Basic realm="tessera", charset="UTF-8"';
    else if (bearer === "no-credentials" && e.kind === "invalid_token") headers["WWW-Authenticate"] = 'Bearer realm="tessera"';
    else if (bearer || e.kind === "invalid_token") {
      headers["WWW-Authenticate"] = `Bearer realm="tessera", error="${e.error}", error_description="${e.description.replace(/"/g, "'")}"`;
    }
  }
  if (ctx.res.headersSent) {
    ctx.res.destroy();
    return;
  }
  sendJson(ctx.res, e.status, { error: e.error, error_description: e.description, request_id: ctx.requestId }, headers);
}

/**
 * The HTTP port's response class.
 *
 * - Headers every answer of a kind carries (`x-request-id`, CORS's `Vary: Origin`) are added as the
 *   headers are written. Setting them up front with setHeader made every writeHead merge its headers one
 *   setHeader at a time (Node's slow path); most answers are written with one writeHead, which this keeps
 *   on the fast one.
 * - `end` is carried out when the event loop's current turn is done, together with every other answer ended in
 *   that turn, instead of at once (end-of-turn.ts: under load, the peer is woken once per turn, not once per answer).
 */
export class GatewayResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> implements Answer {
  /** Deferred headers as name, value, name, value… (lower-case names). */
  private deferred: string[] | undefined;
  /** `end`'s arguments (chunk, encoding, callback) until the turn ends; more than one only if `end` was called again. */
  private ending: [unknown, unknown, unknown][] | undefined;

  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    (this.ending ??= []).push([chunk, encoding, callback]);
    answerAtEndOfTurn(this);
    return this;
  }

  /** Carries out the oldest `end` queued for this response (end-of-turn.ts). */
  answerNow(): void {
    const [chunk, encoding, callback] = this.ending!.shift()!;
    // Destroyed since (the peer went away, or a handler gave up on it): nothing left to write.
    if (this.destroyed) return;
    try {
      (super.end as (c: unknown, e: unknown, cb: unknown) => void)(chunk, encoding, callback);
    } catch (err) {
      // ServerResponse.end throws only for a caller's bad argument; at once it would have reached the
      // handler, here it must not stop the other answers of the turn.
      this.destroy(err as Error);
    }
  }

  /** Sends `name: value` with the headers unless a handler set that header itself. */
  defer(name: string, value: string): void {
    (this.deferred ??= []).push(name, value);
  }

  /** Moves the deferred headers into a header object the caller built for this answer (lower-case names it lacks). */
  takeDeferred(head: OutgoingHttpHeaders): void {
    const deferred = this.deferred;
    if (deferred === undefined) return;
    this.deferred = undefined;
    for (let i = 0; i < deferred.length; i += 2) {
      const name = deferred[i]!;
      if (head[name] === undefined && !this.hasHeader(name)) head[name] = deferred[i + 1];
    }
  }

  override writeHead(statusCode: number, ...rest: unknown[]): this {
    const deferred = this.deferred;
    if (deferred !== undefined && !this.headersSent) {
      this.deferred = undefined;
      const extra: [string, string][] = [];
      for (let i = 0; i < deferred.length; i += 2) if (!this.hasHeader(deferred[i]!)) extra.push([deferred[i]!, deferred[i + 1]!]);
      const at = typeof rest[0] === "string" ? 1 : 0;
      rest[at] = withHeaders(rest[at], extra);
    }
    return super.writeHead(statusCode, ...(rest as [OutgoingHttpHeaders]));
  }
}

/** Adds a header every answer of a kind carries: when the headers are written (GatewayResponse), else now. */
export function deferHeader(res: ServerResponse, name: string, value: string): void {
  if (res instanceof GatewayResponse) res.defer(name, value);
  else res.setHeader(name, value);
}

function withHeaders(headers: unknown, extra: [string, string][]): unknown {
  if (headers === undefined || headers === null) return Object.fromEntries(extra);
  if (Array.isArray(headers)) return headers.length > 0 && Array.isArray(headers[0]) ? [...headers, ...extra] : [...headers, ...extra.flat()];
  const out: OutgoingHttpHeaders = Object.assign({}, headers as OutgoingHttpHeaders);
  for (const [name, value] of extra) if (!hasName(out, name)) out[name] = value;
  return out;
}

/** Whether a header object names `name` in any case (writeHead's object keys keep the caller's case). */
function hasName(headers: OutgoingHttpHeaders, name: string): boolean {
  if (headers[name] !== undefined) return true;
  for (const key of Object.keys(headers)) if (key.length === name.length && key.toLowerCase() === name) return true;
  return false;
}

declare module "node:http" {
  interface ServerResponse {
    /** Per-request facts for the access log (client id, tenant, the unexpected error). */
    locals: { requestId?: string; clientId?: string; tenantId?: string; error?: unknown; route?: string };
  }
}
