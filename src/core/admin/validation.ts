import { DEFAULT_LIFETIMES } from "../../config.js";
import { invalidRequest } from "../../domain/errors.js";
import { GRANT_TYPES, SIGNING_ALGS, type GrantType, type LifetimeOverrides, type SigningAlg } from "../../domain/types.js";
import { truncate } from "../resource-indicators.js";
import { REGISTERED_CLAIMS } from "../tokens.js";

const DAY = 86400;
/** Bounds of lifetime settings, in seconds. */
export const LIFETIME_BOUNDS = {
  accessTokenTtl: { field: "access_token_ttl", min: 60, max: DAY },
  refreshTokenTtl: { field: "refresh_token_ttl", min: 60, max: 365 * DAY },
  maxRotation: { field: "max_rotation", min: 60, max: 5 * 365 * DAY },
} as const;
export const MAX_REUSE_LEEWAY = 300;
export const MAX_GRACE_PERIOD = DAY;
export const MAX_DISPLAY_NAME = 256;
export const MAX_USERNAME = 256;
export const MAX_LIST_ENTRIES = 100;
export const MAX_CUSTOM_CLAIMS_BYTES = 4096;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** RFC 6749 §3.3 scope-token characters; roles follow the same rule. */
const TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

export function validateDisplayName(value: string, field: string): string {
  if (value.length > MAX_DISPLAY_NAME) throw invalidRequest(`${field} must be at most ${MAX_DISPLAY_NAME} characters`);
  if (CONTROL.test(value)) throw invalidRequest(`${field} must not contain control characters`);
  return value;
}

/** A JWS algorithm tessera signs with; empty or unset means the server default (undefined). */
export function validateSigningAlg(value: string | undefined, field: string): SigningAlg | undefined {
  if (value === undefined || value === "") return undefined;
  const alg = SIGNING_ALGS.find((a) => a === value);
  if (alg === undefined) throw invalidRequest(`${field} must be one of ${SIGNING_ALGS.join(", ")} or empty, got "${truncate(value, 64)}"`);
  return alg;
}

/** A whole number of seconds within [min, max]. */
export function validateSeconds(value: number, field: string, min: number, max: number): number {
  if (!Number.isInteger(value)) throw invalidRequest(`${field} must be a whole number of seconds`);
  if (value < min || value > max) throw invalidRequest(`${field} must be between ${min} s and ${max} s`);
  return value;
}

/**
 * Lifetime overrides of a resource or client: each within its bounds, and the maximum rotation
 * no shorter than the refresh token lifetime, comparing the values that will be in effect.
 */
export function validateLifetimes(l: LifetimeOverrides, prefix: string): LifetimeOverrides {
  for (const key of ["accessTokenTtl", "refreshTokenTtl", "maxRotation"] as const) {
    const value = l[key];
    const b = LIFETIME_BOUNDS[key];
    if (value !== undefined) validateSeconds(value, `${prefix}.${b.field}`, b.min, b.max);
  }
  const refresh = l.refreshTokenTtl ?? DEFAULT_LIFETIMES.refreshTokenTtl;
  const rotation = l.maxRotation ?? DEFAULT_LIFETIMES.maxRotation;
  if (rotation < refresh) {
    throw invalidRequest(`${prefix}.max_rotation (${rotation} s) must not be shorter than ${prefix}.refresh_token_ttl (${refresh} s)`);
  }
  return l;
}

function validateList<T>(values: readonly string[], field: string, check: (value: string, item: string) => T): T[] {
  if (values.length > MAX_LIST_ENTRIES) throw invalidRequest(`${field} may have at most ${MAX_LIST_ENTRIES} entries`);
  const out: T[] = [];
  values.forEach((value, i) => out.push(check(value, `${field}[${i}]`)));
  return [...new Set(out)];
}

function parseUrl(value: string, item: string): URL {
  if (value.length > 2048) throw invalidRequest(`${item} must be at most 2048 characters`);
  if (/\s/.test(value) || CONTROL.test(value)) throw invalidRequest(`${item} must not contain white space`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidRequest(`${item} "${truncate(value)}" is not an absolute URL`);
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)) return url;
  if (url.protocol === "http:") throw invalidRequest(`${item} "${truncate(value)}" must use https (http only for localhost, 127.0.0.1 or [::1])`);
  throw invalidRequest(`${item} "${truncate(value)}" must be an https URL`);
}

/** Redirect URIs (RFC 6749 §3.1.2): absolute, no fragment, https or loopback http; matched exactly later. */
export function validateRedirectUris(values: readonly string[], field: string): string[] {
  return validateList(values, field, (value, item) => {
    parseUrl(value, item);
    if (value.includes("#")) throw invalidRequest(`${item} "${truncate(value)}" must not contain a fragment`);
    return value;
  });
}

/** CORS origins: scheme://host[:port] exactly, nothing after it. */
export function validateWebOrigins(values: readonly string[], field: string): string[] {
  return validateList(values, field, (value, item) => {
    const url = parseUrl(value, item);
    if (url.origin !== value) throw invalidRequest(`${item} "${truncate(value)}" must be an origin (scheme://host[:port], lower case, no path or trailing slash)`);
    return value;
  });
}

export function validateGrantTypes(values: readonly string[], field: string): GrantType[] {
  return validateList(values, field, (value, item) => {
    if (!GRANT_TYPES.includes(value as GrantType)) throw invalidRequest(`${item} "${truncate(value)}" must be one of ${GRANT_TYPES.join(", ")}`);
    return value as GrantType;
  });
}

/** Scope or role names: RFC 6749 scope tokens, at most 128 characters. */
export function validateTokens(values: readonly string[], field: string): string[] {
  return validateList(values, field, (value, item) => {
    if (!TOKEN.test(value)) throw invalidRequest(`${item} "${truncate(value)}" must be 1-128 printable ASCII characters without space, " or \\`);
    return value;
  });
}

export function validateIds(values: readonly string[], field: string): string[] {
  return validateList(values, field, (value, item) => {
    if (value === "") throw invalidRequest(`${item} must not be empty`);
    return value;
  });
}

export function validateUsername(value: string, field: string): string {
  if (value.length === 0) throw invalidRequest(`${field} is required`);
  if (value.length > MAX_USERNAME) throw invalidRequest(`${field} must be at most ${MAX_USERNAME} characters`);
  if (CONTROL.test(value)) throw invalidRequest(`${field} must not contain control characters`);
  if (value.trim() !== value) throw invalidRequest(`${field} must not start or end with white space`);
  return value;
}

/** Empty, or a plausible address; delivery is not tessera's business. */
export function validateEmail(value: string, field: string): string {
  if (value === "") return value;
  if (value.length > 254 || !EMAIL.test(value)) throw invalidRequest(`${field} is not a valid email address`);
  return value;
}

/** Custom claims: a JSON object of at most 4 KiB that never names a registered claim. */
export function validateCustomClaims(value: Record<string, unknown>, field: string): Record<string, unknown> {
  const badName = Object.keys(value).find((name) => name.length === 0 || name.length > 256 || CONTROL.test(name));
  if (badName !== undefined) throw invalidRequest(`${field} names must be 1-256 characters without control characters`);
  const reserved = Object.keys(value).filter((name) => REGISTERED_CLAIMS.has(name));
  if (reserved.length > 0) throw invalidRequest(`${field} may not set registered claims: ${reserved.join(", ")}`);
  if (Buffer.byteLength(JSON.stringify(value), "utf8") > MAX_CUSTOM_CLAIMS_BYTES) {
    throw invalidRequest(`${field} must be at most ${MAX_CUSTOM_CLAIMS_BYTES} bytes as JSON`);
  }
  return value;
}

/** The field paths of an update mask; empty means every updatable field. Unknown paths are named. */
export function maskPaths(paths: readonly string[], updatable: readonly string[], field = "update_mask"): Set<string> {
  if (paths.length === 0) return new Set(updatable);
  const unknown = paths.filter((p) => !updatable.includes(p));
  if (unknown.length > 0) {
    throw invalidRequest(`${field} has paths that cannot be updated: ${unknown.map((p) => truncate(p, 64)).join(", ")} (updatable: ${updatable.join(", ")})`);
  }
  return new Set(paths);
}
