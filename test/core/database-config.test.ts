import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

const KEY = "k".repeat(32);

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("no ConfigError");
}

describe("TESSERA_DATABASE_URL", () => {
  it("unset means SQLite in the data directory", () => {
    expect(loadConfig({}).database).toBeUndefined();
  });

  it("postgres:// and postgresql:// select PostgreSQL with the pool and timeout settings", () => {
    expect(loadConfig({ TESSERA_DATABASE_URL: "postgres://u:p@db:5432/tessera", TESSERA_SECRET_KEY: KEY }).database).toEqual({
      url: "postgres://u:p@db:5432/tessera",
      poolSize: 10,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 5000,
    });
    const c = loadConfig({
      TESSERA_DATABASE_URL: "postgresql://db/tessera?sslmode=verify-full",
      TESSERA_SECRET_KEY: KEY,
      TESSERA_DATABASE_POOL_SIZE: "25",
      TESSERA_DATABASE_STATEMENT_TIMEOUT_MS: "2000",
      TESSERA_DATABASE_CONNECT_TIMEOUT_MS: "3000",
    });
    expect(c.database).toMatchObject({ poolSize: 25, statementTimeoutMs: 2000, connectTimeoutMs: 3000 });
  });

  it("PostgreSQL without TESSERA_SECRET_KEY, another scheme or a bad pool size is a configuration error naming the variable", () => {
    expect(configError({ TESSERA_DATABASE_URL: "postgres://u:p@db/tessera" }).variable).toBe("TESSERA_SECRET_KEY");
    expect(configError({ TESSERA_DATABASE_URL: "mysql://db/tessera", TESSERA_SECRET_KEY: KEY }).variable).toBe("TESSERA_DATABASE_URL");
    expect(configError({ TESSERA_DATABASE_URL: "postgres://", TESSERA_SECRET_KEY: KEY }).variable).toBe("TESSERA_DATABASE_URL");
    expect(configError({ TESSERA_DATABASE_URL: "postgres://db/x", TESSERA_SECRET_KEY: KEY, TESSERA_DATABASE_POOL_SIZE: "0" }).variable).toBe(
      "TESSERA_DATABASE_POOL_SIZE",
    );
  });

  it("the server exits 2 with a one-line error and never prints the URL's password", () => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
    const run = spawnSync(process.execPath, ["dist/src/main.js"], {
      env: { PATH: process.env.PATH, TESSERA_DATABASE_URL: "postgres://u:hunter2@127.0.0.1:1/x", TESSERA_HTTP_PORT: "0", TESSERA_GRPC_PORT: "0" },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("TESSERA_SECRET_KEY");
    expect(run.stderr).not.toContain("hunter2");
  });
});
