import { trace } from "@opentelemetry/api";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { invalidRequest } from "../domain/errors.js";

/** scrypt cost: N=2^15, r=8, p=1 (OWASP's minimum profile), 32 MiB and ~50-100 ms per hash. */
const N = 1 << 15;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
const MAXMEM = 64 * 1024 * 1024;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;

export function validatePassword(password: string, field = "password"): void {
  if (password.length < PASSWORD_MIN) throw invalidRequest(`${field} must be at least ${PASSWORD_MIN} characters`);
  if (password.length > PASSWORD_MAX) throw invalidRequest(`${field} must be at most ${PASSWORD_MAX} characters`);
}

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, KEY_LENGTH, { N: n, r, p, maxmem: MAXMEM }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url parts). Runs on the libuv pool: never inside a transaction. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

// Verified against when the user is unknown or has no password, so every miss costs one scrypt.
let dummyHash: Promise<string> | undefined;

/**
 * Constant-time password check; `undefined` stored hash still spends the same work and fails.
 * A `tessera.password.verify` span when tracing is on (the API's no-op tracer otherwise).
 */
export function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  return trace.getTracer("tessera").startActiveSpan("tessera.password.verify", (span) => checkPassword(password, stored).finally(() => span.end()));
}

async function checkPassword(password: string, stored: string | undefined): Promise<boolean> {
  const encoded = stored ?? (await (dummyHash ??= hashPassword(randomBytes(16).toString("hex"))));
  const [scheme, n, r, p, salt, hash] = encoded.split("$");
  if (scheme !== "scrypt" || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, "base64url");
  const actual = await derive(password, Buffer.from(salt, "base64url"), Number(n), Number(r), Number(p));
  return timingSafeEqual(actual, expected) && stored !== undefined;
}
