import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Repositories, Storage } from "../../../src/domain/ports.js";
import type { RefreshFamily } from "../../../src/domain/records.js";
import type { RefreshRotation, RotationOutcome } from "../../../src/domain/refresh-rotation.js";
import { BACKENDS, type OpenedStorage } from "./backends.js";
import { NOW, family, hash, session, world, type World } from "./fixtures.js";

/** A family with its first token, generation 1, valid for an hour. */
async function chain(db: Repositories, w: World, over: Partial<RefreshFamily> = {}, tokenExpire = NOW + 3600) {
  const f = family(w, over);
  await db.refreshTokens.insertFamily(f);
  const first = hash();
  await db.refreshTokens.insertToken({ hash: first, familyId: f.id, generation: 1, createTime: NOW, expireTime: tokenExpire });
  return { family: f, token: first };
}

const rotation = (familyId: string, presented: Buffer, over: Partial<RefreshRotation> = {}): RefreshRotation => ({
  hash: presented,
  successorHash: hash(),
  familyId,
  generation: 2,
  successorExpireTime: NOW + 7200,
  reuseLeeway: 0,
  now: NOW + 10,
  ...over,
});

const tally = (outcomes: RotationOutcome[]) =>
  outcomes.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o]: (acc[o] ?? 0) + 1 }), {});

describe.each(BACKENDS)("refresh tokens and sessions on $name", (backend) => {
  let opened: OpenedStorage;
  let s: Storage;
  let w: World;
  beforeAll(async () => {
    opened = await backend.open();
    s = opened.storage;
    w = await world(s);
  });
  afterAll(() => opened?.dispose());

  it("families and tokens round-trip, the claims snapshot included", async () => {
    const { family: f, token } = await chain(s, w, { resourceId: "res_x", scope: "openid offline_access" });
    expect(await s.refreshTokens.getFamily(f.id)).toEqual(f);
    const read = await s.refreshTokens.getTokenWithFamily(token);
    expect(read).toEqual({
      family: f,
      token: { hash: token, familyId: f.id, generation: 1, createTime: NOW, expireTime: NOW + 3600, consumeTime: undefined, reuseCount: 0 },
    });
    expect(await s.refreshTokens.getToken(token)).toEqual(read?.token);
    expect(await s.refreshTokens.getTokenWithFamily(hash())).toBeUndefined();
    await expect(s.refreshTokens.insertToken({ hash: token, familyId: f.id, generation: 9, createTime: NOW, expireTime: NOW })).rejects.toEqual(
      expect.objectContaining({ kind: "conflict" }),
    );
  });

  it("rotation: the winner consumes and inserts the successor; a second presentation is reuse and revokes the family", async () => {
    const { family: f, token } = await chain(s, w);
    const r = rotation(f.id, token);
    expect(await s.rotateRefreshToken(r)).toBe("rotated");
    expect((await s.refreshTokens.getToken(token))?.consumeTime).toBe(NOW + 10);
    expect(await s.refreshTokens.getToken(r.successorHash)).toEqual({
      hash: r.successorHash, familyId: f.id, generation: 2, createTime: NOW + 10, expireTime: NOW + 7200, consumeTime: undefined, reuseCount: 0,
    });
    expect(await s.rotateRefreshToken({ ...r, now: NOW + 11 })).toBe("reuse");
    const revoked = await s.refreshTokens.getFamily(f.id);
    expect([revoked?.revokeTime, revoked?.revokeReason]).toEqual([NOW + 11, "reuse_detected"]);
    expect(await s.rotateRefreshToken(rotation(f.id, r.successorHash, { generation: 3, now: NOW + 12 }))).toBe("revoked");
    // One reuse event was recorded: the sweep finds exactly it.
    expect(await s.refreshTokens.sweepReuseEvents(NOW + 11, 100)).toBeGreaterThanOrEqual(1);
  });

  it("rotation refuses expired tokens, families past their maximum rotation and unknown tokens", async () => {
    const expired = await chain(s, w, {}, NOW + 5);
    expect(await s.rotateRefreshToken(rotation(expired.family.id, expired.token))).toBe("expired");
    const old = await chain(s, w, { maxExpireTime: NOW + 10 });
    expect(await s.rotateRefreshToken(rotation(old.family.id, old.token))).toBe("reauthenticate");
    expect(await s.rotateRefreshToken(rotation(old.family.id, hash()))).toBe("revoked");
    expect((await s.refreshTokens.getToken(expired.token))?.consumeTime).toBeUndefined();
  });

  it("inside the reuse leeway a retry is counted and answered with the same successor, without revoking", async () => {
    const { family: f, token } = await chain(s, w);
    const r = rotation(f.id, token, { reuseLeeway: 30 });
    expect(await s.rotateRefreshToken(r)).toBe("rotated");
    expect(await s.rotateRefreshToken({ ...r, now: NOW + 20 })).toBe("retried");
    expect((await s.refreshTokens.getToken(token))?.reuseCount).toBe(1);
    expect((await s.refreshTokens.getFamily(f.id))?.revokeTime).toBeUndefined();
    // Past the leeway the same presentation is reuse.
    expect(await s.rotateRefreshToken({ ...r, now: NOW + 41 })).toBe("reuse");
  });

  it("50 concurrent rotations of one token: exactly one wins, the first loser is reuse and revokes the family", async () => {
    const { family: f, token } = await chain(s, w);
    const r = rotation(f.id, token);
    const outcomes = tally(await Promise.all(Array.from({ length: 50 }, () => s.rotateRefreshToken(r))));
    // Losers after the revocation find the family revoked.
    expect(outcomes.rotated).toBe(1);
    expect(outcomes.reuse).toBeGreaterThanOrEqual(1);
    expect((outcomes.reuse ?? 0) + (outcomes.revoked ?? 0)).toBe(49);
    expect((await s.refreshTokens.getFamily(f.id))?.revokeReason).toBe("reuse_detected");
  });

  it("50 concurrent rotations inside the leeway, from two instances: one winner, 49 counted retries, one successor", async () => {
    const other = await opened.openAnother();
    const { family: f, token } = await chain(s, w);
    const r = rotation(f.id, token, { reuseLeeway: 60 });
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? s : other).rotateRefreshToken(r)));
    expect(tally(outcomes)).toEqual({ rotated: 1, retried: 49 });
    expect((await s.refreshTokens.getToken(token))?.reuseCount).toBe(49);
    expect((await s.refreshTokens.getToken(r.successorHash))?.consumeTime).toBeUndefined();
    expect((await s.refreshTokens.getFamily(f.id))?.revokeTime).toBeUndefined();
  });

  it("revokes a family once, and every family of a session", async () => {
    const ses = session(w.tenantId, w.user.id);
    await s.sessions.insert(ses, hash());
    const a = await chain(s, w, { sessionId: ses.id });
    const b = await chain(s, w, { sessionId: ses.id });
    expect(await s.refreshTokens.revokeFamily(a.family.id, NOW + 1, "logout")).toBe(true);
    expect(await s.refreshTokens.revokeFamily(a.family.id, NOW + 2, "again")).toBe(false);
    expect(await s.refreshTokens.revokeSessionFamilies(ses.id, NOW + 3, "session_revoked")).toBe(1);
    expect((await s.refreshTokens.getFamily(a.family.id))?.revokeReason).toBe("logout");
    expect((await s.refreshTokens.getFamily(b.family.id))?.revokeReason).toBe("session_revoked");
  });

  it("sweeps families past their maximum rotation and dead chains, tokens with them, bounded by the limit", async () => {
    const fresh = await opened.openAnother();
    const v = await world(fresh);
    const past = [await chain(fresh, v, { maxExpireTime: NOW + 5 }), await chain(fresh, v, { maxExpireTime: NOW + 5 })];
    const dead = await chain(fresh, v, {}, NOW + 5);
    const live = await chain(fresh, v);
    expect(await fresh.refreshTokens.sweepPastMaxRotation(NOW + 5, 1)).toBe(1);
    expect(await fresh.refreshTokens.sweepPastMaxRotation(NOW + 5, 10)).toBeGreaterThanOrEqual(1);
    expect(await fresh.refreshTokens.getFamily(past[1]!.family.id)).toBeUndefined();
    expect(await fresh.refreshTokens.getToken(past[0]!.token)).toBeUndefined();
    expect(await fresh.refreshTokens.sweepDeadChains(NOW + 5, 10)).toBeGreaterThanOrEqual(1);
    expect(await fresh.refreshTokens.getFamily(dead.family.id)).toBeUndefined();
    expect(await fresh.refreshTokens.getFamily(live.family.id)).toBeDefined();
  });

  it("sessions: secret lookup, touch and revoke once, live pages per user and application, sweep spares referenced ones", async () => {
    const v = await world(s);
    const a = session(v.tenantId, v.user.id, { applicationId: v.app.id, createTime: NOW + 1 });
    const b = session(v.tenantId, v.user.id, { createTime: NOW + 2 });
    const gone = session(v.tenantId, v.user.id, { expireTime: NOW + 1 });
    const secret = hash();
    await s.sessions.insert(a, secret);
    await s.sessions.insert(b, hash());
    await s.sessions.insert(gone, hash());
    expect(await s.sessions.findBySecretHash(secret)).toEqual(a);
    expect(await s.sessions.get(v.tenantId, a.id)).toEqual(a);
    expect(await s.sessions.get(w.tenantId, a.id)).toBeUndefined();
    await expect(s.sessions.insert(session(v.tenantId, v.user.id), secret)).rejects.toEqual(expect.objectContaining({ kind: "conflict" }));

    expect((await s.sessions.pageForUser(v.tenantId, v.user.id, NOW + 10, undefined, 10)).map((x) => x.id)).toEqual([a.id, b.id]);
    expect((await s.sessions.pageForUser(v.tenantId, v.user.id, NOW + 10, undefined, 10, v.app.id)).map((x) => x.id)).toEqual([a.id]);
    expect((await s.sessions.pageForUser(v.tenantId, v.user.id, NOW + 10, { createTime: NOW + 1, id: a.id }, 10)).map((x) => x.id)).toEqual([b.id]);

    expect(await s.sessions.touch(a.id, NOW + 20, NOW + 5000)).toBe(true);
    expect(await s.sessions.get(v.tenantId, a.id)).toEqual({ ...a, authTime: NOW + 20, expireTime: NOW + 5000 });
    expect(await s.sessions.revoke(a.id, NOW + 21)).toBe(true);
    expect(await s.sessions.revoke(a.id, NOW + 22)).toBe(false);
    expect(await s.sessions.touch(a.id, NOW + 23, NOW + 6000)).toBe(false);

    const kept = session(v.tenantId, v.user.id, { expireTime: NOW + 1 });
    await s.sessions.insert(kept, hash());
    await chain(s, v, { sessionId: kept.id });
    await s.sessions.sweep(NOW + 1, 1000);
    expect(await s.sessions.get(v.tenantId, gone.id)).toBeUndefined();
    expect(await s.sessions.get(v.tenantId, kept.id)).toBeDefined();
  });
});
