import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GroupCommit } from "../../src/storage/group-commit.js";

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
    const results = await Promise.allSettled([
      group.run(() => {
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
    expect(inTransaction).toBe(1);
    expect(results[0]).toEqual({ status: "fulfilled", value: "first" });
    expect(results[1]!.status).toBe("rejected");
    // The third item saw the first one's write and not the failed item's partial one.
    expect(results[2]).toEqual({ status: "fulfilled", value: ["a", "c"] });
    expect(keys()).toEqual(["a", "c"]);
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
