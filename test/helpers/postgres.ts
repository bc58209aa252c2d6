import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

/** A new, empty database on the test run's PostgreSQL; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = inject("postgresUrl");
  if (!adminUrl) throw new Error("no PostgreSQL for this test: run it in the `postgres` vitest project (vitest.config.ts)");
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
