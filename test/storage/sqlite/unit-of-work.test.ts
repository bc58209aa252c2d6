import Database from "better-sqlite3";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StorageError } from "../../../src/domain/errors.js";
import { type ChangeTopic } from "../../../src/domain/ports.js";
import { DATABASE_FILE } from "../../../src/storage/sqlite/database.js";
import { openSqliteStorage, type SqliteStorage } from "../../../src/storage/sqlite/index.js";
import { tempDataDir } from "../../helpers/server.js";

/** A real turn of the event loop: other requests' callbacks may run meanwhile. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const tenant = (id: string) => ({ id, name: id, createTime: 1 });

describe("SQLite adapter: unit of work and change feed", () => {
  const dirs: string[] = [];
  const open: SqliteStorage[] = [];
  const storage = () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    const s = openSqliteStorage({ dataDir, busyTimeoutMs: 200 });
    open.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("a read outside an open transaction waits for its end and never sees its uncommitted rows", async () => {
    const s = storage();
    const seen: unknown[] = [];
    const tx = s.transaction(async (t) => {
      await t.tenants.insert(tenant("acme"));
      await nextTurn();
      seen.push(await t.tenants.get("acme"));
      throw new Error("rolled back");
    });
    // Issued while the transaction awaits a real turn, on the same connection.
    const outside = s.tenants.get("acme").then((t) => seen.push(t ?? "none"));
    await expect(tx).rejects.toThrow("rolled back");
    await outside;
    expect(seen).toEqual([tenant("acme"), "none"]);
  });

  it("a write outside an open transaction does not join it: the transaction's rollback keeps it", async () => {
    const s = storage();
    const tx = s.transaction(async (t) => {
      await t.tenants.insert(tenant("inside"));
      await nextTurn();
      throw new Error("rolled back");
    });
    const outside = s.tenants.insert(tenant("outside"));
    await expect(tx).rejects.toThrow("rolled back");
    await outside;
    expect((await s.tenants.list()).map((t) => t.id)).toEqual(["outside"]);
  });

  it("units of work run one at a time, in order", async () => {
    const s = storage();
    const order: string[] = [];
    const run = (name: string) =>
      s.transaction(async (t) => {
        order.push(`${name} begins`);
        await nextTurn();
        await t.settings.put("last", name);
        order.push(`${name} ends`);
      });
    await Promise.all([run("a"), run("b")]);
    expect(order).toEqual(["a begins", "a ends", "b begins", "b ends"]);
    expect(await s.settings.get("last")).toBe("b");
  });

  it("a duplicate key is a StorageError conflict, not an engine code", async () => {
    const s = storage();
    await s.tenants.insert(tenant("acme"));
    const err = await s.tenants.insert(tenant("acme")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).kind).toBe("conflict");
  });

  it("another connection holding the write lock makes a transaction fail as busy after the retries", async () => {
    const s = storage();
    let retries = 0;
    s.events.retried = () => retries++;
    const other = new Database(join(dirs[0]!, DATABASE_FILE));
    other.exec("BEGIN IMMEDIATE");
    try {
      const err = await s.transaction(async (t) => t.settings.put("k", "v")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).kind).toBe("busy");
      expect(retries).toBe(2);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    await s.transaction(async (t) => t.settings.put("k", "v"));
    expect(await s.settings.get("k")).toBe("v");
  });

  it("the change feed reports the topics another connection's commit changed, once per event-loop turn, and not its own writes", async () => {
    const s = storage();
    const changes: (readonly ChangeTopic[])[] = [];
    s.changes.subscribe((topics) => changes.push(topics));
    const other = new Database(join(dirs[0]!, DATABASE_FILE));
    // A commit that touches nothing cached (a rotation, a session, a setting) drops no cache.
    other.prepare("INSERT INTO settings (key, value) VALUES ('x', 'y')").run();
    await nextTurn();
    s.changes.poll();
    expect(changes).toEqual([]);

    other.prepare("INSERT INTO tenants (id, name, create_time) VALUES ('other', 'other', 1)").run();
    await nextTurn();
    s.changes.poll();
    s.changes.poll();
    expect(changes).toEqual([["tenants"]]);
    // Read at most once per turn: a commit in the same turn shows on the next one.
    other.prepare("INSERT INTO signing_keys (kid, algorithm, public_jwk, private_key, create_time, activate_time) VALUES ('k', 'ES256', '{}', x'00', 1, 1)").run();
    s.changes.poll();
    expect(changes).toHaveLength(1);
    await nextTurn();
    s.changes.poll();
    expect(changes).toEqual([["tenants"], ["signingKeys"]]);
    // A revoked access token (RFC 7009) is a topic of its own: a client token checked not revoked is read again.
    other.prepare("INSERT INTO revoked_access_tokens (jti, expire_time) VALUES ('j', 1)").run();
    await nextTurn();
    s.changes.poll();
    expect(changes).toEqual([["tenants"], ["signingKeys"], ["revokedAccessTokens"]]);

    // Its own writes: data_version does not move, so nothing is reported.
    await s.tenants.insert(tenant("own"));
    await nextTurn();
    s.changes.poll();
    expect(changes).toHaveLength(3);
    other.close();
  });

  it("the rotation write settles only after its group committed, and waits for an open transaction", async () => {
    const s = storage();
    const now = 1000;
    await s.tenants.insert(tenant("t"));
    // A family and its first token, written directly as the core would in a unit of work.
    await s.transaction(async (t) => {
      await t.applications.insert({ id: "app", tenantId: "t", displayName: "", management: false, createTime: now, updateTime: now });
      await t.users.insert({ id: "usr", tenantId: "t", username: "u", email: "", passwordHash: undefined, roles: [], customClaims: {}, applicationIds: ["app"], createTime: now, updateTime: now });
      await t.clients.insert({
        id: "cli", tenantId: "t", applicationId: "app", displayName: "", tokenEndpointAuthMethod: "client_secret_basic", idTokenSignedResponseAlg: undefined,
        secretHash: undefined, previousSecretHash: undefined, previousSecretExpireTime: undefined, redirectUris: [], postLogoutRedirectUris: [],
        grantTypes: [], scopes: [], webOrigins: [], resourceIds: [], accessTokenTtl: undefined, refreshTokenTtl: undefined, maxRotation: undefined,
        reuseLeeway: 0, createTime: now, updateTime: now,
      });
      await t.refreshTokens.insertFamily({
        id: "rtf", tenantId: "t", applicationId: "app", clientId: "cli", userId: "usr", sessionId: undefined, resourceId: undefined, scope: "",
        claims: {}, authTime: now, createTime: now, maxExpireTime: now + 1000, revokeTime: undefined, revokeReason: undefined,
      });
      await t.refreshTokens.insertToken({ hash: Buffer.alloc(32, 1), familyId: "rtf", generation: 0, createTime: now, expireTime: now + 100 });
    });
    const rotation = { hash: Buffer.alloc(32, 1), successorHash: Buffer.alloc(32, 2), familyId: "rtf", generation: 1, successorExpireTime: now + 100, reuseLeeway: 0, now: now + 1 };
    let committed = false;
    const held = s.transaction(async () => {
      await nextTurn();
      await nextTurn();
      committed = true;
    });
    const outcome = await s.rotateRefreshToken(rotation);
    expect(committed).toBe(true);
    await held;
    expect(outcome).toBe("rotated");
    expect(await s.rotateRefreshToken({ ...rotation, now: now + 2 })).toBe("reuse");
    expect((await s.refreshTokens.getFamily("rtf"))?.revokeReason).toBe("reuse_detected");
  });
});
