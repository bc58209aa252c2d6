export interface EmbeddedPostgres {
  /** `postgres://tessera:<password>@127.0.0.1:<port>/postgres` (a superuser). */
  url: string;
  port: number;
  stop(): Promise<void>;
}
export function startPostgres(opts?: { log?: (line: string) => void }): Promise<EmbeddedPostgres>;
