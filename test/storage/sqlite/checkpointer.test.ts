import { existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DATABASE_FILE } from "../../../src/storage/sqlite/database.js";
import { openSqliteStorage, type SqliteStorage } from "../../../src/storage/sqlite/index.js";
import { tempDataDir } from "../../helpers/server.js";

const LIMIT = 1024 * 1024;
// The worker never checkpoints on its own timer here: each test drives it with checkpointNow().
const NEVER = 3_600_000;
const ROW = "x".repeat(3000);

describe("WAL checkpoints off the request path", () => {
  const dirs: string[] = [];
  const open: SqliteStorage[] = [];
  const storageIn = (dataDir: string, walLimitBytes = LIMIT) => {
    const s = openSqliteStorage({ dataDir, busyTimeoutMs: 1000, checkpoints: { intervalMs: NEVER, walLimitBytes } });
    open.push(s);
    return s;
  };
  const fresh = () => {
    const d = tempDataDir();
    dirs.push(d);
    return { dataDir: d, storage: storageIn(d) };
  };
  const walSize = (dataDir: string) => statSync(join(dataDir, `${DATABASE_FILE}-wal`), { throwIfNoEntry: false })?.size ?? 0;
  const write = (s: SqliteStorage, i: number) => s.transaction((tx) => tx.settings.put(`k${i % 50}`, `${i}${ROW}`));
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("commits copy nothing into the database file; the worker's checkpoint does", async () => {
    const { storage } = fresh();
    expect(storage.db.pragma("wal_autocheckpoint", { simple: true })).toBe(0);
    for (let i = 0; i < 40; i++) await write(storage, i);
    const report = await storage.checkpointer!.checkpointNow();
    expect(report.busy).toBe(false);
    expect(report.log).toBeGreaterThan(20);
    expect(report.checkpointed).toBe(report.log);
    // Caught up: the next write starts the WAL over, so the log holds only that write's frames.
    await write(storage, 41);
    const after = await storage.checkpointer!.checkpointNow();
    expect(after.log).toBeLessThan(10);
    expect(storage.checkpointer!.stats.inline).toBe(0);
  });

  it("with the worker keeping up, continuous writes never reach the bound", async () => {
    const { dataDir, storage } = fresh();
    let largest = 0;
    for (let i = 0; i < 400; i++) {
      await write(storage, i);
      if (i % 10 === 9) await storage.checkpointer!.checkpointNow();
      largest = Math.max(largest, walSize(dataDir));
    }
    expect(storage.checkpointer!.stats.inline).toBe(0);
    expect(largest).toBeLessThan(LIMIT);
  });

  it("past restartFrames the worker follows its pass with a RESTART, so the next write starts the WAL over", async () => {
    const d = tempDataDir();
    dirs.push(d);
    const storage = openSqliteStorage({ dataDir: d, checkpoints: { intervalMs: NEVER, restartFrames: 16 } });
    open.push(storage);
    for (let i = 0; i < 5; i++) await write(storage, i);
    const small = await storage.checkpointer!.checkpointNow();
    expect(small.restart).toBe(small.log >= 16);
    for (let i = 0; i < 40; i++) await write(storage, i);
    const report = await storage.checkpointer!.checkpointNow();
    expect(report).toMatchObject({ busy: false, restart: true });
    expect(report.checkpointed).toBe(report.log);
    expect(storage.checkpointer!.stats.restarts).toBeGreaterThan(0);
    await write(storage, 99);
    expect((await storage.checkpointer!.checkpointNow()).log).toBeLessThan(10);
  });

  it("when the worker falls behind, the serving connection truncates the WAL at the bound itself", async () => {
    const { dataDir, storage } = fresh();
    const seen: string[] = [];
    storage.events.checkpointed = (by) => seen.push(by);
    let largest = 0;
    for (let i = 0; i < 1000; i++) {
      await write(storage, i);
      largest = Math.max(largest, walSize(dataDir));
    }
    // 1000 writes of 3 KB rows are several times the bound; one write's frames may come on top of it.
    expect(storage.checkpointer!.stats.inline).toBeGreaterThan(1);
    expect(seen.filter((by) => by === "inline")).toHaveLength(storage.checkpointer!.stats.inline);
    expect(largest).toBeLessThanOrEqual(LIMIT + 64 * 1024);
    expect(walSize(dataDir)).toBeLessThanOrEqual(LIMIT);
  });

  it("close stops the worker, and a reopen finds every committed write", async () => {
    const { dataDir, storage } = fresh();
    for (let i = 0; i < 60; i++) await write(storage, i);
    await storage.close();
    expect(storage.checkpointer!.running).toBe(false);
    expect(storage.checkpointer!.stats.workerLost).toBe(false);
    // The last connection to close checkpointed everything and removed the WAL.
    expect(existsSync(join(dataDir, `${DATABASE_FILE}-wal`))).toBe(false);
    const again = storageIn(dataDir);
    for (let k = 10; k < 60; k++) expect(await again.settings.get(`k${k % 50}`)).toBe(`${k}${ROW}`);
  });

  it("a lost worker hands checkpoints back to SQLite", async () => {
    const { storage } = fresh();
    const worker = (storage.checkpointer as unknown as { worker: { terminate(): Promise<number> } }).worker;
    await worker.terminate();
    await new Promise((r) => setImmediate(r));
    expect(storage.checkpointer!.stats.workerLost).toBe(true);
    expect(storage.db.pragma("wal_autocheckpoint", { simple: true })).toBe(1000);
    await expect(storage.checkpointer!.checkpointNow()).rejects.toThrow(/not running/);
    await write(storage, 1);
    await storage.close();
  });

  it("in-memory databases and checkpoints: false run without a worker", async () => {
    const memory = openSqliteStorage({ dataDir: ":memory:" });
    open.push(memory);
    expect(memory.checkpointer).toBeUndefined();
    const d = tempDataDir();
    dirs.push(d);
    const plain = openSqliteStorage({ dataDir: d, checkpoints: false });
    open.push(plain);
    expect(plain.checkpointer).toBeUndefined();
    expect(plain.db.pragma("wal_autocheckpoint", { simple: true })).toBe(1000);
  });
});
