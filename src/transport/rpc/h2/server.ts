import { connect as http2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { directRoute, peerAddress, serveDirect, type DirectRoute } from "../grpc-direct.js";
import { DEFAULT_LIMITS, ERROR, fieldList, H2Connection, headerObject, type H2Limits, type H2Stream } from "./connection.js";
import { PEER_FIELD } from "./peer-field.js";

/**
 * The gRPC port on tessera's own HTTP/2 layer (connection.ts). Unary calls to tessera's services are answered on
 * the stream (grpc-direct.ts); every other stream — health, reflection, a compressed request, an unknown method,
 * anything not `application/grpc` — is passed, frame by frame, to grpc-js, which listens on a Unix socket in a
 * private directory and answers as it always has.
 */

export interface H2GrpcServerOptions {
  routes: Map<string, DirectRoute>;
  maxReceive: number;
  /** The Unix socket grpc-js listens on. */
  grpcJsSocket: string;
  limits?: Partial<H2Limits>;
}

/** The answer to request metadata over SETTINGS_MAX_HEADER_LIST_SIZE: RESOURCE_EXHAUSTED, trailers only. */
const OVERSIZED = [":status", "200", "content-type", "application/grpc", "grpc-status", "8", "grpc-message", "request%20metadata%20too%20large"];

export class H2GrpcServer {
  private readonly server: Server;
  private readonly connections = new Set<H2Connection>();
  private readonly limits: H2Limits;

  constructor(private readonly opts: H2GrpcServerOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        const address = this.server.address();
        resolve(typeof address === "object" && address !== null ? address.port : port);
      });
    });
  }

  /** Stops accepting; every connection gets GOAWAY and finishes its streams; after `graceMs` the rest are cut. */
  close(graceMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const drained = Promise.all([...this.connections].map((connection) => new Promise<void>((resolve) => connection.onClose(resolve))));
    for (const connection of this.connections) connection.shutdown();
    let force: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      force = setTimeout(() => {
        for (const connection of this.connections) connection.destroy();
        resolve();
      }, graceMs);
      force.unref();
    });
    return Promise.race([drained, forced]).then(() => {
      clearTimeout(force);
      return stopped;
    });
  }

  private accept(socket: Socket): void {
    let proxy: GrpcJsProxy | undefined;
    const connection: H2Connection = new H2Connection(
      socket,
      {
        stream: (stream, fields) => {
          const headers = headerObject(fields);
          const direct = directRoute(this.opts.routes, headers);
          if (direct !== undefined) {
            // The request is read as it arrives up to twice the message limit (where DirectCall refuses it).
            stream.windowCap = 2 * (this.opts.maxReceive + 5);
            serveDirect(stream, headers, direct, this.opts.maxReceive);
            return;
          }
          proxy ??= new GrpcJsProxy(this.opts.grpcJsSocket, connection);
          proxy.pass(stream, headers);
        },
        oversizedHeaders: (stream) => stream.respondFields(OVERSIZED, true),
      },
      this.limits,
    );
    this.connections.add(connection);
    connection.onClose(() => {
      this.connections.delete(connection);
      proxy?.close();
    });
  }
}

/** Fields a proxy does not pass on: HTTP/2 carries none of them, and the peer's address is set here. */
const NOT_PASSED = new Set([PEER_FIELD, "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/**
 * grpc-js's answers are paused while one stream holds this many bytes for the client, or the whole connection
 * this many (waiting for the client's windows or in the socket's queue), until the client reads.
 */
const ANSWER_BUFFER = 1024 * 1024;
const CONNECTION_ANSWER_BUFFER = 4 * 1024 * 1024;

/** One client connection's streams passed to grpc-js, over one HTTP/2 session on its Unix socket. */
class GrpcJsProxy {
  private session: ClientHttp2Session | undefined;
  private readonly peer: string;
  /** grpc-js answers paused because the client is behind. */
  private readonly paused = new Map<ClientHttp2Stream, H2Stream>();

  constructor(
    private readonly socketPath: string,
    private readonly connection: H2Connection,
  ) {
    this.peer = peerAddress(connection.socket);
    connection.onDrain(() => this.resumeCaughtUp());
  }

  private behind(stream: H2Stream): boolean {
    return stream.pendingBytes > ANSWER_BUFFER || this.connection.answerBacklog > CONNECTION_ANSWER_BUFFER;
  }

  private resumeCaughtUp(): void {
    for (const [request, stream] of this.paused) {
      if (stream.closed) this.paused.delete(request);
      else if (!this.behind(stream)) {
        this.paused.delete(request);
        request.resume();
      }
    }
  }

  private open(): ClientHttp2Session {
    if (this.session === undefined || this.session.closed || this.session.destroyed) {
      const session = http2Connect("http://localhost", { createConnection: () => netConnect(this.socketPath) });
      session.on("error", () => {});
      this.session = session;
    }
    return this.session;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  pass(stream: H2Stream, headers: IncomingHttpHeaders): void {
    // As Node's server would have given them to grpc-js: a repeated single-valued field keeps its first value,
    // other repeats are joined.
    const out: OutgoingHttpHeaders = {};
    for (const name of Object.keys(headers)) if (!NOT_PASSED.has(name)) out[name] = headers[name];
    out[PEER_FIELD] = this.peer;
    let request: ClientHttp2Stream;
    try {
      // endStream false: Node's client would end a GET's stream at once, dropping its body.
      request = this.open().request(out, { endStream: false });
    } catch {
      // A field Node's HTTP/2 client refuses to send: the caller's request was not valid HTTP/2 metadata.
      const path = typeof headers[":path"] === "string" ? headers[":path"] : "";
      stream.respondFields([":status", "200", "content-type", "application/grpc", "grpc-status", "13", "grpc-message", encodeURI(`invalid request metadata for ${path}`)], true);
      return;
    }
    request.on("error", () => {});
    // The request body: passed on as it comes; the stream's window waits while grpc-js's side is full.
    stream.windowCap = Number.MAX_SAFE_INTEGER;
    stream.on("data", (chunk: Buffer) => {
      if (!request.write(chunk)) stream.holdWindow = true;
    });
    request.on("drain", () => stream.releaseWindow());
    stream.on("end", () => request.end());
    // The answer.
    let trailersSent = false;
    stream.on("close", () => {
      // Only a call the client gave up on is cancelled at grpc-js: cancelling every finished one trips Node's
      // rapid-reset guard on grpc-js's session, which then drops every call on it.
      if (!trailersSent && !request.closed) request.close(stream.resetCode ?? constants.NGHTTP2_CANCEL);
    });
    request.on("response", (response: IncomingHttpHeaders, flags: number) => {
      const endStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      const { fields, sensitive } = fieldList(response, false);
      stream.respondFields(fields, endStream, sensitive);
      if (endStream) trailersSent = true;
    });
    request.on("data", (chunk: Buffer) => {
      stream.writeData(chunk);
      if (this.behind(stream)) {
        request.pause();
        this.paused.set(request, stream);
      }
    });
    stream.on("writable", () => this.resumeCaughtUp());
    request.on("trailers", (trailers: IncomingHttpHeaders) => {
      trailersSent = true;
      stream.trailerFields(fieldList(trailers, false).fields);
    });
    request.on("end", () => {
      if (!trailersSent) stream.end();
    });
    request.on("close", () => {
      this.paused.delete(request);
      // grpc-js reset the stream, or the session ended, before the answer was complete.
      if (!stream.closed && !trailersSent) stream.reset(request.rstCode === constants.NGHTTP2_NO_ERROR || request.rstCode === undefined ? ERROR.INTERNAL_ERROR : request.rstCode);
    });
  }
}
