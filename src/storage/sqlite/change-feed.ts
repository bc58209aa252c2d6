import { ALL_TOPICS, type ChangeFeed, type ChangeTopic } from "../../domain/ports.js";
import type { Db } from "./database.js";

/**
 * Other writers' commits (the CLI, other workers or processes on the same file) seen through PRAGMA
 * data_version, read at most once per event-loop turn: a request that arrives after another
 * process's commit is read in a later turn than that commit, so it still sees it, and a burst of
 * requests costs one read. data_version moves on any commit (a refresh rotation too), so only then
 * are the per-topic counters read (triggers bump them, like PostgreSQL's NOTIFY triggers), and only
 * topics whose counter moved are reported: another worker's rotations no longer empty the caches (the
 * counters also move with this connection's own writes, which the next foreign commit then reports once more:
 * a harmless extra invalidation).
 * Without the counters table (a schema before it) every change is ALL_TOPICS.
 */
export class DataVersionFeed implements ChangeFeed {
  private readonly dataVersionStmt;
  private countersStmt: { all(): unknown[] } | undefined;
  private dataVersion: number;
  private counters: Map<string, number> | undefined;
  private polledThisTurn = false;
  private readonly listeners = new Set<(topics: readonly ChangeTopic[]) => void>();

  constructor(private readonly db: Db) {
    this.dataVersionStmt = db.prepare<[], number>("PRAGMA data_version").pluck();
    this.dataVersion = this.dataVersionStmt.get()!;
    this.counters = this.readCounters();
  }

  /** Topic → counter, or undefined when the schema has no counters table (yet). */
  private readCounters(): Map<string, number> | undefined {
    try {
      this.countersStmt ??= this.db.prepare<[], { topic: string; version: number }>("SELECT topic, version FROM change_counters");
      return new Map((this.countersStmt.all() as { topic: string; version: number }[]).map((r) => [r.topic, r.version]));
    } catch {
      this.countersStmt = undefined;
      return undefined;
    }
  }

  poll(): void {
    if (this.polledThisTurn || !this.db.open) return;
    this.polledThisTurn = true;
    setImmediate(() => {
      this.polledThisTurn = false;
    });
    const version = this.dataVersionStmt.get()!;
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    const before = this.counters;
    this.counters = this.readCounters();
    const after = this.counters;
    const changed = before === undefined || after === undefined ? ALL_TOPICS : ALL_TOPICS.filter((t) => before.get(t) !== after.get(t));
    if (changed.length === 0) return;
    for (const listener of this.listeners) listener(changed);
  }

  subscribe(listener: (topics: readonly ChangeTopic[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
