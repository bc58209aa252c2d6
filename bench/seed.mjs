// Seeds `rows` refresh tokens (10 per family, the first 9 of each consumed) straight into SQLite, in one transaction.
// `db` is the better-sqlite3 connection of the SQLite adapter (storage.db).
export function seedRefreshTokens(db, { rows, applicationId, clientId, userId, now, claims = "{}" }) {
  db.transaction(() => {
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
       INSERT INTO refresh_families (id, tenant_id, application_id, client_id, user_id, scope, claims, auth_time, create_time, max_expire_time)
       SELECT 'rtf_seed' || i, 'default', ?, ?, ?, '', ?, ?, ?, ? FROM n`,
    ).run(Math.ceil(rows / 10), applicationId, clientId, userId, claims, now, now, now + 365 * 86400);
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
       INSERT INTO refresh_tokens (hash, family_id, generation, create_time, expire_time, consume_time)
       SELECT randomblob(32), 'rtf_seed' || (i / 10), i % 10, ?, ?, CASE WHEN i % 10 < 9 THEN ? END FROM n`,
    ).run(rows, now, now + 14 * 86400, now);
  })();
}

/** The same rows in PostgreSQL (`pool` is the adapter's pg.Pool), in one statement per table. */
export async function seedRefreshTokensPostgres(pool, { rows, applicationId, clientId, userId, now, claims = "{}" }) {
  await pool.query(
    `INSERT INTO refresh_families (id, tenant_id, application_id, client_id, user_id, scope, claims, auth_time, create_time, max_expire_time)
     SELECT 'rtf_seed' || i, 'default', $2, $3, $4, '', $5::jsonb, $6, $6, $7 FROM generate_series(0, $1 - 1) AS i`,
    [Math.ceil(rows / 10), applicationId, clientId, userId, claims, now, now + 365 * 86400],
  );
  await pool.query(
    `INSERT INTO refresh_tokens (hash, family_id, generation, create_time, expire_time, consume_time)
     SELECT decode(md5(random()::text || i) || md5(random()::text || i), 'hex'), 'rtf_seed' || (i / 10), i % 10, $2, $3,
       CASE WHEN i % 10 < 9 THEN $2::bigint END
     FROM generate_series(0, $1 - 1) AS i`,
    [rows, now, now + 14 * 86400],
  );
  await pool.query("ANALYZE refresh_tokens; ANALYZE refresh_families");
}
