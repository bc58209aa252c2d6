import { randomBytes } from "node:crypto";

/** A random identifier with a type prefix, e.g. `app_3J9xK…` (96 bits). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString("base64url")}`;
}

/**
 * A client_id: 128 random bits, URL-safe, no prefix (it travels in Basic auth). It never starts with
 * `-` or `_`: an id like `-c3x…` would read as an option to the CLI (and to most other command lines).
 */
export function newClientId(): string {
  for (;;) {
    const id = randomBytes(16).toString("base64url");
    if (id[0] !== "-" && id[0] !== "_") return id;
  }
}

/** A bearer secret (client secret, refresh token, session id, code): 256 random bits. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** An `x-request-id` tessera accepts from a caller; anything else is replaced by a fresh UUID. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
