import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { OAuthError } from "../../../src/domain/errors.js";
import type { ChangeTopic, Repositories, Storage } from "../../../src/domain/ports.js";
import { BACKENDS, type OpenedStorage } from "./backends.js";
import { application, client, tenant, world } from "./fixtures.js";

describe.each(BACKENDS)("unit of work and change feed on $name", (backend) => {
  let opened: OpenedStorage;
  let s: Storage;
  beforeAll(async () => {
    opened = await backend.open();
    s = opened.storage;
  });
  afterAll(() => opened?.dispose());

  it("commits what the callback wrote and passes its value on", async () => {
    const value = await s.transaction(async (tx) => {
      await tx.tenants.insert(tenant("uow-commit"));
      return "done";
    });
    expect(value).toBe("done");
    expect(await s.tenants.get("uow-commit")).toBeDefined();
  });

  it("rolls everything back when the callback rejects, passing the rejection on unchanged", async () => {
    const err = new OAuthError("invalid_request", "no");
    await expect(
      s.transaction(async (tx) => {
        await tx.tenants.insert(tenant("uow-rollback"));
        await tx.applications.insert(application("uow-rollback"));
        throw err;
      }),
    ).rejects.toBe(err);
    expect(await s.tenants.get("uow-rollback")).toBeUndefined();
  });

  it("a duplicate inside a transaction is a conflict and leaves no partial write", async () => {
    const w = await world(s);
    await expect(
      s.transaction(async (tx) => {
        await tx.applications.insert(application(w.tenantId, { id: "app_partial" }));
        await tx.clients.insert({ ...client(w.tenantId, w.app.id), id: w.client.id });
      }),
    ).rejects.toEqual(expect.objectContaining({ name: "StorageError", kind: "conflict" }));
    expect(await s.applications.get(w.tenantId, "app_partial")).toBeUndefined();
  });

  it("a row whose foreign key names a deleted record is StorageError gone, inside a transaction and out", async () => {
    const w = await world(s);
    const gone = expect.objectContaining({ name: "StorageError", kind: "gone" });
    await expect(s.clients.insert(client(w.tenantId, "app_deleted_meanwhile"))).rejects.toEqual(gone);
    await expect(s.transaction((tx) => tx.clients.insert(client(w.tenantId, "app_deleted_meanwhile")))).rejects.toEqual(gone);
  });

  it("the transaction's repositories refuse work once it has ended", async () => {
    let kept: Repositories | undefined;
    await s.transaction(async (tx) => {
      kept = tx;
    });
    await expect(kept!.tenants.get("default")).rejects.toThrow();
  });

  it("check-then-write units of work (from two instances where they may overlap) run one at a time: no lost update", async () => {
    const other = backend.overlappingInstances ? await opened.openAnother() : s;
    await s.settings.put("counter", "0");
    const increment = (db: Storage) =>
      db.transaction(async (tx) => {
        const n = Number(await tx.settings.get("counter"));
        await tx.settings.put("counter", String(n + 1));
      });
    await Promise.all(Array.from({ length: 20 }, (_, i) => increment(i % 2 ? s : other)));
    expect(await s.settings.get("counter")).toBe("20");
  });

  it("creating the same tenant concurrently (from two instances where they may overlap): one creates, the others find it", async () => {
    const other = backend.overlappingInstances ? await opened.openAnother() : s;
    const create = (db: Storage) =>
      db.transaction(async (tx) => {
        if (await tx.tenants.get("uow-race")) return "exists";
        await tx.tenants.insert(tenant("uow-race"));
        return "created";
      });
    const results = await Promise.all([create(s), create(other), create(s), create(other)]);
    expect(results.sort()).toEqual(["created", "exists", "exists", "exists"]);
  });

  it("another instance's committed change reaches the change feed; a rolled back one never does", async () => {
    const other = await opened.openAnother();
    const w = await world(s);
    const seen: ChangeTopic[] = [];
    const unsubscribe = s.changes.subscribe((topics) => seen.push(...topics));
    try {
      s.changes.poll();
      seen.length = 0;
      await other.transaction(async (tx) => {
        await tx.clients.insert(client(w.tenantId, w.app.id));
        throw new Error("rolled back");
      }).catch(() => undefined);
      await other.clients.insert(client(w.tenantId, w.app.id));
      await vi.waitFor(
        () => {
          s.changes.poll();
          expect(seen).toContain("clients");
        },
        { timeout: 1000, interval: 20 },
      );
    } finally {
      unsubscribe();
    }
  });

  it("is open until closed, and closing twice is harmless", async () => {
    const other = await opened.openAnother();
    expect(other.isOpen).toBe(true);
    await other.close();
    await other.close();
    expect(other.isOpen).toBe(false);
  });
});
