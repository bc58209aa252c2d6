import type * as ports from "../../domain/ports.js";
import type { Db } from "./database.js";
import type { Sync } from "./sync.js";

/** Small key/value facts about the deployment (e.g. that bootstrap ran). */
export class SettingsRepository implements Sync<ports.SettingsRepository> {
  private readonly getStmt;
  private readonly putStmt;

  constructor(db: Db) {
    this.getStmt = db.prepare<[string], { value: string }>("SELECT value FROM settings WHERE key = ?");
    this.putStmt = db.prepare<[string, string]>(
      "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
  }

  get(key: string): string | undefined {
    return this.getStmt.get(key)?.value;
  }
  put(key: string, value: string): void {
    this.putStmt.run(key, value);
  }
}
