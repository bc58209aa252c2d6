import type { Config } from "../config.js";
import type { Application, Client, Resource, Tenant } from "../domain/types.js";
import type { Store } from "../storage/store.js";
import { seconds, type Clock } from "./clock.js";
import { HashSlots } from "./hash-slots.js";
import type { KeyRing } from "./keys.js";
import type { Secrets } from "./secrets.js";

/** A client with everything token issuance needs about it, cached between requests. */
export interface ClientContext {
  client: Client;
  application: Application;
  tenant: Tenant;
  defaultResource: Resource;
  /**
   * SHA-256 of the current secret once it has been presented and checked against the stored keyed
   * hash, so later requests skip the HMAC. Lives and dies with this cache entry (any write drops it).
   */
  verifiedSecret?: Buffer;
}

/** Counters the core reports; the metrics module reads them (no I/O here). */
export interface CoreEvents {
  tokenIssued?(grant: string): void;
  refreshReuseDetected?(): void;
}

/**
 * The token engine's shared state: storage, keys, clock and caches. Feature modules
 * (grants, admin, sessions) are functions that take a Core.
 */
export class Core {
  private readonly clientCache = new Map<string, ClientContext>();
  private readonly resourceByUriCache = new Map<string, Resource | null>();
  events: CoreEvents = {};
  private readonly dataVersionStmt;
  private dataVersion: number;
  /** Set after the first data_version read of an event-loop turn; cleared by setImmediate. */
  private syncedThisTurn = false;
  private readonly invalidationListeners: (() => void)[] = [];
  /** Every scrypt run (password checks and new passwords) goes through these bounded slots. */
  readonly passwordHashes: HashSlots;

  constructor(
    readonly store: Store,
    readonly secrets: Secrets,
    readonly keys: KeyRing,
    readonly clock: Clock,
    readonly config: Config,
    private issuerValue: string,
  ) {
    this.dataVersionStmt = store.db.prepare("PRAGMA data_version").pluck();
    this.dataVersion = this.dataVersionStmt.get() as number;
    this.passwordHashes = new HashSlots(config.passwordHashConcurrency, config.passwordHashQueue);
  }

  /**
   * Drops the caches when another connection (the CLI, another process) committed since we last looked.
   * Read once per event-loop turn: a request that arrives after another process's commit is read in a
   * later turn than that commit, so it still sees it, and a burst of requests costs one PRAGMA read.
   */
  syncWithOtherWriters(): void {
    if (this.syncedThisTurn) return;
    this.syncedThisTurn = true;
    setImmediate(() => {
      this.syncedThisTurn = false;
    });
    const version = this.dataVersionStmt.get() as number;
    if (version !== this.dataVersion) {
      this.dataVersion = version;
      this.keys.reload();
      this.invalidateCaches();
    }
  }

  get issuer(): string {
    return this.issuerValue;
  }
  /** Set once the HTTP port is bound when no TESSERA_ISSUER was configured. */
  setIssuer(issuer: string): void {
    this.issuerValue = issuer;
  }

  now(): number {
    return seconds(this.clock);
  }

  /** The client with its application, tenant and default resource, or undefined if unknown. */
  clientContext(clientId: string): ClientContext | undefined {
    this.syncWithOtherWriters();
    const cached = this.clientCache.get(clientId);
    if (cached !== undefined) return cached;
    const client = this.store.clients.findById(clientId);
    if (client === undefined) return undefined;
    const application = this.store.applications.get(client.tenantId, client.applicationId);
    const tenant = this.store.tenants.get(client.tenantId);
    const defaultResource = this.store.resources.getDefault(client.tenantId);
    if (application === undefined || tenant === undefined || defaultResource === undefined) return undefined;
    const ctx = { client, application, tenant, defaultResource };
    if (this.clientCache.size > 10_000) this.clientCache.clear();
    this.clientCache.set(clientId, ctx);
    return ctx;
  }

  /** A tenant's resource by URI, cached; null when there is none. */
  resourceByUri(tenantId: string, uri: string): Resource | undefined {
    this.syncWithOtherWriters();
    const key = `${tenantId}\n${uri}`;
    let hit = this.resourceByUriCache.get(key);
    if (hit === undefined) {
      hit = this.store.resources.findByUri(tenantId, uri) ?? null;
      if (this.resourceByUriCache.size > 10_000) this.resourceByUriCache.clear();
      this.resourceByUriCache.set(key, hit);
    }
    return hit ?? undefined;
  }

  /** Every write to tenants, applications, clients or resources calls this after it commits. */
  invalidateCaches(): void {
    this.clientCache.clear();
    this.resourceByUriCache.clear();
    for (const listener of this.invalidationListeners) listener();
  }

  /** Caches outside the core (CORS origins) drop theirs whenever the core's are invalidated. */
  onInvalidate(listener: () => void): void {
    this.invalidationListeners.push(listener);
  }
}
