/**
 * Schema migrations, applied in order at start and recorded in PRAGMA user_version.
 * Each entry moves the schema from version index to index + 1; `down` undoes it.
 * Times are seconds since the epoch; list-like columns hold JSON arrays.
 */
export interface Migration {
  name: string;
  up: string;
  down: string;
}

export const MIGRATIONS: Migration[] = [
  {
    name: "core schema",
    up: `
      CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        create_time INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE resources (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        uri TEXT NOT NULL,
        display_name TEXT NOT NULL DEFAULT '',
        is_default INTEGER NOT NULL DEFAULT 0,
        access_token_ttl INTEGER,
        refresh_token_ttl INTEGER,
        max_rotation INTEGER,
        create_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL,
        UNIQUE (tenant_id, uri)
      ) STRICT;
      CREATE INDEX resources_tenant ON resources(tenant_id, create_time, id);

      CREATE TABLE applications (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        display_name TEXT NOT NULL DEFAULT '',
        management INTEGER NOT NULL DEFAULT 0,
        create_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX applications_tenant ON applications(tenant_id, create_time, id);

      CREATE TABLE clients (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
        display_name TEXT NOT NULL DEFAULT '',
        secret_hash BLOB,
        previous_secret_hash BLOB,
        previous_secret_expire_time INTEGER,
        redirect_uris TEXT NOT NULL DEFAULT '[]',
        post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
        grant_types TEXT NOT NULL DEFAULT '[]',
        scopes TEXT NOT NULL DEFAULT '[]',
        web_origins TEXT NOT NULL DEFAULT '[]',
        access_token_ttl INTEGER,
        refresh_token_ttl INTEGER,
        max_rotation INTEGER,
        reuse_leeway INTEGER NOT NULL DEFAULT 0,
        create_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX clients_application ON clients(application_id, create_time, id);
      CREATE INDEX clients_tenant ON clients(tenant_id, create_time, id);

      CREATE TABLE client_resources (
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        resource_id TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
        PRIMARY KEY (client_id, resource_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX client_resources_resource ON client_resources(resource_id, client_id);

      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        username TEXT NOT NULL,
        username_key TEXT NOT NULL,
        email TEXT NOT NULL DEFAULT '',
        password_hash TEXT,
        roles TEXT NOT NULL DEFAULT '[]',
        custom_claims TEXT NOT NULL DEFAULT '{}',
        create_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL,
        UNIQUE (tenant_id, username_key)
      ) STRICT;
      CREATE INDEX users_tenant ON users(tenant_id, create_time, id);

      CREATE TABLE user_applications (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, application_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX user_applications_application ON user_applications(application_id, user_id);

      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        algorithm TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_key BLOB NOT NULL,
        create_time INTEGER NOT NULL,
        activate_time INTEGER NOT NULL,
        retire_time INTEGER,
        expire_time INTEGER
      ) STRICT;

      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        secret_hash BLOB NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        application_id TEXT REFERENCES applications(id) ON DELETE CASCADE,
        amr TEXT NOT NULL DEFAULT '[]',
        create_time INTEGER NOT NULL,
        auth_time INTEGER NOT NULL,
        expire_time INTEGER NOT NULL,
        revoke_time INTEGER
      ) STRICT;
      CREATE INDEX sessions_user ON sessions(user_id, create_time, id);
      CREATE INDEX sessions_expire ON sessions(expire_time);

      CREATE TABLE refresh_families (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
        resource_id TEXT,
        scope TEXT NOT NULL DEFAULT '',
        claims TEXT NOT NULL DEFAULT '{}',
        auth_time INTEGER NOT NULL,
        create_time INTEGER NOT NULL,
        max_expire_time INTEGER NOT NULL,
        revoke_time INTEGER,
        revoke_reason TEXT
      ) STRICT;
      CREATE INDEX refresh_families_session ON refresh_families(session_id);
      CREATE INDEX refresh_families_user ON refresh_families(user_id);
      CREATE INDEX refresh_families_client ON refresh_families(client_id);
      CREATE INDEX refresh_families_expire ON refresh_families(max_expire_time);

      CREATE TABLE refresh_tokens (
        hash BLOB PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES refresh_families(id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        create_time INTEGER NOT NULL,
        expire_time INTEGER NOT NULL,
        consume_time INTEGER,
        reuse_count INTEGER NOT NULL DEFAULT 0
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id, generation);
      CREATE INDEX refresh_tokens_expire ON refresh_tokens(expire_time);

      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
    down: `
      DROP TABLE settings;
      DROP TABLE refresh_tokens;
      DROP TABLE refresh_families;
      DROP TABLE sessions;
      DROP TABLE signing_keys;
      DROP TABLE user_applications;
      DROP TABLE users;
      DROP TABLE client_resources;
      DROP TABLE clients;
      DROP TABLE applications;
      DROP TABLE resources;
      DROP TABLE tenants;
    `,
  },
  {
    name: "oidc authorization: interactions, consents, codes, revoked access tokens",
    up: `
      CREATE TABLE authorization_interactions (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        request TEXT NOT NULL,
        csrf_hash BLOB NOT NULL,
        user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
        session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
        login_time INTEGER,
        create_time INTEGER NOT NULL,
        expire_time INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX authorization_interactions_expire ON authorization_interactions(expire_time);

      CREATE TABLE consents (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        scopes TEXT NOT NULL DEFAULT '[]',
        resource_ids TEXT NOT NULL DEFAULT '[]',
        create_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL,
        PRIMARY KEY (user_id, client_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX consents_client ON consents(client_id);

      CREATE TABLE authorization_codes (
        hash BLOB PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        redirect_uri TEXT NOT NULL,
        code_challenge TEXT,
        resource_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        nonce TEXT,
        offline INTEGER NOT NULL DEFAULT 0,
        auth_time INTEGER NOT NULL,
        create_time INTEGER NOT NULL,
        expire_time INTEGER NOT NULL,
        consume_time INTEGER,
        family_id TEXT
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX authorization_codes_expire ON authorization_codes(expire_time);

      CREATE TABLE revoked_access_tokens (
        jti TEXT PRIMARY KEY,
        expire_time INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX revoked_access_tokens_expire ON revoked_access_tokens(expire_time);
    `,
    down: `
      DROP TABLE revoked_access_tokens;
      DROP TABLE authorization_codes;
      DROP TABLE consents;
      DROP TABLE authorization_interactions;
    `,
  },
  {
    name: "rotation sweeps, reuse events and password throttling",
    up: `
      DROP INDEX refresh_tokens_expire;
      -- Only the newest token of a family is unconsumed: its expiry is when the chain dies.
      CREATE INDEX refresh_tokens_live_expire ON refresh_tokens(expire_time) WHERE consume_time IS NULL;

      CREATE TABLE refresh_reuse_events (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        family_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        generation INTEGER NOT NULL,
        create_time INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX refresh_reuse_events_time ON refresh_reuse_events(create_time);

      CREATE TABLE login_throttle (
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        username_key TEXT NOT NULL,
        failures INTEGER NOT NULL,
        last_failure_time INTEGER NOT NULL,
        locked_until INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, username_key)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX login_throttle_last_failure ON login_throttle(last_failure_time);
    `,
    down: `
      DROP TABLE login_throttle;
      DROP TABLE refresh_reuse_events;
      DROP INDEX refresh_tokens_live_expire;
      CREATE INDEX refresh_tokens_expire ON refresh_tokens(expire_time);
    `,
  },
  {
    name: "resource scopes and signing algorithms, client auth method and ID token algorithm",
    up: `
      ALTER TABLE resources ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE resources ADD COLUMN signing_alg TEXT;
      ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic';
      ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT;
      UPDATE clients SET token_endpoint_auth_method = 'none' WHERE secret_hash IS NULL;
    `,
    down: `
      ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
      ALTER TABLE clients DROP COLUMN token_endpoint_auth_method;
      ALTER TABLE resources DROP COLUMN signing_alg;
      ALTER TABLE resources DROP COLUMN scopes;
    `,
  },
  {
    name: "authorization codes remember the access token their exchange issued",
    up: `
      ALTER TABLE authorization_codes ADD COLUMN access_token_jti TEXT;
      ALTER TABLE authorization_codes ADD COLUMN access_token_expire_time INTEGER;
    `,
    down: `
      ALTER TABLE authorization_codes DROP COLUMN access_token_expire_time;
      ALTER TABLE authorization_codes DROP COLUMN access_token_jti;
    `,
  },
  {
    name: "change counters per topic, so other processes' caches drop only what changed",
    up: `
      CREATE TABLE change_counters (topic TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT, WITHOUT ROWID;
      INSERT INTO change_counters (topic, version) VALUES ('tenants', 0), ('applications', 0), ('clients', 0), ('resources', 0), ('signingKeys', 0);
      CREATE TRIGGER tenants_insert_changed AFTER INSERT ON tenants BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'tenants'; END;
      CREATE TRIGGER tenants_update_changed AFTER UPDATE ON tenants BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'tenants'; END;
      CREATE TRIGGER tenants_delete_changed AFTER DELETE ON tenants BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'tenants'; END;
      CREATE TRIGGER applications_insert_changed AFTER INSERT ON applications BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'applications'; END;
      CREATE TRIGGER applications_update_changed AFTER UPDATE ON applications BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'applications'; END;
      CREATE TRIGGER applications_delete_changed AFTER DELETE ON applications BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'applications'; END;
      CREATE TRIGGER clients_insert_changed AFTER INSERT ON clients BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'clients'; END;
      CREATE TRIGGER clients_update_changed AFTER UPDATE ON clients BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'clients'; END;
      CREATE TRIGGER clients_delete_changed AFTER DELETE ON clients BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'clients'; END;
      CREATE TRIGGER client_resources_insert_changed AFTER INSERT ON client_resources BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'clients'; END;
      CREATE TRIGGER client_resources_update_changed AFTER UPDATE ON client_resources BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'clients'; END;
      CREATE TRIGGER client_resources_delete_changed AFTER DELETE ON client_resources BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'clients'; END;
      CREATE TRIGGER resources_insert_changed AFTER INSERT ON resources BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'resources'; END;
      CREATE TRIGGER resources_update_changed AFTER UPDATE ON resources BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'resources'; END;
      CREATE TRIGGER resources_delete_changed AFTER DELETE ON resources BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'resources'; END;
      CREATE TRIGGER signing_keys_insert_changed AFTER INSERT ON signing_keys BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'signingKeys'; END;
      CREATE TRIGGER signing_keys_update_changed AFTER UPDATE ON signing_keys BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'signingKeys'; END;
      CREATE TRIGGER signing_keys_delete_changed AFTER DELETE ON signing_keys BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'signingKeys'; END;
    `,
    down: `
      DROP TRIGGER tenants_insert_changed;
      DROP TRIGGER tenants_update_changed;
      DROP TRIGGER tenants_delete_changed;
      DROP TRIGGER applications_insert_changed;
      DROP TRIGGER applications_update_changed;
      DROP TRIGGER applications_delete_changed;
      DROP TRIGGER clients_insert_changed;
      DROP TRIGGER clients_update_changed;
      DROP TRIGGER clients_delete_changed;
      DROP TRIGGER client_resources_insert_changed;
      DROP TRIGGER client_resources_update_changed;
      DROP TRIGGER client_resources_delete_changed;
      DROP TRIGGER resources_insert_changed;
      DROP TRIGGER resources_update_changed;
      DROP TRIGGER resources_delete_changed;
      DROP TRIGGER signing_keys_insert_changed;
      DROP TRIGGER signing_keys_update_changed;
      DROP TRIGGER signing_keys_delete_changed;
      DROP TABLE change_counters;
    `,
  },
  {
    // Keyed by a random hash, every successor landed on a random leaf of the whole table and every consume on
    // another: at a million rows two cold pages read, dirtied, logged and checkpointed per rotation. Rows now
    // go in insertion order (the live ones sit in the last few pages) and the hash is a narrow unique index,
    // so a rotation dirties one random index leaf and pages that every recent rotation shares.
    name: "refresh tokens in insertion order, looked up through a unique index on the hash",
    up: `
      CREATE TABLE refresh_tokens_by_row (
        id INTEGER PRIMARY KEY,
        hash BLOB NOT NULL,
        family_id TEXT NOT NULL REFERENCES refresh_families(id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        create_time INTEGER NOT NULL,
        expire_time INTEGER NOT NULL,
        consume_time INTEGER,
        reuse_count INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      INSERT INTO refresh_tokens_by_row (hash, family_id, generation, create_time, expire_time, consume_time, reuse_count)
        SELECT hash, family_id, generation, create_time, expire_time, consume_time, reuse_count FROM refresh_tokens
        ORDER BY family_id, generation;
      DROP TABLE refresh_tokens;
      ALTER TABLE refresh_tokens_by_row RENAME TO refresh_tokens;
      CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens(hash);
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id, generation);
      CREATE INDEX refresh_tokens_live_expire ON refresh_tokens(expire_time) WHERE consume_time IS NULL;
    `,
    down: `
      CREATE TABLE refresh_tokens_by_hash (
        hash BLOB PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES refresh_families(id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        create_time INTEGER NOT NULL,
        expire_time INTEGER NOT NULL,
        consume_time INTEGER,
        reuse_count INTEGER NOT NULL DEFAULT 0
      ) STRICT, WITHOUT ROWID;
      INSERT INTO refresh_tokens_by_hash (hash, family_id, generation, create_time, expire_time, consume_time, reuse_count)
        SELECT hash, family_id, generation, create_time, expire_time, consume_time, reuse_count FROM refresh_tokens;
      DROP TABLE refresh_tokens;
      ALTER TABLE refresh_tokens_by_hash RENAME TO refresh_tokens;
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id, generation);
      CREATE INDEX refresh_tokens_live_expire ON refresh_tokens(expire_time) WHERE consume_time IS NULL;
    `,
  },
  {
    // The deny list of access tokens (RFC 7009) as a topic of its own: a process that checked a client token
    // not revoked reads again once another process revoked one (core/access-tokens.ts).
    name: "a change counter for revoked access tokens",
    up: `
      INSERT INTO change_counters (topic, version) VALUES ('revokedAccessTokens', 0);
      CREATE TRIGGER revoked_access_tokens_insert_changed AFTER INSERT ON revoked_access_tokens BEGIN UPDATE change_counters SET version = version + 1 WHERE topic = 'revokedAccessTokens'; END;
    `,
    down: `
      DROP TRIGGER revoked_access_tokens_insert_changed;
      DELETE FROM change_counters WHERE topic = 'revokedAccessTokens';
    `,
  },
];
