import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newClientId, newId, newSecret } from "../domain/ids.js";
import { clientDefaults, type Client } from "../domain/types.js";
import type { Storage } from "../domain/ports.js";
import type { Secrets } from "./secrets.js";
import { insertTenant } from "./tenants.js";

export const BOOTSTRAP_FILE = "bootstrap.json";
export const DEFAULT_TENANT = "default";
const BOOTSTRAP_MARK = "bootstrap";
/** "pending" from the first start until a start that serves has printed the generated credentials. */
const BOOTSTRAP_ANNOUNCE = "bootstrap_announce";

export interface BootstrapCredentials {
  tenant_id: string;
  client_id: string;
  client_secret: string;
}

export interface BootstrapOptions {
  dataDir: string;
  clientId: string | undefined;
  clientSecret: string | undefined;
  now: number;
}

/**
 * First start: tenant `default`, its default resource, a management application and one
 * client. Returns the credentials when they were generated (the caller prints them once);
 * on every later start (or when another instance bootstrapped the same database first) does nothing.
 */
export async function ensureBootstrap(storage: Storage, secrets: Secrets, opts: BootstrapOptions): Promise<BootstrapCredentials | undefined> {
  if ((await storage.settings.get(BOOTSTRAP_MARK)) !== undefined) return undefined;
  const fromEnv = opts.clientId !== undefined && opts.clientSecret !== undefined;
  const creds: BootstrapCredentials = {
    tenant_id: DEFAULT_TENANT,
    client_id: opts.clientId ?? newClientId(),
    client_secret: opts.clientSecret ?? newSecret(),
  };
  const pending = fromEnv ? undefined : writePendingFile(opts.dataDir, creds);
  const secretHash = secrets.hash("client-secret", creds.client_secret);
  const applicationId = newId("app");
  // Instances starting together on one empty database (PostgreSQL) all get here; units of work run one
  // at a time, so only the first finds no mark inside its transaction.
  const created = await storage.transaction(async (tx) => {
    if ((await tx.settings.get(BOOTSTRAP_MARK)) !== undefined) return false;
    const tenant = (await tx.tenants.get(DEFAULT_TENANT)) ?? (await insertTenant(tx, DEFAULT_TENANT, opts.now));
    await tx.applications.insert({
      id: applicationId,
      tenantId: tenant.id,
      displayName: "Management",
      management: true,
      createTime: opts.now,
      updateTime: opts.now,
    });
    const client: Client = {
      id: creds.client_id,
      tenantId: tenant.id,
      applicationId,
      displayName: "Bootstrap management client",
      secretHash,
      ...clientDefaults(opts.now),
      grantTypes: ["client_credentials"],
    };
    await tx.clients.insert(client);
    await tx.settings.put(BOOTSTRAP_MARK, JSON.stringify({ tenant_id: tenant.id, client_id: client.id, create_time: opts.now }));
    if (!fromEnv) await tx.settings.put(BOOTSTRAP_ANNOUNCE, "pending");
    return true;
  }).catch((err: unknown) => {
    if (pending !== undefined) rmSync(pending, { force: true });
    throw err;
  });
  if (pending === undefined) return undefined;
  if (!created) {
    rmSync(pending, { force: true });
    return undefined;
  }
  renameSync(pending, join(opts.dataDir, BOOTSTRAP_FILE));
  return creds;
}

/**
 * The generated bootstrap credentials, once: for the first start that gets to serve. A first start
 * that failed after bootstrap (a port in use) printed nothing, so the next successful one prints them.
 */
export async function takeBootstrapAnnouncement(storage: Storage, dataDir: string): Promise<BootstrapCredentials | undefined> {
  if ((await storage.settings.get(BOOTSTRAP_ANNOUNCE)) !== "pending") return undefined;
  let creds: BootstrapCredentials | undefined;
  try {
    creds = JSON.parse(readFileSync(join(dataDir, BOOTSTRAP_FILE), "utf8")) as BootstrapCredentials;
  } catch {
    creds = undefined; // The operator removed the file: nothing to print.
  }
  await storage.settings.put(BOOTSTRAP_ANNOUNCE, "done");
  return creds;
}

/**
 * Written (owner-only) before the database commits, so a crash in between leaves no database row whose
 * secret nobody has; named per process so that instances sharing a data directory never mix theirs up.
 */
function writePendingFile(dataDir: string, creds: BootstrapCredentials): string {
  // With PostgreSQL nothing else creates the data directory.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = join(dataDir, `${BOOTSTRAP_FILE}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  return tmp;
}
