import { isSqliteBusy } from "../domain/errors.js";
import { ApplicationRepository } from "./applications.js";
import { AuthorizationRepository } from "./authorizations.js";
import { ClientRepository } from "./clients.js";
import { openDatabase, type Db, type OpenOptions } from "./database.js";
import { GroupCommit } from "./group-commit.js";
import { LoginThrottleRepository } from "./login-throttle.js";
import { RefreshTokenRepository } from "./refresh-tokens.js";
import { ResourceRepository } from "./resources.js";
import { SessionRepository } from "./sessions.js";
import { SettingsRepository } from "./settings.js";
import { SigningKeyRepository } from "./signing-keys.js";
import { TenantRepository } from "./tenants.js";
import { UserRepository } from "./users.js";

export const BUSY_ATTEMPTS = 3;

/**
 * Everything the core persists, one repository per concern. Repositories are
 * synchronous (better-sqlite3); `transaction` runs a function atomically and
 * must never contain async work (signing, hashing).
 */
export class Store {
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
  private readonly groupCommit: GroupCommit;

  constructor(readonly db: Db) {
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
    this.groupCommit = new GroupCommit(db);
  }

  static open(opts: OpenOptions): Store {
    return new Store(openDatabase(opts));
  }

  /** Told about every retry after SQLITE_BUSY (the metrics count them). */
  onBusyRetry: (() => void) | undefined;

  /**
   * Runs `fn` in one IMMEDIATE transaction (takes the write lock up front, so no upgrade deadlock).
   * SQLITE_BUSY (the lock stayed taken for the whole busy timeout) is retried at most
   * BUSY_ATTEMPTS - 1 times, each attempt waiting the busy timeout again; then the error leaves.
   */
  transaction<T>(fn: () => T): T {
    const tx = this.db.transaction(fn);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return tx.immediate();
      } catch (err) {
        if (attempt >= BUSY_ATTEMPTS || this.db.inTransaction || !isSqliteBusy(err)) throw err;
        this.onBusyRetry?.();
      }
    }
  }

  /**
   * Runs `fn` atomically in a transaction shared with the other `batched` calls of this event-loop
   * turn: one commit (one fsync under FULL) for the group, each settled only after it is durable.
   */
  batched<T>(fn: () => T): Promise<T> {
    return this.groupCommit.run(fn);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
