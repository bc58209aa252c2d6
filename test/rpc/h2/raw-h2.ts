import { connect, type Socket } from "node:net";
import { encodeHeaders, HpackDecoder } from "../../../src/transport/rpc/h2/hpack.js";

/** A frame as it came off the wire. */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const frameBytes = (type: number, flags: number, stream: number, payload: Buffer | number[] = Buffer.alloc(0)): Buffer => {
  const body = Buffer.from(payload);
  const h = Buffer.alloc(9);
  h.writeUIntBE(body.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, body]);
};

export const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

export const setting = (id: number, value: number) => {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(id);
  b.writeUInt32BE(value >>> 0, 2);
  return b;
};

/** A header block for a request (literals, no table): `fields` after the pseudo-headers. */
export const requestBlock = (path: string, fields: Array<[string, string]> = []) =>
  encodeHeaders([":method", "POST", ":scheme", "http", ":path", path, ":authority", "localhost", ...fields.flat()]);

/**
 * An HTTP/2 client made of frames, for tests that must send what no library sends: it records every frame the
 * server sends and decodes header blocks with its own HPACK decoder.
 */
export class RawH2 {
  readonly frames: Frame[] = [];
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  readonly decoder = new HpackDecoder();
  closed = false;
  readonly raw: Buffer[] = [];

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.raw.push(chunk);
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 9) {
        const length = this.buffer.readUIntBE(0, 3);
        if (this.buffer.length < 9 + length) break;
        this.frames.push({ type: this.buffer[3]!, flags: this.buffer[4]!, stream: this.buffer.readUInt32BE(5) & 0x7fffffff, payload: this.buffer.subarray(9, 9 + length) });
        this.buffer = this.buffer.subarray(9 + length);
      }
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Connects; sends the preface and `settings` (an empty SETTINGS by default) unless `preface` is false. */
  static async open(port: number, opts: { preface?: boolean; settings?: Buffer[] } = {}): Promise<RawH2> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const client = new RawH2(socket);
    if (opts.preface !== false) client.send(Buffer.concat([PREFACE, frameBytes(T.SETTINGS, 0, 0, Buffer.concat(opts.settings ?? []))]));
    return client;
  }

  send(...chunks: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(chunks));
  }

  frame(type: number, flags: number, stream: number, payload: Buffer | number[] = Buffer.alloc(0)): void {
    this.send(frameBytes(type, flags, stream, payload));
  }

  /** Opens a stream: HEADERS (END_HEADERS), with END_STREAM if there is no body; the body as one DATA frame. */
  request(stream: number, path: string, body?: Buffer, fields: Array<[string, string]> = []): void {
    const block = requestBlock(path, fields);
    this.frame(T.HEADERS, 0x4 | (body === undefined ? 0x1 : 0), stream, block);
    if (body !== undefined) this.frame(T.DATA, 0x1, stream, body);
  }

  /** Waits for the first frame (from `from` on) that matches, or for the connection to close (undefined). */
  async next(match: (f: Frame) => boolean, from = 0, timeoutMs = 3000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(match);
      if (found !== undefined) return found;
      if (this.closed) return undefined;
      if (Date.now() > deadline) throw new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => [f.type, f.flags, f.stream, f.payload.length]))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The GOAWAY the server sent: its last stream id, error code and debug text; undefined if it closed without one. */
  async goAway(): Promise<{ last: number; code: number; debug: string } | undefined> {
    const f = await this.next((x) => x.type === T.GOAWAY);
    return f === undefined ? undefined : { last: f.payload.readUInt32BE(0), code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString("latin1") };
  }

  /** The RST_STREAM code for a stream. */
  async reset(stream: number): Promise<number | undefined> {
    const f = await this.next((x) => x.type === T.RST_STREAM && x.stream === stream);
    return f?.payload.readUInt32BE(0);
  }

  /**
   * A stream's whole answer: header blocks (decoded in order of arrival, as the table requires), data, and whether
   * it ended. Waits for END_STREAM or a reset.
   */
  async answer(stream: number): Promise<{ headers: Array<Record<string, string>>; data: Buffer; reset: number | undefined }> {
    await this.next((f) => f.stream === stream && ((f.flags & 0x1 && (f.type === T.HEADERS || f.type === T.DATA)) || f.type === T.RST_STREAM));
    return this.collect(stream);
  }

  /** What arrived on a stream so far. */
  collect(stream: number): { headers: Array<Record<string, string>>; data: Buffer; reset: number | undefined } {
    const headers: Array<Record<string, string>> = [];
    const data: Buffer[] = [];
    let reset: number | undefined;
    let block: Buffer[] = [];
    for (const f of this.frames) {
      if (f.type === T.HEADERS || f.type === T.CONTINUATION) {
        block.push(f.payload);
        if (f.flags & 0x4) {
          const list = this.decodeOnce(f, Buffer.concat(block));
          block = [];
          if (f.stream === stream) headers.push(list.fields);
        }
      } else if (f.stream === stream && f.type === T.DATA) data.push(f.payload);
      else if (f.stream === stream && f.type === T.RST_STREAM) reset = f.payload.readUInt32BE(0);
    }
    return { headers, data: Buffer.concat(data), reset };
  }

  private decoded = new Map<Frame, { fields: Record<string, string> }>();

  private decodeOnce(f: Frame, block: Buffer): { fields: Record<string, string> } {
    let d = this.decoded.get(f);
    if (d === undefined) {
      const list = this.decoder.decode(block, Number.MAX_SAFE_INTEGER)!;
      const fields: Record<string, string> = {};
      for (let i = 0; i < list.length; i += 2) fields[list[i]!] = list[i + 1]!;
      d = { fields };
      this.decoded.set(f, d);
    }
    return d;
  }

  close(): void {
    this.socket.destroy();
  }
}
