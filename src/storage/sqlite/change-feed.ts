import { ALL_TOPICS, type ChangeFeed, type ChangeTopic } from "../../domain/ports.js";
import type { Db } from "./database.js";

/**
 * Other writers' commits (the CLI, another process on the same file) seen through PRAGMA
 * data_version, read at most once per event-loop turn: a request that arrives after another
 * process's commit is read in a later turn than that commit, so it still sees it, and a burst of
 * requests costs one read. SQLite cannot tell what changed: every change is ALL_TOPICS.
 */
export class DataVersionFeed implements ChangeFeed {
  private readonly dataVersionStmt;
  private dataVersion: number;
  private polledThisTurn = false;
  private readonly listeners = new Set<(topics: readonly ChangeTopic[]) => void>();

  constructor(private readonly db: Db) {
    this.dataVersionStmt = db.prepare<[], number>("PRAGMA data_version").pluck();
    this.dataVersion = this.dataVersionStmt.get()!;
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
    for (const listener of this.listeners) listener(ALL_TOPICS);
  }

  subscribe(listener: (topics: readonly ChangeTopic[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
