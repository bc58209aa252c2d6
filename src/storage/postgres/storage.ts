import type pg from "pg";
import type * as ports from "../../domain/ports.js";
import { classifyUnconsumed, type RefreshRotation, type RotationOutcome } from "../../domain/refresh-rotation.js";
import { ApplicationRepository } from "./applications.js";
import { AuthorizationRepository } from "./authorizations.js";
import { NotifyFeed } from "./change-feed.js";
import { ClientRepository } from "./clients.js";
import { inTransaction, PoolExec, stmt, withRetry, type Exec } from "./exec.js";
import { LoginThrottleRepository } from "./login-throttle.js";
import { migrate, schemaVersion } from "./migrate.js";
import { PG_MIGRATIONS } from "./migrations.js";
import { COUNT_REUSE, RECORD_REUSE, RefreshTokenRepository, ROTATE } from "./refresh-tokens.js";
import { ResourceRepository } from "./resources.js";
import { SessionRepository } from "./sessions.js";
import { SettingsRepository } from "./settings.js";
import { SigningKeyRepository } from "./signing-keys.js";
import { TenantRepository } from "./tenants.js";
import { UserRepository } from "./users.js";

/** Key of the transaction-scoped advisory lock every unit of work takes: "tessuow" in ASCII. */
export const UNIT_OF_WORK_LOCK_KEY = 0x74657373756f77n;
const TAKE_UNIT_OF_WORK_LOCK = stmt(`SELECT pg_advisory_xact_lock(${UNIT_OF_WORK_LOCK_KEY})`);

class PgRepositories implements ports.Repositories {
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

  constructor(db: Exec) {
    this.tenants = new TenantRepository(db);
    this.resources = new ResourceRepository(db);
    this.applications = new ApplicationRepository(db);
    this.clients = new ClientRepository(db);
    this.users = new UserRepository(db);
    this.signingKeys = new SigningKeyRepository(db);
    this.sessions = new SessionRepository(db);
    this.refreshTokens = new RefreshTokenRepository(db);
    this.settings = new SettingsRepository(db);
    this.authorizations = new AuthorizationRepository(db);
    this.loginThrottle = new LoginThrottleRepository(db);
  }
}

/**
 * The PostgreSQL adapter: a connection pool behind the storage ports.
 *
 * A repository call outside a unit of work runs on any pooled connection, each multi-statement
 * method in a transaction of its own. A unit of work runs in READ COMMITTED and first takes one
 * transaction-scoped advisory lock, so units of work run one at a time across every instance, as
 * SQLite's BEGIN IMMEDIATE runs them: the core's check-then-write patterns (tenant creation, consent
 * merge, throttle counters, bootstrap) stay correct, with unique constraints behind them. The
 * refresh rotation does not take that lock: its winner is one statement, decided by a row lock.
 */
export class PostgresStorage extends PgRepositories implements ports.Storage {
  readonly schema: ports.SchemaPort;
  events: ports.StorageEvents = {};
  private readonly exec: PoolExec;
  private open = true;

  constructor(
    readonly pool: pg.Pool,
    readonly changes: NotifyFeed,
  ) {
    const exec = new PoolExec(pool);
    super(exec);
    this.exec = exec;
    exec.onRetry = () => this.events.retried?.();
    this.schema = {
      latest: PG_MIGRATIONS.length,
      version: () => schemaVersion(pool),
      migrate: (target) => migrate(pool, target),
    };
  }

  transaction<T>(fn: (tx: ports.Repositories) => Promise<T>): Promise<T> {
    return withRetry(() => inTransaction(this.pool, [TAKE_UNIT_OF_WORK_LOCK], (db) => fn(new PgRepositories(db))), this.exec.onRetry);
  }

  async rotateRefreshToken(r: RefreshRotation): Promise<RotationOutcome> {
    const won = await withRetry(
      () => this.exec.query(ROTATE, [r.hash, r.now, r.successorHash, r.familyId, r.generation, r.successorExpireTime]),
      this.exec.onRetry,
    );
    if (won.rowCount === 1) return "rotated";
    return this.exec.atomic((db) => this.settleLoser(db, r));
  }

  /** The consume found nothing to take: classify from a fresh read, in one transaction (see Storage.rotateRefreshToken). */
  private async settleLoser(db: Exec, r: RefreshRotation): Promise<RotationOutcome> {
    const repo = new RefreshTokenRepository(db);
    // Losers of one token queue here, so each classifies after the previous one's count or revocation.
    const token = await repo.getTokenForUpdate(r.hash);
    const family = token && (await repo.getFamily(token.familyId));
    const successor = token && (await repo.getToken(r.successorHash));
    const verdict = classifyUnconsumed(r, token, family, successor);
    if (verdict === "retry" && (await db.query(COUNT_REUSE, [r.hash, token!.reuseCount])).rowCount === 1) return "retried";
    if (verdict !== "retry" && verdict !== "reuse") return verdict;
    await repo.revokeFamily(family!.id, r.now, "reuse_detected");
    await db.query(RECORD_REUSE, [family!.tenantId, family!.id, family!.clientId, family!.userId, token!.generation, r.now]);
    return "reuse";
  }

  get isOpen(): boolean {
    return this.open;
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.changes.close();
    await this.pool.end();
  }
}
