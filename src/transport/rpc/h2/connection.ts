import type { Socket } from "node:net";
import { sensitiveHeaders, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { encodeHeaders, HpackDecoder, HpackError, type HeaderList } from "./hpack.js";

/**
 * The server side of one HTTP/2 connection (RFC 9113, cleartext with prior knowledge, as gRPC uses it), for the
 * gRPC port. Node's HTTP/2 layer cost more per call than its whole HTTP/1.1 server (docs/performance.md, "eleventh
 * session"); this one reads frames straight off the socket, keeps one small object per stream, and writes each
 * turn's frames in one socket write.
 *
 * What it does not do: server push (never sent), priorities (read and ignored, as RFC 9113 allows), TLS and
 * HTTP/1.1 upgrade (the gRPC port is cleartext HTTP/2 only), extended CONNECT.
 */

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY_FLAG = 0x20;

export const ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const DEFAULT_WINDOW = 65_535;
const MAX_WINDOW = 2 ** 31 - 1;
/** The connection's receive window, given back once half of it is used. */
const CONNECTION_WINDOW = 16 * 1024 * 1024;
/** Stream ids this end reset that it remembers, to drop the peer's late frames on them. */
const RESET_IDS_KEPT = 1024;
/** How long a new connection has to send the client preface. */
const PREFACE_TIMEOUT_MS = 10_000;
/** Frames this end takes (SETTINGS_MAX_FRAME_SIZE is left at its default). */
const MAX_FRAME = 16_384;

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS; a stream past it is refused (REFUSED_STREAM). */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE; a request over it is answered by `onOversizedHeaders`. */
  maxHeaderListSize: number;
  /** A header block's frames together may not exceed this (a connection error ENHANCE_YOUR_CALM past it). */
  maxHeaderBlock: number;
  /** Request bytes one connection may hold unread; past it the connection is closed with ENHANCE_YOUR_CALM. */
  maxBufferedPerConnection: number;
  /** Answer bytes waiting in the socket past which the connection stops reading until the peer catches up. */
  maxPendingWrite: number;
  /** Protocol events that cost the peer nothing (resets, empty frames, settings, pings) allowed per second. */
  maxCheapEventsPerSecond: number;
}

export const DEFAULT_LIMITS: H2Limits = {
  maxConcurrentStreams: 1000,
  maxHeaderListSize: 131_072,
  maxHeaderBlock: 262_144,
  maxBufferedPerConnection: 32 * 1024 * 1024,
  maxPendingWrite: 8 * 1024 * 1024,
  maxCheapEventsPerSecond: 2000,
};

export interface H2Handlers {
  /** A new request stream, its headers validated (RFC 9113 §8.3). */
  stream(stream: H2Stream, headers: HeaderList): void;
  /** A request whose headers exceed maxHeaderListSize: answer it (the stream is open) or reset it. */
  oversizedHeaders(stream: H2Stream): void;
}

type Listener = (...args: never[]) => void;

/** A connection error: GOAWAY with this code, then the connection ends. */
class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const frameHeader = (length: number, type: number, flags: number, stream: number): Buffer => {
  const h = Buffer.allocUnsafe(9);
  h[0] = length >>> 16;
  h[1] = (length >>> 8) & 0xff;
  h[2] = length & 0xff;
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
};

const u32 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
};

/** One second's `date` field, as Node's HTTP/2 answers carry it. */
let dateSecond = 0;
let dateValue = "";
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

export class H2Connection {
  private buffered: Buffer | undefined;
  /** Reads after `buffered`, not yet joined to it, their length, and the bytes its frame still needs. */
  private parts: Buffer[] = [];
  private partsLength = 0;
  private needed = 0;
  /** Whether HEADERS or DATA came since the last PING (a PING among requests costs nothing; a run of them does). */
  private trafficSincePing = true;
  /** Streams this end reset lately: the peer may still send on them before it sees the reset (RFC 9113 §5.1). */
  private readonly resetIds = new Set<number>();
  private prefaceSeen = false;
  private prefaceTimer: NodeJS.Timeout | undefined;
  private settingsSeen = false;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, H2Stream>();
  /** The highest stream id the peer opened. */
  private lastStreamId = 0;
  /** A header block being received across CONTINUATION frames. */
  private continuation: { stream: number; flags: number; chunks: Buffer[]; size: number; frames: number } | undefined;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16_384;
  /** What this end may still send on the connection (RFC 9113 §6.9). */
  private sendWindow = DEFAULT_WINDOW;
  /** Bytes received on the connection not yet given back by a WINDOW_UPDATE. */
  private unacknowledged = 0;
  /** Request bytes the open streams received (held by them or their readers until they close). */
  bufferedBytes = 0;
  private out: Buffer[] = [];
  private flushQueued = false;
  /** Once GOAWAY is sent: no new streams; `end` once the last stream closes. */
  private goingAway = false;
  private ended = false;
  private cheapEvents = 0;
  private cheapSince = 0;
  /** Streams waiting for flow-control window to send their data. */
  private readonly blocked = new Set<H2Stream>();
  private readPaused = false;
  private readonly closeListeners: Array<() => void> = [];
  private readonly drainListeners: Array<() => void> = [];
  /** Answer bytes the streams hold until the client's windows open. */
  pendingData = 0;

  constructor(
    readonly socket: Socket,
    private readonly handlers: H2Handlers,
    private readonly limits: H2Limits = DEFAULT_LIMITS,
  ) {
    socket.setNoDelay(true);
    // A connection that does not send the preface in time is dropped (it would hold a socket for nothing).
    this.prefaceTimer = setTimeout(() => this.destroy(), PREFACE_TIMEOUT_MS);
    this.prefaceTimer.unref();
    socket.on("data", (chunk: Buffer) => this.received(chunk));
    socket.on("error", () => this.lost());
    socket.on("close", () => this.lost());
    socket.on("end", () => socket.end());
    socket.on("drain", () => this.drained());
  }

  get streamCount(): number {
    return this.streams.size;
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** Called whenever answer bytes went out (the socket drained, or a window opened). */
  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  /** Answer bytes not yet written to the client: waiting for its windows, or in the socket's queue. */
  get answerBacklog(): number {
    return this.pendingData + this.socket.writableLength;
  }

  private notifyDrain(): void {
    for (const listener of this.drainListeners) listener();
  }

  /** Graceful end: GOAWAY (NO_ERROR), the open streams finish, then the connection closes. */
  shutdown(): void {
    if (this.goingAway || this.ended) return;
    this.goAway(ERROR.NO_ERROR, "");
    if (this.streams.size === 0) this.endSocket();
  }

  /** Ends the connection at once: every stream is closed as cancelled. */
  destroy(): void {
    this.socket.destroy();
    this.lost();
  }

  /**
   * This end's preface, once the client's arrived (so a client speaking HTTP/1.1 gets a plain HTTP/1.1 answer):
   * SETTINGS, and the connection's receive window raised to 16 MiB (each stream's stays at 65,535).
   */
  private sendPreface(): void {
    const limits = this.limits;
    const settings = Buffer.allocUnsafe(18);
    settings.writeUInt16BE(SETTING.MAX_CONCURRENT_STREAMS, 0);
    settings.writeUInt32BE(limits.maxConcurrentStreams, 2);
    settings.writeUInt16BE(SETTING.MAX_HEADER_LIST_SIZE, 6);
    settings.writeUInt32BE(limits.maxHeaderListSize, 8);
    settings.writeUInt16BE(SETTING.ENABLE_PUSH, 12);
    settings.writeUInt32BE(0, 14);
    this.write(frameHeader(18, FRAME.SETTINGS, 0, 0), settings);
    this.write(frameHeader(4, FRAME.WINDOW_UPDATE, 0, 0), u32(CONNECTION_WINDOW - DEFAULT_WINDOW));
  }

  // ---- reading ----

  private received(chunk: Buffer): void {
    if (this.ended) return;
    let data = chunk;
    if (this.buffered !== undefined) {
      // A frame arriving in pieces is joined once it is whole, not at every piece.
      this.parts.push(chunk);
      this.partsLength += chunk.length;
      if (this.partsLength < this.needed) return;
      data = Buffer.concat([this.buffered, ...this.parts], this.buffered.length + this.partsLength);
      this.parts = [];
      this.partsLength = 0;
    }
    this.buffered = undefined;
    let at = 0;
    try {
      if (!this.prefaceSeen) {
        const n = Math.min(data.length, PREFACE.length);
        if (data.compare(PREFACE, 0, n, 0, n) !== 0) return this.notHttp2(data);
        if (data.length < PREFACE.length) {
          this.buffered = data;
          this.needed = PREFACE.length - data.length;
          return;
        }
        this.prefaceSeen = true;
        clearTimeout(this.prefaceTimer);
        at = PREFACE.length;
        this.sendPreface();
      }
      while (data.length - at >= 9 && !this.ended) {
        const length = (data[at]! << 16) | (data[at + 1]! << 8) | data[at + 2]!;
        if (length > MAX_FRAME) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "a frame over SETTINGS_MAX_FRAME_SIZE");
        if (data.length - at - 9 < length) break;
        const type = data[at + 3]!;
        const flags = data[at + 4]!;
        const stream = data.readUInt32BE(at + 5) & 0x7fffffff;
        const payload = data.subarray(at + 9, at + 9 + length);
        at += 9 + length;
        this.frame(type, flags, stream, payload);
      }
    } catch (err) {
      return this.failed(err);
    }
    if (at < data.length && !this.ended) {
      // Keep only the unread tail (a copy, so the whole read can be let go), and how much more it needs.
      this.buffered = at === 0 ? data : Buffer.from(data.subarray(at));
      const tail = this.buffered;
      this.needed = (tail.length < 9 ? 9 : 9 + ((tail[0]! << 16) | (tail[1]! << 8) | tail[2]!)) - tail.length;
    }
    this.giveBackWindow();
  }

  /** Something other than HTTP/2's preface: an HTTP/1.1 request gets a plain answer saying what this port speaks. */
  private notHttp2(data: Buffer): void {
    this.ended = true;
    const text = data.subarray(0, 16).toString("latin1");
    if (/^[A-Z]+ \S/.test(text)) {
      const body = '{"error":"invalid_request","error_description":"this is the gRPC port: it speaks HTTP/2 (gRPC) only; use the HTTP port for HTTP/1.1"}';
      this.socket.end(`HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    } else {
      this.socket.end(Buffer.concat([frameHeader(8, FRAME.GOAWAY, 0, 0), u32(0), u32(ERROR.PROTOCOL_ERROR)]));
    }
    this.closeStreams();
  }

  private frame(type: number, flags: number, id: number, payload: Buffer): void {
    if (!this.settingsSeen) {
      // The preface's first frame is SETTINGS (RFC 9113 §3.4).
      if (type !== FRAME.SETTINGS || flags & ACK) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "the connection did not start with SETTINGS");
      this.settingsSeen = true;
    }
    if (this.continuation !== undefined && type !== FRAME.CONTINUATION) {
      throw new ConnectionError(ERROR.PROTOCOL_ERROR, "a frame inside a header block");
    }
    switch (type) {
      case FRAME.DATA:
        return this.data(flags, id, payload);
      case FRAME.HEADERS:
        return this.headers(flags, id, payload);
      case FRAME.PRIORITY:
        // PRIORITY may name an idle stream, which must not be reset (§6.4): its errors end the connection.
        if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (payload.length !== 5) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "PRIORITY of the wrong size");
        if ((payload.readUInt32BE(0) & 0x7fffffff) === id) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "a stream depending on itself");
        return this.cheap();
      case FRAME.RST_STREAM:
        return this.rstStream(id, payload);
      case FRAME.SETTINGS:
        return this.settings(flags, id, payload);
      case FRAME.PUSH_PROMISE:
        throw new ConnectionError(ERROR.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FRAME.PING:
        if (id !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "PING on a stream");
        if (payload.length !== 8) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "PING of the wrong size");
        if (flags & ACK) return;
        if (!this.trafficSincePing) this.cheap();
        this.trafficSincePing = false;
        return this.write(frameHeader(8, FRAME.PING, ACK, 0), Buffer.from(payload));
      case FRAME.GOAWAY:
        if (id !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (payload.length < 8) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "GOAWAY too short");
        // The peer opens nothing more; what is open finishes.
        this.goingAway = true;
        if (this.streams.size === 0) this.endSocket();
        return;
      case FRAME.WINDOW_UPDATE:
        return this.windowUpdate(id, payload);
      case FRAME.CONTINUATION:
        return this.continued(flags, id, payload);
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1), as a cheap event.
        return this.cheap();
    }
  }

  private data(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "DATA on stream 0");
    this.unacknowledged += payload.length;
    this.trafficSincePing = true;
    let body = payload;
    if (flags & PADDED) body = unpad(payload);
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "DATA on an idle stream");
      // A stream this end reset: what the peer sent before it saw the reset is dropped (its bytes still count for
      // the connection's window). Any other closed stream: STREAM_CLOSED (§5.1).
      if (this.resetIds.has(id)) return this.cheap();
      return this.refuse(id, ERROR.STREAM_CLOSED);
    }
    if (stream.remoteEnded) return this.refuse(id, ERROR.STREAM_CLOSED);
    if (payload.length > stream.receiveWindow) return this.refuse(id, ERROR.FLOW_CONTROL_ERROR);
    stream.receiveWindow -= payload.length;
    if (body.length === 0 && !(flags & END_STREAM)) this.cheap();
    if (!stream.lengthAgrees(body.length, (flags & END_STREAM) !== 0)) return this.refuse(id, ERROR.PROTOCOL_ERROR);
    stream.received(body, payload.length - body.length, (flags & END_STREAM) !== 0);
    if (this.bufferedBytes > this.limits.maxBufferedPerConnection) {
      throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, "too many request bytes held by open streams");
    }
  }

  private headers(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "HEADERS on stream 0");
    let start = 0;
    let end = payload.length;
    if (flags & PADDED) {
      if (payload.length < 1) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "HEADERS too short for its padding");
      const pad = payload[0]!;
      start = 1;
      end -= pad;
    }
    if (flags & PRIORITY_FLAG) {
      if (end - start < 5) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "HEADERS too short for its priority");
      if ((payload.readUInt32BE(start) & 0x7fffffff) === id) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "a stream depending on itself");
      start += 5;
    }
    if (end < start) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "padding longer than the frame");
    const fragment = payload.subarray(start, end);
    if (flags & END_HEADERS) return this.headerBlock(id, flags, fragment);
    this.continuation = { stream: id, flags, chunks: [Buffer.from(fragment)], size: fragment.length, frames: 1 };
  }

  private continued(flags: number, id: number, payload: Buffer): void {
    const c = this.continuation;
    if (c === undefined || c.stream !== id) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "CONTINUATION without its HEADERS");
    c.size += payload.length;
    c.frames += 1;
    if (c.size > this.limits.maxHeaderBlock || c.frames > 256) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, "a header block too large");
    c.chunks.push(Buffer.from(payload));
    if (!(flags & END_HEADERS)) return;
    this.continuation = undefined;
    this.headerBlock(id, c.flags, Buffer.concat(c.chunks, c.size));
  }

  /** A whole header block: a new stream, or the trailers of an open one. */
  private headerBlock(id: number, flags: number, block: Buffer): void {
    let fields: HeaderList | undefined;
    try {
      fields = this.decoder.decode(block, this.limits.maxHeaderListSize);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(ERROR.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const endStream = (flags & END_STREAM) !== 0;
    this.trafficSincePing = true;
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      // Trailers: must end the stream, and carry no pseudo-header.
      if (existing.remoteEnded) return this.refuse(id, ERROR.STREAM_CLOSED);
      if (!endStream || fields === undefined || fields.some((f, i) => i % 2 === 0 && f.startsWith(":"))) return this.refuse(id, ERROR.PROTOCOL_ERROR);
      if (!existing.lengthAgrees(0, true)) return this.refuse(id, ERROR.PROTOCOL_ERROR);
      existing.received(Buffer.alloc(0), 0, true);
      return;
    }
    if (id % 2 === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "a client stream with an even id");
    if (id <= this.lastStreamId) {
      // Trailers of a stream this end reset are late, and dropped; a new request on an id already used is not
      // allowed (§5.1.1), nor are headers on a stream that ended both ways (§5.1).
      if (this.resetIds.has(id)) return this.cheap();
      throw new ConnectionError(ERROR.STREAM_CLOSED, "HEADERS on a closed stream, or a stream id lower than one already used");
    }
    this.lastStreamId = id;
    if (this.goingAway) return this.refuse(id, ERROR.REFUSED_STREAM);
    if (this.streams.size >= this.limits.maxConcurrentStreams) return this.refuse(id, ERROR.REFUSED_STREAM);
    const stream = new H2Stream(this, id, this.peerInitialWindow);
    if (fields === undefined) {
      this.streams.set(id, stream);
      if (endStream) stream.received(Buffer.alloc(0), 0, true);
      this.handlers.oversizedHeaders(stream);
      return;
    }
    const malformed = checkRequest(fields);
    if (malformed !== undefined) return this.refuse(id, ERROR.PROTOCOL_ERROR);
    for (let i = 0; i < fields.length; i += 2) if (fields[i] === "content-length") stream.contentLength = Number(fields[i + 1]);
    if (endStream && !stream.lengthAgrees(0, true)) return this.refuse(id, ERROR.PROTOCOL_ERROR);
    this.streams.set(id, stream);
    if (endStream) stream.received(Buffer.alloc(0), 0, true);
    try {
      this.handlers.stream(stream, fields);
    } catch {
      // A handler's failure costs its stream, not the connection's other streams.
      this.streamError(id, ERROR.INTERNAL_ERROR);
    }
  }

  private rstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size");
    if (id > this.lastStreamId) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    // A reset of a call still at work is what makes rapid reset cheap for the sender (CVE-2023-44487).
    if (!stream.answered) this.cheap();
    stream.closedBy(payload.readUInt32BE(0));
  }

  private settings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & ACK) {
      if (payload.length !== 0) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload");
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "SETTINGS of the wrong size");
    // Real clients send a handful; a frame of thousands would cost a pass over the streams each (as nghttp2: 32).
    if (payload.length > 32 * 6) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, "more than 32 settings in a frame");
    this.cheap();
    let initialWindow: number | undefined;
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (key === SETTING.ENABLE_PUSH && value > 1) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH not 0 or 1");
      if (key === SETTING.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE too large");
        initialWindow = value;
      }
      if (key === SETTING.MAX_FRAME_SIZE) {
        if (value < 16_384 || value > 16_777_215) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range");
        this.peerMaxFrame = value;
      }
      // HEADER_TABLE_SIZE: this end's encoder never uses the table. MAX_CONCURRENT_STREAMS: this end opens none.
    }
    if (initialWindow !== undefined && initialWindow !== this.peerInitialWindow) {
      // The last value counts; the open streams' windows move by the difference (§6.9.2), once per frame.
      const delta = initialWindow - this.peerInitialWindow;
      this.peerInitialWindow = initialWindow;
      for (const stream of this.streams.values()) {
        stream.sendWindow += delta;
        if (stream.sendWindow > MAX_WINDOW) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, "a stream window over 2^31-1");
      }
    }
    this.write(frameHeader(0, FRAME.SETTINGS, ACK, 0));
    this.unblock();
  }

  private windowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size");
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0");
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, "the connection window over 2^31-1");
      this.unblock();
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
      return;
    }
    if (increment === 0) return this.refuse(id, ERROR.PROTOCOL_ERROR);
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) return this.refuse(id, ERROR.FLOW_CONTROL_ERROR);
    this.unblock();
  }

  /** A protocol event that costs the peer nothing: too many in a second close the connection (ENHANCE_YOUR_CALM). */
  private cheap(): void {
    const now = Date.now();
    if (now - this.cheapSince >= 1000) {
      this.cheapSince = now;
      this.cheapEvents = 0;
    }
    if (++this.cheapEvents > this.limits.maxCheapEventsPerSecond) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, "too many frames that do nothing");
  }

  /** Gives the peer back the connection window its DATA used, once half of it is used. */
  private giveBackWindow(): void {
    if (this.ended || this.unacknowledged < CONNECTION_WINDOW / 2) return;
    this.write(frameHeader(4, FRAME.WINDOW_UPDATE, 0, 0), u32(this.unacknowledged));
    this.unacknowledged = 0;
  }

  /** Gives a stream back `bytes` of its receive window (its reader took them). */
  streamWindowUpdate(stream: H2Stream, bytes: number): void {
    if (bytes <= 0 || this.ended) return;
    stream.receiveWindow += bytes;
    this.write(frameHeader(4, FRAME.WINDOW_UPDATE, 0, stream.id), u32(bytes));
  }

  // ---- errors and endings ----

  private failed(err: unknown): void {
    const code = err instanceof ConnectionError ? err.code : ERROR.INTERNAL_ERROR;
    const reason = err instanceof ConnectionError ? err.message : "internal error";
    this.goAway(code, reason);
    this.endSocket();
  }

  private goAway(code: number, reason: string): void {
    this.goingAway = true;
    const debug = Buffer.from(reason.slice(0, 200), "latin1");
    this.write(frameHeader(8 + debug.length, FRAME.GOAWAY, 0, 0), u32(this.lastStreamId), u32(code), debug);
  }

  /**
   * A stream error the peer caused: counted like the frames that cost it nothing (each frees a stream slot the peer
   * can fill again at once, as a reset of its own would: "MadeYouReset"), then RST_STREAM.
   */
  private refuse(id: number, code: number): void {
    this.cheap();
    this.streamError(id, code);
  }

  /** Resets a stream (RST_STREAM) and forgets it. */
  streamError(id: number, code: number): void {
    this.write(frameHeader(4, FRAME.RST_STREAM, 0, id), u32(code));
    this.resetIds.add(id);
    if (this.resetIds.size > RESET_IDS_KEPT) this.resetIds.delete(this.resetIds.values().next().value!);
    this.streams.get(id)?.closedBy(undefined);
  }

  /** Writes what is queued, then ends the socket; every stream still open is closed. */
  private endSocket(): void {
    if (this.ended) return;
    this.ended = true;
    this.flush();
    this.socket.end();
    this.closeStreams();
    // A peer that never closes its side is cut off after a while.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  private lost(): void {
    if (!this.ended) this.ended = true;
    this.closeStreams();
  }

  private closeStreams(): void {
    clearTimeout(this.prefaceTimer);
    for (const stream of [...this.streams.values()]) stream.closedBy(ERROR.CANCEL);
    this.streams.clear();
    this.blocked.clear();
    const listeners = this.closeListeners.splice(0);
    for (const listener of listeners) listener();
  }

  /** Called by a stream once it is closed both ways (or reset). */
  forget(stream: H2Stream): void {
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    if (this.goingAway && this.streams.size === 0) this.endSocket();
  }

  // ---- writing ----

  /** Queues frames; they are written together once the current run of code ends (one socket write). */
  write(...chunks: Buffer[]): void {
    if (this.ended) return;
    for (const chunk of chunks) this.out.push(chunk);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flushBound);
    }
  }

  private readonly flushBound = () => this.flush();

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0 || this.socket.destroyed) {
      this.out = [];
      return;
    }
    const chunks = this.out;
    this.out = [];
    this.socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    if (!this.readPaused && this.socket.writableLength > this.limits.maxPendingWrite) {
      // The peer does not read what it asked for: stop reading its requests until it does.
      this.readPaused = true;
      this.socket.pause();
    }
  }

  private drained(): void {
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    this.notifyDrain();
  }

  /** Sends a stream's HEADERS (one frame, or CONTINUATIONs past the peer's frame size). */
  sendHeaders(stream: H2Stream, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrame;
    if (block.length <= max) {
      this.write(frameHeader(block.length, FRAME.HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), stream.id), block);
      return;
    }
    this.write(frameHeader(max, FRAME.HEADERS, endStream ? END_STREAM : 0, stream.id), block.subarray(0, max));
    for (let at = max; at < block.length; at += max) {
      const part = block.subarray(at, Math.min(block.length, at + max));
      this.write(frameHeader(part.length, FRAME.CONTINUATION, at + max >= block.length ? END_HEADERS : 0, stream.id), part);
    }
  }

  /** Sends as much of a stream's pending data as the windows allow; true when all of it went. */
  sendData(stream: H2Stream): boolean {
    while (stream.pending.length > 0) {
      const head = stream.pending[0]!;
      const room = Math.min(this.sendWindow, stream.sendWindow, this.peerMaxFrame);
      if (head.length > 0 && room <= 0) {
        this.blocked.add(stream);
        return false;
      }
      const part = head.length <= room ? head : head.subarray(0, room);
      const last = part === head && stream.pending.length === 1;
      this.write(frameHeader(part.length, FRAME.DATA, last && stream.endAfterData && stream.trailers === undefined ? END_STREAM : 0, stream.id), part);
      this.pendingData -= part.length;
      this.sendWindow -= part.length;
      stream.sendWindow -= part.length;
      if (part === head) stream.pending.shift();
      else stream.pending[0] = head.subarray(part.length);
    }
    this.blocked.delete(stream);
    return true;
  }

  private unblock(): void {
    if (this.blocked.size === 0) return;
    for (const stream of [...this.blocked]) {
      if (this.sendWindow <= 0) break;
      stream.flushData();
    }
    this.notifyDrain();
  }
}

/** The payload of a PADDED frame without its padding. */
function unpad(payload: Buffer): Buffer {
  if (payload.length < 1) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "a padded frame too short");
  const pad = payload[0]!;
  if (pad >= payload.length) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "padding longer than the frame");
  return payload.subarray(1, payload.length - pad);
}

const PSEUDO = new Set([":method", ":scheme", ":path", ":authority"]);
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);
const LEGAL_FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const ILLEGAL_FIELD_VALUE = /[\0\r\n]/;

/** Why a request's header list is malformed (RFC 9113 §8.2, §8.3), or undefined if it is well formed. */
function checkRequest(fields: HeaderList): string | undefined {
  const seen = new Set<string>();
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.startsWith(":")) {
      if (regular) return "a pseudo-header after a regular field";
      if (!PSEUDO.has(name)) return `the pseudo-header ${name}`;
      if (seen.has(name)) return `${name} twice`;
      seen.add(name);
    } else {
      regular = true;
      if (!LEGAL_FIELD_NAME.test(name)) return "a field name that is not a lower-case token";
      if (CONNECTION_SPECIFIC.has(name)) return `the connection-specific field ${name}`;
      if (name === "te" && value !== "trailers") return "te other than trailers";
      if (name === "content-length" && (!/^\d{1,15}$/.test(value) || seen.has(name))) return "a content-length that is not one number";
      if (name === "content-length") seen.add(name);
    }
    if (ILLEGAL_FIELD_VALUE.test(value)) return "a field value with NUL, CR or LF";
  }
  if (!seen.has(":method") || !seen.has(":scheme") || !seen.has(":path")) return "a missing pseudo-header";
  const method = fields[fields.indexOf(":method") + 1]!;
  const path = fields[fields.indexOf(":path") + 1]!;
  if (method === "CONNECT") return "CONNECT";
  if (!path.startsWith("/") && !(path === "*" && method === "OPTIONS")) return "a :path that is not absolute";
  return undefined;
}

/** Request headers as Node's HTTP/2 layer gives them: duplicates joined, single-valued ones keep the first. */
export function headerObject(fields: HeaderList): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    const existing = out[name];
    if (existing === undefined) out[name] = name === "set-cookie" ? [value] : value;
    else if (!SINGLE_VALUED.has(name)) {
      if (name === "cookie") out[name] = `${existing as string}; ${value}`;
      else if (Array.isArray(existing)) existing.push(value);
      else out[name] = `${existing}, ${value}`;
    }
  }
  return out;
}

/** Node's single-valued request fields (a repeat is dropped). */
const SINGLE_VALUED = new Set([
  ":status", ":method", ":authority", ":scheme", ":path", ":protocol", "access-control-allow-credentials", "access-control-max-age",
  "access-control-request-method", "age", "authorization", "content-encoding", "content-language", "content-length", "content-location",
  "content-md5", "content-range", "content-type", "date", "dnt", "etag", "expires", "from", "host", "if-match", "if-modified-since",
  "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "proxy-authorization", "range",
  "referer", "retry-after", "tk", "upgrade-insecure-requests", "user-agent", "x-content-type-options",
]);

/**
 * A header object (Node's, as given to `respond` or received from a peer) as a field list (`:status` first, arrays
 * one field each), with `date` added if asked, and its never-indexed names.
 */
export function fieldList(headers: OutgoingHttpHeaders | IncomingHttpHeaders, withDate: boolean): { fields: string[]; sensitive: ReadonlySet<string> | undefined } {
  const fields: string[] = [];
  const status = headers[":status"];
  if (status !== undefined) fields.push(":status", String(status));
  for (const name of Object.keys(headers)) {
    if (name === ":status") continue;
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (Array.isArray(value)) for (const v of value) fields.push(lower, String(v));
    else fields.push(lower, String(value));
  }
  if (withDate && headers["date"] === undefined) fields.push("date", httpDate());
  const names = (headers as Record<symbol, unknown>)[sensitiveHeaders];
  return { fields, sensitive: Array.isArray(names) && names.length > 0 ? new Set(names as string[]) : undefined };
}

/**
 * One request stream, server side. Its surface is the part of Node's `ServerHttp2Stream` the gRPC direct path
 * uses (grpc-direct.ts: `respond`, `end`, `sendTrailers`, `read`, its events), plus a frame-level one for the
 * streams passed on to grpc-js (h2/server.ts).
 */
export class H2Stream {
  /** What this end may still send on the stream. */
  sendWindow: number;
  /** What the peer may still send on the stream. */
  receiveWindow = DEFAULT_WINDOW;
  remoteEnded = false;
  /** The answer's headers were sent. */
  answered = false;
  /** Closed both ways, or reset: nothing more is sent or received. */
  closed = false;
  private chunks: Buffer[] = [];
  private readonly listeners: Record<string, Listener[] | undefined> = {};
  /** Data waiting for window, then trailers (or the END_STREAM flag) to send after it. */
  pending: Buffer[] = [];
  endAfterData = false;
  trailers: Buffer | undefined;
  private localEnded = false;
  private waitForTrailers = false;
  /** Node's readable state, as grpc-direct.ts reads it: whether the request's end arrived. */
  readonly _readableState = { ended: false };
  readonly readableFlowing = null;

  constructor(
    readonly session: H2Connection,
    readonly id: number,
    initialSendWindow: number,
  ) {
    this.sendWindow = initialSendWindow;
  }

  get destroyed(): boolean {
    return this.closed;
  }

  /** The request's `content-length`, if it declared one: the DATA must add up to it (RFC 9113 §8.1.1). */
  contentLength: number | undefined;

  /** Whether `more` bytes (and, at the end, the whole body) stay within the declared content-length. */
  lengthAgrees(more: number, end: boolean): boolean {
    if (this.contentLength === undefined) return true;
    const total = this.heldBytes + more;
    return end ? total === this.contentLength : total <= this.contentLength;
  }

  /** Request bytes the stream's receive window is given back for as they arrive (beyond it the peer waits). */
  windowCap = 0;
  /** While set, no window is given back (the reader is behind); `releaseWindow` ends it. */
  holdWindow = false;
  private receivedBytes = 0;
  /** This stream's part of the connection's `bufferedBytes`. */
  private heldBytes = 0;

  /** Request bytes arrived (`padding`: bytes of the frame that carried them that were padding). */
  received(data: Buffer, padding: number, end: boolean): void {
    if (this.closed) return;
    this.receivedBytes += data.length + padding;
    this.heldBytes += data.length;
    this.session.bufferedBytes += data.length;
    if (!end) this.refillWindow();
    if (data.length > 0) {
      const copy = Buffer.from(data);
      const onData = this.listeners["data"];
      if (onData !== undefined && onData.length > 0) {
        for (const l of onData) (l as (c: Buffer) => void)(copy);
      } else {
        this.chunks.push(copy);
      }
    }
    if (end) {
      this.remoteEnded = true;
      this._readableState.ended = true;
      this.emitEnd();
      if (this.localEnded) this.close();
    }
  }

  private endEmitted = false;

  /** `end`, once: after the request's end arrived and every byte went to a `data` listener. */
  private emitEnd(): void {
    if (this.endEmitted || !this.remoteEnded || this.chunks.length > 0) return;
    const onEnd = this.listeners["end"];
    if (onEnd === undefined || onEnd.length === 0) return;
    this.endEmitted = true;
    for (const l of onEnd) (l as () => void)();
  }

  /** The whole buffered request body (null for none), taken. */
  read(): Buffer | null {
    const chunks = this.chunks;
    if (chunks.length === 0) return null;
    this.chunks = [];
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** Tops the receive window up once half of it is used, unless held or past the cap. */
  private refillWindow(): void {
    if (this.holdWindow || this.receiveWindow >= DEFAULT_WINDOW / 2 || this.receivedBytes > this.windowCap) return;
    this.session.streamWindowUpdate(this, DEFAULT_WINDOW - this.receiveWindow);
  }

  /** The reader caught up: the window is given back again. */
  releaseWindow(): void {
    this.holdWindow = false;
    if (!this.closed && !this.remoteEnded) this.refillWindow();
  }

  on(event: string, listener: Listener): this {
    (this.listeners[event] ??= []).push(listener);
    if (event === "data" && this.chunks.length > 0) {
      // Data that came before its listener: handed over now, then the end if it came too.
      (listener as (c: Buffer) => void)(this.read()!);
      this.emitEnd();
    } else if (event === "end") {
      this.emitEnd();
    }
    return this;
  }

  off(event: string, listener: Listener): this {
    const list = this.listeners[event];
    if (list !== undefined) this.listeners[event] = list.filter((l) => l !== listener);
    return this;
  }

  /** Sends the answer's headers (Node's `respond`): with `endStream`, a trailers-only answer. */
  respond(headers: OutgoingHttpHeaders, options?: { endStream?: boolean; waitForTrailers?: boolean }): void {
    if (this.closed || this.answered) return;
    const { fields, sensitive } = fieldList(headers, true);
    this.respondFields(fields, options?.endStream === true, sensitive);
    this.waitForTrailers = options?.waitForTrailers === true;
  }

  /** Sends the answer's headers from a field list. */
  respondFields(fields: string[], endStream: boolean, sensitive?: ReadonlySet<string>): void {
    if (this.closed || this.answered) return;
    this.answered = true;
    this.session.sendHeaders(this, encodeHeaders(fields, sensitive), endStream);
    if (endStream) this.endedLocally();
  }

  /** Node's `end`: the last data; then `wantTrailers` (if asked for) or END_STREAM. */
  end(chunk?: Buffer): this {
    if (this.closed || this.localEnded || this.endAfterData) return this;
    if (chunk !== undefined && chunk.length > 0) {
      this.pending.push(chunk);
      this.session.pendingData += chunk.length;
    }
    if (this.waitForTrailers) {
      const want = this.listeners["wantTrailers"];
      if (want !== undefined && want.length > 0) {
        for (const l of want) (l as () => void)();
        if (this.trailers !== undefined) return this;
      }
    }
    this.endAfterData = true;
    if (this.pending.length === 0) this.pending.push(Buffer.alloc(0));
    this.flushData();
    return this;
  }

  /** Node's `sendTrailers`: sent once the data before them went. */
  sendTrailers(headers: OutgoingHttpHeaders): void {
    const { fields } = fieldList(headers, false);
    this.trailerFields(fields);
  }

  /** Ends the stream with these trailers, after any pending data. */
  trailerFields(fields: string[]): void {
    if (this.closed || this.localEnded || this.trailers !== undefined) return;
    this.trailers = encodeHeaders(fields);
    this.endAfterData = true;
    this.flushData();
  }

  /** Data on the stream (not the last): sent as the windows allow. */
  writeData(chunk: Buffer): void {
    if (this.closed || this.localEnded || this.endAfterData || chunk.length === 0) return;
    this.pending.push(chunk);
    this.session.pendingData += chunk.length;
    this.flushData();
  }

  /** Bytes waiting for flow-control window. */
  get pendingBytes(): number {
    let n = 0;
    for (const p of this.pending) n += p.length;
    return n;
  }

  flushData(): void {
    if (this.closed) return;
    if (!this.session.sendData(this)) return;
    if (this.trailers !== undefined) {
      const trailers = this.trailers;
      this.trailers = undefined;
      this.session.sendHeaders(this, trailers, true);
      this.endedLocally();
    } else if (this.endAfterData) {
      this.endedLocally();
    } else {
      for (const l of this.listeners["writable"] ?? []) (l as () => void)();
    }
  }

  /** This end sent END_STREAM: closed once the peer's side is too (a peer still sending is told to stop). */
  private endedLocally(): void {
    this.localEnded = true;
    if (this.remoteEnded) return this.close();
    // The answer is complete before the request (gRPC refused it early): RST_STREAM NO_ERROR tells the peer to stop.
    this.session.streamError(this.id, ERROR.NO_ERROR);
  }

  /** Node's `destroy`: resets the stream (CANCEL if the answer was not complete). */
  destroy(): void {
    this.reset(this.localEnded ? ERROR.NO_ERROR : ERROR.CANCEL);
  }

  /** Resets the stream with `code`. */
  reset(code: number): void {
    if (!this.closed) this.session.streamError(this.id, code);
  }

  /** The peer reset the stream (its code), or this end did (undefined), or the connection ended: closed now. */
  closedBy(code: number | undefined): void {
    if (this.closed) return;
    this.resetCode = code;
    this.close();
  }

  /** The peer's RST_STREAM code, if the peer reset the stream. */
  resetCode: number | undefined;

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.bufferedBytes -= this.heldBytes;
    this.session.pendingData -= this.pendingBytes;
    this.chunks = [];
    this.pending = [];
    this.session.forget(this);
    const onClose = this.listeners["close"];
    if (onClose !== undefined) for (const l of onClose) (l as () => void)();
  }
}
