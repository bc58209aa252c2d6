import { invalidRequest, type OAuthError } from "../domain/errors.js";

/**
 * NUL characters are refused in every input, on every door, as `invalid_request`. No parameter of OAuth or of
 * tessera's API can legitimately hold one, PostgreSQL can neither store nor compare a text with one, and SQLite
 * would keep it: refused at the door, both engines answer alike.
 */
export function refuseNul(value: string, what: string): void {
  if (value.includes("\0")) throw nulRefused(what);
}

export function nulRefused(what: string): OAuthError {
  return invalidRequest(`${what} contains a NUL character`);
}

/** Nested messages deeper than this are left to the storage's own refusal (StorageError "invalid"). */
const MAX_DEPTH = 32;

/**
 * The top-level field of a decoded request message (protobuf-es: plain objects, arrays, maps as objects,
 * oneofs as `{ case, value }`, bytes as Uint8Array) whose value holds a NUL character anywhere in its strings
 * or map keys; undefined when none does.
 */
export function fieldWithNul(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  for (const key of Object.keys(message)) {
    if (key.includes("\0") || holdsNul((message as Record<string, unknown>)[key], 1)) return key;
  }
  return undefined;
}

function holdsNul(value: unknown, depth: number): boolean {
  if (typeof value === "string") return value.includes("\0");
  if (typeof value !== "object" || value === null || value instanceof Uint8Array || depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.some((v) => holdsNul(v, depth + 1));
  for (const key of Object.keys(value)) {
    if (key.includes("\0") || holdsNul((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}
