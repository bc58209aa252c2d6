import http2 from "node:http2";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { GetJwksRequestSchema, IssueClientTokenRequestSchema, TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createGrpcServer, type GrpcCallEvent, type GrpcServerHandle } from "../../src/transport/rpc/grpc-server.js";
import { startServer, type TestServer } from "../helpers/server.js";

// Every case goes to two servers with the same services: one answers unary calls on the HTTP/2 stream
// (the default), the other leaves every call to grpc-js. What a caller receives must be the same.

let slowStarted: (context: HandlerContext) => void = () => {};

const impl: Partial<ServiceImpl<typeof TokenService>> = {
  getJwks(_req, context) {
    if (context.requestHeader.get("x-odd") !== null) {
      // Latin-1 text: a Fetch Headers value, but not one an HTTP/2 field may carry as it is.
      context.responseHeader.set("x-odd-header", context.requestHeader.get("x-odd") === "header" ? "caf\u00e9" : "plain");
      context.responseTrailer.set("x-odd-trailer", context.requestHeader.get("x-odd") === "trailer" ? "caf\u00e9" : "plain");
    }
    context.responseHeader.set("x-key-source", "memory");
    context.responseTrailer.set("x-key-count", "1");
    context.responseTrailer.set("x-trace-bin", Buffer.from([1, 2, 3]).toString("base64"));
    return { keys: [{ kty: "OKP", crv: "Ed25519", x: "AAAA", kid: context.requestHeader.get("authorization") ?? "none", alg: "EdDSA" }] };
  },
  issueClientToken(req) {
    if (req.scope === "plain-error") throw new Error("postgres://admin:hunter2@db refused");
    // A flat message: the stream path writes it itself (grpc-frame.ts), grpc-js through toBinary.
    // An answer toBinary refuses (a handler's bug): no int32 is 1.5.
    if (req.scope === "unencodable") return { accessToken: "x", tokenType: "Bearer", expiresIn: 1.5 };
    if (req.scope === "ok") return { accessToken: `eyJ.${"ü".repeat(100)}.sig`, tokenType: "Bearer", expiresIn: 300, scope: "read", refreshToken: "" };
    throw new ConnectError("bad client: ü & 100% sure", Code.Unauthenticated, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "invalid_client", domain: "tessera" } },
    ]);
  },
  introspectToken(_req, context) {
    slowStarted(context);
    return new Promise(() => {});
  },
  // Answers a few timer turns later: a deadline already past when the call starts fails it.
  logout() {
    return new Promise((resolve) => setTimeout(() => resolve({}), 20));
  },
};

interface Answer {
  status: number | undefined;
  headers: Record<string, unknown>;
  data: string;
  trailers: Record<string, unknown>;
  reset?: number;
}

/** One raw HTTP/2 request; the answer without `date`, and with a random request id shown as "<generated>". */
function call(
  address: string,
  path: string,
  opts: { body?: Buffer; headers?: http2.OutgoingHttpHeaders; cancelAfterMs?: number; pieces?: Buffer[] } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...opts.headers,
    });
    const answer: Answer = { status: undefined, headers: {}, data: "", trailers: {} };
    const clean = (h: http2.IncomingHttpHeaders) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(h)) {
        if (k === "date") continue;
        out[k] = k === "x-request-id" && typeof v === "string" && /^[0-9a-f-]{36}$/.test(v) ? "<generated>" : v;
      }
      return out;
    };
    stream.on("response", (h) => {
      answer.status = h[":status"];
      answer.headers = clean(h);
    });
    stream.on("trailers", (t) => (answer.trailers = clean(t)));
    const parts: Buffer[] = [];
    stream.on("data", (d: Buffer) => parts.push(d));
    stream.on("close", () => {
      answer.data = Buffer.concat(parts).toString("base64");
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) answer.reset = stream.rstCode;
      session.close();
      resolve(answer);
    });
    stream.on("error", () => {});
    if (opts.cancelAfterMs !== undefined) {
      stream.write(frame(Buffer.alloc(0)));
      setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), opts.cancelAfterMs);
      return;
    }
    if (opts.pieces !== undefined) {
      // The headers first, then each piece of the body in a DATA frame of its own, a turn of the server's loop apart.
      const pieces = [...opts.pieces];
      const next = () => (pieces.length === 0 ? stream.end() : stream.write(pieces.shift(), () => setTimeout(next, 20)));
      setTimeout(next, 20);
      return;
    }
    stream.end(opts.body ?? frame(Buffer.alloc(0)));
  });
}

function frame(message: Uint8Array, compressed = false): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

const jwksRequest = frame(toBinary(GetJwksRequestSchema, create(GetJwksRequestSchema)));
const path = (method: string) => `/${TokenService.typeName}/${method}`;

describe.each(["tessera", "node"] as const)("gRPC unary calls answered on the HTTP/2 stream (%s's HTTP/2)", (http2Layer) => {
  const events = { direct: [] as GrpcCallEvent[], grpcJs: [] as GrpcCallEvent[] };
  let direct: GrpcServerHandle;
  let grpcJs: GrpcServerHandle;
  const address = { direct: "", grpcJs: "" };

  beforeAll(async () => {
    direct = createGrpcServer({ services: [{ service: TokenService, impl }], onCallEnd: (e) => events.direct.push(e), http2: http2Layer });
    grpcJs = createGrpcServer({ services: [{ service: TokenService, impl }], onCallEnd: (e) => events.grpcJs.push(e), direct: false });
    address.direct = `127.0.0.1:${await direct.listen("127.0.0.1", 0)}`;
    address.grpcJs = `127.0.0.1:${await grpcJs.listen("127.0.0.1", 0)}`;
  });
  afterAll(async () => {
    await direct.close(100);
    await grpcJs.close(100);
  });

  it("is in place (with Node's HTTP/2: grpc-js's HTTP/2 server was found)", () => {
    expect(direct.servesDirectly()).toBe(true);
    expect(grpcJs.servesDirectly()).toBe(false);
  });

  it("sends the request id never-indexed (out of HPACK's table: a new one each call), generated or the caller's", async () => {
    const sensitive = (headers: http2.OutgoingHttpHeaders) =>
      new Promise<unknown>((resolve, reject) => {
        const session = http2.connect(`http://${address.direct}`);
        session.on("error", reject);
        const stream = session.request({ ":method": "POST", ":path": path("GetJwks"), "content-type": "application/grpc", te: "trailers", ...headers });
        stream.on("response", (h) => resolve((h as Record<symbol, unknown>)[http2.sensitiveHeaders]));
        stream.on("close", () => session.close());
        stream.resume();
        stream.end(jwksRequest);
      });
    expect(await sensitive({})).toEqual(["x-request-id"]);
    expect(await sensitive({ "x-request-id": "caller-chosen-id-2" })).toEqual(["x-request-id"]);
  });

  const both = async (p: string, opts: Parameters<typeof call>[2] = {}) => {
    const [a, b] = await Promise.all([call(address.direct, p, opts), call(address.grpcJs, p, opts)]);
    expect(a).toEqual(b);
    return a;
  };

  const cases: [string, string, Parameters<typeof call>[2], (a: Answer) => void][] = [
    ["an answer with response header, trailer and a binary trailer", "GetJwks", { body: jwksRequest, headers: { authorization: "Basic abc" } }, (a) => {
      expect(a.headers).toMatchObject({ "x-key-source": "memory", "content-type": "application/grpc+proto", "x-request-id": "<generated>" });
      expect(a.trailers).toMatchObject({ "grpc-status": "0", "grpc-message": "OK", "x-key-count": "1", "x-trace-bin": "AQID" });
      expect(a.data.length).toBeGreaterThan(10);
    }],
    // Node's HTTP/2 would send Latin-1 text; grpc-js's Metadata refuses it, and the caller gets INTERNAL.
    ["a response header value outside ASCII", "GetJwks", { body: jwksRequest, headers: { "x-odd": "header" } }, (a) => {
      expect(a.headers).toMatchObject({ "grpc-status": "13", "grpc-message": "internal%20error" });
      expect(a.data).toBe("");
    }],
    ["a trailer value outside ASCII", "GetJwks", { body: jwksRequest, headers: { "x-odd": "trailer" } }, (a) => {
      expect(a.headers).toMatchObject({ "x-odd-header": "plain" });
      expect(a.trailers).toMatchObject({ "grpc-status": "13", "grpc-message": "internal%20error" });
      expect(a.data).toBe("");
    }],
    ["an answer that cannot be encoded", "IssueClientToken", { body: frame(toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, { scope: "unencodable" }))) }, (a) => {
      expect(a.data).toBe("");
    }],
    ["the caller's request id", "GetJwks", { body: jwksRequest, headers: { "x-request-id": "caller-chosen-id-1" } }, (a) => {
      expect(a.headers["x-request-id"]).toBe("caller-chosen-id-1");
    }],
    ["a ConnectError with ErrorInfo and characters to percent-encode", "IssueClientToken", {}, (a) => {
      expect(a.trailers).toMatchObject({ "grpc-status": "16", "grpc-message": encodeURI("bad client: ü & 100% sure") });
      expect(a.trailers["grpc-status-details-bin"]).toEqual(expect.any(String));
    }],
    ["a token response (a flat message)", "IssueClientToken", { body: frame(toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, { scope: "ok" }))) }, (a) => {
      expect(a.trailers).toMatchObject({ "grpc-status": "0", "grpc-message": "OK" });
      expect(Buffer.from(a.data, "base64").readUInt32BE(1)).toBe(Buffer.from(a.data, "base64").length - 5);
      expect(Buffer.from(a.data, "base64").toString()).toContain("ü".repeat(100));
    }],
    ["a plain Error, as INTERNAL without its message", "IssueClientToken", { body: frame(toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, { scope: "plain-error" }))) }, (a) => {
      expect(a.trailers).toMatchObject({ "grpc-status": "13", "grpc-message": "internal%20error" });
      expect(JSON.stringify(a)).not.toContain("hunter2");
    }],
    ["bytes that are not the request message", "GetJwks", { body: frame(Buffer.from([0xff, 0xff, 0xff])), headers: { "x-request-id": "malformed-call-01" } }, (a) => {
      expect(a.trailers["grpc-status"]).toBe("3");
    }],
    ["no request message", "GetJwks", { body: Buffer.alloc(0) }, (a) => {
      expect(a.headers["grpc-status"]).toBe("12");
    }],
    ["two request messages", "GetJwks", { body: Buffer.concat([jwksRequest, jwksRequest]) }, (a) => {
      expect(a.headers["grpc-status"]).toBe("12");
    }],
    // Read as it comes, not from the buffer at the end of the turn: the request is not all there yet.
    ["a request message that arrives in pieces after its headers", "GetJwks", { pieces: [jwksRequest.subarray(0, 3), jwksRequest.subarray(3)] }, (a) => {
      expect(a.trailers).toMatchObject({ "grpc-status": "0", "x-key-count": "1" });
    }],
    ["a second request message that arrives after the first", "GetJwks", { pieces: [jwksRequest, jwksRequest] }, (a) => {
      expect(a.headers["grpc-status"]).toBe("12");
    }],
    ["a message over 64 KiB that arrives in pieces", "GetJwks", { pieces: [frame(Buffer.alloc(65 * 1024)).subarray(0, 5), Buffer.alloc(65 * 1024)] }, (a) => {
      expect(a.headers).toMatchObject({ "grpc-status": "8" });
    }],
    ["a trailing partial frame after the message", "GetJwks", { body: Buffer.concat([jwksRequest, Buffer.from([0, 0])]) }, (a) => {
      expect(a.trailers["grpc-status"]).toBe("0");
    }],
    ["a message over 64 KiB", "GetJwks", { body: frame(Buffer.alloc(65 * 1024)) }, (a) => {
      expect(a.headers).toMatchObject({ "grpc-status": "8", "grpc-message": encodeURI(`Received message larger than max (${65 * 1024} vs ${64 * 1024})`) });
    }],
    ["a method the impl lacks", "RevokeToken", {}, (a) => {
      expect(a.trailers["grpc-status"]).toBe("12");
    }],
    ["a gzip-compressed request (left to grpc-js)", "GetJwks", { body: frame(gzipSync(toBinary(GetJwksRequestSchema, create(GetJwksRequestSchema))), true), headers: { "grpc-encoding": "gzip" } }, (a) => {
      expect(a.trailers["grpc-status"]).toBe("0");
    }],
    ["a content type that is not gRPC (left to grpc-js)", "GetJwks", { body: jwksRequest, headers: { "content-type": "application/json" } }, (a) => {
      expect(a.status).toBe(415);
    }],
    ["a malformed grpc-timeout (left to grpc-js)", "GetJwks", { body: jwksRequest, headers: { "grpc-timeout": "soon" } }, (a) => {
      expect(a.headers["grpc-status"]).toBe("13");
    }],
    ["a deadline the handler does not meet", "IntrospectToken", { headers: { "grpc-timeout": "50m" } }, (a) => {
      expect(a.headers).toMatchObject({ "grpc-status": "4", "grpc-message": "Deadline%20exceeded" });
    }],
  ];
  for (const [name, method, opts, check] of cases) {
    it(`answers ${name} as grpc-js does`, async () => check(await both(path(method), opts)));
  }

  it("a deadline past the longest timer (30 days, 1000 hours) is no deadline; it does not wrap to one already past", async () => {
    for (const timeout of ["2592000S", "1000H", "2147484S", "40000M"]) {
      const direct = await call(address.direct, path("Logout"), { headers: { "grpc-timeout": timeout } });
      expect(direct.trailers, timeout).toMatchObject({ "grpc-status": "0" });
    }
  });

  it("reports the same events: codes, request headers, peer; a missed deadline and a cancelled call as CANCELLED", async () => {
    events.direct.length = 0;
    events.grpcJs.length = 0;
    await both(path("GetJwks"), { body: jwksRequest, headers: { authorization: "Basic abc", "x-request-id": "events-id-0001" } });
    await both(path("IssueClientToken"));
    await both(path("IntrospectToken"), { headers: { "grpc-timeout": "20m" } });
    let started = 0;
    const aborted: Promise<unknown>[] = [];
    slowStarted = (context) => {
      started += 1;
      aborted.push(new Promise((r) => context.signal.addEventListener("abort", () => r(context.signal.reason))));
    };
    await both(path("IntrospectToken"), { cancelAfterMs: 50 });
    await vi.waitFor(() => expect(events.direct.length + events.grpcJs.length).toBe(8));
    expect(started).toBe(2);
    expect(await Promise.all(aborted)).toEqual([expect.objectContaining({ code: Code.Canceled }), expect.objectContaining({ code: Code.Canceled })]);
    const view = (e: GrpcCallEvent) => ({
      method: e.method,
      code: e.code,
      id: e.requestHeader.get("x-request-id")?.replace(/^[0-9a-f-]{36}$/, "<generated>"),
      auth: e.requestHeader.get("authorization"),
      hidden: ["content-type", "te", "grpc-timeout", ":path"].map((h) => e.requestHeader.get(h)),
      peer: e.peer.startsWith("127.0.0.1:"),
    });
    // grpc-js reports a cancelled call's peer as "unknown" (its session is gone by then), and so does the direct
    // path on Node's HTTP/2; tessera's HTTP/2 layer still knows it.
    expect(events.grpcJs[3]!.peer).toBe("unknown");
    expect(events.direct.map(view)).toEqual(events.grpcJs.map(view).map((v, i) => (i === 3 && http2Layer === "tessera" ? { ...v, peer: true } : v)));
    expect(events.direct.map((e) => e.code)).toEqual([0, 16, 1, 1]);
    expect(view(events.direct[0]!)).toMatchObject({ id: "events-id-0001", auth: "Basic abc", hidden: [null, null, null, null] });
  });
});

describe("tessera's gRPC port", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.dispose());

  it("answers IssueClientToken on the stream, with a token that carries the request's claims", async () => {
    const a = await call(server.grpcAddress, path("IssueClientToken"), {
      body: frame(toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema))),
      headers: { authorization: server.basic(), "x-request-id": "port-test-id-0001" },
    });
    expect(a.headers).toMatchObject({ ":status": 200, "x-request-id": "port-test-id-0001" });
    expect(a.trailers).toMatchObject({ "grpc-status": "0" });
    expect(Buffer.from(a.data, "base64").toString("latin1")).toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/);
  });
});

describe("a finished call on the stream path", () => {
  /** A TokenService whose IssueClientToken keeps weak references to its context and request, and a full collection. */
  const recorder = () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const refs: { context?: WeakRef<object>; request?: WeakRef<object> } = {};
    const recording: Partial<ServiceImpl<typeof TokenService>> = {
      issueClientToken(req, context) {
        refs.context = new WeakRef(context);
        refs.request = new WeakRef(req);
        return { accessToken: "a", tokenType: "Bearer", expiresIn: 1 };
      },
    };
    return { gc, refs, recording };
  };

  it("keeps neither the handler's context nor the request alive (tessera's HTTP/2)", async () => {
    const { gc, refs, recording } = recorder();
    const server = createGrpcServer({ services: [{ service: TokenService, impl: recording }] });
    const port = await server.listen("127.0.0.1", 0);
    try {
      const answer = await call(`127.0.0.1:${port}`, path("IssueClientToken"), {
        body: frame(toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, { scope: "read" }))),
      });
      expect(answer.trailers).toMatchObject({ "grpc-status": "0" });
      expect(refs.context?.deref(), "the handler ran").toBeDefined();
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      expect(refs.context?.deref(), "the handler's context").toBeUndefined();
      expect(refs.request?.deref(), "the request message").toBeUndefined();
    } finally {
      await server.close(100);
    }
  });

  it("keeps neither the handler's context nor the request alive through its stream (Node's HTTP/2)", async () => {
    // Node keeps a finished HTTP/2 stream until a full collection (grpc-direct.ts, `settle`); this test holds the
    // stream as the young generation's collections do, and checks that what the call built is free all the same.
    const { gc, refs, recording } = recorder();
    const server = createGrpcServer({ services: [{ service: TokenService, impl: recording }], http2: "node" });
    const port = await server.listen("127.0.0.1", 0);
    try {
      expect(server.servesDirectly()).toBe(true);
      const held: http2.ServerHttp2Stream[] = [];
      const internals = server.server as unknown as { http2Servers: Map<http2.Http2Server, unknown> };
      for (const h2 of internals.http2Servers.keys()) h2.on("stream", (stream: http2.ServerHttp2Stream) => held.push(stream));
      const answer = await call(`127.0.0.1:${port}`, path("IssueClientToken"), {
        body: frame(toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, { scope: "read" }))),
      });
      expect(answer.trailers).toMatchObject({ "grpc-status": "0" });
      expect(held).toHaveLength(1);
      await vi.waitFor(() => expect(held[0]!.closed).toBe(true));
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      expect(refs.context?.deref(), "the handler's context").toBeUndefined();
      expect(refs.request?.deref(), "the request message").toBeUndefined();
      expect(held[0]!.destroyed).toBe(true);
    } finally {
      await server.close(100);
    }
  });
});
