/**
 * PostgreSQL schema migrations, applied in order at start under an advisory lock and recorded in
 * `schema_migrations` (one row per applied version). Version 1 is the SQLite schema at its version 4 in one
 * step; later versions follow the SQLite ones concern by concern (the versions need not line up).
 * Times are BIGINT seconds since the epoch, hashes BYTEA, lists and claims JSONB. Ids compare bytewise
 * (COLLATE "C"), as in SQLite, so pages come in the same (create_time, id) order whatever the database's locale.
 */
export interface PgMigration {
  name: string;
  up: string;
  down: string;
}

export const PG_MIGRATIONS: PgMigration[] = [
  {
    name: "core schema",
    up: `
      CREATE TABLE tenants (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        create_time BIGINT NOT NULL
      );

      CREATE TABLE resources (
        id TEXT COLLATE "C" PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        uri TEXT NOT NULL,
        display_name TEXT NOT NULL DEFAULT '',
        is_default BOOLEAN NOT NULL DEFAULT false,
        access_token_ttl BIGINT,
        refresh_token_ttl BIGINT,
        max_rotation BIGINT,
        scopes JSONB NOT NULL DEFAULT '[]',
        signing_alg TEXT,
        create_time BIGINT NOT NULL,
        update_time BIGINT NOT NULL,
        UNIQUE (tenant_id, uri)
      );
      CREATE INDEX resources_tenant ON resources(tenant_id, create_time, id);
      -- SQLite's single writer kept one default per tenant; here the index does.
      CREATE UNIQUE INDEX resources_one_default ON resources(tenant_id) WHERE is_default;

      CREATE TABLE applications (
        id TEXT COLLATE "C" PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        display_name TEXT NOT NULL DEFAULT '',
        management BOOLEAN NOT NULL DEFAULT false,
        create_time BIGINT NOT NULL,
        update_time BIGINT NOT NULL
      );
      CREATE INDEX applications_tenant ON applications(tenant_id, create_time, id);

      CREATE TABLE clients (
        id TEXT COLLATE "C" PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
        display_name TEXT NOT NULL DEFAULT '',
        secret_hash BYTEA,
        previous_secret_hash BYTEA,
        previous_secret_expire_time BIGINT,
        redirect_uris JSONB NOT NULL DEFAULT '[]',
        post_logout_redirect_uris JSONB NOT NULL DEFAULT '[]',
        grant_types JSONB NOT NULL DEFAULT '[]',
        scopes JSONB NOT NULL DEFAULT '[]',
        web_origins JSONB NOT NULL DEFAULT '[]',
        access_token_ttl BIGINT,
        refresh_token_ttl BIGINT,
        max_rotation BIGINT,
        reuse_leeway BIGINT NOT NULL DEFAULT 0,
        token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic',
        id_token_signed_response_alg TEXT,
        create_time BIGINT NOT NULL,
        update_time BIGINT NOT NULL
      );
      CREATE INDEX clients_application ON clients(application_id, create_time, id);
      CREATE INDEX clients_tenant ON clients(tenant_id, create_time, id);

      CREATE TABLE client_resources (
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        resource_id TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
        PRIMARY KEY (client_id, resource_id)
      );
      CREATE INDEX client_resources_resource ON client_resources(resource_id, client_id);

      CREATE TABLE users (
        id TEXT COLLATE "C" PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        username TEXT NOT NULL,
        username_key TEXT NOT NULL,
        email TEXT NOT NULL DEFAULT '',
        password_hash TEXT,
        roles JSONB NOT NULL DEFAULT '[]',
        custom_claims JSONB NOT NULL DEFAULT '{}',
        create_time BIGINT NOT NULL,
        update_time BIGINT NOT NULL,
        UNIQUE (tenant_id, username_key)
      );
      CREATE INDEX users_tenant ON users(tenant_id, create_time, id);

      CREATE TABLE user_applications (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, application_id)
      );
      CREATE INDEX user_applications_application ON user_applications(application_id, user_id);

      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        algorithm TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_key BYTEA NOT NULL,
        create_time BIGINT NOT NULL,
        activate_time BIGINT NOT NULL,
        retire_time BIGINT,
        expire_time BIGINT
      );

      CREATE TABLE sessions (
        id TEXT COLLATE "C" PRIMARY KEY,
        secret_hash BYTEA NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        application_id TEXT REFERENCES applications(id) ON DELETE CASCADE,
        amr JSONB NOT NULL DEFAULT '[]',
        create_time BIGINT NOT NULL,
        auth_time BIGINT NOT NULL,
        expire_time BIGINT NOT NULL,
        revoke_time BIGINT
      );
      CREATE INDEX sessions_user ON sessions(user_id, create_time, id);
      CREATE INDEX sessions_application ON sessions(application_id);
      CREATE INDEX sessions_expire ON sessions(expire_time);

      CREATE TABLE refresh_families (
        id TEXT COLLATE "C" PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
        resource_id TEXT,
        scope TEXT NOT NULL DEFAULT '',
        claims JSONB NOT NULL DEFAULT '{}',
        auth_time BIGINT NOT NULL,
        create_time BIGINT NOT NULL,
        max_expire_time BIGINT NOT NULL,
        revoke_time BIGINT,
        revoke_reason TEXT
      );
      CREATE INDEX refresh_families_session ON refresh_families(session_id);
      CREATE INDEX refresh_families_user ON refresh_families(user_id);
      CREATE INDEX refresh_families_client ON refresh_families(client_id);
      CREATE INDEX refresh_families_application ON refresh_families(application_id);
      CREATE INDEX refresh_families_expire ON refresh_families(max_expire_time);

      CREATE TABLE refresh_tokens (
        hash BYTEA PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES refresh_families(id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        create_time BIGINT NOT NULL,
        expire_time BIGINT NOT NULL,
        consume_time BIGINT,
        reuse_count INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id, generation);
      -- Only the newest token of a family is unconsumed: its expiry is when the chain dies.
      CREATE INDEX refresh_tokens_live_expire ON refresh_tokens(expire_time) WHERE consume_time IS NULL;

      CREATE TABLE refresh_reuse_events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        family_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        generation INTEGER NOT NULL,
        create_time BIGINT NOT NULL
      );
      CREATE INDEX refresh_reuse_events_time ON refresh_reuse_events(create_time);

      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );

      CREATE TABLE authorization_interactions (
        id TEXT COLLATE "C" PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        request TEXT NOT NULL,
        csrf_hash BYTEA NOT NULL,
        user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
        session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
        login_time BIGINT,
        create_time BIGINT NOT NULL,
        expire_time BIGINT NOT NULL
      );
      CREATE INDEX authorization_interactions_expire ON authorization_interactions(expire_time);
      CREATE INDEX authorization_interactions_client ON authorization_interactions(client_id);
      CREATE INDEX authorization_interactions_user ON authorization_interactions(user_id);
      CREATE INDEX authorization_interactions_session ON authorization_interactions(session_id);

      CREATE TABLE consents (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        scopes JSONB NOT NULL DEFAULT '[]',
        resource_ids JSONB NOT NULL DEFAULT '[]',
        create_time BIGINT NOT NULL,
        update_time BIGINT NOT NULL,
        PRIMARY KEY (user_id, client_id)
      );
      CREATE INDEX consents_client ON consents(client_id);

      CREATE TABLE authorization_codes (
        hash BYTEA PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        redirect_uri TEXT NOT NULL,
        code_challenge TEXT,
        resource_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        nonce TEXT,
        offline BOOLEAN NOT NULL DEFAULT false,
        auth_time BIGINT NOT NULL,
        create_time BIGINT NOT NULL,
        expire_time BIGINT NOT NULL,
        consume_time BIGINT,
        family_id TEXT
      );
      CREATE INDEX authorization_codes_expire ON authorization_codes(expire_time);
      CREATE INDEX authorization_codes_client ON authorization_codes(client_id);
      CREATE INDEX authorization_codes_user ON authorization_codes(user_id);
      CREATE INDEX authorization_codes_session ON authorization_codes(session_id);

      CREATE TABLE revoked_access_tokens (
        jti TEXT PRIMARY KEY,
        expire_time BIGINT NOT NULL
      );
      CREATE INDEX revoked_access_tokens_expire ON revoked_access_tokens(expire_time);

      CREATE TABLE login_throttle (
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        username_key TEXT NOT NULL,
        failures INTEGER NOT NULL,
        last_failure_time BIGINT NOT NULL,
        locked_until BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, username_key)
      );
      CREATE INDEX login_throttle_last_failure ON login_throttle(last_failure_time);
    `,
    down: `
      DROP TABLE login_throttle;
      DROP TABLE revoked_access_tokens;
      DROP TABLE authorization_codes;
      DROP TABLE consents;
      DROP TABLE authorization_interactions;
      DROP TABLE settings;
      DROP TABLE refresh_reuse_events;
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
    name: "change feed: NOTIFY on commit of what the caches hold",
    // A statement-level trigger notifies inside the writing transaction: delivered only if it commits, for every
    // writer (another instance, the CLI, a cascade, manual SQL). Identical payloads of one transaction arrive once.
    up: `
      CREATE FUNCTION tessera_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('tessera_changes', TG_ARGV[0]);
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
        FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_change('tenants');
      CREATE TRIGGER applications_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON applications
        FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_change('applications');
      CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
        FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_change('clients');
      CREATE TRIGGER client_resources_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON client_resources
        FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_change('clients');
      CREATE TRIGGER resources_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON resources
        FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_change('resources');
      CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
        FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_change('signingKeys');
    `,
    down: `
      DROP TRIGGER tenants_changed ON tenants;
      DROP TRIGGER applications_changed ON applications;
      DROP TRIGGER clients_changed ON clients;
      DROP TRIGGER client_resources_changed ON client_resources;
      DROP TRIGGER resources_changed ON resources;
      DROP TRIGGER signing_keys_changed ON signing_keys;
      DROP FUNCTION tessera_notify_change();
    `,
  },
  {
    name: "authorization codes remember the access token their exchange issued",
    up: `
      ALTER TABLE authorization_codes ADD COLUMN access_token_jti TEXT;
      ALTER TABLE authorization_codes ADD COLUMN access_token_expire_time BIGINT;
    `,
    down: `
      ALTER TABLE authorization_codes DROP COLUMN access_token_expire_time;
      ALTER TABLE authorization_codes DROP COLUMN access_token_jti;
    `,
  },
  {
    // The deny list of access tokens (RFC 7009) as a topic of its own: an instance that checked a client token
    // not revoked reads again once another instance revoked one (core/access-tokens.ts).
    name: "change feed: NOTIFY on a revoked access token",
    up: `
      CREATE TRIGGER revoked_access_tokens_changed AFTER INSERT ON revoked_access_tokens
        FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_change('revokedAccessTokens');
    `,
    down: `
      DROP TRIGGER revoked_access_tokens_changed ON revoked_access_tokens;
    `,
  },
];
