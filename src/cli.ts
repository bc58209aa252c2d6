#!/usr/bin/env node
/**
 * The `tessera` command line. Every command but `serve` opens the data directory directly and
 * calls the same core as the services: SQLite in WAL mode lets it run next to a live server
 * (readers never block, writers queue on the busy timeout), and the server notices other writers
 * through PRAGMA data_version and drops its caches and reloads its signing keys. No admin token
 * or network is needed, which is what an operator wants on the host (first setup, recovery).
 */
import { execFile } from "node:child_process";
import { existsSync, realpathSync, statSync, chmodSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError, loadConfig, parseDuration, type Config, type SigningAlgorithm } from "./config.js";
import { createApplication, listApplications } from "./core/admin/applications.js";
import type { Caller } from "./core/admin/authorize.js";
import { createClient, listClients, rotateClientSecret } from "./core/admin/clients.js";
import { MAX_PAGE_SIZE, type Page, type PageRequest } from "./core/admin/paging.js";
import { createResource, listResources } from "./core/admin/resources.js";
import { createUser, listUsers } from "./core/admin/users.js";
import { DEFAULT_TENANT } from "./core/bootstrap.js";
import type { Core } from "./core/core.js";
import { rotateSigningKey } from "./core/key-rotation.js";
import { createTenant, getTenant, listTenants, TENANT_ID_PATTERN } from "./core/tenants.js";
import { OAuthError } from "./domain/errors.js";
import { SIGNING_ALGS, type Application, type Client, type Resource, type User } from "./domain/types.js";
import type { Storage } from "./domain/ports.js";
import type { SigningKeyRecord } from "./domain/records.js";
import { openCore, openStorage, storageExists } from "./open.js";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | undefined>;

interface Invocation {
  args: string[];
  values: Values;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  json: boolean;
  out: (human: string, json: unknown) => void;
}

interface Command {
  /** Words after `tessera`, e.g. "tenant create". */
  name: string;
  /** Positional arguments shown in usage, e.g. "<name>". */
  args: string[];
  summary: string;
  options?: Options;
  run(inv: Invocation): Promise<number> | number;
}

/** A caller mistake: usage text, exit code 2. */
class UsageError extends Error {}

const COMMON: Options = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  "data-dir": { type: "string" },
};

/** A time as ISO 8601; null when absent (JSON writes null, the human form shows "-"). */
const iso = (s: number | undefined) => (s === undefined ? null : new Date(s * 1000).toISOString());
/** A value for a human-readable line: "-" when absent. */
const shown = (v: string | number | null | undefined) => (v === null || v === undefined || v === "" ? "-" : String(v));
const orNull = <T>(v: T | undefined) => (v === undefined ? null : v);
const TENANT_OPTION: Options = { tenant: { type: "string" } };
const APP_FILTER: Options = { ...TENANT_OPTION, app: { type: "string" } };

const COMMANDS: Command[] = [
  {
    name: "serve",
    args: [],
    summary: "run the server (HTTP gateway and gRPC) until SIGTERM/SIGINT; the same as `npm start`",
    run: async ({ env }) => {
      await (await import("./main.js")).serve(env);
      return -1; // keeps running; serve() exits the process on a signal
    },
  },
  {
    name: "tenant create",
    args: ["<name>"],
    summary: "create a tenant (its id is its name) with its default resource `userid-api`",
    run: (inv) => {
      const name = inv.args[0]!;
      if (!TENANT_ID_PATTERN.test(name)) throw new UsageError(`tenant name must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit, got "${name}"`);
      return withCore(inv, async (core) => {
        const tenant = await createTenant(core, name);
        inv.out(`created tenant ${tenant.id}`, { id: tenant.id, name: tenant.name, create_time: iso(tenant.createTime) });
        return 0;
      });
    },
  },
  {
    name: "tenant list",
    args: [],
    summary: "list tenants",
    run: (inv) =>
      withCore(inv, async (core) => {
        const tenants = await listTenants(core);
        inv.out(tenants.map((t) => `${t.id}\t${iso(t.createTime)}`).join("\n"), tenants.map((t) => ({ id: t.id, name: t.name, create_time: iso(t.createTime) })));
        return 0;
      }),
  },
  {
    name: "app create",
    args: ["<display-name>"],
    summary: "create an application in a tenant (--management for one whose tokens act on the whole tenant)",
    options: { tenant: { type: "string" }, management: { type: "boolean" } },
    run: (inv) =>
      withCore(inv, async (core) => {
        const app = await createApplication(core, await cliCaller(core, inv), { displayName: inv.args[0]!, management: inv.values.management === true });
        inv.out(`created application ${app.id}${app.management ? " (management)" : ""}`, { id: app.id, tenant_id: app.tenantId, display_name: app.displayName, management: app.management });
        return 0;
      }),
  },
  {
    name: "client create",
    args: ["<application-id>"],
    summary:
      "create a client of an application; prints its client_id and secret (shown only this once). --public (same as --auth-method none) creates a public client: no secret, PKCE S256 required, authorization_code and refresh_token only",
    options: {
      tenant: { type: "string" },
      name: { type: "string" },
      public: { type: "boolean" },
      "auth-method": { type: "string" },
      resource: { type: "string", multiple: true },
      "redirect-uri": { type: "string", multiple: true },
      "grant-type": { type: "string", multiple: true },
      scope: { type: "string", multiple: true },
      "web-origin": { type: "string", multiple: true },
      "reuse-leeway": { type: "string" },
    },
    run: (inv) =>
      withCore(inv, async (core) => {
        const list = (name: string) => inv.values[name] as unknown as string[] | undefined;
        const authMethod = inv.values["auth-method"] as string | undefined;
        if (inv.values.public === true && authMethod !== undefined && authMethod !== "none") {
          throw new UsageError(`--public and --auth-method ${authMethod} contradict each other; --public means --auth-method none`);
        }
        const { client, clientSecret } = await createClient(core, await cliCaller(core, inv), {
          applicationId: inv.args[0]!,
          displayName: inv.values.name as string | undefined,
          resourceIds: list("resource"),
          redirectUris: list("redirect-uri"),
          grantTypes: list("grant-type"),
          scopes: list("scope"),
          webOrigins: list("web-origin"),
          reuseLeeway: seconds(inv.values["reuse-leeway"] as string | undefined, "--reuse-leeway"),
          tokenEndpointAuthMethod: inv.values.public === true ? "none" : authMethod,
        });
        if (client.tokenEndpointAuthMethod === "none") {
          inv.out(`client_id=${client.id} (public: no secret; PKCE S256 required)`, { client_id: client.id, application_id: client.applicationId, token_endpoint_auth_method: "none" });
        } else {
          inv.out(`client_id=${client.id}\nclient_secret=${clientSecret}`, { client_id: client.id, client_secret: clientSecret, application_id: client.applicationId });
        }
        return 0;
      }),
  },
  {
    name: "client rotate-secret",
    args: ["<client-id>"],
    summary: "replace a client's secret; the old one stops working now, or after --grace (at most 24h)",
    options: { tenant: { type: "string" }, grace: { type: "string" } },
    run: (inv) =>
      withCore(inv, async (core) => {
        const grace = seconds(inv.values.grace as string | undefined, "--grace") ?? 0;
        const { client, clientSecret } = await rotateClientSecret(core, await cliCaller(core, inv), inv.args[0]!, grace);
        inv.out(`client_id=${client.id}\nclient_secret=${clientSecret}`, { client_id: client.id, client_secret: clientSecret, grace_seconds: grace });
        return 0;
      }),
  },
  {
    name: "user create",
    args: ["<username>"],
    summary: "create a user; --password-stdin reads the password from standard input (never from the command line)",
    options: {
      tenant: { type: "string" },
      email: { type: "string" },
      app: { type: "string", multiple: true },
      role: { type: "string", multiple: true },
      "password-stdin": { type: "boolean" },
    },
    run: async (inv) => {
      const password = inv.values["password-stdin"] === true ? (await readStdin()).replace(/\r?\n$/, "") : undefined;
      return withCore(inv, async (core) => {
        const user = await createUser(
          core,
          await cliCaller(core, inv),
          {
            username: inv.args[0]!,
            email: inv.values.email as string | undefined,
            applicationIds: inv.values.app as unknown as string[] | undefined,
            roles: inv.values.role as unknown as string[] | undefined,
          },
          password,
        );
        inv.out(`created user ${user.id} (${user.username})`, { id: user.id, username: user.username, application_ids: user.applicationIds });
        return 0;
      });
    },
  },
  listCommand({
    name: "app list",
    summary: "list applications",
    options: TENANT_OPTION,
    list: (core, caller, req) => listApplications(core, caller, req),
    json: applicationJson,
    line: (a) => `${a.id}\t${a.display_name}${a.management ? "\t(management)" : ""}`,
  }),
  listCommand({
    name: "client list",
    summary: "list clients (--app for one application's); never shows secrets",
    options: APP_FILTER,
    list: (core, caller, req, inv) => listClients(core, caller, { ...req, applicationId: inv.values.app as string | undefined }),
    json: clientJson,
    line: (c) => `${c.id}\t${c.application_id}\t${shown(c.display_name)}\t${c.token_endpoint_auth_method}`,
  }),
  listCommand({
    name: "user list",
    summary: "list users (--app for one application's)",
    options: APP_FILTER,
    list: (core, caller, req, inv) => listUsers(core, caller, { ...req, applicationId: inv.values.app as string | undefined }),
    json: userJson,
    line: (u) => `${u.id}\t${u.username}\t${shown(u.email)}`,
  }),
  {
    name: "resource create",
    args: ["<uri>"],
    summary: "create a resource (a token audience: an absolute URI) with optional token lifetimes",
    options: {
      ...TENANT_OPTION,
      name: { type: "string" },
      "access-token-ttl": { type: "string" },
      "refresh-token-ttl": { type: "string" },
      "max-rotation": { type: "string" },
    },
    run: (inv) =>
      withCore(inv, async (core) => {
        const resource = await createResource(core, await cliCaller(core, inv), {
          uri: inv.args[0]!,
          displayName: inv.values.name as string | undefined,
          accessTokenTtl: seconds(inv.values["access-token-ttl"] as string | undefined, "--access-token-ttl"),
          refreshTokenTtl: seconds(inv.values["refresh-token-ttl"] as string | undefined, "--refresh-token-ttl"),
          maxRotation: seconds(inv.values["max-rotation"] as string | undefined, "--max-rotation"),
        });
        inv.out(`created resource ${resource.id} (${resource.uri})`, resourceJson(resource));
        return 0;
      }),
  },
  listCommand({
    name: "resource list",
    summary: "list resources, the default one (userid-api) among them",
    options: TENANT_OPTION,
    list: (core, caller, req) => listResources(core, caller, req),
    json: resourceJson,
    line: (r) => `${r.id}\t${r.uri}${r.default ? "\t(default)" : ""}`,
  }),
  {
    name: "keys list",
    args: [],
    summary: "list signing keys with their state (pending, active, retired)",
    run: (inv) =>
      withCore(inv, (core) => {
        const keys = core.keys.list().map((k) => keyJson(core, k));
        inv.out(keys.map((k) => `${k.kid}\t${k.algorithm}\t${k.state}\tactivates ${shown(k.activate_time)}\tretires ${shown(k.retire_time)}`).join("\n"), keys);
        return 0;
      }),
  },
  {
    name: "keys rotate",
    args: [],
    summary: "create the next signing key of --alg (default TESSERA_SIGNING_ALG); it signs after TESSERA_KEY_ANNOUNCE_PERIOD, when that algorithm's current key retires",
    options: { alg: { type: "string" } },
    run: (inv) => {
      const alg = inv.values.alg as string | undefined;
      if (alg !== undefined && !SIGNING_ALGS.some((a) => a === alg)) throw new UsageError(`--alg must be ${SIGNING_ALGS.join(", ")}, got "${alg}"`);
      return withCore(inv, async (core) => {
        const key = await rotateSigningKey(core, alg as SigningAlgorithm | undefined);
        const json = keyJson(core, key);
        inv.out(`new signing key ${json.kid} (${json.algorithm}), ${json.state}, signs from ${shown(json.activate_time)}`, json);
        return 0;
      });
    },
  },
  {
    name: "backup",
    args: ["<file>"],
    summary: "write a consistent copy of the database to <file> (SQLite online backup, or pg_dump's custom format for PostgreSQL; safe while serving)",
    run: async (inv) => {
      const file = resolve(inv.args[0]!);
      if (existsSync(file)) throw new Failure(`${file} already exists; choose a new file`);
      const { database } = loadConfig(inv.env);
      if (database !== undefined) {
        await pgDump(database.url, file);
        chmodSync(file, 0o600);
        inv.out(`pg_dump archive written to ${file} (${statSync(file).size} bytes; restore with pg_restore); keep TESSERA_SECRET_KEY with it`, {
          file,
          bytes: statSync(file).size,
        });
        return 0;
      }
      await withStorage(inv, { mustExist: true, migrate: false }, async (storage) => {
        if (storage.backup === undefined) throw new Failure("this storage engine has no file backup; use the database's own backup tools");
        await storage.backup(file);
      });
      chmodSync(file, 0o600);
      const bytes = statSync(file).size;
      inv.out(
        `backup written to ${file} (${bytes} bytes); keep it with ${join(inv.dataDir, "secret.key")} (or TESSERA_SECRET_KEY): without the master key the backup cannot be used`,
        { file, bytes },
      );
      return 0;
    },
  },
  {
    name: "migrate",
    args: [],
    summary: "bring the database schema to the newest version or, with --to N, up or down to N; stop the server before going down",
    options: { to: { type: "string" } },
    run: (inv) =>
      withStorage(inv, { migrate: false }, async ({ schema }) => {
        const raw = inv.values.to as string | undefined;
        const target = raw === undefined ? schema.latest : Number(raw);
        if (raw !== undefined && (!/^\d+$/.test(raw) || target > schema.latest)) {
          throw new UsageError(`--to must be a whole number from 0 to ${schema.latest}, got "${raw}"`);
        }
        const from = await schema.version();
        const to = await schema.migrate(target);
        inv.out(from === to ? `schema already at version ${to}` : `schema migrated from version ${from} to ${to}`, { from, to });
        return 0;
      }),
  },
];

/** An operation that could not be done: message, exit code 1. */
class Failure extends Error {}

/**
 * PostgreSQL's own consistent dump (one snapshot) in its custom format, by the `pg_dump` on PATH
 * (the same major version as the server or newer). The password goes through the environment, not argv.
 */
function pgDump(url: string, file: string): Promise<void> {
  const target = new URL(url);
  const password = decodeURIComponent(target.password);
  target.password = "";
  return new Promise((resolveDump, reject) => {
    execFile(
      "pg_dump",
      ["--format=custom", "--no-owner", `--file=${file}`, `--dbname=${target.toString()}`],
      { env: { ...process.env, ...(password === "" ? {} : { PGPASSWORD: password }) } },
      (err, _stdout, stderr) => {
        if (err === null) return resolveDump();
        const code = (err as NodeJS.ErrnoException).code;
        reject(new Failure(code === "ENOENT" ? "pg_dump not found on PATH: install PostgreSQL's client tools (see docs/postgres.md)" : `pg_dump failed: ${stderr.trim() || err.message}`));
      },
    );
  });
}

/** The CLI acts as the tenant's management: whoever holds the data directory owns the deployment. */
async function cliCaller(core: Core, inv: Invocation): Promise<Caller> {
  const tenantId = (inv.values.tenant as string | undefined) ?? DEFAULT_TENANT;
  if ((await getTenant(core, tenantId)) === undefined) throw new Failure(`tenant "${tenantId}" does not exist`);
  return { tenantId, applicationId: "", clientId: "tessera-cli", management: true };
}

function seconds(raw: string | undefined, option: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = parseDuration(raw);
  if (value === undefined) throw new UsageError(`${option} must be a duration such as 30s, 15m or 24h, got "${raw}"`);
  return value;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** A `<noun> list` command: every page of a core list use case, one line (or JSON object) per item. */
function listCommand<T, J>(spec: {
  name: string;
  summary: string;
  options: Options;
  list: (core: Core, caller: Caller, req: PageRequest, inv: Invocation) => Promise<Page<T>>;
  json: (item: T) => J;
  line: (item: J) => string;
}): Command {
  return {
    name: spec.name,
    args: [],
    summary: spec.summary,
    options: spec.options,
    run: (inv) =>
      withCore(inv, async (core) => {
        const caller = await cliCaller(core, inv);
        const items = (await everyPage((req) => spec.list(core, caller, req, inv))).map(spec.json);
        inv.out(items.map(spec.line).join("\n"), items);
        return 0;
      }),
  };
}

/** Every item of a paged list use case, page after page. */
async function everyPage<T>(fetch: (req: PageRequest) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let pageToken: string | undefined;
  do {
    const page = await fetch({ pageSize: MAX_PAGE_SIZE, pageToken });
    items.push(...page.items);
    pageToken = page.nextPageToken === "" ? undefined : page.nextPageToken;
  } while (pageToken !== undefined);
  return items;
}

function applicationJson(a: Application) {
  return { id: a.id, tenant_id: a.tenantId, display_name: a.displayName, management: a.management, create_time: iso(a.createTime) };
}

function clientJson(c: Client) {
  return {
    id: c.id,
    tenant_id: c.tenantId,
    application_id: c.applicationId,
    display_name: c.displayName,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    grant_types: c.grantTypes,
    resource_ids: c.resourceIds,
    redirect_uris: c.redirectUris,
    web_origins: c.webOrigins,
    scopes: c.scopes,
    access_token_ttl: orNull(c.accessTokenTtl),
    refresh_token_ttl: orNull(c.refreshTokenTtl),
    max_rotation: orNull(c.maxRotation),
    reuse_leeway: c.reuseLeeway,
    previous_secret_expire_time: iso(c.previousSecretExpireTime),
    create_time: iso(c.createTime),
  };
}

function userJson(u: User) {
  return {
    id: u.id,
    tenant_id: u.tenantId,
    username: u.username,
    email: u.email === "" ? null : u.email,
    application_ids: u.applicationIds,
    roles: u.roles,
    create_time: iso(u.createTime),
  };
}

function resourceJson(r: Resource) {
  return {
    id: r.id,
    tenant_id: r.tenantId,
    uri: r.uri,
    display_name: r.displayName,
    default: r.isDefault,
    access_token_ttl: orNull(r.accessTokenTtl),
    refresh_token_ttl: orNull(r.refreshTokenTtl),
    max_rotation: orNull(r.maxRotation),
    create_time: iso(r.createTime),
  };
}

function keyJson(core: Core, k: SigningKeyRecord) {
  return {
    kid: k.kid,
    algorithm: k.algorithm,
    state: core.keys.state(k),
    create_time: iso(k.createTime),
    activate_time: iso(k.activateTime),
    retire_time: iso(k.retireTime),
    expire_time: iso(k.expireTime),
  };
}

function requireDatabase(config: Config): void {
  if (!storageExists(config)) {
    throw new Failure(`no tessera database in ${config.dataDir} (set --data-dir or TESSERA_DATA_DIR; \`tessera serve\` creates one)`);
  }
}

async function withCore(inv: Invocation, fn: (core: Core) => number | Promise<number>): Promise<number> {
  const config = loadConfig(inv.env);
  requireDatabase(config);
  const core = await openCore(config);
  try {
    return await fn(core);
  } finally {
    await core.storage.close();
  }
}

/** The storage alone (no master key, no signing keys): schema and backup. */
async function withStorage<T>(inv: Invocation, opts: { mustExist?: boolean; migrate: boolean }, fn: (storage: Storage) => Promise<T>): Promise<T> {
  const config = loadConfig(inv.env);
  if (opts.mustExist === true) requireDatabase(config);
  const storage = await openStorage({ ...config, synchronous: "FULL" }, { migrate: opts.migrate });
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

function usage(cmd: Command): string {
  const own = Object.entries(cmd.options ?? {}).map(([name, o]) => `  --${name}${o.type === "string" ? ` <${name === "alg" ? SIGNING_ALGS.join("|") : "value"}>` : ""}`);
  return [
    `usage: tessera ${cmd.name}${cmd.args.length ? ` ${cmd.args.join(" ")}` : ""} [options]`,
    "",
    `${cmd.summary}.`,
    "",
    "options:",
    ...own,
    "  --data-dir <dir>  data directory (default: TESSERA_DATA_DIR, else ./data)",
    "  --json            machine-readable output",
    "  -h, --help        this help",
  ].join("\n");
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args.join(" ")}`.length));
  return [
    "usage: tessera <command> [options]",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.args.join(" ")}`.padEnd(width)}  ${c.summary}`),
    "",
    "Run `tessera <command> --help` for a command's options. Exit codes: 0 ok, 1 failed, 2 usage or configuration error.",
  ].join("\n");
}

/** Runs the CLI; resolves to the exit code (-1: keep running, as `serve` does). */
export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const words = argv.filter((a) => !a.startsWith("-"));
  const cmd = [...COMMANDS].sort((a, b) => b.name.length - a.name.length).find((c) => c.name.split(" ").every((w, i) => words[i] === w));
  const wantsJson = argv.includes("--json");
  const fail = (code: number, message: string) => {
    if (wantsJson) process.stderr.write(`${JSON.stringify({ error: message })}\n`);
    else process.stderr.write(`tessera: ${message}\n`);
    return code;
  };
  if (cmd === undefined) {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      process.stdout.write(`${overview()}\n`);
      return argv.length === 0 ? 2 : 0;
    }
    const group = COMMANDS.filter((c) => c.name.split(" ")[0] === words[0]);
    if (group.length > 0 && (argv.includes("--help") || argv.includes("-h"))) {
      process.stdout.write(`${group.map((c) => `tessera ${c.name} ${c.args.join(" ")}`.trimEnd().padEnd(40) + `  ${c.summary}`).join("\n")}\n`);
      return 0;
    }
    const hint = argv[0]?.startsWith("-") === true ? " (command words come first, options after them)" : "";
    return fail(2, `unknown command "${words.join(" ")}"${hint}\n\n${overview()}`);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON, ...cmd.options }, allowPositionals: true, strict: true });
  } catch (err) {
    return fail(2, `${(err as Error).message}\n\n${usage(cmd)}`);
  }
  const values = parsed.values as Values;
  if (values.help === true) {
    process.stdout.write(`${usage(cmd)}\n`);
    return 0;
  }
  const args = parsed.positionals.slice(cmd.name.split(" ").length);
  if (args.length !== cmd.args.length) {
    return fail(2, `expected ${cmd.args.length ? cmd.args.join(" ") : "no arguments"}, got ${args.length ? args.map((a) => `"${a}"`).join(" ") : "none"}\n\n${usage(cmd)}`);
  }
  const dataDirRaw = (values["data-dir"] as string | undefined) ?? env.TESSERA_DATA_DIR ?? "./data";
  const dataDir = resolve(dataDirRaw);
  const json = values.json === true;
  const inv: Invocation = {
    args,
    values,
    dataDir,
    env: { ...env, TESSERA_DATA_DIR: dataDir },
    json,
    out: (human, data) => process.stdout.write(`${json ? JSON.stringify(data) : human}\n`),
  };
  try {
    return await cmd.run(inv);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) return fail(2, err.message);
    if (err instanceof OAuthError) return fail(err.kind === "invalid_request" ? 2 : 1, err.description);
    if (err instanceof Failure) return fail(1, err.message);
    return fail(1, `failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  run(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`tessera: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
