import type * as ports from "../../domain/ports.js";
import { stmt, type Exec } from "./exec.js";

const GET = stmt("SELECT value FROM settings WHERE key = $1");
const PUT = stmt("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value");

/** Small key/value facts about the deployment (e.g. that bootstrap ran). */
export class SettingsRepository implements ports.SettingsRepository {
  constructor(private readonly db: Exec) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.db.query<{ value: string }>(GET, [key])).rows[0]?.value;
  }
  async put(key: string, value: string): Promise<void> {
    await this.db.query(PUT, [key, value]);
  }
}
