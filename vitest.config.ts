import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

// Tests that need PostgreSQL run in the `postgres` project, whose global setup starts one real server for the run.
const POSTGRES_ONLY = ["test/storage/contract/**/*.test.ts", "test/storage/postgres/**/*.test.ts", "test/e2e/instances.test.ts"];
// End-to-end files that run on both engines: there, test servers get a fresh PostgreSQL database each.
const ON_BOTH_ENGINES = [
  "test/e2e/client-credentials.test.ts",
  "test/admin/lifecycle.test.ts",
  "test/admin/authorization.test.ts",
  "test/rotation/rotation.test.ts",
  "test/rotation/crash.test.ts",
  "test/oidc/code-flow.test.ts",
  "test/e2e/hostile.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // vitest's default is one worker fewer than the cores: on a 2-core machine, one test file at a time (554 s in a
    // slow hour, against 266–303 s with two). At most four, so that the PostgreSQL project's files (a database
    // each) stay well inside the test server's connection limit.
    maxWorkers: Math.min(4, Math.max(2, availableParallelism())),
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      { extends: true, test: { name: "sqlite", include: ["test/**/*.test.ts"], exclude: POSTGRES_ONLY } },
      {
        extends: true,
        test: {
          name: "postgres",
          include: [...POSTGRES_ONLY, ...ON_BOTH_ENGINES],
          globalSetup: ["test/helpers/postgres-global-setup.ts"],
          env: { TESSERA_TEST_DATABASE: "postgres" },
        },
      },
    ],
  },
});
