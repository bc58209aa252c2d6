import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BOOTSTRAP_FILE, type BootstrapCredentials } from "../../src/core/bootstrap.js";
import { BACKGROUND_LEASE_KEY } from "../../src/core/lease.js";
import type { PostgresStorage } from "../../src/storage/postgres/index.js";
import { createServer, connect, type Server, type Socket } from "node:net";
import { createApplication, createClient, createUser } from "../helpers/fixtures.js";
import { loggedWorkers, startProcess, type RunningProcess } from "../helpers/process.js";
import { clientToken, databaseEnv, jwtHeader, postForm, startServer, tempDataDir } from "../helpers/server.js";
import { rotateChains } from "../helpers/tokens.js";

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

/**
 * CONTRACT §7: two real `node dist/src/main.js` processes on one PostgreSQL database behave as one
 * service. One pair of processes serves every case; the last one kills one of them.
 */
describe("two tessera processes on one PostgreSQL database", () => {
  let dbEnv: Record<string, string>;
  const dirs = [tempDataDir(), tempDataDir()];
  let a: RunningProcess;
  let b: RunningProcess;
  let db: pg.Client;
  let boot: BootstrapCredentials;
  let adminToken: string;
  let appId: string;

  const token = (p: RunningProcess, auth: string, form: Record<string, string> = { grant_type: "client_credentials" }) =>
    postForm(`${p.httpUrl}/oidc/token`, form, auth);
  const admin = async (p: RunningProcess, method: string, body: unknown) => {
    const res = await fetch(`${p.httpUrl}/tessera.v1.${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, any>;
    if (res.status !== 200) throw new Error(`${method}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const bearerOf = async (p: RunningProcess, auth: string) => ((await (await token(p, auth)).json()) as { access_token: string }).access_token;
  const newClient = async (through: RunningProcess, extra: Record<string, unknown> = {}) => {
    const created = await admin(through, "ApplicationAdminService/CreateClient", {
      client: { applicationId: appId, grantTypes: ["client_credentials", "refresh_token"], ...extra },
    });
    return { id: created.client.id as string, secret: created.clientSecret as string, auth: basic(created.client.id, created.clientSecret) };
  };
  const newUser = async (through: RunningProcess) => {
    const username = `u${Math.random().toString(36).slice(2, 10)}`;
    const password = "correct horse battery staple";
    await admin(through, "UserAdminService/CreateUser", { user: { username, applicationIds: [appId] }, password });
    return { username, password };
  };
  const login = async (p: RunningProcess, clientAuth: string, user: { username: string; password: string }) => {
    const res = await fetch(`${p.httpUrl}/cis/v1/auth/password/authenticate`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await bearerOf(p, clientAuth)}` },
      body: JSON.stringify(user),
    });
    return { status: res.status, body: (await res.json()) as { refresh_token: string; session_id: string; error?: string } };
  };
  const refresh = (p: RunningProcess, clientAuth: string, refreshToken: string) =>
    token(p, clientAuth, { grant_type: "refresh_token", refresh_token: refreshToken });

  beforeAll(async () => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
    dbEnv = await databaseEnv();
    db = new pg.Client(dbEnv.TESSERA_DATABASE_URL);
    await db.connect();
    // Both start at once on the empty database; sweeps every second, so the background lease lives 3 s. One
    // issuer, as behind a load balancer: a token one issued is good at the other.
    const env = (dir: string) => ({ ...dbEnv, TESSERA_DATA_DIR: dir, TESSERA_SWEEP_INTERVAL: "1s", TESSERA_LOG_LEVEL: "warn", TESSERA_ISSUER: "http://tessera.instances.test" });
    [a, b] = await Promise.all(dirs.map((dir) => startProcess(env(dir))));
    const bootstrapped = dirs.filter((d) => existsSync(join(d, BOOTSTRAP_FILE)));
    expect(bootstrapped).toHaveLength(1);
    boot = JSON.parse(readFileSync(join(bootstrapped[0]!, BOOTSTRAP_FILE), "utf8")) as BootstrapCredentials;
    adminToken = await bearerOf(a, basic(boot.client_id, boot.client_secret));
    appId = (await admin(a, "ApplicationAdminService/CreateApplication", { application: { displayName: "Shop" } })).application.id;
  }, 60_000);

  afterAll(async () => {
    for (const p of [a, b]) if (p !== undefined && p.child.exitCode === null) p.child.kill("SIGKILL");
    await db?.end();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("started at once on an empty database, they share one bootstrap: its client gets tokens from both", async () => {
    const { rows } = await db.query("SELECT count(*)::int AS n FROM clients");
    expect(rows[0].n).toBe(1);
    for (const p of [a, b]) expect((await token(p, basic(boot.client_id, boot.client_secret))).status).toBe(200);
  });

  it("a client created through A gets a token from B within 1 s; its new secret and its deletion reach B within 1 s", async () => {
    const client = await newClient(a);
    await vi.waitFor(async () => expect((await token(b, client.auth)).status).toBe(200), { timeout: 1000, interval: 20 });
    // B has the client (and its checked secret) cached now; a new secret through A replaces it on B.
    const rotated = await admin(a, "ApplicationAdminService/RotateClientSecret", { id: client.id, gracePeriod: "0s" });
    await vi.waitFor(async () => expect((await token(b, client.auth)).status).toBe(401), { timeout: 1000, interval: 20 });
    const fresh = basic(client.id, rotated.clientSecret);
    expect((await token(b, fresh)).status).toBe(200);
    await admin(a, "ApplicationAdminService/DeleteClient", { id: client.id });
    await vi.waitFor(async () => expect((await token(b, fresh)).status).toBe(401), { timeout: 1000, interval: 20 });
  });

  it("a client token revoked through A stops working on B (/cis, the admin RPCs) within 1 s", async () => {
    const client = await newClient(a);
    const bearer = await bearerOf(b, client.auth);
    const cis = () =>
      fetch(`${b.httpUrl}/cis/v1/auth/password/authenticate`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ username: "nobody", password: "x" }),
      });
    // B has verified it and found it not revoked (the answer is about the user, not the token).
    expect((await cis()).status).toBe(400);
    expect((await postForm(`${a.httpUrl}/oidc/revoke`, { token: bearer }, client.auth)).status).toBe(200);
    await vi.waitFor(async () => expect((await cis()).status).toBe(401), { timeout: 1000, interval: 20 });
  });

  it("a resource created and assigned through A is honoured by B within 1 s after B refused it", async () => {
    const client = await newClient(a);
    const uri = `https://orders-${Date.now()}.example.com`;
    const withResource = () => token(b, client.auth, { grant_type: "client_credentials", resource: uri });
    expect((await withResource()).status).toBe(400);
    const { resource } = await admin(a, "ResourceAdminService/CreateResource", { resource: { uri, displayName: "Orders" } });
    await admin(a, "ApplicationAdminService/UpdateClient", { client: { id: client.id, resourceIds: [resource.id] }, updateMask: "resourceIds" });
    await vi.waitFor(
      async () => {
        const res = await withResource();
        expect(res.status).toBe(200);
        const { access_token } = (await res.json()) as { access_token: string };
        expect(JSON.parse(Buffer.from(access_token.split(".")[1]!, "base64url").toString()).aud).toContain(uri);
      },
      { timeout: 1000, interval: 20 },
    );
  });

  it("a key rotated through A is in B's JWKS within 1 s, and B's new tokens verify against A's JWKS", async () => {
    const client = await newClient(a);
    const { key } = await admin(a, "KeyAdminService/RotateSigningKey", {});
    expect(key.state).toBe("SIGNING_KEY_STATE_PENDING");
    const jwks = async (p: RunningProcess) => (await (await fetch(`${p.httpUrl}/oidc/jwks`)).json()) as JSONWebKeySet;
    await vi.waitFor(async () => expect((await jwks(b)).keys.map((k) => k.kid)).toContain(key.kid), { timeout: 1000, interval: 20 });
    // The new key signs after the announce period; whichever key B signs with now, A publishes it.
    const fromB = await bearerOf(b, client.auth);
    expect((await jwks(a)).keys.map((k) => k.kid)).toContain(jwtHeader(fromB).kid);
    const verified = await jwtVerify(fromB, createLocalJWKSet(await jwks(a)));
    expect(verified.payload.client_id ?? verified.payload.sub).toBe(client.id);
  });

  it("50 concurrent refreshes of one token split between A and B: exactly one 200, and the reuse revokes the family on both", async () => {
    const client = await newClient(a);
    const user = await newUser(a);
    const first = await login(a, client.auth, user);
    expect(first.status).toBe(200);
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await refresh(i % 2 === 0 ? a : b, client.auth, first.body.refresh_token);
        return { status: res.status, body: (await res.json()) as { refresh_token?: string; error?: string } };
      }),
    );
    const won = results.filter((r) => r.status === 200);
    expect(won).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && r.body.error === "invalid_grant")).toHaveLength(49);
    // The losers presented a consumed token: reuse, detected whichever instance saw it, revoked the family.
    for (const p of [a, b]) expect((await refresh(p, client.auth, won[0]!.body.refresh_token!)).status).toBe(400);
  });

  it("a logout through A stops refreshes on B", async () => {
    const client = await newClient(a);
    const user = await newUser(a);
    const session = await login(a, client.auth, user);
    const next = await refresh(b, client.auth, session.body.refresh_token);
    expect(next.status).toBe(200);
    const res = await fetch(`${a.httpUrl}/cis/v1/auth/logout`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await bearerOf(a, client.auth)}` },
      body: JSON.stringify({ session_id: session.body.session_id }),
    });
    expect(res.status).toBe(204);
    expect((await refresh(b, client.auth, ((await next.json()) as { refresh_token: string }).refresh_token)).status).toBe(400);
  });

  it("failed logins count across instances: alternating between A and B still locks the username", async () => {
    const client = await newClient(a);
    const user = await newUser(a);
    for (let i = 0; i < 5; i++) expect((await login(i % 2 === 0 ? a : b, client.auth, { ...user, password: "wrong" })).status).toBe(400);
    for (const p of [a, b]) expect((await login(p, client.auth, user)).body.error).toBe("too_many_attempts");
  });

  it("the lease holder killed with SIGKILL during a rotation storm: every acknowledged rotation is honoured exactly once through the other, which takes the sweeps over", async () => {
    const lease = async () => {
      const { rows } = await db.query("SELECT value FROM settings WHERE key = $1", [BACKGROUND_LEASE_KEY]);
      return rows[0] === undefined ? undefined : (JSON.parse(rows[0].value) as { holder: string; expireTime: number }).holder;
    };
    const pidOf = (holder: string | undefined) => Number(holder?.split("/")[1]);
    const staleReuseEvent = async () =>
      Number((await db.query("INSERT INTO refresh_reuse_events (tenant_id, family_id, client_id, user_id, generation, create_time) VALUES ('default', 'fam_x', 'cli_x', 'usr_x', 1, 0) RETURNING id")).rows[0].id);
    const swept = async (id: number) => (await db.query("SELECT 1 FROM refresh_reuse_events WHERE id = $1", [id])).rowCount === 0;

    // One instance holds the lease and sweeps; the other does not.
    const holderPid = pidOf(await lease());
    expect([a.child.pid, b.child.pid]).toContain(holderPid);
    const [victim, survivor] = holderPid === a.child.pid ? [a, b] : [b, a];
    const before = await staleReuseEvent();
    await vi.waitFor(async () => expect(await swept(before)).toBe(true), { timeout: 5000, interval: 100 });

    // The storm: chains rotating through the holder as fast as they can, each 200's token the chain's newest.
    const client = await newClient(a, { reuseLeeway: "120s" });
    const user = await newUser(a);
    const chains = await Promise.all(Array.from({ length: 8 }, async () => [(await login(victim, client.auth, user)).body.refresh_token]));
    const load = rotateChains(chains, (token) => refresh(victim, client.auth, token));
    await load.until(chains.length * 5);
    load.stop();
    victim.child.kill("SIGKILL");
    await load.done;
    await victim.exited;
    expect(load.rotated()).toBeGreaterThanOrEqual(chains.length * 5);

    for (const chain of chains) {
      // The newest works through the survivor (rotated now, or retried inside the leeway if the kill ate the answer)...
      expect((await refresh(survivor, client.auth, chain.at(-1)!)).status).toBe(200);
      // ...and no older one does: each was consumed exactly once.
      for (const old of chain.slice(0, -1)) expect((await refresh(survivor, client.auth, old)).status).toBe(400);
    }

    // The victim never renews again: once its lease expired (3 s) the survivor holds it and sweeps.
    const after = await staleReuseEvent();
    await vi.waitFor(async () => expect(await swept(after)).toBe(true), { timeout: 10_000, interval: 100 });
    expect(pidOf(await lease())).toBe(survivor.child.pid);
  }, 60_000);
});

/** A TCP proxy in front of PostgreSQL that a test can cut (every connection dropped, new ones refused) and restore. */
async function cuttableProxy(target: URL): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  let server: Server;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((inbound) => {
        const outbound = connect(Number(target.port), target.hostname);
        track(inbound);
        track(outbound);
        inbound.pipe(outbound).on("close", () => inbound.destroy());
        outbound.pipe(inbound).on("close", () => outbound.destroy());
        inbound.on("close", () => outbound.destroy());
        outbound.on("close", () => inbound.destroy());
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
    });
  const port = await listen(0);
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return {
    url: url.toString(),
    cut: async () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
    restore: async () => {
      if (!server.listening) await listen(port);
    },
  };
}

describe("an instance cut off from PostgreSQL", () => {
  it("answers 503 on writes and refreshes, goes on issuing client tokens from its cache, and recovers by itself", async () => {
    const dbEnv = await databaseEnv();
    const proxy = await cuttableProxy(new URL(dbEnv.TESSERA_DATABASE_URL!));
    const server = await startServer({ env: { ...dbEnv, TESSERA_DATABASE_URL: proxy.url, TESSERA_DATABASE_CONNECT_TIMEOUT_MS: "1000" } });
    try {
      const appId = await createApplication(server.app);
      const { clientId, clientSecret } = await createClient(server.app, appId);
      const user = await createUser(server.app, { applicationIds: [appId] });
      const auth = server.basic(clientId, clientSecret);
      const bearer = await clientToken(server, {}, auth);
      const login = await fetch(`${server.httpUrl}/cis/v1/auth/password/authenticate`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ username: user.username, password: user.password }),
      });
      const { refresh_token } = (await login.json()) as { refresh_token: string };
      const adminBearer = await clientToken(server);
      const createResource = (uri: string) =>
        fetch(`${server.httpUrl}/tessera.v1.ResourceAdminService/CreateResource`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${adminBearer}` },
          body: JSON.stringify({ resource: { uri, displayName: "r" } }),
        });

      await proxy.cut();
      // The instance knows: its LISTEN connection is gone too (so notifications may be missed from now on).
      await vi.waitFor(() => expect((server.app.core.storage as PostgresStorage).changes.isListening).toBe(false), { timeout: 2000, interval: 10 });
      // Client credentials need no write: the cached client (CACHE_TTL at most) still gets tokens.
      expect((await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, auth)).status).toBe(200);
      // Writes and refreshes need the database: 503 temporarily_unavailable, never 500.
      const refreshed = await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "refresh_token", refresh_token }, auth);
      expect(refreshed.status).toBe(503);
      expect(((await refreshed.json()) as { error: string }).error).toBe("temporarily_unavailable");
      expect((await createResource("https://api.example/down")).status).toBe(503);
      expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(503);

      await proxy.restore();
      await vi.waitFor(async () => expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(200), { timeout: 10_000, interval: 100 });
      expect((await createResource("https://api.example/up")).status).toBe(200);
      expect((await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "refresh_token", refresh_token }, auth)).status).toBe(200);
    } finally {
      await proxy.restore().catch(() => undefined);
      await server.dispose();
    }
  }, 60_000);
});

describe("TESSERA_WORKERS=2 on PostgreSQL", () => {
  it("a primary with two workers on one database: 64 concurrent client credentials all succeed, served by both; 20 refreshes of one token give one 200; /metrics counts both", async () => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
    const dir = tempDataDir();
    const proc = await startProcess({ ...(await databaseEnv()), TESSERA_DATA_DIR: dir, TESSERA_WORKERS: "2", TESSERA_LOG_LEVEL: "info" });
    try {
      expect(proc.stderr()).toContain("2 workers");
      const boot = JSON.parse(readFileSync(join(dir, BOOTSTRAP_FILE), "utf8")) as BootstrapCredentials;
      const call = async (method: string, body: unknown, bearer: string) => {
        const res = await fetch(`${proc.httpUrl}/tessera.v1.${method}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
          body: JSON.stringify(body),
        });
        expect(res.status, method).toBe(200);
        return (await res.json()) as Record<string, any>;
      };
      const tokenFor = async (auth: string) => (await postForm(`${proc.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, auth)).json() as Promise<{ access_token: string }>;
      const admin = (await tokenFor(basic(boot.client_id, boot.client_secret))).access_token;
      const app = (await call("ApplicationAdminService/CreateApplication", { application: { displayName: "Workers" } }, admin)).application;
      const created = await call("ApplicationAdminService/CreateClient", { client: { applicationId: app.id, grantTypes: ["client_credentials", "refresh_token"] } }, admin);
      const auth = basic(created.client.id, created.clientSecret);
      await call("UserAdminService/CreateUser", { user: { username: "wanda", applicationIds: [app.id] }, password: "worker password 1" }, admin);

      const answers = await Promise.all(Array.from({ length: 64 }, () => postForm(`${proc.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, auth)));
      expect(answers.map((r) => r.status)).toEqual(Array(64).fill(200));
      await new Promise((r) => setTimeout(r, 200)); // log lines are flushed asynchronously
      expect(loggedWorkers(proc.stdout(), "/oidc/token")).toEqual([0, 1]);

      const bearer = (await tokenFor(auth)).access_token;
      const cis = (path: string, body: unknown) =>
        fetch(`${proc.httpUrl}/cis/v1/auth/${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
          body: JSON.stringify(body),
        });
      const login = await cis("password/authenticate", { username: "wanda", password: "worker password 1" });
      expect(login.status).toBe(200);
      const { refresh_token } = (await login.json()) as { refresh_token: string };
      const refreshed = await Promise.all(Array.from({ length: 20 }, () => cis("token/refresh", { refresh_token })));
      const statuses = refreshed.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 400)).toHaveLength(19);

      const metrics = await (await fetch(`${proc.httpUrl}/metrics`)).text();
      const served = metrics
        .split("\n")
        .filter((l) => l.startsWith("tessera_http_requests_total{") && l.includes('route="/oidc/token"') && l.includes('status="200"'))
        .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
      // The admin token + 64 + the bearer for the refreshes, whichever worker answered.
      expect(served).toBe(66);
      proc.child.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      if (proc.child.exitCode === null) proc.child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
