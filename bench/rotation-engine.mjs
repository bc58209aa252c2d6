// The rotation engine without HTTP: 64 chains rotating in-process through rotateRefreshToken (group commit
// included), to separate the engine's cost from the HTTP layer's. Usage: node bench/rotation-engine.mjs
//   [--seconds 5] [--rows 1000000] [--chains 64] [--sync NORMAL,FULL]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { seedRefreshTokens } from "./seed.mjs";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    rows: { type: "string", default: "1000000" },
    chains: { type: "string", default: "64" },
    sync: { type: "string", default: "NORMAL,FULL" },
  },
});

execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
const { loadConfig } = await import("../dist/src/config.js");
const { buildApp } = await import("../dist/src/server.js");
const { rotateRefreshToken } = await import("../dist/src/core/rotation.js");
const { issueUserTokens, snapshotOf } = await import("../dist/src/core/user-tokens.js");

async function run(sync, rows) {
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-engine-"));
  const app = await buildApp(loadConfig({ TESSERA_DATA_DIR: dataDir, TESSERA_SYNCHRONOUS: sync, TESSERA_LOG_LEVEL: "silent" }));
  const { core } = app;
  const { storage } = core;
  const now = core.now();
  const ctx0 = await core.clientContext(JSON.parse(await storage.settings.get("bootstrap")).client_id);
  await storage.transaction(async (tx) => {
    await tx.clients.update({ ...ctx0.client, grantTypes: [] });
    await tx.users.insert({
      id: "usr_bench", tenantId: "default", username: "bench", email: "", roles: ["r"], customClaims: {},
      applicationIds: [ctx0.application.id], passwordHash: undefined, createTime: now, updateTime: now,
    });
  });
  core.invalidateCaches();
  const ctx = await core.clientContext(ctx0.client.id);
  if (rows > 0) seedRefreshTokens(storage.db, { rows, applicationId: ctx.application.id, clientId: ctx.client.id, userId: "usr_bench", now });
  const user = await storage.users.get("default", "usr_bench");
  const chains = await Promise.all(Array.from({ length: Number(args.chains) }, async () =>
    (await issueUserTokens(core, {
      ctx, resource: ctx.defaultResource, userId: user.id, scopes: [], snapshot: snapshotOf(user, ["pwd"]),
      authTime: now, sid: undefined, offline: true,
    })).refresh_token,
  ));
  let done = 0;
  const until = performance.now() + Number(args.seconds) * 1000;
  await Promise.all(chains.map(async (_, i) => {
    while (performance.now() < until) {
      chains[i] = (await rotateRefreshToken(core, { ctx, refreshToken: chains[i] })).refresh_token;
      done++;
    }
  }));
  const rate = done / Number(args.seconds);
  console.log(`synchronous=${sync.padEnd(6)} ${rows > 0 ? `${rows.toLocaleString("en")} rows` : "empty"}: ${Math.round(rate)} rotations/s (${(1e6 / rate).toFixed(0)} µs each)`);
  await app.stop(0);
  rmSync(dataDir, { recursive: true, force: true });
}

for (const sync of args.sync.split(",")) {
  await run(sync, 0);
  await run(sync, Number(args.rows));
}
