import type { IncomingMessage } from "node:http";
import { MAX_BODY_BYTES } from "../../config.js";
import { bearerFrom } from "../../core/access-tokens.js";
import { invalidRequest, OAuthError } from "../../domain/errors.js";

/** Reads the whole body, refusing more than the limit with 413 whatever Content-Length said. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const tooLarge = () => new OAuthError("payload_too_large", `request body exceeds ${limit} bytes`);
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) return Promise.reject(tooLarge());
  // Already parsed whole (a small body comes in the packet of its headers, and the handlers run once the parser is
  // done with that packet): taken from the stream's buffer at once, without the listener round below.
  if (req.complete && req.readableFlowing === null && !req.destroyed) {
    if (req.readableLength > limit) {
      req.resume();
      return Promise.reject(tooLarge());
    }
    return Promise.resolve((req.read() as Buffer | null) ?? Buffer.alloc(0));
  }
  // Event listeners rather than an async iterator: this sits on the token endpoint's hot path.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(tooLarge());
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

function mediaType(req: IncomingMessage): string {
  const header = req.headers["content-type"] ?? "";
  const semicolon = header.indexOf(";");
  return (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
}

/**
 * These bodies are read as they come: a compressed one (Content-Encoding other than identity) would be
 * parsed as garbage and answered with a misleading error, so it is refused (RFC 9110 §15.5.16: 415).
 */
function refuseContentEncoding(req: IncomingMessage): void {
  const coding = (req.headers["content-encoding"] ?? "").trim().toLowerCase();
  if (coding !== "" && coding !== "identity") {
    throw new OAuthError("unsupported_media_type", `Content-Encoding "${coding.slice(0, 32)}" is not supported; send the body uncompressed`);
  }
}

/**
 * An application/x-www-form-urlencoded body as a map. Parameters sent more than once are
 * refused (RFC 6749 §3.1), except those named in `repeatable`, returned joined by spaces.
 */
export async function readForm(req: IncomingMessage, repeatable: readonly string[] = []): Promise<Map<string, string>> {
  if (mediaType(req) !== "application/x-www-form-urlencoded") {
    throw new OAuthError("unsupported_media_type", "the request body must be application/x-www-form-urlencoded");
  }
  refuseContentEncoding(req);
  const text = (await readBody(req)).toString("utf8");
  return formToMap(new URLSearchParams(text), repeatable);
}

export function formToMap(params: URLSearchParams, repeatable: readonly string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of params) {
    if (out.has(key)) {
      if (!repeatable.includes(key)) throw invalidRequest(`parameter "${key.slice(0, 64)}" is included more than once`);
      out.set(key, `${out.get(key)} ${value}`);
    } else {
      out.set(key, value);
    }
  }
  return out;
}

/** A JSON object body; every listed member must be a string when present. */
export async function readJsonObject(req: IncomingMessage, stringMembers: readonly string[]): Promise<Record<string, string | undefined>> {
  if (mediaType(req) !== "application/json") throw new OAuthError("unsupported_media_type", "the request body must be application/json");
  refuseContentEncoding(req);
  let body: unknown;
  try {
    body = JSON.parse((await readBody(req)).toString("utf8"));
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    throw invalidRequest("the request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidRequest("the request body must be a JSON object");
  const out: Record<string, string | undefined> = {};
  for (const name of stringMembers) {
    const value = (body as Record<string, unknown>)[name];
    if (value !== undefined && value !== null && typeof value !== "string") throw invalidRequest(`"${name}" must be a string`);
    out[name] = value === null || value === "" ? undefined : (value as string | undefined);
  }
  return out;
}

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  return bearerFrom(req.headers.authorization);
}
