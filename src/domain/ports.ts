/**
 * The storage ports: what the core needs from a database, owned by the core and implemented by one
 * adapter per engine (src/storage/sqlite, src/storage/postgres). Every method returns a Promise.
 *
 * Rules every adapter keeps:
 * - Each method is atomic on its own (e.g. `clients.insert` writes the client and its resource
 *   assignments together); several writes that belong together go through `Storage.transaction`.
 * - Lookups by tenant never return another tenant's rows. `undefined` means "no such row".
 * - A write that finds its row gone answers `false` (or 0), never throws.
 * - A duplicate key throws `StorageError("conflict")`; a database that cannot take the request now
 *   (locked, full, unreachable) throws `StorageError("busy" | "unavailable")` (domain/errors.ts).
 *   Engine error codes never leave the adapter.
 * - Times are seconds since the epoch, passed in by the core (the adapter never reads a clock).
 */
import type {
  AuthorizationCodeRecord,
  CodeExchange,
  ConsentRecord,
  InteractionRecord,
  LoginThrottleState,
  NewAuthorizationCode,
  NewRefreshToken,
  PageCursor,
  RefreshFamily,
  RefreshTokenRecord,
  SigningKeyRecord,
} from "./records.js";
import type { RefreshRotation, RotationOutcome } from "./refresh-rotation.js";
import type { Application, Client, Resource, Session, Tenant, User } from "./types.js";

export interface TenantRepository {
  insert(t: Tenant): Promise<void>;
  get(id: string): Promise<Tenant | undefined>;
  /** Every tenant, ordered by (createTime, id). */
  list(): Promise<Tenant[]>;
}

export interface ResourceRepository {
  insert(r: Resource): Promise<void>;
  /** Updates displayName, lifetimes, scopes, signingAlg and updateTime (uri, isDefault and createTime never change). */
  update(r: Resource): Promise<boolean>;
  delete(tenantId: string, id: string): Promise<boolean>;
  get(tenantId: string, id: string): Promise<Resource | undefined>;
  findByUri(tenantId: string, uri: string): Promise<Resource | undefined>;
  getDefault(tenantId: string): Promise<Resource | undefined>;
  /** A page ordered by (createTime, id) after `after`; with an application, the default resource and those assigned to its clients. */
  page(tenantId: string, after: PageCursor | undefined, limit: number, applicationId?: string): Promise<Resource[]>;
  /** Whether any client of the application has the resource assigned. */
  assignedToApplication(resourceId: string, applicationId: string): Promise<boolean>;
  /** Ids of the clients that have the resource assigned, sorted. */
  clientsUsing(resourceId: string): Promise<string[]>;
}

export interface ApplicationRepository {
  insert(a: Application): Promise<void>;
  delete(tenantId: string, id: string): Promise<boolean>;
  get(tenantId: string, id: string): Promise<Application | undefined>;
  /** The tenant's oldest management application. */
  firstManagement(tenantId: string): Promise<Application | undefined>;
  page(tenantId: string, after: PageCursor | undefined, limit: number): Promise<Application[]>;
}

export interface ClientRepository {
  /** Inserts the client with its resource assignments (`resourceIds`). */
  insert(c: Client): Promise<void>;
  /** Updates settings and resource assignments; not the secret, application, auth method or createTime. */
  update(c: Client): Promise<boolean>;
  setSecret(id: string, secretHash: Buffer, previous: { hash: Buffer; expireTime: number } | undefined, now: number): Promise<void>;
  delete(tenantId: string, id: string): Promise<boolean>;
  get(tenantId: string, id: string): Promise<Client | undefined>;
  /** Looks a client up by client_id alone: client authentication does not know the tenant yet. */
  findById(id: string): Promise<Client | undefined>;
  /** A page ordered by (createTime, id); with an application, only its clients. `resourceIds` come sorted. */
  page(tenantId: string, after: PageCursor | undefined, limit: number, applicationId?: string): Promise<Client[]>;
  /** Every web origin any client of any tenant lists, without duplicates (the CORS allow list). */
  allWebOrigins(): Promise<string[]>;
}

export interface UserRepository {
  /** Inserts the user with its application memberships (`applicationIds`). Usernames are unique per tenant by `usernameKey`. */
  insert(u: User): Promise<void>;
  /** Updates username, email, roles, custom claims, memberships and updateTime (not the password). */
  update(u: User): Promise<boolean>;
  setPassword(tenantId: string, id: string, passwordHash: string, now: number): Promise<boolean>;
  delete(tenantId: string, id: string): Promise<boolean>;
  get(tenantId: string, id: string): Promise<User | undefined>;
  /** The user's current roles if the user exists and belongs to the application, else undefined. */
  memberRoles(tenantId: string, userId: string, applicationId: string): Promise<string[] | undefined>;
  /** Compares by `usernameKey` (domain/types.ts): case-insensitive, NFKC. */
  findByUsername(tenantId: string, username: string): Promise<User | undefined>;
  /** A page ordered by (createTime, id); with an application, only its members. `applicationIds` come sorted. */
  page(tenantId: string, after: PageCursor | undefined, limit: number, applicationId?: string): Promise<User[]>;
}

export interface SigningKeyRepository {
  /** Inserts a key (retireTime and expireTime are not stored: a new key is never retired). */
  insert(k: SigningKeyRecord): Promise<void>;
  /** Sets retire and expire time of a key that is not retired yet. */
  retire(kid: string, retireTime: number, expireTime: number): Promise<void>;
  /** Every stored key, ordered by activateTime desc, createTime desc, kid. */
  list(): Promise<SigningKeyRecord[]>;
  /** Deletes keys whose expireTime is at or before now; returns how many. */
  purgeExpired(now: number): Promise<number>;
  /** Algorithms some resource (`signingAlg`) or client (`idTokenSignedResponseAlg`) names, without duplicates. */
  algorithmsNamed(): Promise<string[]>;
}

export interface SessionRepository {
  insert(s: Session, secretHash: Buffer): Promise<void>;
  findBySecretHash(secretHash: Buffer): Promise<Session | undefined>;
  get(tenantId: string, id: string): Promise<Session | undefined>;
  /** Records a new authentication in an unrevoked session and slides its expiry. */
  touch(id: string, authTime: number, expireTime: number): Promise<boolean>;
  /** Revokes an unrevoked session; false if it was already revoked or is unknown. */
  revoke(id: string, now: number): Promise<boolean>;
  /** A page of the user's live (unrevoked, expireTime > now) sessions, optionally only those started through one application. */
  pageForUser(tenantId: string, userId: string, now: number, after: PageCursor | undefined, limit: number, applicationId?: string): Promise<Session[]>;
  /** Deletes up to `limit` expired sessions that no refresh family still refers to. */
  sweep(now: number, limit: number): Promise<number>;
}

export interface RefreshTokenRepository {
  insertFamily(f: RefreshFamily): Promise<void>;
  insertToken(t: NewRefreshToken): Promise<void>;
  /** A token and its family in one read (the refresh hot path). */
  getTokenWithFamily(hash: Buffer): Promise<{ token: RefreshTokenRecord; family: RefreshFamily } | undefined>;
  getFamily(id: string): Promise<RefreshFamily | undefined>;
  getToken(hash: Buffer): Promise<RefreshTokenRecord | undefined>;
  /** Revokes an unrevoked family; false if already revoked or unknown. */
  revokeFamily(id: string, now: number, reason: string): Promise<boolean>;
  /** Revokes every unrevoked family of a session; returns how many. */
  revokeSessionFamilies(sessionId: string, now: number, reason: string): Promise<number>;
  /** Deletes up to `limit` families past their maximum rotation (their tokens go with them). */
  sweepPastMaxRotation(now: number, limit: number): Promise<number>;
  /** Deletes up to `limit` families whose newest (only unconsumed) token has expired. */
  sweepDeadChains(now: number, limit: number): Promise<number>;
  /** Deletes up to `limit` reuse events created at or before `before`. */
  sweepReuseEvents(before: number, limit: number): Promise<number>;
}

/** Small key/value facts about the deployment (that bootstrap ran, the master key check value). */
export interface SettingsRepository {
  get(key: string): Promise<string | undefined>;
  /** Inserts or replaces. */
  put(key: string, value: string): Promise<void>;
}

/** The authorization endpoint's state: interactions, consents, codes, and the access token denylist. */
export interface AuthorizationRepository {
  insertInteraction(i: InteractionRecord): Promise<void>;
  getInteraction(id: string): Promise<InteractionRecord | undefined>;
  setInteractionUser(id: string, userId: string, sessionId: string, loginTime: number | undefined): Promise<void>;
  /** False when another request deleted it first (the conditional delete decides who completes it). */
  deleteInteraction(id: string): Promise<boolean>;
  getConsent(userId: string, clientId: string): Promise<ConsentRecord | undefined>;
  /** Inserts or replaces scopes, resourceIds and updateTime (createTime stays the first one). */
  putConsent(c: ConsentRecord): Promise<void>;
  insertCode(c: NewAuthorizationCode): Promise<void>;
  getCode(hash: Buffer): Promise<AuthorizationCodeRecord | undefined>;
  /** Marks an unused code used, remembering what its exchange issued; false when another exchange used it first. */
  consumeCode(hash: Buffer, now: number, issued: CodeExchange): Promise<boolean>;
  /** Denylists an access token until its expiry (idempotent). */
  revokeAccessToken(jti: string, expireTime: number): Promise<void>;
  isAccessTokenRevoked(jti: string): Promise<boolean>;
  /** Deletes expired interactions, codes expired for more than a day, and denylist entries past their token's expiry. */
  sweep(now: number): Promise<number>;
}

/** Failed password attempts per (tenant, key); the key is opaque to storage. */
export interface LoginThrottleRepository {
  get(tenantId: string, key: string): Promise<LoginThrottleState | undefined>;
  /** Inserts or replaces. */
  put(tenantId: string, key: string, state: LoginThrottleState): Promise<void>;
  clear(tenantId: string, key: string): Promise<void>;
  /** Deletes up to `limit` entries whose last failure is at or before `before` and that are not locked at `now`. */
  sweep(before: number, now: number, limit: number): Promise<number>;
}

/** The repositories, one per concern. Inside `Storage.transaction` the callback gets a set bound to the transaction. */
export interface Repositories {
  readonly tenants: TenantRepository;
  readonly resources: ResourceRepository;
  readonly applications: ApplicationRepository;
  readonly clients: ClientRepository;
  readonly users: UserRepository;
  readonly signingKeys: SigningKeyRepository;
  readonly sessions: SessionRepository;
  readonly refreshTokens: RefreshTokenRepository;
  readonly settings: SettingsRepository;
  readonly authorizations: AuthorizationRepository;
  readonly loginThrottle: LoginThrottleRepository;
}

/** What the core's caches depend on (`revokedAccessTokens`: the deny list of access tokens, RFC 7009). */
export type ChangeTopic = "tenants" | "applications" | "clients" | "resources" | "signingKeys" | "revokedAccessTokens";
export const ALL_TOPICS: readonly ChangeTopic[] = ["tenants", "applications", "clients", "resources", "signingKeys", "revokedAccessTokens"];

/**
 * Commits by OTHER writers (another process, the CLI, another replica) that the core's caches must
 * see. The core invalidates its own writes itself; an adapter may report them too (harmless).
 */
export interface ChangeFeed {
  /**
   * Looks for other writers' commits, synchronously and cheaply; listeners run before it returns.
   * The core calls it before each cache read. SQLite reads PRAGMA data_version at most once per
   * event-loop turn; an engine that is notified (PostgreSQL LISTEN/NOTIFY) may do nothing here.
   */
  poll(): void;
  /**
   * Calls `listener` with the topics that changed; `ALL_TOPICS` when the engine cannot tell which
   * (SQLite) or may have missed notifications (after a reconnect). Returns the unsubscribe function.
   */
  subscribe(listener: (topics: readonly ChangeTopic[]) => void): () => void;
}

/** The schema's version, for `tessera migrate`. Versions count migrations: 0 is empty, `latest` is newest. */
export interface SchemaPort {
  readonly latest: number;
  version(): Promise<number>;
  /** Brings the schema to `target` (default `latest`), up or down, one step at a time; returns the new version. */
  migrate(target?: number): Promise<number>;
}

/** Told about retries after a transient failure (SQLite: SQLITE_BUSY on BEGIN; PostgreSQL: serialization failure). */
export interface StorageEvents {
  retried?(): void;
  /** SQLite: a WAL checkpoint ran, by the checkpoint worker or (its bound) inline on the serving connection. */
  checkpointed?(by: "worker" | "inline"): void;
}

/** One database, as the core sees it. */
export interface Storage extends Repositories {
  /**
   * Unit of work: runs `fn` with repositories bound to one transaction; commits when its promise
   * resolves, rolls back when it rejects (the rejection is passed on). Writers are serialized for
   * the check-then-write patterns of the core (SQLite: BEGIN IMMEDIATE; PostgreSQL: its choice of
   * isolation or locks). `fn` uses only `tx` (the top-level repositories wait until the
   * transaction ends), awaits nothing but `tx`, and has no effects outside it: an engine may run it
   * again after a transient failure. Never sign or hash inside. A repository call that fails inside is
   * not to be caught and gone on from: PostgreSQL has then aborted the transaction, and the unit of work
   * fails with that call's error even if `fn` resolves.
   */
  transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T>;

  /**
   * The refresh rotation, one atomic write. A conditional consume of `r.hash` (unconsumed,
   * expireTime > now, family unrevoked and maxExpireTime > now) decides the single winner, who
   * inserts the successor { successorHash, familyId, generation, createTime: now, expireTime:
   * successorExpireTime } and gets "rotated". A loser re-reads token, family and successor in the
   * same write and follows `classifyUnconsumed` (domain/refresh-rotation.ts): a counted retry
   * inside the leeway gets "retried"; reuse revokes the family ("reuse_detected"), records a reuse
   * event and gets "reuse"; else the failure. SQLite groups the rotations of one event-loop turn
   * into one commit; PostgreSQL: one transaction, `UPDATE … WHERE consume_time IS NULL … RETURNING`.
   * Settles only once durable.
   */
  rotateRefreshToken(r: RefreshRotation): Promise<RotationOutcome>;

  readonly changes: ChangeFeed;
  readonly schema: SchemaPort;
  events: StorageEvents;

  /** False once closed (liveness). */
  readonly isOpen: boolean;
  /**
   * `tessera backup <file>`: a consistent copy of the whole database in a new file, safe while
   * serving (SQLite: the online backup API). Engines with their own tools (pg_dump) leave it out.
   */
  backup?(file: string): Promise<void>;
  /** Waits for pending writes (group commit) and closes; idempotent. */
  close(): Promise<void>;
}
