import http from "node:http";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LazyHandlerContext } from "../../src/transport/rpc/handler-context.js";
import { clientToken, startServer, type TestServer } from "../helpers/server.js";

/**
 * The gateway answers unary Connect JSON calls itself (src/transport/http/connect-unary.ts) and leaves
 * everything else to connect-node. `Connect-Timeout-Ms` sends a call to connect-node, so each case is
 * made twice, once on each path, and the answers must be the same.
 */
interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw HTTP/1.1 call (no automatic decompression, every header visible). */
function call(server: TestServer, path: string, body: string | Buffer[], headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${server.httpUrl}/${path}`);
    const req = http.request(url, { method: "POST", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const raw = Buffer.concat(chunks);
        const text = res.headers["content-encoding"] === "gzip" ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
      });
    });
    req.on("error", reject);
    if (typeof body === "string") req.end(body);
    else {
      // Chunked: no Content-Length.
      for (const part of body) req.write(part);
      req.end();
    }
  });
}

/** The headers both paths must agree on (date and connection handling are Node's). */
function comparable(a: Answer) {
  const { date: _date, connection: _connection, "keep-alive": _keepAlive, ...rest } = a.headers;
  return { status: a.status, headers: rest, body: a.body };
}

describe("Connect unary JSON: the gateway's own path answers as connect-node does", () => {
  let server: TestServer;
  let bearer: string;
  const fastCalls = vi.spyOn(LazyHandlerContext.prototype, "end");
  beforeAll(async () => {
    server = await startServer();
    bearer = `Bearer ${await clientToken(server)}`;
  });
  afterAll(() => server.dispose());

  /** Makes the call on both paths with the same request id; returns both answers and whether the first took the gateway's path. */
  async function both(path: string, body: string, headers: Record<string, string> = {}) {
    const base = { "content-type": "application/json", "x-request-id": `req-${Math.random().toString(36).slice(2)}`, ...headers };
    fastCalls.mockClear();
    const fast = await call(server, path, body, base);
    const tookFastPath = fastCalls.mock.calls.length > 0;
    fastCalls.mockClear();
    const reference = await call(server, path, body, { ...base, "connect-timeout-ms": "60000" });
    expect(fastCalls.mock.calls.length, "Connect-Timeout-Ms goes to connect-node").toBe(0);
    return { fast, reference, tookFastPath };
  }

  it("answers errors byte for byte: bad credentials, malformed JSON, wrong field types, validation, not found", async () => {
    const cases: [string, string, Record<string, string>][] = [
      ["tessera.v1.TokenService/IssueClientToken", "{}", { authorization: server.basic(server.bootstrap.client_id, "wrong") }],
      ["tessera.v1.TokenService/IssueClientToken", "{", {}],
      ["tessera.v1.TokenService/IssueClientToken", '{"clientId": 5}', {}],
      ["tessera.v1.TokenService/IssueClientToken", "", {}],
      ["tessera.v1.ResourceAdminService/CreateResource", '{"resource": {"uri": "orders"}}', { authorization: bearer }],
      ["tessera.v1.UserAdminService/GetUser", '{"id": "usr_nope"}', { authorization: bearer }],
      ["tessera.v1.ApplicationAdminService/ListApplications", "{}", {}],
    ];
    for (const [path, body, headers] of cases) {
      const { fast, reference, tookFastPath } = await both(path, body, headers);
      expect(tookFastPath, path).toBe(true);
      expect(fast.status, `${path} ${body}`).toBeGreaterThanOrEqual(400);
      expect(comparable(fast), `${path} ${body}`).toEqual(comparable(reference));
    }
  });

  it("issues the same token response (fields, headers), ignoring unknown fields as connect-node does", async () => {
    for (const body of ["{}", '{"scope": "", "someFutureField": 1}']) {
      const { fast, reference, tookFastPath } = await both("tessera.v1.TokenService/IssueClientToken", body, {
        authorization: server.basic(),
        "content-type": "application/json; charset=utf-8",
      });
      expect(tookFastPath).toBe(true);
      expect(fast.status).toBe(200);
      const [a, b] = [JSON.parse(fast.body), JSON.parse(reference.body)];
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      expect({ ...a, accessToken: "" }).toEqual({ ...b, accessToken: "" });
      expect(a.accessToken.split(".")).toHaveLength(3);
      const { "content-length": _a, ...fastHeaders } = comparable(fast).headers;
      const { "content-length": _b, ...referenceHeaders } = comparable(reference).headers;
      expect(fastHeaders).toEqual(referenceHeaders);
      expect(Number(fast.headers["content-length"])).toBe(Buffer.byteLength(fast.body));
    }
  });

  it("compresses a large answer when the client accepts gzip, as connect-node does", async () => {
    for (let i = 0; i < 8; i++) {
      await call(server, "tessera.v1.ApplicationAdminService/CreateApplication", JSON.stringify({ application: { displayName: `App ${i} ${"x".repeat(60)}` } }), {
        "content-type": "application/json",
        authorization: bearer,
      });
    }
    const { fast, reference, tookFastPath } = await both("tessera.v1.ApplicationAdminService/ListApplications", "{}", {
      authorization: bearer,
      "accept-encoding": "br;q=0.5, gzip",
    });
    expect(tookFastPath).toBe(true);
    expect(fast.headers["content-encoding"]).toBe("gzip");
    expect(reference.headers["content-encoding"]).toBe("gzip");
    expect(JSON.parse(fast.body)).toEqual(JSON.parse(reference.body));
    const small = await both("tessera.v1.UserAdminService/GetUser", '{"id": "usr_nope"}', { authorization: bearer, "accept-encoding": "gzip" });
    expect(small.fast.headers["content-encoding"]).toBeUndefined();
    expect(comparable(small.fast)).toEqual(comparable(small.reference));
  });

  it("reads a chunked body, and refuses one that grows past the limit as connect-node does", async () => {
    const headers = { "content-type": "application/json", authorization: server.basic(), "x-request-id": "req-chunked" };
    fastCalls.mockClear();
    const ok = await call(server, "tessera.v1.TokenService/IssueClientToken", [Buffer.from("{"), Buffer.from("}")], headers);
    expect(ok.status).toBe(200);
    expect(fastCalls.mock.calls.length).toBeGreaterThan(0);
    const huge = [Buffer.from('{"scope": "'), Buffer.alloc(70 * 1024, "a"), Buffer.from('"}')];
    const fast = await call(server, "tessera.v1.TokenService/IssueClientToken", huge, headers);
    const reference = await call(server, "tessera.v1.TokenService/IssueClientToken", huge, { ...headers, "connect-timeout-ms": "60000" });
    expect(fast.status).toBe(429);
    expect(JSON.parse(fast.body)).toMatchObject({ code: "resource_exhausted" });
    expect(comparable(fast)).toEqual(comparable(reference));
  });

  it("serves binary calls the same, but answers a malformed message 400 where connect-node answers 500", async () => {
    const jwks = await both("tessera.v1.TokenService/GetJwks", "", { "content-type": "application/proto" });
    expect(jwks.tookFastPath).toBe(true);
    expect(jwks.fast.headers["content-type"]).toBe("application/proto");
    expect(comparable(jwks.fast)).toEqual(comparable(jwks.reference));
    const malformed = await both("tessera.v1.TokenService/GetJwks", "{}", { "content-type": "application/proto" });
    expect(malformed.tookFastPath).toBe(true);
    expect(malformed.reference.status).toBe(500);
    expect(malformed.fast.status).toBe(400);
    expect(JSON.parse(malformed.fast.body)).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/^the request is not a valid tessera\.v1\.GetJwksRequest message/) });
  });

  it("leaves streaming requests and unknown codings to connect-node", async () => {
    const body = Buffer.from("{}");
    for (const headers of <Record<string, string>[]>[
      { "content-type": "application/connect+json" },
      { "content-type": "application/json", "content-encoding": "zstd" },
    ]) {
      fastCalls.mockClear();
      const answer = await call(server, "tessera.v1.TokenService/GetJwks", body.toString(), headers);
      expect(fastCalls.mock.calls.length, JSON.stringify(headers)).toBe(0);
      expect(answer.status).not.toBe(500);
    }
  });

  it("serves gzip and br bodies the same, but answers one that does not decompress 400 where connect-node answers 500", async () => {
    const { brotliCompressSync, gzipSync } = await import("node:zlib");
    const twice = async (body: Buffer, coding: string) => {
      const headers = { "content-type": "application/json", "content-encoding": coding, authorization: bearer };
      fastCalls.mockClear();
      const fast = await call(server, "tessera.v1.ResourceAdminService/ListResources", [body], headers);
      const tookFastPath = fastCalls.mock.calls.length > 0;
      const reference = await call(server, "tessera.v1.ResourceAdminService/ListResources", [body], { ...headers, "connect-timeout-ms": "60000" });
      return { fast, reference, tookFastPath };
    };
    for (const [coding, body] of <[string, Buffer][]>[["gzip", gzipSync('{"pageSize": 2}')], ["br", brotliCompressSync('{"pageSize": 2}')]]) {
      const ok = await twice(body, coding);
      expect(ok.tookFastPath).toBe(true);
      expect(ok.fast.status).toBe(200);
      expect(ok.fast.body).toBe(ok.reference.body);
    }
    for (const [coding, body] of <[string, Buffer][]>[["gzip", Buffer.from([0x1f, 0x8b, 0x08])], ["br", Buffer.from("not brotli at all")]]) {
      const bad = await twice(body, coding);
      expect(bad.tookFastPath).toBe(true);
      // connect-node: 500 "decompression failed" for a truncated gzip stream, 400 for some other bad data.
      if (coding === "gzip") expect(bad.reference.status).toBe(500);
      expect(bad.fast.status).toBe(400);
      expect(JSON.parse(bad.fast.body)).toEqual({ code: "invalid_argument", message: `the request body is not valid ${coding} data` });
    }
  });

  it("runs the interceptors: one access-log line and one metric per call, as on connect-node", async () => {
    const lines: string[] = [];
    const logged = await startServer({ env: { TESSERA_LOG_LEVEL: "info" }, logDestination: { write: (line) => void lines.push(line) } });
    try {
      const ok = await call(logged, "tessera.v1.TokenService/IssueClientToken", "{}", { "content-type": "application/json", authorization: logged.basic(), "x-request-id": "req-log-1" });
      expect(ok.status).toBe(200);
      const bad = await call(logged, "tessera.v1.TokenService/IssueClientToken", "{}", {
        "content-type": "application/json",
        authorization: logged.basic(logged.bootstrap.client_id, "nope"),
        "x-request-id": "req-log-2",
      });
      expect(bad.status).toBe(401);
      const rpcLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.kind === "rpc");
      expect(rpcLines.map((l) => [l.request_id, l.code, l.transport, l.client_id])).toEqual([
        ["req-log-1", "OK", "connect", logged.bootstrap.client_id],
        ["req-log-2", "UNAUTHENTICATED", "connect", logged.bootstrap.client_id],
      ]);
      expect(lines.join("\n")).not.toContain("nope");
      const metrics = await (await fetch(`${logged.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/tessera_rpc_requests_total\{[^}]*method="IssueClientToken"[^}]*code="OK"[^}]*transport="connect"[^}]*\} 1/);
    } finally {
      await logged.dispose();
    }
  });
});
