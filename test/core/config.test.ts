import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseDuration } from "../../src/config.js";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  it("has the documented defaults", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: "127.0.0.1",
      httpPort: 8080,
      grpcPort: 50051,
      issuer: undefined,
      bootstrapClientId: undefined,
      bootstrapClientSecret: undefined,
      secretKey: undefined,
      signingAlgorithm: "ES256",
      synchronous: "FULL",
      logLevel: "info",
      metricsPort: undefined,
      keyAnnouncePeriod: 60,
      keyRotationPeriod: 0,
      busyTimeoutMs: 5000,
      sweepInterval: 300,
      passwordHashConcurrency: 2,
      passwordHashQueue: 32,
      workers: 1,
    });
    expect(c.dataDir).toMatch(/\/data$/);
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig({ TESSERA_HTTP_PORT: "", TESSERA_ISSUER: "" })).toMatchObject({ httpPort: 8080, issuer: undefined });
  });

  it("reads every variable", () => {
    const c = loadConfig({
      TESSERA_HOST: "0.0.0.0",
      TESSERA_HTTP_PORT: "9000",
      TESSERA_GRPC_PORT: "0",
      TESSERA_GRPC_HTTP2: "node",
      TESSERA_DATA_DIR: "/var/lib/tessera",
      TESSERA_ISSUER: "https://id.example.com/",
      TESSERA_BOOTSTRAP_CLIENT_ID: "admin-client",
      TESSERA_BOOTSTRAP_CLIENT_SECRET: "s".repeat(40),
      TESSERA_SECRET_KEY: "k".repeat(32),
      TESSERA_SIGNING_ALG: "es256",
      TESSERA_SYNCHRONOUS: "normal",
      TESSERA_LOG_LEVEL: "debug",
      TESSERA_METRICS_PORT: "9100",
      TESSERA_KEY_ANNOUNCE_PERIOD: "24h",
      TESSERA_KEY_ROTATION_PERIOD: "30d",
      TESSERA_BUSY_TIMEOUT_MS: "100",
      TESSERA_SWEEP_INTERVAL: "90s",
      TESSERA_PASSWORD_HASH_CONCURRENCY: "4",
      TESSERA_PASSWORD_HASH_QUEUE: "0",
      TESSERA_WORKERS: "3",
    });
    expect(c).toEqual({
      host: "0.0.0.0",
      httpPort: 9000,
      grpcPort: 0,
      grpcHttp2: "node",
      dataDir: "/var/lib/tessera",
      issuer: "https://id.example.com",
      bootstrapClientId: "admin-client",
      bootstrapClientSecret: "s".repeat(40),
      secretKey: "k".repeat(32),
      signingAlgorithm: "ES256",
      synchronous: "NORMAL",
      logLevel: "debug",
      metricsPort: 9100,
      keyAnnouncePeriod: 86400,
      keyRotationPeriod: 30 * 86400,
      busyTimeoutMs: 100,
      sweepInterval: 90,
      passwordHashConcurrency: 4,
      passwordHashQueue: 0,
      workers: 3,
    });
  });

  it("accepts RS256 and raises an announce period shorter than the JWKS max-age to it", () => {
    const c = loadConfig({ TESSERA_SIGNING_ALG: "rs256", TESSERA_KEY_ANNOUNCE_PERIOD: "0" });
    expect(c.signingAlgorithm).toBe("RS256");
    expect(c.keyAnnouncePeriod).toBe(60);
  });

  it.each([
    ["TESSERA_HOST", "not a host"],
    ["TESSERA_HOST", "http://127.0.0.1"],
    ["TESSERA_HTTP_PORT", "abc"],
    ["TESSERA_HTTP_PORT", "65536"],
    ["TESSERA_HTTP_PORT", "-1"],
    ["TESSERA_HTTP_PORT", "80.5"],
    ["TESSERA_GRPC_PORT", "x"],
    ["TESSERA_METRICS_PORT", "99999"],
    ["TESSERA_ISSUER", "not a url"],
    ["TESSERA_ISSUER", "ftp://id.example.com"],
    ["TESSERA_ISSUER", "https://id.example.com/?a=b"],
    ["TESSERA_ISSUER", "https://id.example.com/#f"],
    ["TESSERA_ISSUER", "https://user:pw@id.example.com"],
    ["TESSERA_BOOTSTRAP_CLIENT_ID", "has space"],
    ["TESSERA_BOOTSTRAP_CLIENT_ID", "x".repeat(129)],
    ["TESSERA_BOOTSTRAP_CLIENT_SECRET", "x".repeat(513)],
    ["TESSERA_SECRET_KEY", "too-short"],
    ["TESSERA_SIGNING_ALG", "HS256"],
    ["TESSERA_SYNCHRONOUS", "OFF"],
    ["TESSERA_GRPC_HTTP2", "nghttp2"],
    ["TESSERA_LOG_LEVEL", "verbose"],
    ["TESSERA_KEY_ANNOUNCE_PERIOD", "1w"],
    ["TESSERA_KEY_ROTATION_PERIOD", "soon"],
    ["TESSERA_BUSY_TIMEOUT_MS", "60001"],
    ["TESSERA_SWEEP_INTERVAL", "-5m"],
  ])("refuses %s=%j with one line naming the variable", (variable, value) => {
    const err = configError({ [variable]: value });
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
    expect(err.message).not.toContain("\n");
  });

  it("never echoes the secret key or bootstrap secret in its message", () => {
    expect(configError({ TESSERA_SECRET_KEY: "short-secret" }).message).not.toContain("short-secret");
    expect(configError({ TESSERA_ISSUER: "https://user:pw-secret@id.example.com" }).message).not.toContain("pw-secret");
    expect(configError({ TESSERA_BOOTSTRAP_CLIENT_SECRET: "q".repeat(600) }).message).not.toContain("qqqq");
  });

  it("accepts IPv4, IPv6 and host names for TESSERA_HOST", () => {
    for (const host of ["0.0.0.0", "::", "::1", "fe80::1%eth0", "localhost", "tessera.internal"]) {
      expect(loadConfig({ TESSERA_HOST: host }).host).toBe(host);
    }
  });

  it("resolves a relative data dir against the working directory", () => {
    expect(loadConfig({ TESSERA_DATA_DIR: "rel/dir" }).dataDir).toBe(`${process.cwd()}/rel/dir`);
  });
});

describe("parseDuration", () => {
  it("reads bare seconds and s/m/h/d units", () => {
    expect(["90", "90s", "15m", "24h", "14d"].map(parseDuration)).toEqual([90, 90, 900, 86400, 14 * 86400]);
    expect(parseDuration("1.5h")).toBeUndefined();
    expect(parseDuration("")).toBeUndefined();
  });
});
