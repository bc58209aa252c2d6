import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createGrpcClient } from "../helpers/grpc-client.js";
import { postForm, sqliteOf, startServer, TestClock, type TestServer } from "../helpers/server.js";
import { CookieBrowser, relyingParty, signIn } from "../oidc/oidc-helpers.js";

interface Line {
  level: string;
  msg: string;
  kind?: string;
  [field: string]: unknown;
}

describe("structured logs", () => {
  let server: TestServer;
  const raw: string[] = [];
  const lines = () => raw.map((l) => JSON.parse(l) as Line);

  beforeAll(async () => {
    server = await startServer({
      clock: new TestClock(Date.now()),
      env: { TESSERA_LOG_LEVEL: "info" },
      logDestination: { write: (line: string) => void raw.push(line) },
    });
  });
  afterAll(() => server.dispose());

  it("a full flow over every door leaves one line per request and not one secret", async () => {
    const secrets: string[] = [server.bootstrap.client_secret];
    // Code flow through the hosted pages: password, code, access, ID and refresh tokens.
    const rp = await relyingParty(server);
    secrets.push(rp.clientSecret, rp.password);
    const { tokens, callback } = await signIn(server, rp, { scope: "openid offline_access", prompt: "consent" }, new CookieBrowser(server.httpUrl));
    secrets.push(callback.searchParams.get("code")!, tokens.access_token, tokens.id_token!, tokens.refresh_token!);
    const userinfo = await fetch(`${server.httpUrl}/oidc/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(userinfo.status).toBe(200);
    // client_credentials by form post, a failed attempt with a wrong secret, Connect and gRPC.
    const form = await postForm(`${server.httpUrl}/oidc/token`, {
      grant_type: "client_credentials",
      client_id: server.bootstrap.client_id,
      client_secret: server.bootstrap.client_secret,
    });
    secrets.push(((await form.json()) as { access_token: string }).access_token);
    const wrong = "wrong-secret-0123456789abcdef";
    secrets.push(wrong);
    expect((await postForm(`${server.httpUrl}/oidc/token`, { grant_type: "client_credentials" }, server.basic(server.bootstrap.client_id, wrong))).status).toBe(401);
    const connect = createConnectClient(TokenService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const viaConnect = await connect.issueClientToken(
      { clientId: server.bootstrap.client_id, clientSecret: server.bootstrap.client_secret },
      { headers: { "x-request-id": "connect-call-1" } },
    );
    secrets.push(viaConnect.accessToken);
    const grpcClient = createGrpcClient(TokenService, server.grpcAddress);
    try {
      const viaGrpc = await grpcClient.issueClientToken({}, { authorization: server.basic(), "x-request-id": "grpc-call-1" });
      secrets.push(viaGrpc.accessToken);
    } finally {
      grpcClient.close();
    }

    const text = raw.join("");
    expect(raw.length).toBeGreaterThan(8);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/authorization|cookie|Basic |Bearer /i);

    const all = lines();
    const tokenLines = all.filter((l) => l.kind === "http" && l.route === "/oidc/token");
    expect(tokenLines.map((l) => l.status).sort()).toEqual([200, 200, 401]);
    for (const l of tokenLines) {
      expect(l).toMatchObject({ level: "info", method: "POST", path: "/oidc/token", client_id: expect.any(String) });
      expect(typeof l.duration_ms).toBe("number");
      expect(l.request_id).toMatch(/^[0-9a-f-]{36}$/);
      // The tenant is named once the client authenticated, never for a failed authentication.
      expect(l.tenant_id).toBe(l.status === 200 ? "default" : undefined);
    }
    // The authorization request's query string (state, nonce, PKCE challenge) stays out of the path.
    const auth = all.filter((l) => l.kind === "http" && l.route === "/oidc/auth");
    expect(auth.length).toBeGreaterThan(0);
    for (const l of auth) expect(l.path).toBe("/oidc/auth");
    expect(all.find((l) => l.request_id === "connect-call-1")).toMatchObject({
      kind: "rpc",
      transport: "connect",
      service: "tessera.v1.TokenService",
      method: "IssueClientToken",
      code: "OK",
      client_id: server.bootstrap.client_id,
    });
    expect(all.filter((l) => l.request_id === "connect-call-1")).toHaveLength(1);
    // No key twice in a line (JSON.parse would keep the last one silently); every line names tessera.
    for (const l of raw) {
      const keys = [...l.matchAll(/"([a-z_]+)":/g)].map((m) => m[1]);
      expect(new Set(keys).size, l).toBe(keys.length);
    }
    expect(all.every((l) => l.name === "tessera")).toBe(true);
    expect(all.find((l) => l.request_id === "grpc-call-1")).toMatchObject({
      kind: "rpc",
      transport: "grpc",
      method: "IssueClientToken",
      code: "OK",
      client_id: server.bootstrap.client_id,
    });
    expect(all.find((l) => l.route === "other")).toBeUndefined();
  });

  it("404s are logged under route other with the path but not its query", async () => {
    await fetch(`${server.httpUrl}/nope/here?code=abcdef123456`);
    const line = lines().find((l) => l.path === "/nope/here");
    expect(line).toMatchObject({ kind: "http", route: "other", status: 404 });
    expect(raw.join("")).not.toContain("abcdef123456");
  });

  it("gRPC answers carry x-request-id in their response metadata, echoed or generated", async () => {
    const client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
    const call = (headers: Record<string, string>) =>
      new Promise<string>((resolve, reject) => {
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(headers)) md.set(k, v);
        const c = client.makeUnaryRequest(
          "/tessera.v1.TokenService/GetJwks",
          () => Buffer.alloc(0),
          (b: Buffer) => b,
          {},
          md,
          (err) => err && reject(err),
        );
        c.on("metadata", (m: grpc.Metadata) => resolve(String(m.get("x-request-id")[0])));
      });
    try {
      expect(await call({ "x-request-id": "grpc-echo-1" })).toBe("grpc-echo-1");
      expect(await call({ "x-request-id": "bad id with spaces" })).toMatch(/^[0-9a-f-]{36}$/);
      expect(await call({})).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      client.close();
    }
  });

  it("gRPC echoes x-request-id and puts it in ErrorInfo metadata of errors; Connect errors carry it too", async () => {
    const grpcClient = createGrpcClient(TokenService, server.grpcAddress);
    try {
      const err = (await grpcClient.issueClientToken({ clientId: "nobody", clientSecret: "x" }, { "x-request-id": "grpc-fail-1" }).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(err.metadata.get("grpc-status-details-bin")[0]!.toString("latin1")).toContain("grpc-fail-1");
    } finally {
      grpcClient.close();
    }
    const res = await fetch(`${server.httpUrl}/tessera.v1.TokenService/IssueClientToken`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "connect-fail-2" },
      body: JSON.stringify({ clientId: "nobody", clientSecret: "x" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("x-request-id")).toBe("connect-fail-2");
    const body = (await res.json()) as { details: { debug?: { metadata?: Record<string, string> } }[] };
    expect(body.details[0]!.debug?.metadata?.request_id).toBe("connect-fail-2");
  });

  it("an unexpected failure gets an error line with its name and stack, and a 500 without details", async () => {
    sqliteOf(server).close(); // every handler now fails in a way no caller caused
    const res = await fetch(`${server.httpUrl}/oidc/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-request-id": "boom-1" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: "x", client_secret: "y-secret-value" }),
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "server_error", error_description: "internal error", request_id: "boom-1" });
    const line = lines().find((l) => l.request_id === "boom-1" && l.level === "error");
    expect(line).toMatchObject({ msg: "unexpected error", err_name: "TypeError", path: "/oidc/token" });
    expect(line!.stack).toContain("TypeError");
    expect(raw.join("")).not.toContain("y-secret-value");
  });
});
