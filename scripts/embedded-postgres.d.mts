export interface EmbeddedPostgres {
  /** `postgres://tessera:<password>@127.0.0.1:<port>/postgres` (a superuser). */
  url: string;
  port: number;
  /** The postmaster's process id. */
  pid: number;
  stop(): Promise<void>;
}
export function startPostgres(opts?: { log?: (line: string) => void; durable?: boolean; cpu?: string }): Promise<EmbeddedPostgres>;
export function createDatabase(adminUrl: string, name?: string): Promise<string>;
