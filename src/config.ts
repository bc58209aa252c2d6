import { availableParallelism } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { parse as parsePostgresUrl } from "pg-connection-string";
import { SIGNING_ALGS, type SigningAlg } from "./domain/types.js";

/** Every setting tessera reads, with its default. Read from the environment once, at start. */
export interface Config {
  host: string;
  httpPort: number;
  grpcPort: number;
  /** Whose HTTP/2 the gRPC port speaks: tessera's own (default) or Node's, through grpc-js (docs/deployment.md). */
  grpcHttp2: "tessera" | "node";
  dataDir: string;
  /** Undefined means `http://localhost:<bound http port>`, known only after listen. */
  issuer: string | undefined;
  bootstrapClientId: string | undefined;
  bootstrapClientSecret: string | undefined;
  /** Master key material; undefined means generate `<dataDir>/secret.key` on first start. */
  secretKey: string | undefined;
  signingAlgorithm: SigningAlgorithm;
  synchronous: "FULL" | "NORMAL";
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  metricsPort: number | undefined;
  /** Seconds a new signing key is published before it signs; never less than JWKS_MAX_AGE_S. */
  keyAnnouncePeriod: number;
  /** Seconds between automatic key rotations; 0 disables. */
  keyRotationPeriod: number;
  /** Milliseconds a SQLite statement waits on a lock before SQLITE_BUSY. */
  busyTimeoutMs: number;
  /** Seconds between sweeps of expired rows. */
  sweepInterval: number;
  /** PostgreSQL instead of SQLite (CONTRACT §7); undefined means SQLite in the data directory. */
  database: PostgresConfig | undefined;
  /** Worker processes serving the two ports (TESSERA_WORKERS; 1 = this process serves them itself). */
  workers: number;
  /** Password hashes (scrypt) run at once, and how many more may wait before a check is refused with 429. */
  passwordHashConcurrency: number;
  passwordHashQueue: number;
}

export interface PostgresConfig {
  url: string;
  poolSize: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

export type SigningAlgorithm = SigningAlg;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** Tenant defaults from the resources seed document (CONTRACT.md §3). */
export const DEFAULT_LIFETIMES = {
  accessTokenTtl: 3600,
  refreshTokenTtl: 14 * 86400,
  maxRotation: 365 * 86400,
} as const;
export const SESSION_TTL = 14 * 86400;
export const DEFAULT_RESOURCE_URI = "userid-api";
export const MAX_BODY_BYTES = 64 * 1024;
/** Tolerance for `exp`/`iat` of tokens tessera verifies itself. */
export const CLOCK_TOLERANCE_S = 2;
/** `Cache-Control: max-age` of the JWKS; a new key is announced at least this long before it signs. */
export const JWKS_MAX_AGE_S = 60;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const httpPort = port(env, "TESSERA_HTTP_PORT", 8080);
  const bootstrapClientId = optional(env, "TESSERA_BOOTSTRAP_CLIENT_ID");
  const bootstrapClientSecret = optional(env, "TESSERA_BOOTSTRAP_CLIENT_SECRET");
  if (bootstrapClientId !== undefined && !/^[A-Za-z0-9._~-]{1,128}$/.test(bootstrapClientId)) {
    throw new ConfigError("TESSERA_BOOTSTRAP_CLIENT_ID", "must be 1-128 characters of A-Z a-z 0-9 . _ ~ -");
  }
  if (bootstrapClientSecret !== undefined && bootstrapClientSecret.length > 512) {
    throw new ConfigError("TESSERA_BOOTSTRAP_CLIENT_SECRET", "must be at most 512 characters");
  }
  const secretKey = optional(env, "TESSERA_SECRET_KEY");
  if (secretKey !== undefined && secretKey.length < 32) {
    throw new ConfigError("TESSERA_SECRET_KEY", "must be at least 32 characters (for example `openssl rand -base64 32`)");
  }
  return {
    host: host(env),
    httpPort,
    grpcPort: port(env, "TESSERA_GRPC_PORT", 50051),
    grpcHttp2: oneOf(env, "TESSERA_GRPC_HTTP2", ["tessera", "node"] as const, "tessera"),
    dataDir: dataDir(env),
    issuer: issuer(env),
    bootstrapClientId,
    bootstrapClientSecret,
    secretKey,
    signingAlgorithm: oneOf(env, "TESSERA_SIGNING_ALG", SIGNING_ALGS, "ES256"),
    synchronous: oneOf(env, "TESSERA_SYNCHRONOUS", ["FULL", "NORMAL"] as const, "FULL"),
    logLevel: oneOf(env, "TESSERA_LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, "info"),
    metricsPort: optional(env, "TESSERA_METRICS_PORT") === undefined ? undefined : port(env, "TESSERA_METRICS_PORT", 0),
    // Shorter would let a verifier's cached JWKS miss a fresh token's kid (issue #15).
    keyAnnouncePeriod: Math.max(duration(env, "TESSERA_KEY_ANNOUNCE_PERIOD", JWKS_MAX_AGE_S), JWKS_MAX_AGE_S),
    keyRotationPeriod: keyRotationPeriod(env),
    busyTimeoutMs: integer(env, "TESSERA_BUSY_TIMEOUT_MS", 5000, 0, 60_000),
    sweepInterval: duration(env, "TESSERA_SWEEP_INTERVAL", 300),
    database: postgres(env, secretKey),
    workers: workers(env),
    passwordHashConcurrency: integer(env, "TESSERA_PASSWORD_HASH_CONCURRENCY", 2, 1, 64),
    passwordHashQueue: integer(env, "TESSERA_PASSWORD_HASH_QUEUE", 32, 0, 10_000),
  };
}

/**
 * 0 (off) or at least an hour and longer than the announce period: every rotation leaves a key that stays
 * published for a day, and a period shorter than the announce period would stack up pending keys, so a
 * short period (say `30s`) would grow the JWKS by a key a minute.
 */
function keyRotationPeriod(env: NodeJS.ProcessEnv): number {
  const period = duration(env, "TESSERA_KEY_ROTATION_PERIOD", 0);
  const announce = Math.max(duration(env, "TESSERA_KEY_ANNOUNCE_PERIOD", JWKS_MAX_AGE_S), JWKS_MAX_AGE_S);
  if (period !== 0 && (period < 3600 || period <= announce)) {
    throw new ConfigError(
      "TESSERA_KEY_ROTATION_PERIOD",
      `must be 0 (off) or at least 1h and longer than TESSERA_KEY_ANNOUNCE_PERIOD (${announce}s), got "${env.TESSERA_KEY_ROTATION_PERIOD}"`,
    );
  }
  return period;
}

/** `TESSERA_DATABASE_URL=postgres://…` (or `postgresql://…`): every instance must share TESSERA_SECRET_KEY. */
function postgres(env: NodeJS.ProcessEnv, secretKey: string | undefined): PostgresConfig | undefined {
  const url = optional(env, "TESSERA_DATABASE_URL");
  if (url === undefined) return undefined;
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new ConfigError("TESSERA_DATABASE_URL", "must be a postgres:// or postgresql:// URL (unset for SQLite in TESSERA_DATA_DIR)");
  }
  try {
    const parsed = new URL(url);
    if (parsed.hostname === "" && !parsed.searchParams.has("host")) throw new Error("no host");
    parsePostgresUrl(url, { useLibpqCompat: true });
  } catch {
    throw new ConfigError("TESSERA_DATABASE_URL", "is not a valid PostgreSQL URL (postgres://user:password@host:5432/database?sslmode=verify-full)");
  }
  if (secretKey === undefined) {
    throw new ConfigError("TESSERA_SECRET_KEY", "is required with TESSERA_DATABASE_URL: every instance must share it");
  }
  return {
    url,
    poolSize: integer(env, "TESSERA_DATABASE_POOL_SIZE", 10, 1, 1000),
    statementTimeoutMs: integer(env, "TESSERA_DATABASE_STATEMENT_TIMEOUT_MS", 5000, 100, 600_000),
    connectTimeoutMs: integer(env, "TESSERA_DATABASE_CONNECT_TIMEOUT_MS", 5000, 100, 600_000),
  };
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  return integer(env, name, fallback, 0, 65535);
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const hit = allowed.find((a) => a.toLowerCase() === raw.toLowerCase());
  if (hit === undefined) throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got "${raw}"`);
  return hit;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `90`, `90s`, `15m`, `24h`, `14d` into seconds. */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d+)([smhd]?)$/.exec(raw.trim());
  if (m === null) return undefined;
  return Number(m[1]) * UNIT_SECONDS[m[2] || "s"]!;
}

function duration(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const seconds = parseDuration(raw);
  if (seconds === undefined) throw new ConfigError(name, `must be a duration such as 90s, 15m, 24h or 30d, got "${raw}"`);
  return seconds;
}

/** An IPv4 or IPv6 address or a host name to bind; anything else would only fail later, at listen. */
function host(env: NodeJS.ProcessEnv): string {
  const raw = optional(env, "TESSERA_HOST") ?? "127.0.0.1";
  if (!/^[A-Za-z0-9.:%_-]{1,253}$/.test(raw)) {
    throw new ConfigError("TESSERA_HOST", `must be an IP address or host name such as 127.0.0.1, :: or localhost, got "${raw.slice(0, 80)}"`);
  }
  return raw;
}

/** A number of worker processes, or `auto` for one per CPU. */
function workers(env: NodeJS.ProcessEnv): number {
  const raw = optional(env, "TESSERA_WORKERS");
  if (raw === undefined) return 1;
  if (raw.toLowerCase() === "auto") return availableParallelism();
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 256) {
    throw new ConfigError("TESSERA_WORKERS", `must be a whole number from 1 to 256 or "auto", got "${raw.slice(0, 40)}"`);
  }
  return Number(raw);
}

function dataDir(env: NodeJS.ProcessEnv): string {
  const raw = optional(env, "TESSERA_DATA_DIR") ?? "./data";
  return isAbsolute(raw) ? raw : resolve(raw);
}

function issuer(env: NodeJS.ProcessEnv): string | undefined {
  const raw = optional(env, "TESSERA_ISSUER");
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("TESSERA_ISSUER", `must be an absolute http(s) URL, got "${raw}"`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError("TESSERA_ISSUER", "must not contain credentials");
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.search !== "" || url.hash !== "") {
    throw new ConfigError("TESSERA_ISSUER", `must be an http(s) URL without query or fragment, got "${raw}"`);
  }
  // A bare origin may end in "/" (that is how URLs print); a path may not, or `<issuer>/oidc/token` gets "//".
  if (url.pathname !== "/" && (raw.endsWith("/") || url.pathname.includes("//"))) {
    throw new ConfigError("TESSERA_ISSUER", `must not end in "/" or contain "//" in its path, got "${raw}"`);
  }
  if (raw.replace(/\/$/, "") !== url.origin + (url.pathname === "/" ? "" : url.pathname)) {
    throw new ConfigError("TESSERA_ISSUER", `must be written in its normal form (lower-case scheme and host, no default port, no "." or ".." or escapes in the path), got "${raw}"`);
  }
  return raw.replace(/\/$/, "");
}
