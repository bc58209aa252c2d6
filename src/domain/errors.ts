/**
 * The one error vocabulary of tessera. Each kind carries its RFC 6749 error
 * string, HTTP status and gRPC code; transports map from here and nowhere else.
 */
export type OAuthErrorKind =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "unsupported_response_type"
  | "invalid_scope"
  | "invalid_target"
  | "invalid_token"
  | "access_denied"
  | "forbidden"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "concurrent_refresh"
  | "too_many_attempts"
  | "payload_too_large"
  | "unsupported_media_type"
  | "method_not_allowed"
  | "unimplemented"
  | "unavailable"
  | "server_error";

interface KindSpec {
  /** The `error` member on the wire (OAuth error string, or a tessera one). */
  error: string;
  status: number;
  /** gRPC status code number (equal to Connect's Code). */
  grpc: number;
}

// gRPC codes, spelled out so the domain layer imports no transport.
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const PERMISSION_DENIED = 7;
const RESOURCE_EXHAUSTED = 8;
const FAILED_PRECONDITION = 9;
const ABORTED = 10;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;

export const ERROR_KINDS: Record<OAuthErrorKind, KindSpec> = {
  invalid_request: { error: "invalid_request", status: 400, grpc: INVALID_ARGUMENT },
  invalid_client: { error: "invalid_client", status: 401, grpc: UNAUTHENTICATED },
  invalid_grant: { error: "invalid_grant", status: 400, grpc: FAILED_PRECONDITION },
  unauthorized_client: { error: "unauthorized_client", status: 400, grpc: PERMISSION_DENIED },
  unsupported_grant_type: { error: "unsupported_grant_type", status: 400, grpc: INVALID_ARGUMENT },
  unsupported_response_type: { error: "unsupported_response_type", status: 400, grpc: INVALID_ARGUMENT },
  invalid_scope: { error: "invalid_scope", status: 400, grpc: INVALID_ARGUMENT },
  invalid_target: { error: "invalid_target", status: 400, grpc: INVALID_ARGUMENT },
  invalid_token: { error: "invalid_token", status: 401, grpc: UNAUTHENTICATED },
  access_denied: { error: "access_denied", status: 403, grpc: PERMISSION_DENIED },
  forbidden: { error: "forbidden", status: 403, grpc: PERMISSION_DENIED },
  not_found: { error: "not_found", status: 404, grpc: NOT_FOUND },
  already_exists: { error: "already_exists", status: 409, grpc: ALREADY_EXISTS },
  failed_precondition: { error: "failed_precondition", status: 400, grpc: FAILED_PRECONDITION },
  // A concurrent refresh that lost: OAuth clients see invalid_grant, RPC callers ABORTED.
  concurrent_refresh: { error: "invalid_grant", status: 400, grpc: ABORTED },
  // Password attempts for a username throttled after repeated failures (core/grants/password.ts).
  too_many_attempts: { error: "too_many_attempts", status: 429, grpc: RESOURCE_EXHAUSTED },
  payload_too_large: { error: "invalid_request", status: 413, grpc: RESOURCE_EXHAUSTED },
  unsupported_media_type: { error: "invalid_request", status: 415, grpc: INVALID_ARGUMENT },
  method_not_allowed: { error: "invalid_request", status: 405, grpc: UNIMPLEMENTED },
  unimplemented: { error: "unsupported", status: 501, grpc: UNIMPLEMENTED },
  unavailable: { error: "temporarily_unavailable", status: 503, grpc: UNAVAILABLE },
  server_error: { error: "server_error", status: 500, grpc: INTERNAL },
};

export class OAuthError extends Error {
  override readonly name = "OAuthError";
  readonly kind: OAuthErrorKind;
  /** Set when the client authenticated with HTTP Basic: 401s then carry WWW-Authenticate. */
  basicAuth = false;

  constructor(kind: OAuthErrorKind, description: string) {
    super(description);
    this.kind = kind;
  }

  get error(): string {
    return ERROR_KINDS[this.kind].error;
  }
  get status(): number {
    return ERROR_KINDS[this.kind].status;
  }
  get grpcCode(): number {
    return ERROR_KINDS[this.kind].grpc;
  }
  get description(): string {
    return this.message;
  }
}

export const invalidRequest = (d: string) => new OAuthError("invalid_request", d);
export const invalidClient = (d = "client authentication failed") => new OAuthError("invalid_client", d);
export const invalidGrant = (d: string) => new OAuthError("invalid_grant", d);
export const invalidScope = (d: string) => new OAuthError("invalid_scope", d);
export const invalidTarget = (d: string) => new OAuthError("invalid_target", d);
export const invalidToken = (d: string) => new OAuthError("invalid_token", d);
export const forbidden = (d: string) => new OAuthError("forbidden", d);
export const notFound = (d: string) => new OAuthError("not_found", d);
export const alreadyExists = (d: string) => new OAuthError("already_exists", d);
export const failedPrecondition = (d: string) => new OAuthError("failed_precondition", d);

/**
 * An engine-neutral storage failure, thrown by storage adapters (which keep their engine's error codes
 * to themselves) and mapped to an OAuthError in `toOAuthError`:
 * "conflict" a duplicate key (ALREADY_EXISTS), "busy" the database stayed locked (UNAVAILABLE, retry
 * shortly), "unavailable" it cannot take writes or be reached now (disk full, read-only, connection lost),
 * "invalid" the engine refused a value the caller sent (a NUL character: INVALID_ARGUMENT; the doors refuse
 * those first, this is the backstop), "gone" a record the write refers to was deleted meanwhile (a foreign key:
 * FAILED_PRECONDITION; the grants say invalid_grant).
 */
export type StorageErrorKind = "conflict" | "busy" | "unavailable" | "invalid" | "gone";

export class StorageError extends Error {
  override readonly name = "StorageError";
  constructor(
    readonly kind: StorageErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const STORAGE_DESCRIPTIONS: Record<StorageErrorKind, [OAuthErrorKind, string]> = {
  conflict: ["already_exists", "the record already exists"],
  busy: ["unavailable", "the database is busy, retry shortly"],
  unavailable: ["unavailable", "the database cannot accept writes right now"],
  invalid: ["invalid_request", "a value in the request cannot be stored or looked up (such as a NUL character)"],
  gone: ["failed_precondition", "a record this refers to was deleted meanwhile"],
};

/** Any thrown value as an OAuthError; unknown failures become a description-free server_error. */
export function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof StorageError) return new OAuthError(...STORAGE_DESCRIPTIONS[err.kind]);
  return new OAuthError("server_error", "internal error");
}
