import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Storage } from "../../../src/domain/ports.js";
import type { InteractionRecord, NewAuthorizationCode } from "../../../src/domain/records.js";
import { BACKENDS, type OpenedStorage } from "./backends.js";
import { NOW, hash, id, session, world, type World } from "./fixtures.js";

describe.each(BACKENDS)("authorization state, throttling on $name", (backend) => {
  let opened: OpenedStorage;
  let s: Storage;
  let w: World;
  beforeAll(async () => {
    opened = await backend.open();
    s = opened.storage;
    w = await world(s);
  });
  afterAll(() => opened?.dispose());

  const interaction = (over: Partial<InteractionRecord> = {}): InteractionRecord => ({
    id: id("int"),
    tenantId: w.tenantId,
    clientId: w.client.id,
    request: JSON.stringify({ scope: "openid", state: "s" }),
    csrfHash: hash(),
    userId: undefined,
    sessionId: undefined,
    loginTime: undefined,
    createTime: NOW,
    expireTime: NOW + 600,
    ...over,
  });

  async function code(over: Partial<NewAuthorizationCode> = {}): Promise<NewAuthorizationCode> {
    const ses = session(w.tenantId, w.user.id);
    await s.sessions.insert(ses, hash());
    const c: NewAuthorizationCode = {
      hash: hash(),
      tenantId: w.tenantId,
      clientId: w.client.id,
      userId: w.user.id,
      sessionId: ses.id,
      redirectUri: "https://app/cb",
      codeChallenge: "abc",
      resourceId: "res_1",
      scope: "openid",
      nonce: undefined,
      offline: true,
      authTime: NOW,
      createTime: NOW,
      expireTime: NOW + 60,
      ...over,
    };
    await s.authorizations.insertCode(c);
    return c;
  }

  it("interactions: insert, set the user, delete once", async () => {
    const i = interaction();
    await s.authorizations.insertInteraction(i);
    expect(await s.authorizations.getInteraction(i.id)).toEqual(i);
    const ses = session(w.tenantId, w.user.id);
    await s.sessions.insert(ses, hash());
    await s.authorizations.setInteractionUser(i.id, w.user.id, ses.id, NOW + 5);
    expect(await s.authorizations.getInteraction(i.id)).toEqual({ ...i, userId: w.user.id, sessionId: ses.id, loginTime: NOW + 5 });
    const results = await Promise.all([s.authorizations.deleteInteraction(i.id), s.authorizations.deleteInteraction(i.id)]);
    expect(results.sort()).toEqual([false, true]);
    expect(await s.authorizations.getInteraction(i.id)).toBeUndefined();
  });

  it("consents: inserted, then replaced with the first createTime kept", async () => {
    expect(await s.authorizations.getConsent(w.user.id, w.client.id)).toBeUndefined();
    const first = { userId: w.user.id, clientId: w.client.id, tenantId: w.tenantId, scopes: ["openid"], resourceIds: ["r1"], createTime: NOW, updateTime: NOW };
    await s.authorizations.putConsent(first);
    expect(await s.authorizations.getConsent(w.user.id, w.client.id)).toEqual(first);
    await s.authorizations.putConsent({ ...first, scopes: ["openid", "email"], resourceIds: ["r1", "r2"], createTime: NOW + 50, updateTime: NOW + 50 });
    expect(await s.authorizations.getConsent(w.user.id, w.client.id)).toEqual({
      ...first, scopes: ["openid", "email"], resourceIds: ["r1", "r2"], updateTime: NOW + 50,
    });
  });

  it("codes: round trip, and of 50 concurrent exchanges exactly one consumes the code", async () => {
    const c = await code({ nonce: "n-1", codeChallenge: undefined, offline: false });
    expect(await s.authorizations.getCode(c.hash)).toEqual({ ...c, consumeTime: undefined, familyId: undefined, accessTokenJti: undefined, accessTokenExpireTime: undefined });
    const other = await opened.openAnother();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? s : other).authorizations.consumeCode(c.hash, NOW + 1, { familyId: `fam_${i}`, accessTokenJti: `jti_${i}`, accessTokenExpireTime: NOW + 60 + i }),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const used = await s.authorizations.getCode(c.hash);
    expect(used?.consumeTime).toBe(NOW + 1);
    const winner = results.indexOf(true);
    expect([used?.familyId, used?.accessTokenJti, used?.accessTokenExpireTime]).toEqual([`fam_${winner}`, `jti_${winner}`, NOW + 60 + winner]);
    await expect(s.authorizations.insertCode(c)).rejects.toEqual(expect.objectContaining({ kind: "conflict" }));
  });

  it("access token denylist: idempotent, answered until swept after the token's expiry", async () => {
    await s.authorizations.revokeAccessToken("jti-1", NOW + 100);
    await s.authorizations.revokeAccessToken("jti-1", NOW + 100);
    expect(await s.authorizations.isAccessTokenRevoked("jti-1")).toBe(true);
    expect(await s.authorizations.isAccessTokenRevoked("jti-2")).toBe(false);
    await s.authorizations.sweep(NOW + 99);
    expect(await s.authorizations.isAccessTokenRevoked("jti-1")).toBe(true);
    await s.authorizations.sweep(NOW + 100);
    expect(await s.authorizations.isAccessTokenRevoked("jti-1")).toBe(false);
  });

  it("sweep: expired interactions, codes a day past expiry; counts what it deleted", async () => {
    const fresh = await opened.openAnother();
    const i = interaction({ expireTime: NOW + 10 });
    await fresh.authorizations.insertInteraction(i);
    const c = await code({ expireTime: NOW + 10 });
    expect(await fresh.authorizations.sweep(NOW + 10 + 86_399)).toBeGreaterThanOrEqual(1);
    expect(await fresh.authorizations.getInteraction(i.id)).toBeUndefined();
    expect(await fresh.authorizations.getCode(c.hash)).toBeDefined();
    expect(await fresh.authorizations.sweep(NOW + 10 + 86_400)).toBeGreaterThanOrEqual(1);
    expect(await fresh.authorizations.getCode(c.hash)).toBeUndefined();
  });

  it("login throttle: insert or replace, clear, sweep only unlocked old entries", async () => {
    const state = { failures: 3, lastFailureTime: NOW, lockedUntil: 0 };
    await s.loginThrottle.put(w.tenantId, "app\nalice", state);
    expect(await s.loginThrottle.get(w.tenantId, "app\nalice")).toEqual(state);
    expect(await s.loginThrottle.get(w.tenantId, "app\nbob")).toBeUndefined();
    await s.loginThrottle.put(w.tenantId, "app\nalice", { failures: 6, lastFailureTime: NOW + 1, lockedUntil: NOW + 31 });
    expect(await s.loginThrottle.get(w.tenantId, "app\nalice")).toEqual({ failures: 6, lastFailureTime: NOW + 1, lockedUntil: NOW + 31 });
    await s.loginThrottle.put(w.tenantId, "app\ncarol", state);
    expect(await s.loginThrottle.sweep(NOW + 1, NOW + 30, 10)).toBe(1);
    expect(await s.loginThrottle.get(w.tenantId, "app\ncarol")).toBeUndefined();
    expect(await s.loginThrottle.get(w.tenantId, "app\nalice")).toBeDefined();
    await s.loginThrottle.clear(w.tenantId, "app\nalice");
    expect(await s.loginThrottle.get(w.tenantId, "app\nalice")).toBeUndefined();
  });
});
