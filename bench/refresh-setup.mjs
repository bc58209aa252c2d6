// What bench/refresh.mjs and bench/soak.mjs share: a seeded data dir, the built server pinned to a core, the
// chains of refresh tokens the load rotates, and the wrk script that keeps them rotating.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chainQueueScript, cpuSeconds } from "./chain-queue.mjs";
import { seedRefreshTokens, seedRefreshTokensPostgres } from "./seed.mjs";

export const BOOTSTRAP_ID = "bench-bootstrap";
export const CLIENT_ID = "bench-client";
export const CLIENT_SECRET = "bench-secret-bench-secret-bench-secret";
const USERNAME = "bench-user";
const PASSWORD = "bench password 123";

/** The server's environment: ports 0, silent, no sweeps, the bench's bootstrap client. */
export const serverEnv = (dataDir, sync, extra = {}) => ({
  ...extra,
  TESSERA_DATA_DIR: dataDir,
  TESSERA_HTTP_PORT: "0",
  TESSERA_GRPC_PORT: "0",
  TESSERA_LOG_LEVEL: "silent",
  TESSERA_SYNCHRONOUS: sync,
  TESSERA_BOOTSTRAP_CLIENT_ID: BOOTSTRAP_ID,
  TESSERA_BOOTSTRAP_CLIENT_SECRET: CLIENT_SECRET,
  TESSERA_SWEEP_INTERVAL: "0",
});

/** A data dir with an application, its client, one user of it and `rows` refresh tokens (10 per family, 9 consumed). */
export async function seedDataDir(rows, sync, extraEnv = {}) {
  const { loadConfig } = await import("../dist/src/config.js");
  const { buildApp } = await import("../dist/src/server.js");
  const { hashPassword } = await import("../dist/src/core/passwords.js");
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-bench-"));
  const app = await buildApp(loadConfig(serverEnv(dataDir, sync, extraEnv)));
  const { core } = app;
  const { storage } = core;
  const now = Math.floor(Date.now() / 1000);
  const client = { id: CLIENT_ID, applicationId: "app_bench" };
  const userId = "usr_bench";
  await storage.transaction(async (tx) => {
    await tx.applications.insert({ id: client.applicationId, tenantId: "default", displayName: "Bench", management: false, createTime: now, updateTime: now });
    await tx.clients.insert({
      id: CLIENT_ID, tenantId: "default", applicationId: client.applicationId, displayName: "Bench client",
      tokenEndpointAuthMethod: "client_secret_basic", idTokenSignedResponseAlg: undefined,
      secretHash: core.secrets.hash("client-secret", CLIENT_SECRET), previousSecretHash: undefined, previousSecretExpireTime: undefined,
      redirectUris: [], postLogoutRedirectUris: [], grantTypes: [], scopes: [], webOrigins: [], resourceIds: [],
      accessTokenTtl: undefined, refreshTokenTtl: undefined, maxRotation: undefined, reuseLeeway: 0, createTime: now, updateTime: now,
    });
    await tx.users.insert({
      id: userId, tenantId: "default", username: USERNAME, email: "", roles: ["bench"], customClaims: {},
      applicationIds: [client.applicationId], passwordHash: undefined, createTime: now, updateTime: now,
    });
  });
  await storage.users.setPassword("default", userId, await hashPassword(PASSWORD), now);
  const started = performance.now();
  if (rows > 0 && storage.pool !== undefined) {
    await seedRefreshTokensPostgres(storage.pool, { rows, applicationId: client.applicationId, clientId: CLIENT_ID, userId, now });
  } else if (rows > 0) {
    seedRefreshTokens(storage.db, { rows, applicationId: client.applicationId, clientId: CLIENT_ID, userId, now });
    storage.db.pragma("wal_checkpoint(TRUNCATE)");
  }
  const seedSeconds = (performance.now() - started) / 1000;
  await app.stop(0);
  return { dataDir, seedSeconds };
}

/** `node dist/src/main.js` pinned to `core`; resolves once it serves HTTP. */
export function startServer(env, { core, nodeArgs = [] }) {
  const child = spawn("taskset", ["-c", core, process.execPath, ...nodeArgs, "dist/src/main.js"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (c) => {
      err += c;
      const m = /serving HTTP on [^:]+:(\d+)/.exec(err);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
}

export function request(agent, port, path, headers, body, method = "POST") {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method, agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode, text, body: res.headers["content-type"]?.includes("json") ? JSON.parse(text || "{}") : {} });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The bench client's form and JSON (Bearer client token) headers. */
export async function benchHeaders(agent, port) {
  const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64")}`;
  const form = { "content-type": "application/x-www-form-urlencoded", authorization: basic };
  const cc = await request(agent, port, "/oidc/token", form, "grant_type=client_credentials");
  return { form, json: { "content-type": "application/json", authorization: `Bearer ${cc.body.access_token}` } };
}

/** `count` refresh token chains: one password login each, 8 at a time. */
export async function loginChains(agent, port, json, count) {
  const chains = [];
  for (let i = 0; i < count; i += 8) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(8, count - i) }, () =>
        request(agent, port, "/cis/v1/auth/password/authenticate", json, JSON.stringify({ username: USERNAME, password: PASSWORD })),
      ),
    );
    for (const r of batch) {
      if (r.status !== 200) throw new Error(`login failed ${r.status} ${r.text}`);
      chains.push(r.body.refresh_token);
    }
  }
  return chains;
}

/**
 * The chain-queue wrk script (bench/chain-queue.mjs) for tessera's refresh endpoint, written into a temp dir
 * for a wrk run this caller manages itself (bench/soak.mjs runs one for minutes). Returns its path.
 */
export function writeWrkScript(chains, headers, endpoint) {
  const dir = mkdtempSync(join(tmpdir(), "tessera-wrk-"));
  const script = join(dir, "refresh.lua");
  const oidc = endpoint === "oidc";
  writeFileSync(script, chainQueueScript({ chains, path: oidc ? "/oidc/token" : "/cis/v1/auth/token/refresh", headers, formBody: oidc }));
  return { dir, script };
}

export { cpuSeconds };

/** Resident set size of a process in bytes (Linux /proc). */
export function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? 0 : Number(m[1]) * 1024;
}
