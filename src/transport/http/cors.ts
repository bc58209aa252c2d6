import type { IncomingMessage, ServerResponse } from "node:http";
import type { Core } from "../../core/core.js";
import { listCorsOrigins } from "../../core/cors-origins.js";
import { deferHeader, NO_STORE, sendJson } from "./respond.js";

/** Public documents any page may read: no credentials involved. */
const PUBLIC_PATHS = new Set(["/oidc/jwks", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]);
/** Endpoints a browser app calls with a client's credentials or a user's token (a public client revokes its own, RFC 7009). */
const CLIENT_PATHS = new Set(["/oidc/token", "/oidc/userinfo", "/oidc/revoke"]);
const RPC_PREFIX = "/tessera.v1.";

/** What Connect, gRPC-web and OAuth requests from a browser send. */
export const ALLOWED_HEADERS = [
  "authorization",
  "content-type",
  "connect-protocol-version",
  "connect-timeout-ms",
  "grpc-timeout",
  "x-grpc-web",
  "x-user-agent",
  "x-request-id",
].join(", ");
/** What browser code may read from answers (Connect/gRPC-web errors live in trailers-as-headers). */
export const EXPOSED_HEADERS = ["grpc-status", "grpc-message", "grpc-status-details-bin", "x-request-id"].join(", ");

/**
 * CORS for browser apps: JWKS and discovery for every origin; the token endpoint, userinfo, revocation and
 * the Connect routes for the origins some client lists in `web_origins`. Every other path is
 * same-origin only (no CORS headers, so browsers refuse cross-origin reads). No cookies are
 * involved on these paths, so Access-Control-Allow-Credentials is never sent.
 */
export class Cors {
  private origins: Set<string> | undefined;
  private generation = 0;

  constructor(private readonly core: Core) {
    core.onInvalidate(() => {
      this.origins = undefined;
      this.generation += 1;
    });
  }

  /**
   * The gateway's `before` hook part: adds headers, answers preflights; true when it answered.
   * Asynchronous only while the allow list is being (re)loaded.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean> {
    const origin = req.headers.origin;
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    const isPublic = PUBLIC_PATHS.has(path);
    const isClient = !isPublic && (CLIENT_PATHS.has(path) || path.startsWith(RPC_PREFIX));
    if (!isPublic && !isClient) return false;
    deferHeader(res, "vary", "Origin");
    if (origin === undefined) return false;
    if (isPublic) return this.answer(req, res, path, "*");
    this.core.syncWithOtherWriters();
    if (this.origins !== undefined) return this.answer(req, res, path, this.origins.has(origin) ? origin : undefined);
    return this.loadOrigins().then((origins) => this.answer(req, res, path, origins.has(origin) ? origin : undefined));
  }

  private answer(req: IncomingMessage, res: ServerResponse, path: string, allow: string | undefined): boolean {
    const isPublic = allow === "*";
    if (req.method === "OPTIONS") {
      res.locals.route = path.startsWith(RPC_PREFIX) ? `${RPC_PREFIX}*` : path;
      if (allow === undefined) {
        sendJson(res, 403, { error: "forbidden", error_description: "this origin is not listed in any client's web_origins", request_id: res.locals.requestId }, NO_STORE);
        return true;
      }
      res.writeHead(204, {
        "Access-Control-Allow-Origin": allow,
        "Access-Control-Allow-Methods": isPublic ? "GET, HEAD" : "GET, POST",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
      });
      res.end();
      return true;
    }
    if (allow !== undefined) {
      res.setHeader("Access-Control-Allow-Origin", allow);
      res.setHeader("Access-Control-Expose-Headers", EXPOSED_HEADERS);
    }
    return false;
  }

  private async loadOrigins(): Promise<Set<string>> {
    const generation = this.generation;
    const origins = new Set((await listCorsOrigins(this.core)).flatMap((o) => normalize(o) ?? []));
    // Invalidated while reading: use what was read for this request, but do not keep it.
    if (generation === this.generation) this.origins = origins;
    return origins;
  }
}

/** `scheme://host[:port]` as browsers send it in Origin; undefined for anything that is not an http(s) origin. */
function normalize(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : undefined;
  } catch {
    return undefined;
  }
}
