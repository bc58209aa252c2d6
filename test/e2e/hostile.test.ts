import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { IssueClientTokenRequestSchema } from "../../gen/tessera/v1/token_service_pb.js";
import { clientToken, postForm, rowCount, startServer, type TestServer } from "../helpers/server.js";

/** The error of an IssueClientToken call over grpc-js whose request is these bytes (it must fail). */
async function refusedIssueClientToken(address: string, request: Buffer): Promise<grpc.ServiceError> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<grpc.ServiceError>((resolve, reject) =>
      client.makeUnaryRequest(
        "/tessera.v1.TokenService/IssueClientToken",
        (b: Buffer) => b,
        (b: Buffer) => b,
        request,
        new grpc.Metadata(),
        (e) => (e ? resolve(e) : reject(new Error("the request was accepted"))),
      ),
    );
  } finally {
    client.close();
  }
}

/** Writes raw bytes to the HTTP port and reads everything until the server closes the connection. */
function rawExchange(httpUrl: string, request: string): Promise<string> {
  const url = new URL(httpUrl);
  return new Promise<string>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(request));
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
}

// Found by a black-box sweep of malformed requests: each of these answered 500 / INTERNAL before.
describe("hostile input gets a caller error on every door, never a 500", () => {
  let server: TestServer;
  // A JWT whose header is JSON null (and payload {}): well-formed base64url, nonsense JOSE.
  const nullHeaderJwt = `${Buffer.from("null").toString("base64url")}.${Buffer.from("{}").toString("base64url")}.AA`;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.dispose());

  it("a JWT with a null header as Bearer is 401 invalid_token on /cis, userinfo and the admin RPCs", async () => {
    const cis = await fetch(`${server.httpUrl}/cis/v1/auth/token/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${nullHeaderJwt}` },
      body: "{}",
    });
    expect(cis.status).toBe(401);
    expect(((await cis.json()) as { error: string }).error).toBe("invalid_token");
    const userinfo = await fetch(`${server.httpUrl}/oidc/userinfo`, { headers: { authorization: `Bearer ${nullHeaderJwt}` } });
    expect(userinfo.status).toBe(401);
    const admin = await fetch(`${server.httpUrl}/tessera.v1.ResourceAdminService/ListResources`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${nullHeaderJwt}` },
      body: "{}",
    });
    expect(admin.status).toBe(401);
    expect(((await admin.json()) as { code: string }).code).toBe("unauthenticated");
  });

  it("introspecting a JWT with a null header says inactive", async () => {
    const res = await postForm(`${server.httpUrl}/oidc/introspect`, { token: nullHeaderJwt }, server.basic());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ active: false });
  });

  it("bytes that are not a protobuf message are INVALID_ARGUMENT (invalid_request) over grpc-js, not INTERNAL", async () => {
    const err = await refusedIssueClientToken(server.grpcAddress, Buffer.from([0xff, 0xff, 0xff]));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain("not a valid tessera.v1.IssueClientTokenRequest message");
    // The port still serves well-formed calls.
    expect(await clientToken(server)).toMatch(/^ey/);
  });
  it("a compressed body (Content-Encoding: gzip) is 415 invalid_request on the token endpoint and /cis, not parsed as garbage", async () => {
    const { gzipSync } = await import("node:zlib");
    const token = await fetch(`${server.httpUrl}/oidc/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "content-encoding": "gzip", authorization: server.basic() },
      body: gzipSync("grant_type=client_credentials"),
    });
    expect(token.status).toBe(415);
    const tokenBody = (await token.json()) as { error: string; error_description: string };
    expect(tokenBody.error).toBe("invalid_request");
    expect(tokenBody.error_description).toContain('Content-Encoding "gzip"');
    // A coding the body does not even have is refused too, rather than silently ignored.
    const claimed = await fetch(`${server.httpUrl}/oidc/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "content-encoding": "br", authorization: server.basic() },
      body: "grant_type=client_credentials",
    });
    expect(claimed.status).toBe(415);
    const cis = await fetch(`${server.httpUrl}/cis/v1/auth/logout`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip", authorization: `Bearer ${await clientToken(server)}` },
      body: gzipSync("{}"),
    });
    expect(cis.status).toBe(415);
    expect(((await cis.json()) as { error: string }).error).toBe("invalid_request");
    // identity is no coding at all.
    const identity = await fetch(`${server.httpUrl}/oidc/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "content-encoding": "identity", authorization: server.basic() },
      body: "grant_type=client_credentials",
    });
    expect(identity.status).toBe(200);
  });
  it("a NUL character anywhere is invalid_request (Basic: invalid_client) on every door and both engines, and writes nothing", async () => {
    const oauthError = async (res: Response, status = 400, error = "invalid_request") => {
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: string }).error).toBe(error);
    };
    const users = await rowCount(server, "users");
    await oauthError(await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials", client_id: "a\0b", client_secret: "x" }));
    await oauthError(await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials", resource: "https://a.example/\0" }, server.basic()));
    await oauthError(await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, server.basic("a\0b", "x")), 401, "invalid_client");
    await oauthError(await fetch(`${server.httpUrl}/oidc/auth?client_id=a%00&response_type=code`));
    await oauthError(await fetch(`${server.httpUrl}/oidc/interaction?id=ixn_%00`));
    // The hosted login page answers with its HTML error page.
    const page = await postForm(`${server.httpUrl}/oidc/interaction/login`, { interaction: "ixn_\0", csrf: "x", username: "u", password: "p" });
    expect(page.status).toBe(400);
    expect(await page.text()).toContain("contains a NUL character");
    const bearer = await clientToken(server);
    const json = (path: string, body: unknown) =>
      fetch(`${server.httpUrl}${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` }, body: JSON.stringify(body) });
    await oauthError(await json("/cis/v1/auth/password/authenticate", { username: "a\0", password: "p" }));
    for (const [path, body] of <[string, unknown][]>[
      ["/tessera.v1.TokenService/IssueClientToken", { clientId: "a\0", clientSecret: "x" }],
      ["/tessera.v1.UserAdminService/CreateUser", { user: { username: "nul-claims", customClaims: { x: "a\0" } }, password: "correct horse battery" }],
      ["/tessera.v1.UserAdminService/CreateUser", { user: { username: "nul-email", email: "a\0@example.com" }, password: "correct horse battery" }],
      ["/tessera.v1.UserAdminService/CreateUser", { user: { username: "nul-key", customClaims: { "a\0": 1 } }, password: "correct horse battery" }],
    ]) {
      const res = await json(path, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string; message: string }).code).toBe("invalid_argument");
    }
    const nulClientId = toBinary(IssueClientTokenRequestSchema, create(IssueClientTokenRequestSchema, { clientId: "a\0", clientSecret: "x" }));
    const err = await refusedIssueClientToken(server.grpcAddress, Buffer.from(nulClientId));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('"clientId" contains a NUL character');
    expect(await rowCount(server, "users")).toBe(users);
    expect(await clientToken(server)).toMatch(/^ey/);
  });

  it("a metadata value grpc-js refuses (a tab in the authorization header) is logged without the value", async () => {
    const http2 = await import("node:http2");
    const printed: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void printed.push(args.join(" ")));
    try {
      const session = http2.connect(`http://${server.grpcAddress}`);
      for (const path of ["/grpc.health.v1.Health/Check", "/tessera.v1.TokenService/GetJwks"]) {
        const status = await new Promise<string | undefined>((resolve, reject) => {
          const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", authorization: "Bearer\tSECRET-TOKEN-VALUE" });
          stream.on("trailers", (t) => resolve(String(t["grpc-status"])));
          stream.on("response", (h) => h["grpc-status"] !== undefined && resolve(String(h["grpc-status"])));
          stream.on("error", reject);
          stream.resume();
          stream.end(Buffer.from([0, 0, 0, 0, 0]));
        });
        expect(status).toBeDefined();
      }
      session.close();
    } finally {
      spy.mockRestore();
    }
    expect(printed.some((line) => line.includes("Failed to add metadata entry authorization"))).toBe(true);
    expect(printed.join("\n")).not.toContain("SECRET-TOKEN-VALUE");
  });

  it("a request Node's HTTP parser refuses (oversized headers, not HTTP) still gets OAuth error JSON with a request id", async () => {
    const big = await fetch(`${server.httpUrl}/oidc/userinfo`, { headers: { authorization: `Bearer ${"a".repeat(20_000)}` } });
    expect(big.status).toBe(431);
    expect(big.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(big.headers.get("cache-control")).toBe("no-store");
    const bigBody = (await big.json()) as { error: string; request_id: string };
    expect(bigBody).toMatchObject({ error: "invalid_request", request_id: big.headers.get("x-request-id") });

    const raw = await rawExchange(server.httpUrl, "NOT HTTP AT ALL\r\n\r\n");
    expect(raw.startsWith("HTTP/1.1 400 ")).toBe(true);
    expect(JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "invalid_request" });
    // The server still serves.
    expect(await clientToken(server)).toMatch(/^ey/);
  });

  it("no Host header, an Expect other than 100-continue, HEAD with oversized headers, garbage after a request: OAuth error JSON (HEAD: no body; the request answered first)", async () => {
    const exchange = (request: string) => rawExchange(server.httpUrl, request);
    const split = (raw: string) => ({ head: raw.slice(0, raw.indexOf("\r\n\r\n")), body: raw.slice(raw.indexOf("\r\n\r\n") + 4) });

    const noHost = split(await exchange("GET /oidc/jwks HTTP/1.1\r\nConnection: close\r\n\r\n"));
    expect(noHost.head).toMatch(/^HTTP\/1\.1 400 /);
    expect(noHost.head.toLowerCase()).toContain("cache-control: no-store");
    expect(noHost.body).toContain('"error":"invalid_request"');
    expect(noHost.body).toContain("Host header");

    const form = "grant_type=client_credentials";
    const expectation = split(
      await exchange(`POST /oidc/token HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\nConnection: close\r\n\r\n${form}`),
    );
    expect(expectation.head).toMatch(/^HTTP\/1\.1 417 /);
    expect(expectation.head.toLowerCase()).toContain("cache-control: no-store");
    const requestId = /x-request-id: (\S+)/i.exec(expectation.head)?.[1];
    expect(JSON.parse(expectation.body)).toMatchObject({ error: "invalid_request", request_id: requestId });

    const head = split(await exchange(`HEAD /oidc/introspect?x=${"A".repeat(20_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    expect(head.head).toMatch(/^HTTP\/1\.1 431 /);
    expect(head.body).toBe("");

    // Garbage pipelined after a request: that request's answer first, then the refusal.
    const pipelined = await exchange(`POST /oidc/token HTTP/1.1\r\nHost: x\r\nAuthorization: ${server.basic()}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}NOT HTTP AT ALL\r\n\r\n`);
    expect(pipelined).toMatch(/^HTTP\/1\.1 200 /);
    expect(pipelined).toContain('"access_token":"ey');
    expect(pipelined.indexOf("HTTP/1.1 400 ")).toBeGreaterThan(pipelined.indexOf('"access_token"'));
  });
});
