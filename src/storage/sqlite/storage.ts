import type * as ports from "../../domain/ports.js";
import { classifyUnconsumed, type RefreshRotation, type RotationOutcome } from "../../domain/refresh-rotation.js";
import { ApplicationRepository } from "./applications.js";
import { AuthorizationRepository } from "./authorizations.js";
import { DataVersionFeed } from "./change-feed.js";
import { ClientRepository } from "./clients.js";
import { migrate, schemaVersion, type Db } from "./database.js";
import { isSqliteBusy, toStorageError } from "./errors.js";
import type { Checkpointer } from "./checkpointer.js";
import { GroupCommit } from "./group-commit.js";
import { LoginThrottleRepository } from "./login-throttle.js";
import { MIGRATIONS } from "./migrations.js";
import { RefreshTokenRepository } from "./refresh-tokens.js";
import { ResourceRepository } from "./resources.js";
import { SessionRepository } from "./sessions.js";
import { SettingsRepository } from "./settings.js";
import { SigningKeyRepository } from "./signing-keys.js";
import { TenantRepository } from "./tenants.js";
import { UserRepository } from "./users.js";
import { WriteLock } from "./write-lock.js";

/** BEGIN IMMEDIATE attempts: each waits the busy timeout for the write lock before SQLITE_BUSY. */
export const BUSY_ATTEMPTS = 3;

type Run = <R>(fn: () => R) => Promise<R>;

/** A value (or a thrown SQLite error, made engine-neutral) as a promise, without leaving the turn. */
function settle<R>(fn: () => R): Promise<R> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(toStorageError(err));
  }
}

type AnyRepository = Record<string, (...args: unknown[]) => unknown>;

/** The port view of a synchronous repository class: every method runs through `run`, on the instance `repo()` gives. */
function asPort<T>(cls: { prototype: object }, repo: () => AnyRepository, run: Run): T {
  const port: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(cls.prototype)) {
    if (name !== "constructor") port[name] = (...args: unknown[]) => run(() => repo()[name]!(...args));
  }
  return port as T;
}

const REPOSITORY_CLASSES = {
  tenants: TenantRepository,
  resources: ResourceRepository,
  applications: ApplicationRepository,
  clients: ClientRepository,
  users: UserRepository,
  signingKeys: SigningKeyRepository,
  sessions: SessionRepository,
  refreshTokens: RefreshTokenRepository,
  settings: SettingsRepository,
  authorizations: AuthorizationRepository,
  loginThrottle: LoginThrottleRepository,
};

/** The port repositories over lazily prepared statements (a database opened without migrating has no tables yet). */
function portRepositories(sync: () => SyncRepositories, run: Run): ports.Repositories {
  const entries = Object.entries(REPOSITORY_CLASSES).map(([name, cls]) => [
    name,
    asPort(cls, () => sync()[name as keyof SyncRepositories] as unknown as AnyRepository, run),
  ]);
  return Object.fromEntries(entries) as unknown as ports.Repositories;
}

/** One synchronous repository per concern over one connection (statements prepared in their constructors). */
type SyncRepositories = { [K in keyof typeof REPOSITORY_CLASSES]: InstanceType<(typeof REPOSITORY_CLASSES)[K]> };

function syncRepositories(db: Db): SyncRepositories {
  return Object.fromEntries(Object.entries(REPOSITORY_CLASSES).map(([name, cls]) => [name, new cls(db)])) as unknown as SyncRepositories;
}

/**
 * The SQLite adapter: one better-sqlite3 connection (WAL) behind the storage ports.
 *
 * Statements are synchronous, so a repository call runs to completion in the caller's turn and
 * resolves at once. A unit of work (`transaction`) is the one place where other code could run on
 * the connection between its statements (while its callback awaits): it holds a write lock for its
 * whole length, and every other call (reads included, which would see its uncommitted rows) and the
 * group commit wait for the lock while it is held. Refresh rotations use group commit instead.
 */
export class SqliteStorage implements ports.Storage {
  readonly tenants: ports.TenantRepository;
  readonly resources: ports.ResourceRepository;
  readonly applications: ports.ApplicationRepository;
  readonly clients: ports.ClientRepository;
  readonly users: ports.UserRepository;
  readonly signingKeys: ports.SigningKeyRepository;
  readonly sessions: ports.SessionRepository;
  readonly refreshTokens: ports.RefreshTokenRepository;
  readonly settings: ports.SettingsRepository;
  readonly authorizations: ports.AuthorizationRepository;
  readonly loginThrottle: ports.LoginThrottleRepository;
  readonly changes: DataVersionFeed;
  readonly schema: ports.SchemaPort;
  events: ports.StorageEvents = {};

  private syncRepositories: SyncRepositories | undefined;
  private readonly lock = new WriteLock();
  private readonly groupCommit: GroupCommit;
  private readonly tx: ports.Repositories;
  private txOpen = false;
  private readonly beginStmt;
  private readonly commitStmt;
  private readonly rollbackStmt;

  constructor(
    readonly db: Db,
    /** WAL checkpoints off the request path (file databases); without it SQLite checkpoints at commit. */
    readonly checkpointer?: Checkpointer,
  ) {
    const sync = () => this.sync;
    const top = portRepositories(sync, (fn) => this.run(fn));
    this.tenants = top.tenants;
    this.resources = top.resources;
    this.applications = top.applications;
    this.clients = top.clients;
    this.users = top.users;
    this.signingKeys = top.signingKeys;
    this.sessions = top.sessions;
    this.refreshTokens = top.refreshTokens;
    this.settings = top.settings;
    this.authorizations = top.authorizations;
    this.loginThrottle = top.loginThrottle;
    this.tx = portRepositories(sync, (fn) => (this.txOpen ? settle(fn) : Promise.reject(new Error("the transaction has ended"))));
    this.groupCommit = new GroupCommit(db, this.lock, checkpointer && (() => checkpointer.afterCommit()));
    if (checkpointer !== undefined) checkpointer.onCheckpoint = (by) => this.events.checkpointed?.(by);
    this.changes = new DataVersionFeed(db);
    this.schema = {
      latest: MIGRATIONS.length,
      version: () => this.run(() => schemaVersion(db)),
      migrate: (target) => this.run(() => migrate(db, target)),
    };
    this.beginStmt = db.prepare("BEGIN IMMEDIATE");
    this.commitStmt = db.prepare("COMMIT");
    this.rollbackStmt = db.prepare("ROLLBACK");
  }

  private get sync(): SyncRepositories {
    return (this.syncRepositories ??= syncRepositories(this.db));
  }

  /** A statement outside any unit of work: now, unless a transaction is open; then after it. */
  private run<R>(fn: () => R): Promise<R> {
    const wait = this.lock.held ? this.lock.acquire() : undefined;
    if (wait === undefined) return this.autocommit(fn);
    return wait.then(() => {
      try {
        return this.autocommit(fn);
      } finally {
        this.lock.release();
      }
    });
  }

  /** One statement in its own implicit transaction: SQLITE_BUSY applied nothing, so it is retried like BEGIN (see `begin`). */
  private autocommit<R>(fn: () => R): Promise<R> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return Promise.resolve(fn());
      } catch (err) {
        if (attempt >= BUSY_ATTEMPTS || !isSqliteBusy(err) || this.db.inTransaction) return Promise.reject(toStorageError(err));
        this.events.retried?.();
      }
    }
  }

  async transaction<T>(fn: (tx: ports.Repositories) => Promise<T>): Promise<T> {
    const wait = this.lock.acquire();
    if (wait !== undefined) await wait;
    try {
      this.begin();
      this.txOpen = true;
      try {
        const value = await fn(this.tx);
        this.txOpen = false;
        this.commitStmt.run();
        this.checkpointer?.afterCommit();
        return value;
      } catch (err) {
        this.txOpen = false;
        if (this.db.inTransaction) this.rollbackStmt.run();
        throw toStorageError(err);
      }
    } finally {
      this.lock.release();
    }
  }

  /**
   * BEGIN IMMEDIATE takes the write lock up front (no upgrade deadlock). SQLITE_BUSY (the lock stayed
   * taken for the whole busy timeout) is retried at most BUSY_ATTEMPTS - 1 times; then it leaves as busy.
   */
  private begin(): void {
    for (let attempt = 1; ; attempt += 1) {
      try {
        this.beginStmt.run();
        return;
      } catch (err) {
        if (attempt >= BUSY_ATTEMPTS || !isSqliteBusy(err)) throw toStorageError(err);
        this.events.retried?.();
      }
    }
  }

  rotateRefreshToken(r: RefreshRotation): Promise<RotationOutcome> {
    return this.groupCommit.run(() => this.rotate(r));
  }

  /** One rotation inside the group's transaction (see Storage.rotateRefreshToken). */
  private rotate(r: RefreshRotation): RotationOutcome {
    const repo = this.sync.refreshTokens;
    if (repo.consume(r.hash, r.now)) {
      repo.insertToken({ hash: r.successorHash, familyId: r.familyId, generation: r.generation, createTime: r.now, expireTime: r.successorExpireTime });
      return "rotated";
    }
    const token = repo.getToken(r.hash);
    const family = token && repo.getFamily(token.familyId);
    const verdict = classifyUnconsumed(r, token, family, token && repo.getToken(r.successorHash));
    if (verdict === "retry" && repo.countReuse(r.hash, token!.reuseCount)) return "retried";
    if (verdict !== "retry" && verdict !== "reuse") return verdict;
    repo.revokeFamily(family!.id, r.now, "reuse_detected");
    repo.recordReuse(family!, token!.generation, r.now);
    return "reuse";
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  async backup(file: string): Promise<void> {
    await this.db.backup(file);
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    if (this.groupCommit.pending) await this.groupCommit.run(() => undefined).catch(() => undefined);
    const wait = this.lock.acquire();
    if (wait !== undefined) await wait;
    try {
      // The worker's connection closes first, so this one is the last: SQLite checkpoints and removes the WAL.
      await this.checkpointer?.stop();
      if (this.db.open) this.db.close();
    } finally {
      this.lock.release();
    }
  }
}
