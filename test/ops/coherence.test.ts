import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CACHE_TTL } from "../../src/core/core.js";
import { BACKGROUND_LEASE_KEY, Lease } from "../../src/core/lease.js";
import { createApplication, createClient } from "../helpers/fixtures.js";
import { postForm, startServer, type TestServer } from "../helpers/server.js";

describe("the background jobs' lease", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.dispose());

  it("one holder at a time; another takes over once the holder stops renewing, or at once when it releases", async () => {
    const { core } = server.app;
    const a = new Lease(core, 15, "lease:test");
    const b = new Lease(core, 15, "lease:test");
    expect(await a.renew()).toBe(true);
    expect(await b.renew()).toBe(false);
    expect([a.held, b.held]).toEqual([true, false]);
    server.clock.advance(10);
    expect(await a.renew()).toBe(true);
    server.clock.advance(10);
    // A renewed 10 s ago, for 15 s: still A's.
    expect(await b.renew()).toBe(false);
    // A dies (stops renewing): its lease expires and B takes over.
    server.clock.advance(6);
    expect(a.held).toBe(false);
    expect(await b.renew()).toBe(true);
    expect(await a.renew()).toBe(false);
    // B stops gracefully: A may take it at once.
    await b.release();
    expect(b.held).toBe(false);
    expect(await a.renew()).toBe(true);
  });

  it("the server takes the background lease at start (sweeps are on by default) and releases it when it stops", async () => {
    const other = await startServer({ clock: server.clock });
    const lease = other.app.lease!;
    await expect.poll(() => lease.held).toBe(true);
    const row = JSON.parse((await other.app.core.storage.settings.get(BACKGROUND_LEASE_KEY))!) as { holder: string; expireTime: number };
    expect(row).toEqual({ holder: lease.holder, expireTime: expect.any(Number) });
    expect(row.expireTime).toBeGreaterThan(other.app.core.now());
    // The holder's id names the process, no secret: host/pid/random.
    expect(lease.holder).toMatch(new RegExp(`/${process.pid}/[0-9a-f]{8}$`));
    await other.stop();
    expect(lease.held).toBe(false);
  });
});

describe("the cache backstop", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.dispose());

  it(`a change whose notification was lost is honoured after at most ${CACHE_TTL} s`, async () => {
    const appId = await createApplication(server.app);
    const { clientId, clientSecret } = await createClient(server.app, appId);
    const token = () => postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, server.basic(clientId, clientSecret));
    expect((await token()).status).toBe(200);
    // Deleted behind the core's back (no invalidation, and SQLite's change feed does not report a connection's own writes):
    // the cached client goes on working, as it would on an instance that missed the notification...
    expect(await server.app.core.storage.clients.delete("default", clientId)).toBe(true);
    expect((await token()).status).toBe(200);
    server.clock.advance(CACHE_TTL - 1);
    expect((await token()).status).toBe(200);
    // ...until its cache entry expires.
    server.clock.advance(1);
    expect((await token()).status).toBe(401);
  });
});
