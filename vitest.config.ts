import { defineConfig } from "vitest/config";

// Tests that need PostgreSQL run in the `postgres` project, whose global setup starts one real server for the run.
const POSTGRES_TESTS = ["test/storage/contract/**/*.test.ts", "test/storage/postgres/**/*.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      { extends: true, test: { name: "sqlite", include: ["test/**/*.test.ts"], exclude: POSTGRES_TESTS } },
      { extends: true, test: { name: "postgres", include: POSTGRES_TESTS, globalSetup: ["test/helpers/postgres-global-setup.ts"] } },
    ],
  },
});
