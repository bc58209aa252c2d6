import type { IncomingMessage, ServerResponse } from "node:http";
import { OAuthError, toOAuthError } from "../../domain/errors.js";

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
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * RFC 6749 §5.2 error JSON, never cached; 401s name the scheme the caller used. `bearer` marks a
 * protected resource; "no-credentials" when none were sent, which gets a bare challenge (RFC 6750 §3.1).
 */
export function sendError(ctx: HttpContext, err: unknown, bearer: boolean | "no-credentials" = false): void {
  const e: OAuthError = toOAuthError(err);
  if (e.kind === "server_error" && !(err instanceof OAuthError)) ctx.res.locals.error = err;
  const headers: Record<string, string> = { ...NO_STORE };
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

declare module "node:http" {
  interface ServerResponse {
    /** Per-request facts for the access log (client id, tenant, the unexpected error). */
    locals: { requestId?: string; clientId?: string; tenantId?: string; error?: unknown; route?: string };
  }
}
