import { DEFAULT_RESOURCE_URI } from "../config.js";
import { invalidRequest, invalidTarget } from "../domain/errors.js";

/**
 * Checks a resource indicator (RFC 8707 §2): an absolute URI without fragment, or the
 * default resource's identifier `userid-api`. Returns the normalized value.
 */
export function parseResourceIndicator(value: string, error: (d: string) => Error = invalidTarget): string {
  if (value === DEFAULT_RESOURCE_URI) return value;
  if (value.length > 2048) throw error("resource must be at most 2048 characters");
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) throw error(`resource "${truncate(value)}" is not an absolute URI`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw error(`resource "${truncate(value)}" is not an absolute URI`);
  }
  if (value.includes("#") || url.hash !== "") throw error(`resource "${truncate(value)}" must not contain a fragment`);
  if (/\s/.test(value)) throw error(`resource "${truncate(value)}" must not contain white space`);
  return value;
}

/** For admin input: the same rules, reported as invalid_request naming the field. */
export function validateResourceUri(value: string, field = "resource.uri"): string {
  if (value === "") throw invalidRequest(`${field} is required`);
  if (value === DEFAULT_RESOURCE_URI) throw invalidRequest(`${field} "${DEFAULT_RESOURCE_URI}" is reserved for the default resource`);
  return parseResourceIndicator(value, (d) => invalidRequest(`${field}: ${d.replace(/^resource /, "")}`));
}

export function truncate(value: string, max = 80): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
