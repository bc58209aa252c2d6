import { create, fromBinary, type DescMethod, type Message } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { sensitiveHeaders, type Http2Server, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { answerAtEndOfTurn, type Answer } from "../end-of-turn.js";
import { HeaderView } from "../header-view.js";
import { grpcFrame } from "./grpc-frame.js";
import { PEER_FIELD } from "./h2/peer-field.js";
import { binaryValues, MalformedRequest, type CallStatus, type UnaryCall } from "./unary-call.js";

/**
 * gRPC unary calls to tessera's own services, read and answered on the HTTP/2 stream itself.
 *
 * The stream is tessera's own HTTP/2 (h2/server.ts, the default) or, with `TESSERA_GRPC_HTTP2=node`, Node's under
 * grpc-js (`installDirectUnary`). Either way grpc-js serves everything else: health, reflection, compressed
 * requests, a malformed `grpc-timeout`, anything not `application/grpc`. For a plain unary call its
 * per-call machinery (an intercepting call with its listeners and queues, Metadata built from the headers and back,
 * a stream decoder, the handler's call object) cost a third of a signature; answering on the stream took an
 * IssueClientToken call's main-thread time from 4.01 to 3.09 signatures (docs/performance.md, "gRPC calls answered
 * on the stream").
 *
 * What a caller sees is what grpc-js sends: the same response headers and trailers, status codes and messages
 * (`test/rpc/grpc-direct.test.ts` compares both paths, on both HTTP/2 layers). On Node's HTTP/2 this reads grpc-js's
 * HTTP/2 servers from a private field of `grpc.Server` (grpc-js 1.14, pinned by the lockfile): if a later version
 * moves it, `install` finds no server and every call stays on grpc-js (slower, still correct), and that test fails
 * to say so.
 */

/** A unary method the stream can answer: `run` hands the call (its request read) to handleUnary. */
export interface DirectRoute {
  method: DescMethod;
  run(call: DirectCall): void;
}

/**
 * What a DirectCall uses of its HTTP/2 stream: the part of Node's `ServerHttp2Stream` it calls, which tessera's own
 * HTTP/2 layer's stream (h2/connection.ts) provides too.
 */
export interface DirectStream {
  readonly destroyed: boolean;
  readonly closed: boolean;
  readonly readableFlowing: boolean | null;
  readonly session?: { readonly socket?: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined } | undefined } | undefined;
  read(): unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "end" | "close" | "wantTrailers" | "error", listener: () => void): unknown;
  off(event: "data", listener: (chunk: Buffer) => void): unknown;
  off(event: "end", listener: () => void): unknown;
  respond(headers: OutgoingHttpHeaders, options: { endStream?: boolean; waitForTrailers?: boolean }): void;
  end(chunk?: Buffer): unknown;
  sendTrailers(headers: OutgoingHttpHeaders): void;
  destroy(): unknown;
}

type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

/** grpc-js's fields this reads: its HTTP/2 servers, and the per-stream idle bookkeeping it does for its own calls. */
interface GrpcJsInternals {
  http2Servers?: Map<Http2Server, unknown>;
  onStreamOpened?: (stream: ServerHttp2Stream) => void;
}

/**
 * Puts the direct path in front of grpc-js's stream handler on every HTTP/2 server it has bound.
 * Returns how many servers it found (0: every call stays on grpc-js).
 */
export function installDirectUnary(server: grpc.Server, routes: Map<string, DirectRoute>, maxReceiveMessageLength: number): number {
  const internals = server as unknown as GrpcJsInternals;
  let installed = 0;
  for (const http2Server of internals.http2Servers?.keys() ?? []) {
    const grpcJs = http2Server.listeners("stream") as StreamListener[];
    if (grpcJs.length === 0) continue;
    http2Server.removeAllListeners("stream");
    http2Server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
      const direct = directRoute(routes, headers);
      if (direct === undefined) {
        for (const listener of grpcJs) listener.call(http2Server, stream, headers, flags, rawHeaders);
        return;
      }
      // As grpc-js: an error event always comes with a close event, which is where a cancellation is handled.
      stream.on("error", ignore);
      internals.onStreamOpened?.call(server, stream);
      serveDirect(stream, headers, direct, maxReceiveMessageLength);
    });
    installed += 1;
  }
  return installed;
}

/** The route and deadline of a call the direct path serves, or undefined for one grpc-js answers. */
export function directRoute(routes: Map<string, DirectRoute>, headers: IncomingHttpHeaders): { route: DirectRoute; deadline: number | undefined } | undefined {
  const route = routes.get(headers[":path"] ?? "");
  if (route === undefined) return undefined;
  const deadline = directDeadline(headers);
  return deadline === false ? undefined : { route, deadline };
}

/** Reads a direct call's request off its stream, then runs its route. */
export function serveDirect(stream: DirectStream, headers: IncomingHttpHeaders, direct: { route: DirectRoute; deadline: number | undefined }, maxReceive: number): void {
  const call = new DirectCall(stream, headers, direct.route.method, direct.deadline, maxReceive);
  call.read(() => direct.route.run(call));
}

const DEADLINE = /^(\d{1,8})([HMSmun])$/;
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * The call's deadline (epoch ms, undefined for none) if the direct path can serve it, else false: not a POST of
 * `application/grpc`, a compressed request, or a `grpc-timeout` grpc-js would refuse — grpc-js answers those itself.
 */
function directDeadline(headers: IncomingHttpHeaders): number | undefined | false {
  if (headers[":method"] !== "POST") return false;
  const type = headers["content-type"];
  if (type !== "application/grpc" && type !== "application/grpc+proto") return false;
  const encoding = headers["grpc-encoding"];
  if (encoding !== undefined && encoding !== "identity") return false;
  const timeout = headers["grpc-timeout"];
  if (timeout === undefined) return undefined;
  const m = typeof timeout === "string" ? DEADLINE.exec(timeout) : null;
  if (m === null) return false;
  const ms = Math.trunc(Number(m[1]) * UNIT_MS[m[2]!]!);
  // Past the longest timer Node keeps (2^31 - 1 ms, about 24.8 days) a deadline is as good as none. (grpc-js wraps
  // such a timeout to a negative one with `| 0` and fails the call at once; a "30 days" deadline is valid gRPC.)
  return ms > MAX_TIMER_MS ? undefined : Date.now() + ms;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** grpc-js's answer content type (sendHeader writes grpc-js's other answer headers): a caller cannot tell the paths apart. */
const RESPONSE_CONTENT_TYPE = "application/grpc+proto";

/** Response fields sent never-indexed (`http2.sensitiveHeaders`): the request id, new on every call. */
const NOT_INDEXED = ["x-request-id"];

/** Stream events are emitted once each; plain listeners (`on`) cost less than `once` wrappers. */
const ignore = () => {};

/** Request headers a handler never sees (grpc-js removes the same from its Metadata), besides pseudo and `-bin` ones. */
const HIDDEN = new Set(["grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "accept-encoding", "te", "content-type", PEER_FIELD]);

/** A call's request headers read in place from the stream's header object, as grpc-js's Metadata shows them. */
class StreamHeaders extends HeaderView {
  constructor(private readonly raw: IncomingHttpHeaders) {
    super();
  }

  protected read(name: string) {
    return visible(name) ? this.raw[name] : undefined;
  }

  protected write(name: string, value: string | string[]): void {
    this.raw[name] = value;
  }

  protected remove(name: string): void {
    delete this.raw[name];
  }

  protected names(): string[] {
    return Object.keys(this.raw).filter(visible);
  }
}

const visible = (name: string) => !name.startsWith(":") && !name.endsWith("-bin") && !HIDDEN.has(name);

const peers = new WeakMap<object, string>();

/** A connection's remote address as grpc-js's `getPeer` gives it (`host:port`), or "unknown". */
export function peerAddress(socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined } | undefined): string {
  if (!socket?.remoteAddress) return "unknown";
  return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
}

/** One unary call on its HTTP/2 stream: reads the request message, answers as grpc-js does. */
export class DirectCall implements UnaryCall, Answer {
  readonly requestHeader: Headers;
  readonly path: string;
  /** The decoded request (or a MalformedRequest), once `read` has called back. */
  request: unknown;
  /** The response header a handler's answer brought (as grpc-js took it), sent with the answer. */
  private header: { requestId: string; fields: Headers | undefined } | undefined;
  /** The decided answer until the turn ends. */
  private answer: { status: CallStatus; message: Buffer | undefined } | undefined;
  /** The answer is decided (and written, now or when the turn ends), or the peer went away: nothing more is decided. */
  private done = false;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private cancelListener: (() => void) | undefined;

  constructor(
    private readonly stream: DirectStream,
    headers: IncomingHttpHeaders,
    private readonly method: DescMethod,
    readonly deadline: number | undefined,
    private readonly maxReceive: number,
  ) {
    this.path = headers[":path"]!;
    this.requestHeader = new StreamHeaders(headers);
    // A stream that closes before the call is settled (even before its request is read) ends the call: its
    // deadline timer and everything the call holds are let go, and a handler already running is cancelled.
    stream.on("close", () => this.closed());
    if (deadline !== undefined) {
      // grpc-js ends a call at its deadline whatever the handler is doing, and reports it cancelled; so does this.
      this.deadlineTimer = setTimeout(() => {
        if (!this.open) return;
        const cancelled = this.cancelListener;
        this.status({ code: 4, details: "Deadline exceeded", trailer: undefined });
        cancelled?.();
      }, Math.max(0, deadline - Date.now()));
    }
  }

  /**
   * Reads the request, then calls `handle`. A body grpc-js would refuse — a message over the size limit, no
   * message, more than one — gets grpc-js's status instead, and `handle` is not called.
   */
  read(handle: () => void): void {
    // The request's DATA frames come after the HEADERS frame that started the call, in the same read from the socket
    // as a rule: by the time the turn's reads are done (end-of-turn.ts) the whole request is buffered, and taken at
    // once, without a round of listeners and stream events (docs/performance.md, "seventh session").
    answerAtEndOfTurn({ answerNow: () => this.readBuffered(handle) });
  }

  private readBuffered(handle: () => void): void {
    const stream = this.stream;
    if (stream.destroyed) return this.settle();
    // Whether the end of the stream was received (Readable's own state: no public field says so before `end` is
    // emitted). Should a later Node lack it, every request is read by the listeners, as before.
    const ended = (stream as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
    if (!ended || stream.readableFlowing !== null) {
      this.readAsItComes(handle);
      return;
    }
    const body = (stream.read() as Buffer | null) ?? Buffer.alloc(0);
    const declared = body.length >= 5 ? body.readUInt32BE(1) : 0;
    if (declared > this.maxReceive) this.status(this.tooLarge(declared));
    else this.decode(body, handle);
  }

  private readAsItComes(handle: () => void): void {
    const stream = this.stream;
    const chunks: Buffer[] = [];
    let size = 0;
    const refuse = (status: CallStatus) => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      this.status(status);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      // The first frame's length prefix says how big the message is: refuse it before reading it all.
      const first = chunks[0]!;
      const declared = first.length >= 5 ? first.readUInt32BE(1) : size >= 5 ? Buffer.concat(chunks).readUInt32BE(1) : 0;
      if (declared > this.maxReceive) {
        refuse(this.tooLarge(declared));
      } else if (size > 2 * (this.maxReceive + 5)) {
        // More than one message of the largest size: a second message, refused as grpc-js refuses one.
        refuse({ code: 12, details: `Received a second request message for server streaming method ${this.path}`, trailer: undefined });
      }
    };
    const onEnd = () => this.decode(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), handle);
    stream.on("data", onData);
    stream.on("end", onEnd);
  }

  /** grpc-js's answer to a message whose length prefix is over the limit. */
  private tooLarge(declared: number): CallStatus {
    return { code: 8, details: `Received message larger than max (${declared} vs ${this.maxReceive})`, trailer: undefined };
  }

  private decode(body: Buffer, handle: () => void): void {
    const method = this.method;
    const messages = frames(body);
    if (messages.length !== 1) {
      const which = messages.length === 0 ? "no request message" : "a second request message";
      this.status({ code: 12, details: `Received ${which} for server streaming method ${this.path}`, trailer: undefined });
      return;
    }
    try {
      // An empty message (GetJwks, a request that sends everything in its headers) decodes to the defaults.
      const bytes = messages[0]!;
      this.request = bytes.length === 0 ? create(method.input) : fromBinary(method.input, bytes);
    } catch (err) {
      this.request = new MalformedRequest(err instanceof Error ? err.message : String(err));
    }
    handle();
  }

  peer(): string {
    const session = this.stream.session;
    if (session === undefined) return "unknown";
    // Read once per connection: the session's socket is a proxy, and each address is a call into the socket.
    let peer = peers.get(session);
    if (peer === undefined) {
      peer = peerAddress(session.socket);
      if (peer !== "unknown") peers.set(session, peer);
    }
    return peer;
  }

  onCancel(listener: () => void): void {
    this.cancelListener = listener;
  }

  /** The stream closed: a cancellation, unless the call was settled first. */
  private closed(): void {
    if (this.done) return;
    const cancelled = this.cancelListener;
    this.settle();
    cancelled?.();
  }

  ok(requestId: string, header: Headers | undefined, response: unknown, trailer: Headers | undefined): void {
    if (!this.open) return;
    this.acceptHeader(requestId, header);
    checkMetadata(trailer);
    let message: Buffer;
    try {
      message = grpcFrame(this.method.output, response as Message);
    } catch {
      // As grpc-js: the status says so, and the handler's trailer is not sent.
      return this.decide({ code: 13, details: "Error serializing response", trailer: undefined });
    }
    this.decide({ code: 0, details: "OK", trailer }, message);
  }

  fail(requestId: string, header: Headers | undefined, status: CallStatus): void {
    if (!this.open) return;
    this.acceptHeader(requestId, header);
    checkMetadata(status.trailer);
    this.decide(status);
  }

  /** What grpc-js answers when a handler's answer cannot be sent: INTERNAL, after the header if it took one. */
  internalError(): void {
    if (this.open) this.decide({ code: 13, details: "internal error", trailer: undefined });
  }

  /**
   * The response header, as grpc-js's `sendMetadata` takes it: refused (thrown) where its Metadata would refuse a
   * name or value, and only the first one counts.
   */
  private acceptHeader(requestId: string, header: Headers | undefined): void {
    if (this.header !== undefined) return;
    checkMetadata(header);
    this.header = { requestId, fields: header };
  }

  /**
   * The answer is settled now (the deadline and a late cancellation no longer apply) and written when the turn
   * ends, with the turn's other answers (end-of-turn.ts). Node writes a session's frames once per turn anyway;
   * answering at once wrote them while other connections' requests still waited to be read.
   */
  private decide(status: CallStatus, message?: Buffer): void {
    this.settle();
    this.answer = { status, message };
    answerAtEndOfTurn(this);
  }

  /** Writes the decided answer at the end of the turn, unless the peer went away meanwhile. */
  answerNow(): void {
    const { status, message } = this.answer!;
    this.answer = undefined;
    if (this.stream.destroyed || this.stream.closed) return;
    try {
      if (this.header === undefined) return this.trailersOnly(status);
      this.sendHeader(this.header.requestId, this.header.fields);
      this.finish(status, message);
    } catch {
      // Not expected (checkMetadata let through only what HTTP/2 carries), and not to cost the turn's other answers.
      this.stream.destroy();
    }
  }

  /** Nothing more is written on this call, and its deadline no longer matters. */
  private settle(): void {
    this.done = true;
    clearTimeout(this.deadlineTimer);
    // A finished stream outlives its call: Node's native stream handle holds it through a weak reference, which
    // young-generation collections treat as strong, so it lives until the next full collection, and so does what
    // its listeners hold. The close listener holds only this call; what the call held (the handler's cancellation
    // listener, with its context, and the request) is let go here. (Removing the listener instead would turn the
    // stream's event table into a dictionary: dearer than what it saves.)
    this.cancelListener = undefined;
    this.request = undefined;
  }

  /** Whether the stream can still be answered. */
  private get open(): boolean {
    return !this.done && !this.stream.destroyed && !this.stream.closed;
  }

  private sendHeader(requestId: string, header: Headers | undefined): void {
    const out: OutgoingHttpHeaders = {
      ":status": 200,
      "content-type": RESPONSE_CONTENT_TYPE,
      "grpc-accept-encoding": "identity,deflate,gzip",
      "grpc-encoding": "identity",
    };
    if (header !== undefined) addHeaders(out, header);
    if (out["x-request-id"] === undefined) {
      out["x-request-id"] = requestId;
      // A fresh id per call: kept out of HPACK's table, where each would push out the fields that do repeat.
      (out as Record<symbol, unknown>)[sensitiveHeaders] = NOT_INDEXED;
    }
    this.stream.respond(out, { waitForTrailers: true });
  }

  /** Ends the stream with the status in its trailers (after the message, if any). */
  private finish(status: CallStatus, message: Buffer | undefined): void {
    const stream = this.stream;
    stream.on("wantTrailers", () => stream.sendTrailers(statusHeaders(status)));
    if (message === undefined) stream.end();
    else stream.end(message);
  }

  /** A status without a handler's answer (a refused body, the deadline), at once: nothing was sent yet. */
  private status(status: CallStatus): void {
    if (!this.open) return;
    this.settle();
    this.trailersOnly(status);
  }

  private trailersOnly(status: CallStatus): void {
    this.stream.respond(Object.assign(statusHeaders(status), { ":status": 200, "content-type": RESPONSE_CONTENT_TYPE }), { endStream: true });
  }
}

/** The length-prefixed messages of a request body; a trailing partial frame is ignored, as grpc-js does. */
function frames(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (body.length - at >= 5) {
    const length = body.readUInt32BE(at + 1);
    if (body.length - at - 5 < length) break;
    out.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return out;
}

const LEGAL_NAME = /^[:0-9a-z_.-]+$/;
const LEGAL_VALUE = /^[ -~]*$/;

/**
 * Throws where grpc-js's Metadata would refuse a field (a name outside `[:0-9a-z_.-]`, a non-`-bin` value outside
 * printable ASCII), so a handler's header or trailer fails here as it fails on the grpc-js path; the caller gets INTERNAL.
 */
function checkMetadata(headers: Headers | undefined): void {
  headers?.forEach((value, name) => {
    if (!LEGAL_NAME.test(name)) throw new Error(`metadata name "${name}" contains illegal characters`);
    if (!name.endsWith("-bin") && !LEGAL_VALUE.test(value)) throw new Error(`metadata value of "${name}" contains illegal characters`);
  });
}

function statusHeaders(status: CallStatus): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { "grpc-status": String(status.code), "grpc-message": status.details === "OK" ? "OK" : encodeURI(status.details) };
  if (status.trailer !== undefined) addHeaders(out, status.trailer);
  return out;
}

/** Adds Headers to an HTTP/2 header object as grpc-js's Metadata would send them (`-bin` values one field each). */
function addHeaders(out: OutgoingHttpHeaders, headers: Headers): void {
  headers.forEach((value, key) => {
    if (!key.endsWith("-bin")) out[key] = value;
    else {
      const values = binaryValues(value);
      out[key] = values.length === 1 ? values[0] : values;
    }
  });
}
