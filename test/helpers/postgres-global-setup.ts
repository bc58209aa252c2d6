import type { TestProject } from "vitest/node";
import { startPostgres } from "../../scripts/embedded-postgres.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    /** A superuser URL of the PostgreSQL server this test run started. */
    postgresUrl: string;
  }
}

/** One real PostgreSQL for the whole run of the `postgres` project; a failure to start fails the run (never a skip). */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startPostgres();
  project.provide("postgresUrl", server.url);
  return () => server.stop();
}
