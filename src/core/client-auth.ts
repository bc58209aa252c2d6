import { hash, timingSafeEqual } from "node:crypto";
import { invalidClient, invalidRequest, OAuthError } from "../domain/errors.js";
import type { Core, ClientContext } from "./core.js";

/** How the caller presented its client credentials. */
export interface ClientCredentials {
  method: "client_secret_basic" | "client_secret_post" | "none";
  clientId: string;
  clientSecret: string | undefined;
}

/**
 * Reads client credentials from an Authorization header and/or body fields.
 * Basic values are form-urlencoded before base64 (RFC 6749 §2.3.1). Using both ways at once is refused.
 */
export function readClientCredentials(
  authorization: string | undefined | null,
  bodyClientId: string | undefined,
  bodyClientSecret: string | undefined,
): ClientCredentials | undefined {
  const basic = authorization != null && /^basic /i.test(authorization) ? parseBasic(authorization) : undefined;
  if (basic !== undefined) {
    if (bodyClientSecret !== undefined && bodyClientSecret !== "") {
      throw withBasic(invalidRequest("use one client authentication method, not both Basic and client_secret"));
    }
    if (bodyClientId !== undefined && bodyClientId !== "" && bodyClientId !== basic.clientId) {
      throw withBasic(invalidRequest("client_id in the body differs from the Basic credentials"));
    }
    return basic;
  }
  if (bodyClientId === undefined || bodyClientId === "") {
    if (bodyClientSecret !== undefined && bodyClientSecret !== "") throw invalidRequest("client_secret without client_id");
    return undefined;
  }
  if (bodyClientSecret === undefined || bodyClientSecret === "") {
    return { method: "none", clientId: bodyClientId, clientSecret: undefined };
  }
  return { method: "client_secret_post", clientId: bodyClientId, clientSecret: bodyClientSecret };
}

function parseBasic(header: string): ClientCredentials {
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) throw withBasic(invalidClient("malformed Basic credentials"));
  let clientId: string;
  let clientSecret: string;
  try {
    const unescape = (s: string) => (/[%+]/.test(s) ? decodeURIComponent(s.replace(/\+/g, " ")) : s);
    clientId = unescape(decoded.slice(0, colon));
    clientSecret = unescape(decoded.slice(colon + 1));
  } catch {
    throw withBasic(invalidClient("malformed Basic credentials"));
  }
  // No client id or secret holds a NUL (a database could not even look one up).
  if (clientId.includes("\0") || clientSecret.includes("\0")) throw withBasic(invalidClient("malformed Basic credentials"));
  return { method: "client_secret_basic", clientId, clientSecret };
}

function withBasic(err: OAuthError): OAuthError {
  err.basicAuth = true;
  return err;
}

/**
 * Authenticates a confidential client by its secret. Unknown client and wrong secret fail
 * the same way, through the same constant-time comparison. The previous secret works during
 * its grace period after a rotation.
 */
export async function authenticateClient(core: Core, creds: ClientCredentials | undefined): Promise<ClientContext> {
  if (creds === undefined) throw invalidClient("client authentication is required");
  const fail = (d = "client authentication failed") => {
    const err = invalidClient(d);
    err.basicAuth = creds.method === "client_secret_basic";
    return err;
  };
  if (creds.clientId.length > 256 || (creds.clientSecret?.length ?? 0) > 512) throw fail();
  const ctx = await core.clientContext(creds.clientId);
  const secret = creds.clientSecret ?? "";
  // The same secret was verified against the stored hash since this client was last (re)loaded.
  const digest = presentedDigest(secret);
  if (ctx?.verifiedSecret !== undefined && creds.method !== "none" && timingSafeEqual(digest, ctx.verifiedSecret)) return ctx;
  const current = core.secrets.matches("client-secret", secret, ctx?.client.secretHash);
  if (ctx === undefined) throw fail();
  if (creds.method === "none") {
    throw fail(ctx.client.secretHash === undefined ? "this client may not use this endpoint" : "client secret is required");
  }
  if (current) {
    ctx.verifiedSecret = Buffer.from(digest);
    return ctx;
  }
  const { previousSecretHash, previousSecretExpireTime } = ctx.client;
  if (
    previousSecretHash !== undefined &&
    previousSecretExpireTime !== undefined &&
    previousSecretExpireTime > core.now() &&
    core.secrets.matches("client-secret", secret, previousSecretHash)
  ) {
    return ctx;
  }
  throw fail();
}

/**
 * SHA-256 of a presented secret, in a buffer reused by every call (valid until the next one; copy it to keep it).
 * `hash` answering a latin1 ("binary") string, written into this buffer, costs 1.2 µs; asked for a Buffer it costs 2.8 µs (a
 * new buffer from C++ each call), 1 % of a client_credentials call (docs/performance.md, "seventh session").
 */
function presentedDigest(secret: string): Buffer {
  PRESENTED.write(hash("sha256", secret, "binary"), 0, "latin1");
  return PRESENTED;
}
const PRESENTED = Buffer.alloc(32);
