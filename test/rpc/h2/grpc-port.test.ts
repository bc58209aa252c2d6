import * as grpc from "@grpc/grpc-js";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GetJwksRequestSchema, IssueClientTokenRequestSchema, TokenService } from "../../../gen/tessera/v1/token_service_pb.js";
import { createGrpcServer, type GrpcCallEvent, type GrpcServerHandle } from "../../../src/transport/rpc/grpc-server.js";
import { encodeHeaders } from "../../../src/transport/rpc/h2/hpack.js";
import { RawH2, requestBlock as requestBlockFor, setting, T, u32 } from "./raw-h2.js";

// The gRPC port on tessera's HTTP/2 layer, end to end: what is answered on the stream, what is passed to grpc-js
// behind it, and what neither could answer before (request metadata over the limit).

let release: () => void = () => {};
const impl: Partial<ServiceImpl<typeof TokenService>> = {
  getJwks: () => ({ keys: [] }),
  issueClientToken: (req) => ({ accessToken: `token-for-${req.scope}`, tokenType: "Bearer", expiresIn: 60 }),
  // Held until the test releases it.
  logout: () => new Promise((resolve) => (release = () => resolve({}))),
};

const frame = (message: Uint8Array, compressed = false) => {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
};

const issuePath = `/${TokenService.typeName}/IssueClientToken`;
const unary = (client: grpc.Client, path: string, message: Uint8Array, metadata = new grpc.Metadata()) =>
  new Promise<{ err: grpc.ServiceError | null; value?: Buffer }>((resolve) =>
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(message), metadata, (err, value) => resolve({ err, value })),
  );

describe("the gRPC port on tessera's HTTP/2", () => {
  const events: GrpcCallEvent[] = [];
  let server: GrpcServerHandle;
  let port: number;
  let clients: RawH2[] = [];
  beforeAll(async () => {
    server = createGrpcServer({ services: [{ service: TokenService, impl }], onCallEnd: (e) => events.push(e) });
    port = await server.listen("127.0.0.1", 0);
  });
  afterAll(() => server.close(100));
  afterEach(() => {
    for (const c of clients) c.close();
    clients = [];
  });
  const raw = async (opts?: Parameters<typeof RawH2.open>[1]) => {
    const c = await RawH2.open(port, opts);
    clients.push(c);
    return c;
  };

  it("takes request metadata up to 128 KiB; over it, that call gets RESOURCE_EXHAUSTED and the connection goes on", async () => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.max_send_metadata_size": 1 << 20 } as grpc.ChannelOptions);
    try {
      const request = toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, { scope: "a" }));
      const large = new grpc.Metadata();
      large.set("x-large", "b".repeat(100_000));
      expect((await unary(client, issuePath, request, large)).err).toBeNull();
      const big = new grpc.Metadata();
      big.set("x-big", "b".repeat(140_000));
      const refused = await unary(client, issuePath, request, big);
      expect(refused.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const after = await unary(client, issuePath, request);
      expect(after.err).toBeNull();
      expect(after.value!.toString("latin1")).toContain("token-for-a");
    } finally {
      client.close();
    }
  });

  it("passes what it does not answer to grpc-js (a gzip request), with the caller's address, which a caller cannot set", async () => {
    events.length = 0;
    const c = await raw();
    c.request(1, `/${TokenService.typeName}/GetJwks`, frame(gzipSync(toBinary(GetJwksRequestSchema, create(GetJwksRequestSchema))), true), [
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["grpc-encoding", "gzip"],
      ["x-tessera-peer", "203.0.113.9:443"],
    ]);
    const a = await c.answer(1);
    expect(a.headers[0]).toMatchObject({ ":status": "200", "content-type": "application/grpc+proto" });
    expect(a.headers.at(-1)).toMatchObject({ "grpc-status": "0" });
    await expect.poll(() => events.length).toBe(1);
    const local = c.socket.address() as { address: string; port: number };
    expect(events[0]!.peer).toBe(`127.0.0.1:${local.port}`);
    expect(events[0]!.requestHeader.get("x-tessera-peer")).toBeNull();
  });

  it("passes thousands of calls on one connection to grpc-js without cancelling finished ones (Node's reset guard)", async () => {
    const http2 = await import("node:http2");
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const check = () =>
      new Promise<string>((resolve, reject) => {
        const s = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" });
        let status = "none";
        s.on("trailers", (t) => (status = String(t["grpc-status"])));
        s.on("response", (h) => h["grpc-status"] !== undefined && (status = String(h["grpc-status"])));
        s.on("close", () => resolve(s.rstCode === 0 ? status : `reset ${s.rstCode}`));
        s.on("error", reject);
        s.resume();
        s.end(frame(new Uint8Array()));
      });
    try {
      const results: string[] = [];
      for (let batch = 0; batch < 30; batch++) results.push(...(await Promise.all(Array.from({ length: 100 }, check))));
      // Before: from about the 1,000th call on, grpc-js's session was dropped and calls in flight were reset.
      expect(results.filter((r) => r !== "0")).toEqual([]);
    } finally {
      session.close();
    }
  });

  it("passes a repeated single-valued field and a GET's body to grpc-js as Node's server would take them", async () => {
    const c = await raw();
    const fields: Array<[string, string]> = [["content-type", "application/grpc"], ["te", "trailers"], ["user-agent", "a"], ["user-agent", "b"], ["authorization", "x"], ["authorization", "y"]];
    c.request(1, "/grpc.health.v1.Health/Check", frame(new Uint8Array()), fields);
    expect((await c.answer(1)).headers.at(-1)).toMatchObject({ "grpc-status": "0" });
    c.frame(T.HEADERS, 0x4, 3, encodeHeaders([":method", "GET", ":scheme", "http", ":path", "/grpc.health.v1.Health/Check", ":authority", "x", "content-type", "application/grpc", "te", "trailers"]));
    c.frame(T.DATA, 0x1, 3, frame(new Uint8Array()));
    expect((await c.answer(3)).headers.at(-1)).toMatchObject({ "grpc-status": "0" });
  });

  it("hides a caller's x-tessera-peer from handlers on the direct path too", async () => {
    events.length = 0;
    const c = await raw();
    c.request(1, issuePath, frame(toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, { scope: "p" }))), [
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["x-tessera-peer", "203.0.113.9:443"],
    ]);
    expect((await c.answer(1)).headers.at(-1)).toMatchObject({ "grpc-status": "0" });
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]!.requestHeader.get("x-tessera-peer")).toBeNull();
    expect(events[0]!.peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("lets go of a call whose stream closes before its request arrived: no deadline timer is left behind", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    const c = await raw();
    for (let id = 1; id <= 199; id += 2) {
      c.frame(T.HEADERS, 0x4, id, requestBlockFor(issuePath, [["content-type", "application/grpc"], ["te", "trailers"], ["grpc-timeout", "500H"]]));
      c.frame(T.RST_STREAM, 0, id, u32(8));
    }
    c.request(201, issuePath, frame(new Uint8Array()), [["content-type", "application/grpc"], ["te", "trailers"]]);
    await c.answer(201);
    await new Promise((r) => setTimeout(r, 50));
    // Before the fix each of the 100 calls kept a 500-hour timer (and the call, its stream and headers with it).
    expect(timers() - before).toBeLessThan(10);
  });

  it("holds back grpc-js's answers for a client that does not read them, across all its streams", async () => {
    // Streams start with no window: every answer waits. 150 reflection streams × 100 requests each make about
    // 40 MB of answers (each carries TokenService's file); the port stops taking them from grpc-js.
    const c = await raw({ settings: [setting(4, 0)] });
    const symbol = Buffer.from(TokenService.typeName);
    const request = frame(Buffer.concat([Buffer.from([0x22, symbol.length]), symbol]));
    const fields: Array<[string, string]> = [["content-type", "application/grpc"], ["te", "trailers"]];
    const before = process.memoryUsage().arrayBuffers;
    for (let id = 1; id < 300; id += 2) {
      c.frame(T.HEADERS, 0x4, id, requestBlockFor("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", fields));
      c.frame(T.DATA, 0, id, Buffer.concat(Array.from({ length: 100 }, () => request)));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const grown = process.memoryUsage().arrayBuffers - before;
    // What remains (about 26 MB) is the answers grpc-js produced for requests already sent, held in grpc-js's own
    // streams; without the hold, the port took them all and held 80 MB after 1.5 s, growing as long as it ran.
    expect(grown).toBeLessThan(48 * 1024 * 1024);
    // The connection still serves: a direct call is answered once its stream has a window (the connection's
    // window is open: the other streams have none to use it).
    c.request(301, issuePath, frame(new Uint8Array()), [["content-type", "application/grpc"], ["te", "trailers"]]);
    c.frame(T.WINDOW_UPDATE, 0, 301, u32(65_535));
    c.frame(T.WINDOW_UPDATE, 0, 0, u32(65_535));
    expect((await c.answer(301)).headers.at(-1)).toMatchObject({ "grpc-status": "0" });
  });

  it("passes a large grpc-js answer (reflection) through the client's flow-control windows", async () => {
    // Streams start with a 100-byte window: the answer comes 100 bytes per WINDOW_UPDATE.
    const c = await raw({ settings: [setting(4, 100)] });
    const symbol = Buffer.from(TokenService.typeName);
    const request = frame(Buffer.concat([Buffer.from([0x22, symbol.length]), symbol])); // file_containing_symbol (4)
    c.request(1, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", request, [
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]);
    let granted = 100;
    for (;;) {
      const got = c.collect(1);
      expect(got.data.length).toBeLessThanOrEqual(granted);
      if (got.headers.length > 1 || got.reset !== undefined) break;
      if (got.data.length === granted) {
        c.frame(T.WINDOW_UPDATE, 0, 1, u32(100));
        c.frame(T.WINDOW_UPDATE, 0, 0, u32(100));
        granted += 100;
      }
      await c.next(() => true, c.frames.length, 3000).catch(() => undefined);
    }
    const a = c.collect(1);
    expect(a.reset).toBeUndefined();
    expect(a.headers.at(-1)).toMatchObject({ "grpc-status": "0" });
    expect(a.data.length).toBeGreaterThan(1000);
  });

  it("closes gracefully: a call in flight finishes, a new connection is refused", async () => {
    const own = createGrpcServer({ services: [{ service: TokenService, impl }] });
    const ownPort = await own.listen("127.0.0.1", 0);
    const client = new grpc.Client(`127.0.0.1:${ownPort}`, grpc.credentials.createInsecure());
    try {
      const inFlight = unary(client, `/${TokenService.typeName}/Logout`, new Uint8Array());
      await new Promise((r) => setTimeout(r, 100));
      const closed = own.close(5000);
      await new Promise((r) => setTimeout(r, 50));
      release();
      expect((await inFlight).err).toBeNull();
      await closed;
      const late = new grpc.Client(`127.0.0.1:${ownPort}`, grpc.credentials.createInsecure());
      const refused = await unary(late, issuePath, new Uint8Array(), new grpc.Metadata());
      late.close();
      expect(refused.err?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      client.close();
    }
  });
});
