import http, { type IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBody } from "../../src/transport/http/body.js";
import { postForm, startServer, type TestServer } from "../helpers/server.js";

/** A raw HTTP/1.1 request, for bodies fetch will not send (chunked without Content-Length, oversized). */
function rawRequest(
  server: TestServer,
  opts: { path: string; method?: string; headers?: Record<string, string>; chunks?: Buffer[]; pauseMs?: number },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const url = new URL(server.httpUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: opts.path, method: opts.method ?? "POST", headers: opts.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString("utf8") }));
    });
    // The server may answer and close before the whole body went out.
    req.on("error", (err: NodeJS.ErrnoException) => (err.code === "ECONNRESET" || err.code === "EPIPE" ? undefined : reject(err)));
    if (opts.pauseMs === undefined) {
      for (const c of opts.chunks ?? []) req.write(c);
      req.end();
      return;
    }
    // The headers first, then each piece of the body in a packet of its own.
    req.flushHeaders();
    void (async () => {
      for (const c of opts.chunks ?? []) {
        await new Promise((r) => setTimeout(r, opts.pauseMs));
        req.write(c);
      }
      req.end();
    })();
  });
}

describe("the HTTP gateway", () => {
  let server: TestServer;
  const tokenUrl = () => `${server.httpUrl}/oidc/token`;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.dispose());

  describe("request bodies", () => {
    const big = Buffer.from(`grant_type=client_credentials&pad=${"x".repeat(64 * 1024)}`);

    it("answers 413 to a declared Content-Length over 64 KiB", async () => {
      const res = await rawRequest(server, {
        path: "/oidc/token",
        headers: { "content-type": "application/x-www-form-urlencoded", "content-length": String(big.length), authorization: server.basic() },
        chunks: [big],
      });
      expect(res.status).toBe(413);
      expect(res.headers["cache-control"]).toBe("no-store");
      expect(JSON.parse(res.body)).toMatchObject({ error: "invalid_request" });
    });

    it("answers 413 to a chunked body that grows over 64 KiB", async () => {
      const res = await rawRequest(server, {
        path: "/oidc/token",
        headers: { "content-type": "application/x-www-form-urlencoded", "transfer-encoding": "chunked", authorization: server.basic() },
        chunks: [big.subarray(0, 40_000), big.subarray(40_000)],
      });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toMatchObject({ error: "invalid_request" });
    });

    it("accepts a chunked body under the limit", async () => {
      const res = await rawRequest(server, {
        path: "/oidc/token",
        headers: { "content-type": "application/x-www-form-urlencoded", "transfer-encoding": "chunked", authorization: server.basic() },
        chunks: [Buffer.from("grant_type=client_"), Buffer.from("credentials")],
      });
      expect(res.status).toBe(200);
    });

    // Bodies that arrive after their headers, in packets of their own, are read as they come.
    it("reads a body that arrives after its headers, in pieces, on the form and Connect routes", async () => {
      const cases = [
        { path: "/oidc/token", type: "application/x-www-form-urlencoded", body: "grant_type=client_credentials", tokenType: "token_type" },
        { path: "/tessera.v1.TokenService/IssueClientToken", type: "application/json", body: '{"scope":""}', tokenType: "tokenType" },
      ];
      for (const { path, type, body, tokenType } of cases) {
        const bytes = Buffer.from(body);
        const res = await rawRequest(server, {
          path,
          headers: { "content-type": type, "content-length": String(bytes.length), authorization: server.basic() },
          chunks: [bytes.subarray(0, 5), bytes.subarray(5)],
          pauseMs: 30,
        });
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toMatchObject({ [tokenType]: "Bearer" });
      }
    });

    // The handlers run once the parser is done with the packet: a body that came with its headers is taken whole.
    it("takes a body already parsed whole from the stream's buffer, its pieces joined, within the limit", async () => {
      // A request stream as the parser leaves it: `complete` once the message's end is parsed, its headers.
      const request = (complete: boolean, headers: Record<string, string> = {}) =>
        Object.assign(new Readable({ read() {} }), { complete, headers }) as Readable & IncomingMessage;
      const parsed = (pieces: string[]) => {
        const stream = request(true);
        for (const piece of pieces) stream.push(piece);
        stream.push(null);
        return stream;
      };
      expect((await readBody(parsed(["grant_type=client_", "credentials"]))).toString()).toBe("grant_type=client_credentials");
      expect((await readBody(parsed([]))).length).toBe(0);
      await expect(readBody(parsed(["0123456789", "x"]), 10)).rejects.toMatchObject({ kind: "payload_too_large" });
      // Content-Length bytes buffered, the message's end not yet parsed: taken at once too (an event read would wait).
      const declared = request(false, { "content-length": "29" });
      declared.push("grant_type=client_");
      declared.push("credentials");
      expect((await readBody(declared)).toString()).toBe("grant_type=client_credentials");
      // Asked in the request event, before the parser pushed the body of the same packet: taken after the microtask checkpoint.
      const early = request(false, { "content-length": "29" });
      const reading = readBody(early);
      early.push("grant_type=client_credentials");
      expect((await reading).toString()).toBe("grant_type=client_credentials");
      // Not yet whole: read as it comes.
      const coming = request(false);
      const read = readBody(coming);
      coming.push("grant_type=");
      setImmediate(() => {
        coming.push("client_credentials");
        coming.push(null);
      });
      expect((await read).toString()).toBe("grant_type=client_credentials");
    });

    it("limits Connect routes too: 413 when declared, Connect's resource_exhausted when streamed", async () => {
      const json = Buffer.from(`{"scope":"${"x".repeat(70_000)}"}`);
      const path = "/tessera.v1.TokenService/IssueClientToken";
      const declared = await rawRequest(server, { path, headers: { "content-type": "application/json", "content-length": String(json.length) }, chunks: [json] });
      expect(declared.status).toBe(413);
      const chunked = await rawRequest(server, { path, headers: { "content-type": "application/json", "transfer-encoding": "chunked" }, chunks: [json] });
      expect(chunked.status).toBe(429);
      expect(JSON.parse(chunked.body)).toMatchObject({ code: "resource_exhausted" });
    });

    it("answers 415 to a JSON body on /oidc/token", async () => {
      const res = await fetch(tokenUrl(), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: server.basic() },
        body: JSON.stringify({ grant_type: "client_credentials" }),
      });
      expect(res.status).toBe(415);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toMatchObject({ error: "invalid_request", error_description: expect.stringContaining("x-www-form-urlencoded") });
    });

    it("accepts a charset parameter on the form content type", async () => {
      const res = await fetch(tokenUrl(), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded; charset=UTF-8", authorization: server.basic() },
        body: "grant_type=client_credentials",
      });
      expect(res.status).toBe(200);
    });
  });

  describe("token endpoint parameters", () => {
    it("refuses a duplicated parameter with invalid_request", async () => {
      const forms: Record<string, string | string[]>[] = [{ grant_type: ["client_credentials", "client_credentials"] }, { grant_type: "client_credentials", scope: ["a", "b"] }];
      for (const form of forms) {
        const res = await postForm(tokenUrl(), form, server.basic());
        expect(res.status).toBe(400);
        expect(res.headers.get("cache-control")).toBe("no-store");
        expect(await res.json()).toMatchObject({ error: "invalid_request", error_description: expect.stringContaining("more than once") });
      }
    });

    it("requires grant_type", async () => {
      const res = await postForm(tokenUrl(), { scope: "x" }, server.basic());
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "invalid_request", error_description: "grant_type is required" });
    });

    it("refuses an unknown grant_type with unsupported_grant_type", async () => {
      const res = await postForm(tokenUrl(), { grant_type: "password" }, server.basic());
      expect(res.status).toBe(400);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toMatchObject({ error: "unsupported_grant_type" });
    });
  });

  describe("discovery", () => {
    it.each(["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])("serves %s with the contract's members", async (path) => {
      const res = await fetch(`${server.httpUrl}${path}`);
      expect(res.status).toBe(200);
      const doc = (await res.json()) as Record<string, unknown>;
      const issuer = server.httpUrl;
      expect(doc).toMatchObject({
        issuer,
        token_endpoint: `${issuer}/oidc/token`,
        jwks_uri: `${issuer}/oidc/jwks`,
      });
      expect(doc.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(["client_secret_basic", "client_secret_post"]));
      expect(doc.grant_types_supported).toContain("client_credentials");
      for (const member of ["scopes_supported", "id_token_signing_alg_values_supported", "claims_supported"]) {
        expect(Array.isArray(doc[member]), member).toBe(true);
      }
      expect(doc.id_token_signing_alg_values_supported).toContain("EdDSA");
    });

    it("serves the JWKS with a short public max-age and only public key members", async () => {
      const res = await fetch(`${server.httpUrl}/oidc/jwks`);
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("public, max-age=60");
      const { keys } = (await res.json()) as { keys: Record<string, string>[] };
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig", kid: expect.any(String), x: expect.any(String), y: expect.any(String) });
      expect(keys[0]!.d).toBeUndefined();
    });
  });

  describe("request ids and routing", () => {
    it("echoes a caller's x-request-id and generates one when absent", async () => {
      const echoed = await fetch(`${server.httpUrl}/healthz`, { headers: { "x-request-id": "trace-123.abc" } });
      expect(echoed.headers.get("x-request-id")).toBe("trace-123.abc");
      const generated = await fetch(`${server.httpUrl}/healthz`);
      expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      const unsafe = await fetch(`${server.httpUrl}/healthz`, { headers: { "x-request-id": "bad id with spaces" } });
      expect(unsafe.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("carries the request id on errors, in the header and the body", async () => {
      const res = await postForm(tokenUrl(), { grant_type: "nope" }, server.basic());
      const body = (await res.json()) as { request_id: string };
      expect(body.request_id).toBe(res.headers.get("x-request-id"));
    });

    it("answers unknown paths with 404 JSON", async () => {
      const res = await fetch(`${server.httpUrl}/no/such/thing?x=1`);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toMatchObject({ error: "not_found", error_description: "no endpoint at /no/such/thing" });
    });

    it("answers a wrong method with 405 and Allow", async () => {
      const get = await fetch(tokenUrl());
      expect(get.status).toBe(405);
      expect(get.headers.get("allow")).toBe("POST");
      expect(await get.json()).toMatchObject({ error: "invalid_request" });
      const post = await fetch(`${server.httpUrl}/oidc/jwks`, { method: "POST" });
      expect(post.status).toBe(405);
      expect(post.headers.get("allow")).toBe("GET");
    });

    it("answers /healthz with SERVING", async () => {
      const res = await fetch(`${server.httpUrl}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "SERVING" });
    });
  });
});
