import type { Config } from "../config.js";
import type { Application, Client, Resource, Tenant } from "../domain/types.js";
import type { ChangeTopic, Storage } from "../domain/ports.js";
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

/**
 * The longest a cache entry (client context, resource by URI) or the signing keys in memory live
 * without a re-read, in seconds: the backstop should a change notification be lost. Changes reach
 * the other instances through the change feed in well under a second; this bounds the worst case.
 */
export const CACHE_TTL = 30;

/** Counters the core reports; the metrics module reads them (no I/O here). */
export interface CoreEvents {
  tokenIssued?(grant: string): void;
  refreshReuseDetected?(): void;
}

/**
 * The token engine's shared state: storage (the ports), keys, clock and caches. Feature modules
 * (grants, admin, sessions) are functions that take a Core.
 */
export class Core {
  private readonly clientCache = new Map<string, { ctx: ClientContext; expireTime: number }>();
  private readonly resourceByUriCache = new Map<string, { found: Resource | null; expireTime: number }>();
  /** Counts invalidations, so a read that straddles one is not cached. */
  private cacheGeneration = 0;
  /** Counts access-token revocations seen (this process's and other writers'): see `revocationGeneration`. */
  private revocations = 0;
  events: CoreEvents = {};
  private readonly invalidationListeners: (() => void)[] = [];
  /** Every scrypt run (password checks and new passwords) goes through these bounded slots. */
  readonly passwordHashes: HashSlots;

  constructor(
    readonly storage: Storage,
    readonly secrets: Secrets,
    readonly keys: KeyRing,
    readonly clock: Clock,
    readonly config: Config,
    private issuerValue: string,
  ) {
    storage.changes.subscribe((topics) => this.otherWriterChanged(topics));
    this.passwordHashes = new HashSlots(config.passwordHashConcurrency, config.passwordHashQueue);
  }

  /** Another writer (the CLI, another process) committed: reload what it may have changed. */
  private otherWriterChanged(topics: readonly ChangeTopic[]): void {
    // Signing goes on with the keys in memory until the reload finished; a failed read keeps them.
    if (topics.includes("signingKeys")) this.keys.reload().catch(() => undefined);
    if (topics.includes("revokedAccessTokens")) this.accessTokenRevoked();
    if (topics.some((t) => t !== "signingKeys" && t !== "revokedAccessTokens")) this.invalidateCaches();
  }

  /**
   * Moves whenever an access token may have been revoked since: by this process (`accessTokenRevoked`, after
   * the commit) or by another writer (the change feed). A check that a token is not revoked holds while this
   * has not moved (and at most CACHE_TTL, should a notification be lost).
   */
  get revocationGeneration(): number {
    return this.revocations;
  }

  /** Call after committing a revocation of access tokens. */
  accessTokenRevoked(): void {
    this.revocations += 1;
  }

  /** Drops the caches (and reloads keys) if another writer committed since we last looked; cheap, see ChangeFeed.poll. */
  syncWithOtherWriters(): void {
    this.storage.changes.poll();
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
  async clientContext(clientId: string): Promise<ClientContext | undefined> {
    this.syncWithOtherWriters();
    const cached = this.clientCache.get(clientId);
    if (cached !== undefined && cached.expireTime > this.now()) return cached.ctx;
    const generation = this.cacheGeneration;
    const { storage } = this;
    const client = await storage.clients.findById(clientId);
    if (client === undefined) return undefined;
    const [application, tenant, defaultResource] = await Promise.all([
      storage.applications.get(client.tenantId, client.applicationId),
      storage.tenants.get(client.tenantId),
      storage.resources.getDefault(client.tenantId),
    ]);
    if (application === undefined || tenant === undefined || defaultResource === undefined) return undefined;
    const ctx = { client, application, tenant, defaultResource };
    // A write committed while we read would be lost in the cache: only what was read since the last invalidation is kept.
    if (generation !== this.cacheGeneration) return ctx;
    if (this.clientCache.size > 10_000) this.clientCache.clear();
    this.clientCache.set(clientId, { ctx, expireTime: this.now() + CACHE_TTL });
    return ctx;
  }

  /** The cached context of a client, if any (no storage read): e.g. for a log line after authentication. */
  cachedClientContext(clientId: string): ClientContext | undefined {
    return this.clientCache.get(clientId)?.ctx;
  }

  /** A tenant's resource by URI, cached; null when there is none. */
  async resourceByUri(tenantId: string, uri: string): Promise<Resource | undefined> {
    this.syncWithOtherWriters();
    const key = `${tenantId}\n${uri}`;
    const cached = this.resourceByUriCache.get(key);
    if (cached !== undefined && cached.expireTime > this.now()) return cached.found ?? undefined;
    const generation = this.cacheGeneration;
    const found = await this.storage.resources.findByUri(tenantId, uri);
    if (generation === this.cacheGeneration) {
      if (this.resourceByUriCache.size > 10_000) this.resourceByUriCache.clear();
      this.resourceByUriCache.set(key, { found: found ?? null, expireTime: this.now() + CACHE_TTL });
    }
    return found;
  }

  /** Every write to tenants, applications, clients or resources calls this after it commits. */
  invalidateCaches(): void {
    this.cacheGeneration += 1;
    this.clientCache.clear();
    this.resourceByUriCache.clear();
    for (const listener of this.invalidationListeners) listener();
  }

  /** Caches outside the core (CORS origins) drop theirs whenever the core's are invalidated. */
  onInvalidate(listener: () => void): void {
    this.invalidationListeners.push(listener);
  }
}
