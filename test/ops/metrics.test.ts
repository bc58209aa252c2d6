import { createClient as createConnectClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import Database from "better-sqlite3";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyAdminService } from "../../gen/tessera/v1/key_admin_service_pb.js";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { DATABASE_FILE } from "../../src/storage/sqlite/database.js";
import type { SqliteStorage } from "../../src/storage/sqlite/storage.js";
import { createGrpcClient } from "../helpers/grpc-client.js";
import { clientToken, postForm, startServer, type TestServer } from "../helpers/server.js";

/** The value of one sample line of a Prometheus text scrape (labels in any order). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe("Prometheus metrics", () => {
  let server: TestServer;
  const scrape = async (base = server.httpUrl) => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  beforeAll(async () => {
    server = await startServer({ env: { TESSERA_METRICS_PORT: "0", TESSERA_BUSY_TIMEOUT_MS: "50" } });
  });
  afterAll(() => server.dispose());

  it("counts requests, RPCs per transport and code, tokens per grant, and signing keys", async () => {
    for (let i = 0; i < 3; i++) await clientToken(server);
    expect((await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, server.basic(server.bootstrap.client_id, "nope-nope-nope"))).status).toBe(401);
    const connect = createConnectClient(TokenService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const creds = { clientId: server.bootstrap.client_id, clientSecret: server.bootstrap.client_secret };
    await connect.issueClientToken(creds);
    await connect.issueClientToken(creds);
    await expect(connect.issueClientToken({ ...creds, clientSecret: "wrong-wrong" })).rejects.toThrow();
    const grpcClient = createGrpcClient(TokenService, server.grpcAddress);
    await grpcClient.issueClientToken(creds).finally(() => grpcClient.close());
    await fetch(`${server.httpUrl}/no/such/path`);

    const text = await scrape();
    expect(sample(text, "tessera_http_requests_total", { route: "/oidc/token", method: "POST", status: "200" })).toBe(3);
    expect(sample(text, "tessera_http_requests_total", { route: "/oidc/token", method: "POST", status: "401" })).toBe(1);
    expect(sample(text, "tessera_http_requests_total", { route: "other", method: "GET", status: "404" })).toBe(1);
    expect(sample(text, "tessera_http_request_duration_seconds_count", { route: "/oidc/token", method: "POST" })).toBe(4);
    const rpc = { service: "tessera.v1.TokenService", method: "IssueClientToken" };
    expect(sample(text, "tessera_rpc_requests_total", { ...rpc, code: "OK", transport: "connect" })).toBe(2);
    expect(sample(text, "tessera_rpc_requests_total", { ...rpc, code: "UNAUTHENTICATED", transport: "connect" })).toBe(1);
    expect(sample(text, "tessera_rpc_requests_total", { ...rpc, code: "OK", transport: "grpc" })).toBe(1);
    expect(sample(text, "tessera_rpc_request_duration_seconds_count", { ...rpc, transport: "connect" })).toBe(3);
    expect(sample(text, "tessera_tokens_issued_total", { grant: "client_credentials" })).toBe(6);
    expect(sample(text, "tessera_refresh_reuse_detected_total")).toBe(0);
    expect(sample(text, "tessera_signing_keys", { state: "active" })).toBe(1);
    expect(sample(text, "tessera_signing_keys", { state: "pending" })).toBe(0);
    expect(sample(text, "tessera_sqlite_busy_retries_total")).toBe(0);
    expect(sample(text, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(sample(text, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
  });

  it("serves the same registry on TESSERA_METRICS_PORT, and only /metrics there", async () => {
    const base = `http://127.0.0.1:${(server.app.metricsServer!.address() as AddressInfo).port}`;
    const text = await scrape(base);
    expect(sample(text, "tessera_tokens_issued_total", { grant: "client_credentials" })).toBe(6);
    expect((await fetch(`${base}/oidc/jwks`)).status).toBe(404);
  });

  it("retries a write held up by another writer twice, then answers UNAVAILABLE; the next write succeeds", async () => {
    const admin = createConnectClient(KeyAdminService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const headers = { authorization: `Bearer ${await clientToken(server)}` };
    const other = new Database(join(server.dataDir, DATABASE_FILE));
    other.exec("BEGIN IMMEDIATE");
    try {
      const err = ConnectError.from(await admin.rotateSigningKey({}, { headers }).catch((e: unknown) => e));
      expect(err.code).toBe(Code.Unavailable);
      // Client credentials only read: they keep working while the write lock is taken.
      await clientToken(server);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect(sample(await scrape(), "tessera_sqlite_busy_retries_total")).toBe(2);
    await admin.rotateSigningKey({}, { headers });
    const text = await scrape();
    expect(sample(text, "tessera_signing_keys", { state: "active" })).toBe(1);
    // The new key is announced for the JWKS max-age before it signs; the old one signs until then.
    expect(sample(text, "tessera_signing_keys", { state: "pending" })).toBe(1);
    expect(sample(text, "tessera_rpc_requests_total", { service: "tessera.v1.KeyAdminService", method: "RotateSigningKey", code: "UNAVAILABLE", transport: "connect" })).toBe(1);
  });

  it("counts WAL checkpoints by who ran them", async () => {
    const storage = server.app.core.storage as SqliteStorage;
    await storage.settings.put("metrics-test", "x".repeat(5000));
    await storage.checkpointer!.checkpointNow();
    expect(sample(await scrape(), "tessera_sqlite_checkpoints_total", { by: "worker" })).toBeGreaterThanOrEqual(1);
  });
});
