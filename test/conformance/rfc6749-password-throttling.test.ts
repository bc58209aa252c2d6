// One password check with throttling (RFC 6749 §10.10 / §4.3.2 brute force; CONTRACT §7, issue #11 item 6):
// - the hosted login page is throttled per application + username like the password grant: after repeated
//   failures the right password gets 429 and a page saying the account is temporarily locked (clock injected);
// - the login page and /cis/v1/auth/password/authenticate share one failure count;
// - a locked username costs no hash;
// - password hashes run through bounded slots: a flood of wrong passwords fills a bounded FIFO queue and the
//   rest are refused at once (429 too_many_attempts with Retry-After), so a legitimate login waits behind at
//   most the queue, never behind the whole flood.
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HashesBusyError, HashSlots } from "../../src/core/hash-slots.js";
import { createApplication, createClient, createUser } from "../helpers/fixtures.js";
import { clientToken, startServer, type TestServer } from "../helpers/server.js";
import { CookieBrowser, hiddenField } from "../oidc/oidc-helpers.js";

const REDIRECT = "https://rp.example/callback";

async function cisLogin(server: TestServer, bearer: string, username: string, password: string) {
  const res = await fetch(`${server.httpUrl}/cis/v1/auth/password/authenticate`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ username, password }),
  });
  return { status: res.status, body: (await res.json()) as { error?: string }, retryAfter: res.headers.get("retry-after") };
}

/** An application with a confidential client (code flow and client token) and one member user. */
async function application(server: TestServer) {
  const appId = await createApplication(server.app);
  const { clientId, clientSecret } = await createClient(server.app, appId, { redirectUris: [REDIRECT] });
  const user = await createUser(server.app, { applicationIds: [appId] });
  const bearer = await clientToken(server, {}, server.basic(clientId, clientSecret));
  return { appId, clientId, bearer, ...user };
}

/** Opens the hosted login page for the client; returns a function posting the login form. */
async function loginPage(server: TestServer, clientId: string) {
  const browser = new CookieBrowser(server.httpUrl);
  const challenge = createHash("sha256").update(randomBytes(32).toString("base64url")).digest("base64url");
  const params = { client_id: clientId, redirect_uri: REDIRECT, response_type: "code", scope: "openid", code_challenge: challenge, code_challenge_method: "S256" };
  const start = await browser.get(`/oidc/auth?${new URLSearchParams(params)}`);
  const page = await (await browser.get(start.headers.get("location")!)).text();
  const form = { interaction: hiddenField(page, "interaction"), csrf: hiddenField(page, "csrf") };
  return (username: string, password: string) => browser.post("/oidc/interaction/login", { ...form, username, password });
}

describe("the hosted login page is throttled", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.dispose());

  it("locks the username after repeated wrong passwords: the right one then gets 429 until the lock ends", async () => {
    const app = await application(server);
    const post = await loginPage(server, app.clientId);
    for (let i = 0; i < 5; i++) expect((await post(app.username, `wrong password ${i}`)).status).toBe(400);

    const hashesBefore = server.app.core.passwordHashes.runs;
    const locked = await post(app.username, app.password);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await locked.text()).toMatch(/temporarily locked/);
    // A locked username is refused before any hashing.
    expect(server.app.core.passwordHashes.runs).toBe(hashesBefore);

    server.clock.advance(31);
    const ok = await post(app.username, app.password);
    // Signed in: on to the consent screen with a session cookie.
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toMatch(/^\/oidc\/interaction\?id=/);
    expect(ok.headers.getSetCookie().some((c) => c.startsWith("tessera_session="))).toBe(true);
  });

  it("shares one failure count with the password grant of the same application", async () => {
    const app = await application(server);
    for (let i = 0; i < 5; i++) expect((await cisLogin(server, app.bearer, app.username, `wrong ${i} password`)).status).toBe(400);
    const post = await loginPage(server, app.clientId);
    expect((await post(app.username, app.password)).status).toBe(429);
    const viaGrant = await cisLogin(server, app.bearer, app.username, app.password);
    expect(viaGrant).toMatchObject({ status: 429, body: { error: "too_many_attempts" } });
  });

  it("guesses for one username sent at once are checked only until the lock: the ones still waiting are refused", async () => {
    const app = await application(server);
    const concurrency = server.app.core.passwordHashes.concurrency;
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => cisLogin(server, app.bearer, app.username, `wrong password ${i}`)));
    const checked = answers.filter((a) => a.status === 400);
    expect(checked.every((a) => a.body.error === "invalid_grant")).toBe(true);
    // Four free failures, the fifth locks; at most the other slots' checks were already under way.
    expect(checked.length).toBeGreaterThanOrEqual(5);
    expect(checked.length).toBeLessThanOrEqual(4 + concurrency);
    expect(answers.filter((a) => a.status === 429).every((a) => a.body.error === "too_many_attempts")).toBe(true);
    expect(checked.length + answers.filter((a) => a.status === 429).length).toBe(30);
    expect((await cisLogin(server, app.bearer, app.username, app.password)).status).toBe(429);
  });
});

describe("password hashes run through bounded slots", () => {
  it("queues in order up to the limit and refuses the rest at once", async () => {
    const slots = new HashSlots(1, 2);
    const started: number[] = [];
    const finish: (() => void)[] = [];
    const work = (n: number) => () =>
      new Promise<number>((resolve) => {
        started.push(n);
        finish[n] = () => resolve(n);
      });
    const runs = [1, 2, 3].map((n) => slots.run(work(n)));
    await expect(slots.run(work(4))).rejects.toBeInstanceOf(HashesBusyError);
    expect({ started, queued: slots.queued, rejected: slots.rejected }).toEqual({ started: [1], queued: 2, rejected: 1 });
    finish[1]!();
    await runs[0];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 2]);
    // A newcomer waits behind the queue instead of overtaking it.
    const late = slots.run(work(5));
    finish[2]!();
    await runs[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 2, 3]);
    finish[3]!();
    await runs[2];
    await new Promise((r) => setImmediate(r));
    finish[5]!();
    expect(await late).toBe(5);
    expect(slots.peakQueued).toBe(2);
  });

  it("a flood of wrong passwords is refused beyond the queue, and a real login is not stuck behind it", async () => {
    const server = await startServer({ env: { TESSERA_PASSWORD_HASH_CONCURRENCY: "1", TESSERA_PASSWORD_HASH_QUEUE: "3" } });
    try {
      const app = await application(server);
      const other = await createUser(server.app, { applicationIds: [app.appId] });
      const flood = Array.from({ length: 40 }, (_, i) => cisLogin(server, app.bearer, `${app.username}-guess-${i}`, "wrong password"));
      const real = cisLogin(server, app.bearer, other.username, other.password);
      const answers = await Promise.all(flood);
      const slots = server.app.core.passwordHashes;
      // Never more than the queue waited: the real login had at most 3 hashes ahead of it, or was refused at once.
      expect(slots.peakQueued).toBeLessThanOrEqual(3);
      const busy = answers.filter((a) => a.status === 429);
      expect(busy.length).toBeGreaterThan(0);
      expect(busy[0]).toMatchObject({ body: { error: "too_many_attempts" }, retryAfter: "1" });
      expect(answers.every((a) => a.status === 400 || a.status === 429)).toBe(true);
      expect(slots.runs).toBeLessThan(41);
      expect([200, 429]).toContain((await real).status);
      // Once the flood has drained, the user signs in.
      expect((await cisLogin(server, app.bearer, other.username, other.password)).status).toBe(200);
    } finally {
      await server.dispose();
    }
  });
});
