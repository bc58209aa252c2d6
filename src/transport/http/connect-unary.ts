import { create, isMessage, type DescMessage, type DescMethod, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type Interceptor, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { compressionNegotiate, createMethodSerializationLookup, validateReadWriteMaxBytes, type Compression, type MethodSerializationLookup } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorToJsonBytes, parseContentType } from "@connectrpc/connect/protocol-connect";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { OAuthError } from "../../domain/errors.js";
import { CALL_ENDED, LazyHandlerContext } from "../rpc/handler-context.js";
import { readBody } from "./body.js";
import { flatFromJson, flatJsonBytes } from "./flat-json.js";
import { GatewayResponse } from "./respond.js";
import { IncomingHeaders } from "../header-view.js";

type UnaryImpl = (request: unknown, context: HandlerContext) => unknown;

interface UnaryEntry {
  service: DescService;
  method: DescMethod;
  impl: UnaryImpl;
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

export interface ConnectUnaryOptions {
  services: { service: DescService; impl: object }[];
  interceptors: Interceptor[];
  readMaxBytes: number;
  /** Added to every answer (the gateway's `Cache-Control: no-store`). */
  headers: Readonly<Record<string, string>>;
}

/** What connect-node accepts by default (connectNodeAdapter without `acceptCompression`): the same negotiation here. */
const ACCEPT_COMPRESSION = [compressionGzip, compressionBrotli];

/**
 * JSON answers are encoded with Buffer.from, which takes small strings from Node's shared pool, instead of a
 * TextEncoder, which allocates an ArrayBuffer per answer; the bytes are the same (both write U+FFFD for a lone
 * surrogate). Requests are still decoded with connect's TextDecoder (it drops a byte-order mark; Buffer does not).
 * createMethodSerializationLookup hands these options to connect's createJsonSerialization, which takes a
 * `textEncoder`; the lookup's own signature leaves that member out of its type, hence the cast.
 */
const JSON_OPTIONS = { textEncoder: { encode: (text = "") => Buffer.from(text, "utf8") } } as Parameters<typeof createMethodSerializationLookup>[2];

/** parseContentType's answers for the few content types callers send, so each is matched once (bounded). */
const contentTypes = new Map<string, ReturnType<typeof parseContentType>>();
function contentTypeOf(value: string | undefined): ReturnType<typeof parseContentType> {
  if (value === undefined) return undefined;
  let type = contentTypes.get(value);
  if (type === undefined && !contentTypes.has(value)) {
    type = parseContentType(value);
    if (contentTypes.size < 32) contentTypes.set(value, type);
  }
  return type;
}

/**
 * The Connect protocol's unary call — a POST with a JSON or binary body — served without connect-node's
 * per-call machinery (an undici Headers copy of every request header, three AbortControllers, async
 * iterables over the body and the answer, and two DOMExceptions per call), which cost as much as the call
 * itself. It answers byte for byte what connect-node answers: the same JSON codec (flat messages read and
 * written by flat-json.ts, which gives protobuf-es's bytes or leaves the message to it) and limits, the same
 * interceptors (access log, metrics, tracing), the same error JSON and status mapping, the same response
 * compression; test/rpc/connect-unary.test.ts compares the two on every outcome.
 *
 * Returns false, leaving the request to connect-node, for everything else: GET, streaming content types
 * (gRPC-web, Connect streams), a body compressed other than with gzip or br, `Connect-Timeout-Ms`, and methods
 * without an implementation.
 */
export function connectUnary(opts: ConnectUnaryOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const limits = validateReadWriteMaxBytes(opts.readMaxBytes, undefined, undefined);
  const entries = new Map<string, UnaryEntry>();
  for (const { service, impl } of opts.services) {
    for (const method of service.methods) {
      const fn = (impl as Record<string, UnaryImpl | undefined>)[method.localName];
      if (method.methodKind !== "unary" || typeof fn !== "function") continue;
      entries.set(`/${service.typeName}/${method.name}`, {
        service,
        method,
        impl: fn.bind(impl),
        serialization: createMethodSerializationLookup(method, undefined, JSON_OPTIONS, limits),
      });
    }
  }

  return (req, res) => {
    if (req.method !== "POST") return false;
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const entry = entries.get(q === -1 ? url : url.slice(0, q));
    if (entry === undefined) return false;
    const h = req.headers;
    const type = contentTypeOf(h["content-type"]);
    if (type === undefined || type.stream) return false;
    if (h["connect-timeout-ms"] !== undefined) return false;
    const coding = h["content-encoding"];
    let compressed: Compression | undefined;
    if (coding !== undefined && coding !== "identity") {
      compressed = ACCEPT_COMPRESSION.find((c) => c.name === coding);
      if (compressed === undefined) return false;
    }
    serve(entry, opts, limits.readMaxBytes, type.binary, compressed, req, res).catch((err: unknown) => {
      // Only writing the answer can fail here (handler errors are answers): the access log reports it.
      res.locals.error = err;
      res.destroy();
    });
    return true;
  };
}

async function serve(
  entry: UnaryEntry,
  { interceptors, headers: always }: ConnectUnaryOptions,
  readMaxBytes: number,
  binary: boolean,
  compressed: Compression | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const requestHeader = new IncomingHeaders(req.headers);
  const context = new LazyHandlerContext(
    entry.service,
    entry.method,
    "connect",
    `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`,
    undefined,
    requestHeader,
    (abort) => res.once("close", () => abort(new ConnectError("the client went away", Code.Canceled))),
  );
  const compression = compressionNegotiate(ACCEPT_COMPRESSION, null, requestHeader.get("accept-encoding"), "Accept-Encoding");
  let status = 200;
  let body: Uint8Array;
  let errorMetadata: Headers | undefined;
  try {
    const raw = await readRequestBody(req, readMaxBytes);
    const bytes = compressed === undefined ? raw : await decompress(compressed, raw, readMaxBytes);
    const input = (binary ? undefined : flatFromJson(entry.method.input, bytes)) ?? parse(entry, binary, bytes);
    const output = await invoke(entry, context, input, interceptors);
    body = (binary ? undefined : flatJsonBytes(entry.method.output, output)) ?? entry.serialization.getO(binary).serialize(output);
  } catch (e) {
    context.end(e);
    const error = e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
    status = codeToHttpStatus(error.code);
    errorMetadata = error.metadata;
    body = errorToJsonBytes(error, undefined);
  } finally {
    context.end(CALL_ENDED);
  }

  // Object.assign, not `{ ...always }` and more keys: docs/performance.md, "One map per object".
  const headers: OutgoingHttpHeaders = Object.assign({}, always);
  headers["content-type"] = binary ? "application/proto" : "application/json";
  context.peek("header")?.forEach((value, key) => (headers[key] = value));
  if (errorMetadata !== undefined) {
    headers["content-type"] = "application/json";
    errorMetadata.forEach((value, key) => (headers[key] = value));
  }
  if (compression.response !== null && body.byteLength >= 1024) {
    body = await compression.response.compress(body);
    headers["content-encoding"] = compression.response.name;
  }
  // Connect's unary answers carry trailers as `trailer-` headers.
  context.peek("trailer")?.forEach((value, key) => (headers[`trailer-${key}`] = value));
  headers["content-length"] = String(body.byteLength);
  // The object is ours: the gateway's deferred headers (x-request-id) go straight into it.
  if (res instanceof GatewayResponse) res.takeDeferred(headers);
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * The request message. Bytes that are not a message are the caller's mistake: connect-node answers 500
 * ("internal") for them, this path 400 (invalid_argument), as the gRPC port does.
 */
function parse(entry: UnaryEntry, binary: boolean, bytes: Uint8Array): MessageShape<DescMessage> {
  try {
    return entry.serialization.getI(binary).parse(bytes);
  } catch (err) {
    if (binary && err instanceof ConnectError && err.code === Code.Internal) {
      throw new ConnectError(`the request is not a valid ${entry.method.input.typeName} message (${err.rawMessage.slice(0, 100)})`, Code.InvalidArgument);
    }
    throw err;
  }
}

/**
 * A compressed request body, within the limit. Bytes that do not decompress are the caller's mistake:
 * connect-node answers 500 ("decompression failed") for most of them, this path 400 (invalid_argument).
 */
async function decompress(compression: Compression, bytes: Uint8Array, readMaxBytes: number): Promise<Buffer> {
  try {
    const out = await compression.decompress(bytes, readMaxBytes);
    return Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.ResourceExhausted) throw err;
    throw new ConnectError(`the request body is not valid ${compression.name} data`, Code.InvalidArgument);
  }
}

/**
 * The body, within the limit. A declared length over it never gets here (the gateway answers 413 first);
 * a chunked body that grows past it fails as connect's reader fails it.
 */
async function readRequestBody(req: IncomingMessage, readMaxBytes: number): Promise<Buffer> {
  try {
    return await readBody(req, readMaxBytes);
  } catch (err) {
    if (err instanceof OAuthError && err.kind === "payload_too_large") {
      throw new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
    }
    throw err;
  }
}

/** The handler behind the interceptors, as connect's invokeUnaryImplementation runs it. */
async function invoke(entry: UnaryEntry, context: LazyHandlerContext, input: MessageShape<DescMessage>, interceptors: Interceptor[]): Promise<MessageShape<DescMessage>> {
  const { method } = entry;
  const inner = async (req: UnaryRequest): Promise<UnaryResponse> => {
    const output = await entry.impl(req.message, context);
    return new LazyUnaryResponse(entry, context, isMessage(output, method.output) ? output : create(method.output, output as never)) as unknown as UnaryResponse;
  };
  if (interceptors.length === 0) return (await inner(request(entry, context, input))).message as MessageShape<DescMessage>;
  const next = interceptors.reduceRight<(req: UnaryRequest) => Promise<UnaryResponse>>((n, interceptor) => interceptor(n as never) as never, inner);
  const response = await next(request(entry, context, input));
  // An interceptor may answer with headers of its own (connect copies them into the response).
  if (response.header !== context.peek("header")) response.header.forEach((value, key) => context.responseHeader.set(key, value));
  if (response.trailer !== context.peek("trailer")) response.trailer.forEach((value, key) => context.responseTrailer.set(key, value));
  return response.message as MessageShape<DescMessage>;
}

function request(entry: UnaryEntry, context: LazyHandlerContext, message: MessageShape<DescMessage>): UnaryRequest {
  return new LazyUnaryRequest(entry, context, message) as unknown as UnaryRequest;
}

// Classes, not object literals with getters: a literal's getter is a new closure per call, which gives every
// object a map of its own and kept the call's objects alive until a full GC (docs/performance.md, "One map per object").

/** What connect's UnaryRequest and UnaryResponse share. */
abstract class UnaryPart {
  readonly stream = false;
  readonly service: UnaryEntry["service"];
  readonly method: UnaryEntry["method"];

  constructor(
    entry: UnaryEntry,
    protected readonly context: LazyHandlerContext,
    readonly message: MessageShape<DescMessage>,
  ) {
    this.service = entry.service;
    this.method = entry.method;
  }
}

/** connect's UnaryRequest; the abort signal is made only if something reads it. */
class LazyUnaryRequest extends UnaryPart {
  readonly requestMethod = "POST";
  readonly url = this.context.url;
  readonly header = this.context.requestHeader;
  readonly contextValues = this.context.values;

  get signal(): AbortSignal {
    return this.context.signal;
  }
}

/** connect's UnaryResponse; headers and trailers are the context's, made only if something reads them. */
class LazyUnaryResponse extends UnaryPart {
  get header(): Headers {
    return this.context.responseHeader;
  }

  get trailer(): Headers {
    return this.context.responseTrailer;
  }
}
