import { inject } from "vitest";
import { createDatabase } from "../../scripts/embedded-postgres.mjs";

/** A new, empty database on the test run's PostgreSQL; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = inject("postgresUrl");
  if (!adminUrl) throw new Error("no PostgreSQL for this test: run it in the `postgres` vitest project (vitest.config.ts)");
  return createDatabase(adminUrl);
}
