import pg from "pg";
import { ALL_TOPICS, type ChangeFeed, type ChangeTopic } from "../../domain/ports.js";

export const CHANGE_CHANNEL = "tessera_changes";
const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 5000;

/**
 * Other writers' commits through LISTEN/NOTIFY (the triggers of migration 2 notify inside the writing
 * transaction, so a notification means a commit). One dedicated connection listens. While it is down a
 * notification may be missed: the caches keep what they hold, each entry for at most its lifetime
 * (CACHE_TTL in core/core.ts), so an instance cut off from the database goes on issuing client tokens
 * from its cache for that long and a change it missed is honoured within that bound; once it listens
 * again ALL_TOPICS is reported, dropping every cache.
 */
export class NotifyFeed implements ChangeFeed {
  private readonly listeners = new Set<(topics: readonly ChangeTopic[]) => void>();
  private client: pg.Client | undefined;
  private listening = false;
  private closed = false;
  private reconnectMs = RECONNECT_FIRST_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  /** Connects and listens; rejects if the first attempt fails (later drops reconnect on their own). */
  async start(): Promise<void> {
    await this.connect();
  }

  get isListening(): boolean {
    return this.listening;
  }

  /** Nothing to do: notifications arrive by themselves (and the cache lifetime covers those missed while not listening). */
  poll(): void {}

  subscribe(listener: (topics: readonly ChangeTopic[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    await client?.end().catch(() => undefined);
  }

  private emit(topics: readonly ChangeTopic[]): void {
    for (const listener of this.listeners) listener(topics);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(Object.assign({}, this.config, { statement_timeout: undefined, query_timeout: undefined }));
    client.on("notification", (msg) => {
      if (msg.channel !== CHANGE_CHANNEL) return;
      const topic = ALL_TOPICS.find((t) => t === msg.payload);
      this.emit(topic === undefined ? ALL_TOPICS : [topic]);
    });
    client.on("error", (err) => this.lost(client, err));
    client.on("end", () => this.lost(client, undefined));
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (err) {
      this.client = undefined;
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listening = true;
    this.reconnectMs = RECONNECT_FIRST_MS;
    // Whatever was committed while nobody listened is unknown.
    this.emit(ALL_TOPICS);
  }

  private lost(client: pg.Client, err: Error | undefined): void {
    if (client !== this.client) return;
    this.client = undefined;
    this.listening = false;
    client.end().catch(() => undefined);
    if (err) this.onError(err);
    if (this.closed) return;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((err: Error) => {
        this.onError(err);
        this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
        if (!this.closed) this.scheduleReconnect();
      });
    }, this.reconnectMs);
    this.reconnectTimer.unref();
  }
}
