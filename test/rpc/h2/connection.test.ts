import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, H2Connection, type H2Limits, type H2Stream } from "../../../src/transport/rpc/h2/connection.js";
import { encodeHeaders } from "../../../src/transport/rpc/h2/hpack.js";
import { frameBytes, PREFACE, RawH2, requestBlock, setting, T, u32 } from "./raw-h2.js";

// tessera's HTTP/2 layer (RFC 9113) under a test handler, driven frame by frame from a raw socket: what a client
// library would never send, and what it must get back.

const ERR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 };
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

interface Harness {
  port: number;
  connections: H2Connection[];
  /** Streams the handler saw, with their decoded request fields. */
  seen: Array<{ stream: H2Stream; fields: string[] }>;
  closedStreams: H2Stream[];
}

let servers: Server[] = [];
let clients: RawH2[] = [];
afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

/**
 * A server whose handler answers every request at its end: headers (`x-path`, `x-body-length`), then a body of
 * `answerBytes` bytes (default: the request body back), then trailers `x-done: 1`. `/hold` is never answered.
 */
async function harness(limits: Partial<H2Limits> = {}, answerBytes?: number): Promise<Harness> {
  const h: Harness = { port: 0, connections: [], seen: [], closedStreams: [] };
  const server = createServer((socket) => {
    const connection = new H2Connection(
      socket,
      {
        stream(stream, fields) {
          h.seen.push({ stream, fields });
          stream.on("close", () => h.closedStreams.push(stream));
          const path = fields[fields.indexOf(":path") + 1]!;
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => chunks.push(c));
          stream.on("end", () => {
            if (path === "/hold") return;
            const body = Buffer.concat(chunks);
            stream.respondFields([":status", "200", "x-path", path, "x-body-length", String(body.length)], false);
            if (path === "/early") return stream.trailerFields(["x-done", "early"]);
            stream.writeData(answerBytes === undefined ? body : Buffer.alloc(answerBytes, 0x61));
            stream.trailerFields(["x-done", "1"]);
          });
          if (path === "/early") {
            // Answers before the request ends: the stream is reset NO_ERROR after the answer.
            stream.respondFields([":status", "200"], false);
            stream.trailerFields(["x-done", "early"]);
          }
        },
        oversizedHeaders(stream) {
          stream.respondFields([":status", "431"], true);
        },
      },
      { ...DEFAULT_LIMITS, ...limits },
    );
    h.connections.push(connection);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  h.port = (server.address() as { port: number }).port;
  return h;
}

async function client(h: Harness, opts?: Parameters<typeof RawH2.open>[1]): Promise<RawH2> {
  const c = await RawH2.open(h.port, opts);
  clients.push(c);
  return c;
}

describe("tessera's HTTP/2 connection", () => {
  it("opens with its SETTINGS and a larger connection window, and acknowledges the client's", async () => {
    const c = await client(await harness());
    const settings = await c.next((f) => f.type === T.SETTINGS && !(f.flags & 1));
    const values = new Map<number, number>();
    for (let at = 0; at < settings!.payload.length; at += 6) values.set(settings!.payload.readUInt16BE(at), settings!.payload.readUInt32BE(at + 2));
    expect(values.get(3)).toBe(DEFAULT_LIMITS.maxConcurrentStreams); // MAX_CONCURRENT_STREAMS
    expect(values.get(6)).toBe(DEFAULT_LIMITS.maxHeaderListSize); // MAX_HEADER_LIST_SIZE
    expect(values.get(2)).toBe(0); // ENABLE_PUSH
    expect(await c.next((f) => f.type === T.SETTINGS && (f.flags & 1) === 1)).toBeDefined();
    const update = await c.next((f) => f.type === T.WINDOW_UPDATE && f.stream === 0);
    expect(update!.payload.readUInt32BE(0)).toBe(16 * 1024 * 1024 - 65_535);
  });

  it("answers a request: headers, data, trailers; the body in several frames, padded, with PRIORITY", async () => {
    const h = await harness();
    const c = await client(h);
    const block = requestBlock("/echo");
    // HEADERS with padding (3 bytes) and a priority block.
    c.frame(T.HEADERS, END_HEADERS | PADDED | PRIORITY, 1, Buffer.concat([Buffer.from([3]), u32(0), Buffer.from([16]), block, Buffer.alloc(3)]));
    c.frame(T.DATA, 0, 1, Buffer.from("hello "));
    c.frame(T.DATA, PADDED, 1, Buffer.concat([Buffer.from([4]), Buffer.from("padded "), Buffer.alloc(4)]));
    c.frame(T.DATA, END_STREAM, 1, Buffer.from("world"));
    const a = await c.answer(1);
    expect(a.headers[0]).toMatchObject({ ":status": "200", "x-path": "/echo", "x-body-length": "18" });
    expect(a.data.toString()).toBe("hello padded world");
    expect(a.headers[1]).toEqual({ "x-done": "1" });
    expect(a.reset).toBeUndefined();
    expect(h.closedStreams).toHaveLength(1);
  });

  it("takes a header block split over CONTINUATION frames, and request trailers", async () => {
    const c = await client(await harness());
    const block = requestBlock("/continued", [["x-a", "a".repeat(100)]]);
    c.frame(T.HEADERS, 0, 1, block.subarray(0, 10));
    c.frame(T.CONTINUATION, 0, 1, block.subarray(10, 50));
    c.frame(T.CONTINUATION, END_HEADERS, 1, block.subarray(50));
    c.frame(T.DATA, 0, 1, Buffer.from("body"));
    c.frame(T.HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders(["x-trailer", "t"]));
    const a = await c.answer(1);
    expect(a.headers[0]).toMatchObject({ "x-path": "/continued", "x-body-length": "4" });
  });

  it("answers PING with an ACK carrying the same bytes", async () => {
    const c = await client(await harness());
    c.frame(T.PING, 0, 0, Buffer.from("12345678"));
    const ack = await c.next((f) => f.type === T.PING);
    expect(ack).toMatchObject({ flags: 1, stream: 0 });
    expect(ack!.payload.toString()).toBe("12345678");
  });

  it("sends no more than the client's windows allow, and the rest as they open (stream, connection, SETTINGS)", async () => {
    const h = await harness({}, 70_000);
    // The client's streams start with a 10-byte window.
    const c = await client(h, { settings: [setting(4, 10)] });
    c.request(1, "/big");
    await c.next((f) => f.type === T.DATA && f.stream === 1);
    await new Promise((r) => setTimeout(r, 50));
    const sent = () => c.collect(1).data.length;
    expect(sent()).toBe(10);
    c.frame(T.WINDOW_UPDATE, 0, 1, u32(990));
    await c.next((f) => f.type === T.DATA && f.stream === 1 && f.payload.length === 990);
    expect(sent()).toBe(1000);
    // SETTINGS raising the initial window applies to the open stream too (RFC 9113 §6.9.2); the connection's
    // window (65,535) then stops it.
    c.frame(T.SETTINGS, 0, 0, setting(4, 1_000_000));
    await c.next((f) => f.type === T.DATA && f.stream === 1 && sent() === 65_535);
    await new Promise((r) => setTimeout(r, 50));
    expect(sent()).toBe(65_535);
    c.frame(T.WINDOW_UPDATE, 0, 0, u32(10_000));
    const a = await c.answer(1);
    expect(a.data.length).toBe(70_000);
    expect(a.headers[1]).toEqual({ "x-done": "1" });
  });

  it("splits data into frames no larger than the client's SETTINGS_MAX_FRAME_SIZE (16 KiB by default)", async () => {
    const c = await client(await harness({}, 40_000));
    c.frame(T.WINDOW_UPDATE, 0, 0, u32(1_000_000));
    c.request(1, "/big");
    const a = await c.answer(1);
    expect(a.data.length).toBe(40_000);
    expect(Math.max(...c.frames.filter((f) => f.type === T.DATA).map((f) => f.payload.length))).toBe(16_384);
  });

  it("resets a stream answered before its request ended (NO_ERROR), and drops its late data", async () => {
    const h = await harness();
    const c = await client(h);
    c.frame(T.HEADERS, END_HEADERS, 1, requestBlock("/early"));
    expect(await c.reset(1)).toBe(ERR.NO_ERROR);
    c.frame(T.DATA, END_STREAM, 1, Buffer.from("late"));
    c.request(3, "/echo", Buffer.from("next"));
    expect((await c.answer(3)).data.toString()).toBe("next");
    expect(c.frames.some((f) => f.type === T.GOAWAY)).toBe(false);
  });

  it("closes a stream the client resets: the handler sees it closed with the client's code", async () => {
    const h = await harness();
    const c = await client(h);
    c.request(1, "/hold", Buffer.from("x"));
    await expect.poll(() => h.seen.length).toBe(1);
    c.frame(T.RST_STREAM, 0, 1, u32(ERR.CANCEL));
    await expect.poll(() => h.closedStreams.length).toBe(1);
    expect(h.closedStreams[0]!.resetCode).toBe(ERR.CANCEL);
  });

  it.each([
    ["not starting with SETTINGS", [frameBytes(T.PING, 0, 0, Buffer.alloc(8))], ERR.PROTOCOL_ERROR, false],
    ["a frame over 16 KiB", [frameBytes(T.DATA, 0, 1, Buffer.alloc(16_385))], ERR.FRAME_SIZE_ERROR, true],
    ["DATA on stream 0", [frameBytes(T.DATA, 0, 0, Buffer.from("x"))], ERR.PROTOCOL_ERROR, true],
    ["DATA on an idle stream", [frameBytes(T.DATA, 0, 5, Buffer.from("x"))], ERR.PROTOCOL_ERROR, true],
    ["HEADERS on stream 0", [frameBytes(T.HEADERS, END_HEADERS, 0, requestBlock("/"))], ERR.PROTOCOL_ERROR, true],
    ["a stream with an even id", [frameBytes(T.HEADERS, END_HEADERS, 2, requestBlock("/"))], ERR.PROTOCOL_ERROR, true],
    ["a stream depending on itself", [frameBytes(T.HEADERS, END_HEADERS | PRIORITY, 1, Buffer.concat([u32(1), Buffer.from([0]), requestBlock("/")]))], ERR.PROTOCOL_ERROR, true],
    ["padding longer than the frame", [frameBytes(T.HEADERS, END_HEADERS | PADDED, 1, Buffer.from([200, 0x82]))], ERR.PROTOCOL_ERROR, true],
    ["a header block HPACK refuses", [frameBytes(T.HEADERS, END_HEADERS, 1, Buffer.from([0xbe]))], ERR.COMPRESSION_ERROR, true],
    ["CONTINUATION without HEADERS", [frameBytes(T.CONTINUATION, END_HEADERS, 1, requestBlock("/"))], ERR.PROTOCOL_ERROR, true],
    ["another frame inside a header block", [frameBytes(T.HEADERS, 0, 1, requestBlock("/")), frameBytes(T.PING, 0, 0, Buffer.alloc(8))], ERR.PROTOCOL_ERROR, true],
    ["CONTINUATION for another stream", [frameBytes(T.HEADERS, 0, 1, requestBlock("/")), frameBytes(T.CONTINUATION, END_HEADERS, 3, Buffer.alloc(0))], ERR.PROTOCOL_ERROR, true],
    ["PUSH_PROMISE from a client", [frameBytes(T.PUSH_PROMISE, END_HEADERS, 1, Buffer.concat([u32(2), requestBlock("/")]))], ERR.PROTOCOL_ERROR, true],
    ["PING on a stream", [frameBytes(T.PING, 0, 1, Buffer.alloc(8))], ERR.PROTOCOL_ERROR, true],
    ["PING of 7 bytes", [frameBytes(T.PING, 0, 0, Buffer.alloc(7))], ERR.FRAME_SIZE_ERROR, true],
    ["SETTINGS on a stream", [frameBytes(T.SETTINGS, 0, 1, Buffer.alloc(0))], ERR.PROTOCOL_ERROR, true],
    ["SETTINGS of 5 bytes", [frameBytes(T.SETTINGS, 0, 0, Buffer.alloc(5))], ERR.FRAME_SIZE_ERROR, true],
    ["a SETTINGS ACK with a payload", [frameBytes(T.SETTINGS, 1, 0, setting(1, 1))], ERR.FRAME_SIZE_ERROR, true],
    ["SETTINGS_ENABLE_PUSH 2", [frameBytes(T.SETTINGS, 0, 0, setting(2, 2))], ERR.PROTOCOL_ERROR, true],
    ["SETTINGS_INITIAL_WINDOW_SIZE 2^31", [frameBytes(T.SETTINGS, 0, 0, setting(4, 2 ** 31))], ERR.FLOW_CONTROL_ERROR, true],
    ["SETTINGS_MAX_FRAME_SIZE 100", [frameBytes(T.SETTINGS, 0, 0, setting(5, 100))], ERR.PROTOCOL_ERROR, true],
    ["a connection WINDOW_UPDATE of 0", [frameBytes(T.WINDOW_UPDATE, 0, 0, u32(0))], ERR.PROTOCOL_ERROR, true],
    ["a connection window over 2^31-1", [frameBytes(T.WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1))], ERR.FLOW_CONTROL_ERROR, true],
    ["WINDOW_UPDATE of 3 bytes", [frameBytes(T.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))], ERR.FRAME_SIZE_ERROR, true],
    ["RST_STREAM on stream 0", [frameBytes(T.RST_STREAM, 0, 0, u32(0))], ERR.PROTOCOL_ERROR, true],
    ["RST_STREAM on an idle stream", [frameBytes(T.RST_STREAM, 0, 7, u32(0))], ERR.PROTOCOL_ERROR, true],
    ["GOAWAY on a stream", [frameBytes(T.GOAWAY, 0, 1, Buffer.alloc(8))], ERR.PROTOCOL_ERROR, true],
    ["PRIORITY of 4 bytes (on an idle stream, which may not be reset)", [frameBytes(T.PRIORITY, 0, 9, Buffer.alloc(4))], ERR.FRAME_SIZE_ERROR, true],
    ["PRIORITY of a stream on itself", [frameBytes(T.PRIORITY, 0, 9, Buffer.concat([u32(9), Buffer.from([1])]))], ERR.PROTOCOL_ERROR, true],
    ["a SETTINGS frame of 33 entries", [frameBytes(T.SETTINGS, 0, 0, Buffer.concat(Array.from({ length: 33 }, () => setting(4, 1000))))], ERR.ENHANCE_YOUR_CALM, true],
    ["HEADERS reusing a stream id that ended both ways", [frameBytes(T.HEADERS, END_HEADERS | END_STREAM, 3, requestBlock("/echo")), frameBytes(T.HEADERS, END_HEADERS | END_STREAM, 1, requestBlock("/echo"))], ERR.STREAM_CLOSED, true],
  ] as Array<[string, Buffer[], number, boolean]>)("ends the connection with GOAWAY on %s", async (_, frames, code, withSettings) => {
    const h = await harness();
    const c = await client(h, { preface: false });
    c.send(PREFACE, ...(withSettings ? [frameBytes(T.SETTINGS, 0, 0)] : []), ...frames);
    const goAway = await c.goAway();
    expect(goAway?.code).toBe(code);
    await expect.poll(() => c.closed).toBe(true);
  });

  it.each([
    ["an upper-case field name", [["X-Upper", "v"]]],
    ["a connection-specific field", [["connection", "keep-alive"]]],
    ["te other than trailers", [["te", "gzip"]]],
    ["a NUL in a value", [["x-a", "a\0b"]]],
    ["a CR LF in a value", [["x-a", "a\r\nb: c"]]],
    ["a content-length that is not a number", [["content-length", "abc"]]],
    ["a content-length with no body to match it", [["content-length", "5"]]],
  ] as Array<[string, Array<[string, string]>]>)("resets a request with %s (PROTOCOL_ERROR), and serves the next", async (_, fields) => {
    const h = await harness();
    const c = await client(h);
    c.frame(T.HEADERS, END_HEADERS | END_STREAM, 1, requestBlock("/bad", fields));
    expect(await c.reset(1)).toBe(ERR.PROTOCOL_ERROR);
    c.request(3, "/good", Buffer.from("ok"));
    expect((await c.answer(3)).data.toString()).toBe("ok");
    expect(h.seen.map((s) => s.fields[s.fields.indexOf(":path") + 1])).toEqual(["/good"]);
  });

  it.each([
    ["a missing :path", [":method", "GET", ":scheme", "http"]],
    ["a :path that is not absolute", [":method", "GET", ":scheme", "http", ":path", "echo"]],
    ["CONNECT", [":method", "CONNECT", ":scheme", "http", ":path", "/", ":authority", "example.com:443"]],
    ["an unknown pseudo-header", [":method", "GET", ":scheme", "http", ":path", "/", ":protocol", "websocket"]],
    ["a pseudo-header twice", [":method", "GET", ":method", "POST", ":scheme", "http", ":path", "/"]],
    ["a pseudo-header after a field", [":method", "GET", ":scheme", "http", "x-a", "1", ":path", "/"]],
  ])("resets a request with %s (PROTOCOL_ERROR)", async (_, fields) => {
    const c = await client(await harness());
    c.frame(T.HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders(fields));
    expect(await c.reset(1)).toBe(ERR.PROTOCOL_ERROR);
  });

  it("resets a request whose DATA does not add up to its content-length (RFC 9113 §8.1.1), and serves one that does", async () => {
    const c = await client(await harness());
    c.frame(T.HEADERS, END_HEADERS, 1, requestBlock("/short", [["content-length", "100"]]));
    c.frame(T.DATA, END_STREAM, 1, Buffer.from("five!"));
    expect(await c.reset(1)).toBe(ERR.PROTOCOL_ERROR);
    c.frame(T.HEADERS, END_HEADERS, 3, requestBlock("/long", [["content-length", "2"]]));
    c.frame(T.DATA, 0, 3, Buffer.from("three"));
    expect(await c.reset(3)).toBe(ERR.PROTOCOL_ERROR);
    c.frame(T.HEADERS, END_HEADERS, 5, requestBlock("/exact", [["content-length", "5"]]));
    c.frame(T.DATA, 0, 5, Buffer.from("fi"));
    c.frame(T.DATA, END_STREAM, 5, Buffer.from("ve!"));
    expect((await c.answer(5)).data.toString()).toBe("five!");
  });

  it("refuses a stream past SETTINGS_MAX_CONCURRENT_STREAMS (REFUSED_STREAM), and takes one once another closed", async () => {
    const h = await harness({ maxConcurrentStreams: 2 });
    const c = await client(h);
    c.request(1, "/hold", Buffer.from("a"));
    c.request(3, "/hold", Buffer.from("b"));
    c.request(5, "/echo", Buffer.from("c"));
    expect(await c.reset(5)).toBe(ERR.REFUSED_STREAM);
    c.frame(T.RST_STREAM, 0, 1, u32(ERR.CANCEL));
    c.request(7, "/echo", Buffer.from("d"));
    expect((await c.answer(7)).data.toString()).toBe("d");
  });

  it("resets a stream whose DATA exceeds its window (FLOW_CONTROL_ERROR)", async () => {
    const c = await client(await harness());
    c.frame(T.HEADERS, END_HEADERS, 1, requestBlock("/hold"));
    for (let i = 0; i < 4; i++) c.frame(T.DATA, 0, 1, Buffer.alloc(16_384));
    c.frame(T.DATA, 0, 1, Buffer.alloc(100));
    expect(await c.reset(1)).toBe(ERR.FLOW_CONTROL_ERROR);
  });

  it("gives a stream's window back as its reader takes the bytes (windowCap), so a body over 64 KiB arrives", async () => {
    const h = await harness();
    const server = createServer((socket) => {
      new H2Connection(socket, {
        stream(stream) {
          stream.windowCap = 1_000_000;
          let size = 0;
          stream.on("data", (c: Buffer) => (size += c.length));
          stream.on("end", () => {
            stream.respondFields([":status", "200", "x-size", String(size)], true);
          });
        },
        oversizedHeaders: (s) => s.reset(ERR.REFUSED_STREAM),
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    h.port = (server.address() as { port: number }).port;
    const c = await client(h);
    c.frame(T.HEADERS, END_HEADERS, 1, requestBlock("/upload"));
    let sent = 0;
    while (sent < 200_000) {
      const window = 65_535 + c.frames.filter((f) => f.type === T.WINDOW_UPDATE && f.stream === 1).reduce((n, f) => n + f.payload.readUInt32BE(0), 0);
      if (sent + 16_384 > window) {
        await c.next((f) => f.type === T.WINDOW_UPDATE && f.stream === 1, c.frames.length);
        continue;
      }
      c.frame(T.DATA, 0, 1, Buffer.alloc(16_384));
      sent += 16_384;
    }
    c.frame(T.DATA, END_STREAM, 1, Buffer.alloc(0));
    expect((await c.answer(1)).headers[0]).toMatchObject({ "x-size": String(sent) });
  });

  it("answers a header list over SETTINGS_MAX_HEADER_LIST_SIZE through the handler, and keeps HPACK in step", async () => {
    const h = await harness({ maxHeaderListSize: 1000 });
    const c = await client(h);
    // Incremental indexing (0x40): the table gets x-big even though the list is refused.
    const big = Buffer.concat([requestBlock("/big"), Buffer.from([0x40, 5]), Buffer.from("x-big"), Buffer.from([0x7f, 0xe9, 0x06]), Buffer.alloc(1000, 0x62)]);
    c.frame(T.HEADERS, END_HEADERS | END_STREAM, 1, big);
    expect((await c.answer(1)).headers[0]).toEqual({ ":status": "431" });
    // The next request refers to x-big by its table index (62): the server's table has it.
    c.frame(T.HEADERS, END_HEADERS | END_STREAM, 3, Buffer.concat([requestBlock("/after").subarray(0), Buffer.from([0x00, 5]), Buffer.from("x-ref"), Buffer.from([1, 0x31])]));
    expect((await c.answer(3)).headers[0]).toMatchObject({ "x-path": "/after" });
    expect(c.frames.some((f) => f.type === T.GOAWAY)).toBe(false);
  });

  it("ends the connection (ENHANCE_YOUR_CALM) on a header block over its limit, even in empty CONTINUATIONs", async () => {
    const c1 = await client(await harness({ maxHeaderBlock: 4096 }));
    c1.frame(T.HEADERS, 0, 1, requestBlock("/"));
    for (let i = 0; i < 3; i++) c1.frame(T.CONTINUATION, 0, 1, Buffer.alloc(2000));
    expect((await c1.goAway())?.code).toBe(ERR.ENHANCE_YOUR_CALM);

    const c2 = await client(await harness());
    c2.frame(T.HEADERS, 0, 1, requestBlock("/"));
    for (let i = 0; i < 300; i++) c2.frame(T.CONTINUATION, 0, 1, Buffer.alloc(0));
    expect((await c2.goAway())?.code).toBe(ERR.ENHANCE_YOUR_CALM);
  });

  it.each([
    ["PINGs", () => frameBytes(T.PING, 0, 0, Buffer.alloc(8))],
    ["SETTINGS", () => frameBytes(T.SETTINGS, 0, 0)],
    ["empty DATA frames", () => frameBytes(T.DATA, 0, 1, Buffer.alloc(0))],
    ["unknown frame types", () => frameBytes(0x42, 0, 0, Buffer.alloc(4))],
    ["PRIORITY frames", () => frameBytes(T.PRIORITY, 0, 3, Buffer.concat([u32(0), Buffer.from([1])]))],
  ])("ends the connection (ENHANCE_YOUR_CALM) on a flood of %s", async (_, frame) => {
    const c = await client(await harness({ maxCheapEventsPerSecond: 100 }));
    c.frame(T.HEADERS, END_HEADERS, 1, requestBlock("/hold"));
    c.send(...Array.from({ length: 200 }, frame));
    expect((await c.goAway())?.code).toBe(ERR.ENHANCE_YOUR_CALM);
  });

  it("does not count PINGs among requests, nor resets of streams already answered", async () => {
    const h = await harness({ maxCheapEventsPerSecond: 100 });
    const c = await client(h);
    for (let id = 1; id < 600; id += 2) {
      c.frame(T.PING, 0, 0, Buffer.alloc(8));
      c.request(id, "/echo", Buffer.from("x"));
    }
    await c.answer(599);
    for (let id = 1; id < 600; id += 2) c.frame(T.RST_STREAM, 0, id, u32(ERR.CANCEL));
    c.request(601, "/echo", Buffer.from("still here"));
    expect((await c.answer(601)).data.toString()).toBe("still here");
    expect(c.frames.some((f) => f.type === T.GOAWAY)).toBe(false);
  });

  it("ends the connection (ENHANCE_YOUR_CALM) on streams it must reset itself, one after another (MadeYouReset)", async () => {
    const h = await harness({ maxCheapEventsPerSecond: 100 });
    const c = await client(h);
    const frames: Buffer[] = [];
    // Each stream is made to fail at once by a WINDOW_UPDATE of 0: a slot freed by this end's own RST_STREAM.
    for (let id = 1; id < 600; id += 2) frames.push(frameBytes(T.HEADERS, END_HEADERS, id, requestBlock("/hold")), frameBytes(T.WINDOW_UPDATE, 0, id, u32(0)));
    c.send(...frames);
    expect((await c.goAway())?.code).toBe(ERR.ENHANCE_YOUR_CALM);
    expect(h.seen.length).toBeLessThan(200);
  });

  it("drops the late frames of a stream it reset (DATA, trailers) without ending the connection", async () => {
    const c = await client(await harness());
    c.frame(T.HEADERS, END_HEADERS, 1, requestBlock("/early"));
    expect(await c.reset(1)).toBe(ERR.NO_ERROR);
    c.frame(T.DATA, 0, 1, Buffer.from("late"));
    c.frame(T.HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders(["x-trailer", "late"]));
    c.request(3, "/echo", Buffer.from("next"));
    expect((await c.answer(3)).data.toString()).toBe("next");
    expect(c.frames.some((f) => f.type === T.GOAWAY)).toBe(false);
  });

  it("reads a request sent one byte at a time", async () => {
    const c = await client(await harness(), { preface: false });
    const bytes = Buffer.concat([PREFACE, frameBytes(T.SETTINGS, 0, 0), frameBytes(T.HEADERS, END_HEADERS, 1, requestBlock("/slow")), frameBytes(T.DATA, END_STREAM, 1, Buffer.from("byte by byte"))]);
    for (const byte of bytes) {
      c.send(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    expect((await c.answer(1)).data.toString()).toBe("byte by byte");
  });

  it("ends the connection (ENHANCE_YOUR_CALM) on rapid resets (CVE-2023-44487)", async () => {
    const h = await harness({ maxCheapEventsPerSecond: 100 });
    const c = await client(h);
    const frames: Buffer[] = [];
    for (let id = 1; id < 400; id += 2) frames.push(frameBytes(T.HEADERS, END_HEADERS, id, requestBlock("/hold")), frameBytes(T.RST_STREAM, 0, id, u32(ERR.CANCEL)));
    c.send(...frames);
    expect((await c.goAway())?.code).toBe(ERR.ENHANCE_YOUR_CALM);
    expect(h.seen.length).toBeLessThan(200);
  });

  it("ends the connection (ENHANCE_YOUR_CALM) when its streams hold too many unread request bytes", async () => {
    const c = await client(await harness({ maxBufferedPerConnection: 100_000 }));
    for (let id = 1; id <= 9; id += 2) {
      c.frame(T.HEADERS, END_HEADERS, id, requestBlock("/hold"));
      for (let i = 0; i < 3; i++) c.frame(T.DATA, 0, id, Buffer.alloc(16_000));
    }
    expect((await c.goAway())?.code).toBe(ERR.ENHANCE_YOUR_CALM);
  });

  it("shuts down gracefully: GOAWAY (NO_ERROR, the last stream), open streams finish, new ones are refused", async () => {
    const h = await harness();
    const c = await client(h);
    c.frame(T.HEADERS, END_HEADERS, 1, requestBlock("/echo"));
    await expect.poll(() => h.seen.length).toBe(1);
    h.connections[0]!.shutdown();
    expect(await c.goAway()).toMatchObject({ last: 1, code: ERR.NO_ERROR });
    c.request(3, "/echo", Buffer.from("late"));
    expect(await c.reset(3)).toBe(ERR.REFUSED_STREAM);
    c.frame(T.DATA, END_STREAM, 1, Buffer.from("in flight"));
    expect((await c.answer(1)).data.toString()).toBe("in flight");
    await expect.poll(() => c.closed).toBe(true);
  });

  it("finishes open streams and closes when the client sends GOAWAY", async () => {
    const h = await harness();
    const c = await client(h);
    c.frame(T.HEADERS, END_HEADERS, 1, requestBlock("/echo"));
    await expect.poll(() => h.seen.length).toBe(1);
    c.frame(T.GOAWAY, 0, 0, Buffer.concat([u32(0), u32(0)]));
    c.frame(T.DATA, END_STREAM, 1, Buffer.from("done"));
    expect((await c.answer(1)).data.toString()).toBe("done");
    await expect.poll(() => c.closed).toBe(true);
  });

  it("closes every open stream when the connection drops", async () => {
    const h = await harness();
    const c = await client(h);
    c.request(1, "/hold", Buffer.from("a"));
    c.request(3, "/hold", Buffer.from("b"));
    await expect.poll(() => h.seen.length).toBe(2);
    c.close();
    await expect.poll(() => h.closedStreams.length).toBe(2);
    expect(h.closedStreams.map((s) => s.resetCode)).toEqual([ERR.CANCEL, ERR.CANCEL]);
    expect(h.connections[0]!.streamCount).toBe(0);
  });

  it("answers an HTTP/1.1 request with 505 and JSON saying what the port speaks; other bytes get GOAWAY", async () => {
    const h = await harness();
    const c = await client(h, { preface: false });
    c.send(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await expect.poll(() => c.closed).toBe(true);
    const text = Buffer.concat(c.raw).toString("latin1");
    expect(text).toMatch(/^HTTP\/1\.1 505 /);
    expect(JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "invalid_request" });

    const g = await client(h, { preface: false });
    g.send(Buffer.from("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not a preface"));
    expect((await g.goAway())?.code).toBe(ERR.PROTOCOL_ERROR);
  });
});
