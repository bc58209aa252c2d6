/**
 * What a PostgreSQL failure means for the caller, from its SQLSTATE (or, for a socket that failed
 * before any answer, from the Node error):
 * - `retry`: the transaction lost a serialization race or a deadlock; running it again is correct.
 * - `conflict`: a unique constraint refused the row (ALREADY_EXISTS).
 * - `unavailable`: the database cannot serve right now (down, restarting, full, read-only, too slow): 503.
 * - `invalid`: a value the text type refuses (22021: a NUL character; 22P05: `\u0000` in JSON): 400.
 * - `gone`: a foreign key names a row deleted meanwhile (23503).
 * - `undefined`: a bug or a schema mismatch (500).
 */
export type PgFailure = "retry" | "conflict" | "unavailable" | "invalid" | "gone" | undefined;

const INVALID = new Set(["22021", "22P05"]);

const RETRY = new Set(["40001", "40P01"]);
// 25006 read-only transaction (a standby, or default_transaction_read_only), 57014 statement timeout,
// 55P03 lock not available, 57P01..57P05 shutdown / cannot connect now / idle session timeout.
const UNAVAILABLE = new Set(["25006", "57014", "55P03", "57P01", "57P02", "57P03", "57P04", "57P05", "58030", "XX001", "XX002"]);
// Classes: 08 connection exception, 53 insufficient resources (disk full, out of memory, too many connections).
const UNAVAILABLE_CLASSES = new Set(["08", "53"]);
const NODE_UNAVAILABLE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
// Messages node-postgres gives a broken or exhausted connection, which carry no code.
const UNAVAILABLE_MESSAGES = [
  "Connection terminated",
  "connection timeout",
  "timeout exceeded when trying to connect",
  "Query read timeout",
  "Client has encountered a connection error",
  "Client was closed and is not queryable",
  "Cannot use a pool after calling end",
];

export function pgErrorCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : undefined;
}

export function classifyPgError(err: unknown): PgFailure {
  const code = pgErrorCode(err);
  if (code !== undefined) {
    if (RETRY.has(code)) return "retry";
    if (code === "23505") return "conflict";
    if (INVALID.has(code)) return "invalid";
    if (code === "23503") return "gone";
    if (UNAVAILABLE.has(code) || UNAVAILABLE_CLASSES.has(code.slice(0, 2)) || NODE_UNAVAILABLE.has(code)) return "unavailable";
  }
  const message = err instanceof Error ? err.message : "";
  if (UNAVAILABLE_MESSAGES.some((m) => message.includes(m))) return "unavailable";
  return undefined;
}

/** The constraint a unique violation names (for a precise ALREADY_EXISTS description). */
export function violatedConstraint(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "constraint" in err && typeof err.constraint === "string" ? err.constraint : undefined;
}
