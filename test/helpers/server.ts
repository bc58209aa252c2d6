import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.js";
import { BOOTSTRAP_FILE, type BootstrapCredentials } from "../../src/core/bootstrap.js";
import type { Tracing } from "../../src/observability/tracing-config.js";
import { buildApp, type App } from "../../src/server.js";
import { PostgresStorage } from "../../src/storage/postgres/index.js";
import type { SqliteStorage } from "../../src/storage/sqlite/storage.js";
import { createTestDatabase } from "./postgres.js";
import type Database from "better-sqlite3";

/** A clock tests move by hand (milliseconds), instead of sleeping. */
export class TestClock {
  constructor(public ms = Date.UTC(2026, 10, 23, 12, 0, 0)) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface TestServer {
  app: App;
  clock: TestClock;
  dataDir: string;
  httpUrl: string;
  grpcAddress: string;
  bootstrap: BootstrapCredentials;
  /** `Basic base64(id:secret)` for the bootstrap client, or for the given credentials. */
  basic(clientId?: string, clientSecret?: string): string;
  stop(): Promise<void>;
  /** Stops and starts again on the same data dir (new ports). */
  restart(): Promise<TestServer>;
  /** Stops and deletes the data dir. */
  dispose(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  clock?: TestClock;
  dataDir?: string;
  /** Captures log lines (set TESSERA_LOG_LEVEL in `env` too; tests default to silent). */
  logDestination?: { write(line: string): void };
  /** From loadTracing: spans for this server (stopped with it). */
  tracing?: Tracing;
}

/**
 * The engine the test servers run on: SQLite by default, PostgreSQL in the `postgres` vitest project
 * (TESSERA_TEST_DATABASE=postgres), where each server gets a fresh database on the run's PostgreSQL.
 */
export const TEST_DATABASE: "sqlite" | "postgres" = process.env.TESSERA_TEST_DATABASE === "postgres" ? "postgres" : "sqlite";
const TEST_SECRET_KEY = "test-secret-key-shared-by-every-instance-0123456789";

/** The environment that points a tessera (in-process or spawned) at a fresh database of the test engine. */
export async function databaseEnv(): Promise<Record<string, string>> {
  if (TEST_DATABASE === "sqlite") return {};
  return { TESSERA_DATABASE_URL: await createTestDatabase(), TESSERA_SECRET_KEY: TEST_SECRET_KEY };
}

/** How many rows a table of the server's database holds, whichever the engine. */
export async function rowCount(server: TestServer, table: string): Promise<number> {
  const storage = server.app.core.storage;
  if (storage instanceof PostgresStorage) return Number((await storage.pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  return (sqliteOf(server).prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

/** The SQLite connection behind a test server, for assertions on rows no port exposes. */
export function sqliteOf(server: TestServer): Database.Database {
  return (server.app.core.storage as SqliteStorage).db;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), "tessera-test-"));
}

/** A real tessera on 127.0.0.1, both ports 0, in a temp data dir. */
export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const clock = opts.clock ?? new TestClock();
  // A restart keeps the database: it comes back in opts.env.
  if (TEST_DATABASE === "postgres" && opts.env?.TESSERA_DATABASE_URL === undefined) opts = { ...opts, env: { ...(await databaseEnv()), ...opts.env } };
  const config = loadConfig({
    TESSERA_DATA_DIR: dataDir,
    TESSERA_HTTP_PORT: "0",
    TESSERA_GRPC_PORT: "0",
    TESSERA_LOG_LEVEL: "silent",
    ...opts.env,
  });
  const app = await buildApp(config, {
    clock: clock.now,
    ...(opts.logDestination === undefined ? {} : { logDestination: opts.logDestination }),
    ...(opts.tracing === undefined ? {} : { tracing: opts.tracing }),
  });
  const ports = await app.start();
  const bootstrap =
    app.bootstrapCredentials ?? (JSON.parse(readFileSync(join(dataDir, BOOTSTRAP_FILE), "utf8")) as BootstrapCredentials);
  const server: TestServer = {
    app,
    clock,
    dataDir,
    httpUrl: app.core.issuer,
    grpcAddress: `127.0.0.1:${ports.grpc}`,
    bootstrap,
    basic: (id = bootstrap.client_id, secret = bootstrap.client_secret) =>
      `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`,
    stop: () => app.stop(2000),
    restart: async () => {
      await app.stop(2000);
      return startServer({ ...opts, dataDir, clock });
    },
    dispose: async () => {
      await app.stop(2000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

/** POSTs a form to the gateway; `auth` is an Authorization header value. */
export async function postForm(url: string, form: Record<string, string | string[]>, auth?: string): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const item of Array.isArray(v) ? v : [v]) body.append(k, item);
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(auth ? { authorization: auth } : {}) },
    body,
  });
}

/** Client token by client_credentials over the form endpoint; throws on a non-200. */
export async function clientToken(server: TestServer, form: Record<string, string> = {}, auth = server.basic()): Promise<string> {
  const res = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials", ...form }, auth);
  const body = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || body.access_token === undefined) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** Decodes a JWT's payload without verifying it. */
export function jwtPayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}
export function jwtHeader(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
}
