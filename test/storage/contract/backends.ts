import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Storage } from "../../../src/domain/ports.js";
import { openPostgresStorage } from "../../../src/storage/postgres/index.js";
import { openSqliteStorage } from "../../../src/storage/sqlite/index.js";
import { createTestDatabase } from "../../helpers/postgres.js";

export interface OpenedStorage {
  storage: Storage;
  /** A second, independent connection to the same database (another instance). */
  openAnother(): Promise<Storage>;
  dispose(): Promise<void>;
}

export interface Backend {
  name: string;
  /**
   * Whether units of work of two instances may overlap within this process. Not with SQLite: a second
   * connection's BEGIN IMMEDIATE waits synchronously (busy timeout) for a transaction whose callback
   * needs the event loop it blocks. Two SQLite processes are fine.
   */
  overlappingInstances: boolean;
  open(): Promise<OpenedStorage>;
}

/** The engines every contract test runs on: each `open()` gives a fresh, empty, migrated database. */
export const BACKENDS: Backend[] = [
  {
    name: "sqlite",
    overlappingInstances: false,
    async open() {
      const dataDir = mkdtempSync(join(tmpdir(), "tessera-contract-"));
      const others: Storage[] = [];
      const storage = openSqliteStorage({ dataDir, synchronous: "NORMAL" });
      return {
        storage,
        async openAnother() {
          const other = openSqliteStorage({ dataDir, synchronous: "NORMAL" });
          others.push(other);
          return other;
        },
        async dispose() {
          for (const s of [storage, ...others]) await s.close();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: "postgres",
    overlappingInstances: true,
    async open() {
      const url = await createTestDatabase();
      const options = { url, poolSize: 10, statementTimeoutMs: 10_000, connectTimeoutMs: 10_000 };
      const others: Storage[] = [];
      const storage = await openPostgresStorage(options);
      return {
        storage,
        async openAnother() {
          const other = await openPostgresStorage(options);
          others.push(other);
          return other;
        },
        async dispose() {
          for (const s of [storage, ...others]) await s.close();
        },
      };
    },
  },
];
