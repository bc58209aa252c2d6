import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GroupCommit } from "../../../src/storage/sqlite/group-commit.js";

describe("group commit", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-group-"));
  const db = new Database(join(dir, "t.db"));
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE t (k TEXT PRIMARY KEY)");
  const insert = db.prepare<[string]>("INSERT INTO t (k) VALUES (?)");
  const keys = () => (db.prepare("SELECT k FROM t ORDER BY k").pluck().all() as string[]);
  afterEach(() => db.exec("DELETE FROM t"));

  it("runs the work of one turn in one transaction; a failing item rolls back alone", async () => {
    const group = new GroupCommit(db);
    let inTransaction = 0;
    let runs = 0;
    const results = await Promise.allSettled([
      group.run(() => {
        runs++;
        inTransaction += db.inTransaction ? 1 : 0;
        insert.run("a");
        return "first";
      }),
      group.run(() => {
        insert.run("b");
        insert.run("a"); // duplicate key: this item fails after a partial write
      }),
      group.run(() => {
        insert.run("c");
        return keys();
      }),
    ]);
    // Twice: in the fast pass the failing item rolled back, then in its own savepoint; always in a transaction.
    expect(runs).toBe(2);
    expect(inTransaction).toBe(2);
    expect(results[0]).toEqual({ status: "fulfilled", value: "first" });
    expect(results[1]!.status).toBe("rejected");
    // The third item saw the first one's write and not the failed item's partial one.
    expect(results[2]).toEqual({ status: "fulfilled", value: ["a", "c"] });
    expect(keys()).toEqual(["a", "c"]);
  });

  it("runs a group without a failing item once, and re-runs a group with one item by item", async () => {
    const group = new GroupCommit(db);
    const runs = { a: 0, b: 0 };
    await Promise.all([group.run(() => (runs.a++, insert.run("a"))), group.run(() => (runs.b++, insert.run("b")))]);
    expect(runs).toEqual({ a: 1, b: 1 });
    const results = await Promise.allSettled([group.run(() => (runs.a++, insert.run("c"))), group.run(() => insert.run("a"))]);
    // The first run rolled back entirely ("c" too), then each item ran in its own savepoint.
    expect(runs.a).toBe(3);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected"]);
    expect(keys()).toEqual(["a", "b", "c"]);
  });

  it("calls afterCommit once per committed group, before any item settles (the WAL bound)", async () => {
    const seen: string[] = [];
    const group = new GroupCommit(db, undefined, () => seen.push(`commit:${db.inTransaction}:${keys().length}`));
    await Promise.all([group.run(() => insert.run("p")).then(() => seen.push("settled")), group.run(() => insert.run("q"))]);
    await Promise.allSettled([group.run(() => insert.run("r")), group.run(() => insert.run("p"))]);
    expect(seen).toEqual(["commit:false:2", "settled", "commit:false:3"]);
  });

  it("settles nothing before the commit, and everything when the commit fails", async () => {
    const group = new GroupCommit(db);
    let settled = false;
    const pending = group.run(() => insert.run("x")).then(() => (settled = true));
    expect(settled).toBe(false);
    await pending;
    expect(keys()).toEqual(["x"]);
    // Another connection holds the write lock: the whole group is refused, nothing is written.
    const other = new Database(join(dir, "t.db"), { timeout: 0 });
    other.exec("BEGIN IMMEDIATE");
    const refused = await Promise.allSettled([group.run(() => insert.run("y")), group.run(() => insert.run("z"))]);
    other.exec("ROLLBACK");
    other.close();
    expect(refused.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(keys()).toEqual(["x"]);
    rmSync(dir, { recursive: true, force: true });
  });
});
