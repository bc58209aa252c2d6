import http2, { type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { GetJwksRequestSchema, IssueClientTokenResponseSchema, TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { DirectCall } from "../../src/transport/rpc/grpc-direct.js";

// DirectCall on real HTTP/2 streams: a decided answer is written when the event loop's turn ends (end-of-turn.ts).

const issue = TokenService.method.issueClientToken;

/** An HTTP/2 server whose streams go to `onCall` as DirectCalls with their request read. */
async function server(onCall: (call: DirectCall, stream: ServerHttp2Stream) => void) {
  const h2 = http2.createServer();
  h2.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const call = new DirectCall(stream, headers, issue, undefined, 64 * 1024);
    call.read(() => onCall(call, stream));
  });
  await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
  const session = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
  return {
    /** One call; resolves to its grpc-status and the response message's access token (if any). */
    call: () =>
      new Promise<{ status: unknown; token: string | undefined; reset: number }>((resolve) => {
        const stream = session.request({ ":method": "POST", ":path": "/tessera.v1.TokenService/IssueClientToken", "content-type": "application/grpc" });
        const parts: Buffer[] = [];
        let status: unknown;
        stream.on("response", (h) => (status ??= h["grpc-status"]));
        stream.on("trailers", (t) => (status = t["grpc-status"]));
        stream.on("data", (d: Buffer) => parts.push(d));
        stream.on("error", () => {});
        stream.on("close", () => {
          const body = Buffer.concat(parts);
          const token = body.length > 5 ? fromBinary(IssueClientTokenResponseSchema, body.subarray(5)).accessToken : undefined;
          resolve({ status, token, reset: stream.rstCode ?? 0 });
        });
        const message = toBinary(GetJwksRequestSchema, create(GetJwksRequestSchema));
        const frame = Buffer.alloc(5 + message.length);
        frame.writeUInt32BE(message.length, 1);
        stream.end(frame);
      }),
    close: async () => {
      session.close();
      await new Promise((r) => h2.close(r));
    },
  };
}

const token = (value: string) => create(IssueClientTokenResponseSchema, { accessToken: value, tokenType: "Bearer", expiresIn: 60 });

describe("gRPC answers on the stream are written when the turn ends", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes nothing in the turn the answer is decided, then the header, message and OK", async () => {
    const seen: string[] = [];
    const s = await server((call, stream) => {
      call.ok("request-id-0001", undefined, token("t1"), undefined);
      seen.push(`in the turn: header sent ${stream.headersSent}`);
      setImmediate(() => seen.push(`after the turn: header sent ${stream.headersSent}`));
    });
    try {
      expect(await s.call()).toEqual({ status: "0", token: "t1", reset: 0 });
      expect(seen).toEqual(["in the turn: header sent false", "after the turn: header sent true"]);
    } finally {
      await s.close();
    }
  });

  it("skips an answer whose stream closed before the turn ended, and writes the others", async () => {
    let n = 0;
    const s = await server((call, stream) => {
      n += 1;
      call.ok("request-id-0002", undefined, token(`t${n}`), undefined);
      // The first caller's stream goes away after its answer was decided, in the same turn.
      if (n === 1) stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    try {
      const [first, second] = [await s.call(), await s.call()];
      expect(first).toMatchObject({ token: undefined, reset: http2.constants.NGHTTP2_CANCEL });
      expect(second).toEqual({ status: "0", token: "t2", reset: 0 });
    } finally {
      await s.close();
    }
  });

  it("still writes when a test has faked setImmediate", async () => {
    const s = await server((call) => {
      vi.useFakeTimers({ toFake: ["setImmediate"] });
      call.ok("request-id-0003", undefined, token("t3"), undefined);
      vi.useRealTimers();
    });
    try {
      expect(await s.call()).toEqual({ status: "0", token: "t3", reset: 0 });
    } finally {
      await s.close();
    }
  });

  it("keeps the first decided answer: a later fail or internal error in the turn changes nothing", async () => {
    const s = await server((call) => {
      call.ok("request-id-0004", undefined, token("t4"), undefined);
      // A second answer (a failure, the handler's internal error) after the first was decided changes nothing.
      call.fail("request-id-0004", undefined, { code: 13, details: "late", trailer: undefined });
      call.internalError();
    });
    try {
      expect(await s.call()).toEqual({ status: "0", token: "t4", reset: 0 });
    } finally {
      await s.close();
    }
  });
});
