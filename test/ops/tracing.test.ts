import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient } from "@connectrpc/connect";
import { context, propagation, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { ConfigError } from "../../src/config.js";
import { traceStorage } from "../../src/observability/instrument.js";
import { loadTracing, readTracingSettings } from "../../src/observability/tracing-config.js";
import { createUser } from "../helpers/fixtures.js";
import { createGrpcClient } from "../helpers/grpc-client.js";
import { startServer, type TestServer } from "../helpers/server.js";

interface Export {
  contentType: string;
  body: Buffer;
}

/** A real OTLP/HTTP receiver: keeps every POST /v1/traces body. */
async function startReceiver(): Promise<{ url: string; exports: Export[]; close(): Promise<void> }> {
  const exports: Export[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        exports.push({ contentType: req.headers["content-type"] ?? "", body: Buffer.concat(chunks) });
        const json = (req.headers["content-type"] ?? "").includes("json");
        res.writeHead(200, { "Content-Type": json ? "application/json" : "application/x-protobuf" });
        res.end(json ? "{}" : "");
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: OtlpValue }[];
}
interface ExportedSpan extends Omit<OtlpSpan, "attributes"> {
  attributes: Record<string, string | number | boolean | undefined>;
  service: string | undefined;
}

/** Every span of every http/json export, attributes flattened. */
function spansOf(exports: Export[]): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  const flat = (attrs: { key: string; value: OtlpValue }[] = []) =>
    Object.fromEntries(attrs.map(({ key, value }) => [key, value.stringValue ?? (value.intValue === undefined ? value.boolValue : Number(value.intValue))]));
  for (const e of exports) {
    const doc = JSON.parse(e.body.toString("utf8")) as {
      resourceSpans: { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
    };
    for (const rs of doc.resourceSpans) {
      const service = flat(rs.resource.attributes)["service.name"] as string | undefined;
      for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, attributes: flat(s.attributes), service });
    }
  }
  return spans;
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const traceparent = (traceId: string, spanId: string) => `00-${traceId}-${spanId}-01`;

/** Every span in the trace below `root`, following parent ids. */
function descendants(spans: ExportedSpan[], root: ExportedSpan): ExportedSpan[] {
  const found: ExportedSpan[] = [];
  let frontier = [root.spanId];
  while (frontier.length > 0) {
    const next = spans.filter((s) => s.traceId === root.traceId && frontier.includes(s.parentSpanId ?? ""));
    found.push(...next);
    frontier = next.map((s) => s.spanId);
  }
  return found;
}

describe("OpenTelemetry tracing", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
    vi.unstubAllEnvs();
  });

  it("is off, and loads no SDK, when no OTEL variable asks for it", async () => {
    expect(readTracingSettings({})).toBeUndefined();
    expect(readTracingSettings({ OTEL_SERVICE_NAME: "x", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })).toBeUndefined();
    expect(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_TRACES_EXPORTER: "none" })).toBeUndefined();
    expect(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" })).toBeUndefined();
    expect(await loadTracing({})).toBeUndefined();
    expect(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toEqual({
      exporters: ["otlp"],
      protocol: "http/protobuf",
      serviceName: "tessera",
    });
  });

  it("refuses values it would otherwise ignore, naming the variable", () => {
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" };
    const variableOf = (env: NodeJS.ProcessEnv) => {
      try {
        readTracingSettings(env);
      } catch (err) {
        return err instanceof ConfigError ? err.variable : "not a ConfigError";
      }
      return "accepted";
    };
    expect(variableOf({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: "thrift" })).toBe("OTEL_EXPORTER_OTLP_PROTOCOL");
    expect(variableOf({ ...on, OTEL_TRACES_EXPORTER: "zipkin" })).toBe("OTEL_TRACES_EXPORTER");
    expect(variableOf({ ...on, OTEL_TRACES_SAMPLER: "sometimes" })).toBe("OTEL_TRACES_SAMPLER");
    expect(variableOf({ ...on, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" })).toBe("OTEL_TRACES_SAMPLER_ARG");
    expect(variableOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "localhost:4318" })).toBe("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    expect(variableOf({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.5" })).toBe("accepted");
  });

  it("continues traceparent over HTTP and gRPC, exports http/json with child spans, and never a secret", async () => {
    const receiver = await startReceiver();
    try {
      vi.stubEnv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url);
      vi.stubEnv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
      vi.stubEnv("OTEL_BSP_SCHEDULE_DELAY", "20");
      vi.stubEnv("OTEL_SERVICE_NAME", "");
      const tracing = await loadTracing(process.env);
      expect(tracing).toBeDefined();
      server = await startServer({ tracing: tracing! });
      const { httpUrl, bootstrap } = server;
      const secrets: string[] = [bootstrap.client_secret, server.basic(), server.basic().slice(6)];

      // HTTP: /oidc/token with a traceparent.
      const httpTrace = hex(16);
      const httpParent = hex(8);
      const tokenRes = await fetch(`${httpUrl}/oidc/token`, {
        method: "POST",
        headers: { authorization: server.basic(), "content-type": "application/x-www-form-urlencoded", traceparent: traceparent(httpTrace, httpParent) },
        body: "grant_type=client_credentials",
      });
      expect(tokenRes.status).toBe(200);
      const clientToken = ((await tokenRes.json()) as { access_token: string }).access_token;
      secrets.push(clientToken);

      // gRPC: IssueClientToken with traceparent metadata.
      const grpcTrace = hex(16);
      const grpcParent = hex(8);
      const grpc = createGrpcClient(TokenService, server.grpcAddress);
      const issued = await grpc.issueClientToken(
        { clientId: bootstrap.client_id, clientSecret: bootstrap.client_secret },
        { traceparent: traceparent(grpcTrace, grpcParent) },
      );
      grpc.close();
      secrets.push(issued.accessToken);

      // Connect on the HTTP port: a refused call is one server span named after the RPC.
      const connectTrace = hex(16);
      const wrongSecret = `wrong-${hex(16)}`;
      secrets.push(wrongSecret);
      const connect = createClient(TokenService, createConnectTransport({ baseUrl: httpUrl, httpVersion: "1.1" }));
      await expect(
        connect.issueClientToken({ clientId: bootstrap.client_id, clientSecret: wrongSecret }, { headers: { traceparent: traceparent(connectTrace, hex(8)) } }),
      ).rejects.toThrow();

      // A password login: the scrypt check is a span; session id, refresh and ID tokens are secrets too.
      const applicationId = (await server.app.core.clientContext(bootstrap.client_id))!.application.id;
      const user = await createUser(server.app, { applicationIds: [applicationId], password: "a very secret passphrase" });
      const loginTrace = hex(16);
      const login = await fetch(`${httpUrl}/cis/v1/auth/password/authenticate`, {
        method: "POST",
        headers: { authorization: `Bearer ${clientToken}`, "content-type": "application/json", traceparent: traceparent(loginTrace, hex(8)) },
        body: JSON.stringify({ username: user.username, password: user.password }),
      });
      expect(login.status).toBe(200);
      const loginTokens = (await login.json()) as Record<string, string>;
      expect(loginTokens).toHaveProperty("session_id");
      secrets.push(user.password, `Bearer ${clientToken}`, ...Object.values(loginTokens).filter((v) => typeof v === "string" && v.length > 8));

      // Stopping flushes what is still buffered.
      await server.stop();
      expect(receiver.exports.length).toBeGreaterThan(0);
      expect(receiver.exports.every((e) => e.contentType.startsWith("application/json"))).toBe(true);
      const spans = spansOf(receiver.exports);
      expect(new Set(spans.map((s) => s.service))).toEqual(new Set(["tessera"]));

      const httpSpan = spans.find((s) => s.traceId === httpTrace && s.parentSpanId === httpParent);
      expect(httpSpan).toMatchObject({
        name: "POST /oidc/token",
        kind: 2, // SERVER
        attributes: { "http.request.method": "POST", "http.route": "/oidc/token", "http.response.status_code": 200 },
      });
      const httpChildren = descendants(spans, httpSpan!);
      expect(httpChildren.find((s) => s.name === "tessera.token.issue")?.attributes).toMatchObject({
        "tessera.grant_type": "client_credentials",
        "tessera.client_id": bootstrap.client_id,
        "tessera.tenant_id": bootstrap.tenant_id,
      });

      const grpcSpan = spans.find((s) => s.traceId === grpcTrace && s.parentSpanId === grpcParent);
      expect(grpcSpan).toMatchObject({
        name: "tessera.v1.TokenService/IssueClientToken",
        kind: 2,
        attributes: { "rpc.system": "grpc", "rpc.service": "tessera.v1.TokenService", "rpc.method": "IssueClientToken", "rpc.grpc.status_code": 0 },
      });
      const grpcChildren = descendants(spans, grpcSpan!);
      const grpcIssue = grpcChildren.find((s) => s.name === "tessera.token.issue");
      expect(grpcIssue?.attributes).toMatchObject({ "tessera.grant_type": "client_credentials", "tessera.tenant_id": bootstrap.tenant_id });

      const connectSpan = spans.find((s) => s.traceId === connectTrace && s.kind === 2);
      expect(connectSpan).toMatchObject({
        name: "tessera.v1.TokenService/IssueClientToken",
        attributes: { "rpc.system": "connect_rpc", "rpc.method": "IssueClientToken", "rpc.connect_rpc.error_code": "unauthenticated", "http.response.status_code": 401 },
      });
      expect(descendants(spans, connectSpan!).find((s) => s.name === "tessera.token.issue")?.attributes["error.type"]).toBe("invalid_client");

      const loginSpan = spans.find((s) => s.traceId === loginTrace && s.kind === 2);
      expect(loginSpan?.attributes["http.route"]).toBe("/cis/v1/auth/password/authenticate");
      const loginChildren = descendants(spans, loginSpan!);
      expect(loginChildren.map((s) => s.name)).toEqual(expect.arrayContaining(["tessera.token.issue", "tessera.password.verify", "store.transaction"]));
      const storage = loginChildren.filter((s) => s.attributes["db.system"] === "sqlite");
      expect(storage.map((s) => s.attributes["db.operation.name"])).toEqual(expect.arrayContaining(["users.findByUsername", "transaction"]));
      expect(storage.every((s) => s.kind === 3)).toBe(true); // CLIENT
      expect(loginChildren.find((s) => s.name === "tessera.token.issue")?.attributes).toMatchObject({
        "tessera.grant_type": "password",
        "tessera.client_id": bootstrap.client_id,
      });

      // No secret in any attribute (nor anywhere else in what was exported).
      const exported = receiver.exports.map((e) => e.body.toString("utf8")).join("\n");
      for (const secret of secrets) {
        expect(secret.length).toBeGreaterThan(8);
        expect(exported).not.toContain(secret);
      }
    } finally {
      await receiver.close();
    }
  });

  it("exports http/protobuf carrying the continued trace id and parent span id", async () => {
    const receiver = await startReceiver();
    try {
      vi.stubEnv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", `${receiver.url}/v1/traces`);
      vi.stubEnv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
      vi.stubEnv("OTEL_BSP_SCHEDULE_DELAY", "20");
      server = await startServer({ tracing: (await loadTracing(process.env))! });
      const traceId = hex(16);
      const parent = hex(8);
      const grpc = createGrpcClient(TokenService, server.grpcAddress);
      await grpc.issueClientToken({}, { authorization: server.basic(), traceparent: traceparent(traceId, parent) });
      grpc.close();
      await server.stop();
      expect(receiver.exports.length).toBeGreaterThan(0);
      expect(receiver.exports.every((e) => e.contentType === "application/x-protobuf")).toBe(true);
      const body = Buffer.concat(receiver.exports.map((e) => e.body));
      expect(body.includes(Buffer.from(traceId, "hex"))).toBe(true);
      expect(body.includes(Buffer.from(parent, "hex"))).toBe(true);
      expect(body.includes(Buffer.from("tessera.v1.TokenService/IssueClientToken"))).toBe(true);
      expect(body.includes(Buffer.from(server.bootstrap.client_secret))).toBe(false);
    } finally {
      await receiver.close();
    }
  });

  it("stops within its grace even when the collector never answers", async () => {
    const sockets = new Set<import("node:net").Socket>();
    const silent = createServer(() => undefined); // accepts, reads, never answers
    silent.on("connection", (s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      vi.stubEnv("OTEL_EXPORTER_OTLP_ENDPOINT", `http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
      vi.stubEnv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
      server = await startServer({ tracing: (await loadTracing(process.env))! });
      expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
      const started = performance.now();
      await server.stop();
      // The exporter's own timeout is 10 s; the stop gives buffered spans 1.5 s.
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it("traces synchronous and promise-returning storage methods alike, only inside a request's span", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.register();
    try {
      class Repo {
        #rows = new Map([["a", "row a"]]);
        get(id: string) {
          return this.#rows.get(id);
        }
        async find(id: string) {
          return this.#rows.get(id);
        }
        fail(): never {
          throw Object.assign(new Error("constraint failed for hunter2"), { code: "SQLITE_CONSTRAINT_UNIQUE" });
        }
      }
      const raw = { db: { handle: 1 }, users: new Repo(), transaction: <T>(fn: () => T): T => fn(), batched: async <T>(fn: () => T): Promise<T> => fn() };
      const store = traceStorage(raw, "postgresql");
      expect(store.db).toBe(raw.db);
      expect(store.users.get("a")).toBe("row a");
      expect(exporter.getFinishedSpans()).toHaveLength(0);

      await trace.getTracer("test").startActiveSpan("request", async (root) => {
        expect(store.transaction(() => store.users.get("a"))).toBe("row a");
        expect(await store.batched(() => store.users.find("a"))).toBe("row a");
        expect(() => store.users.fail()).toThrow("constraint failed");
        root.end();
      });
      const spans = exporter.getFinishedSpans();
      const byName = (name: string) => spans.filter((s) => s.name === name);
      const root = byName("request")[0]!;
      const [tx] = byName("store.transaction");
      const [batch] = byName("store.batched");
      expect(tx?.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
      expect(byName("store.users.get")[0]?.parentSpanContext?.spanId).toBe(tx?.spanContext().spanId);
      expect(byName("store.users.find")[0]?.parentSpanContext?.spanId).toBe(batch?.spanContext().spanId);
      // The promise's span ends when the promise settles: after the call inside it. The exporter receives spans
      // as they end (SimpleSpanProcessor); their endTimes, each anchored to its own span's start, can disagree by
      // a fraction of a millisecond and are not compared.
      expect(spans.indexOf(batch!)).toBeGreaterThan(spans.indexOf(byName("store.users.find")[0]!));
      const failed = byName("store.users.fail")[0]!;
      expect(failed.attributes).toMatchObject({ "db.system": "postgresql", "db.operation.name": "users.fail", "error.type": "SQLITE_CONSTRAINT_UNIQUE" });
      expect(JSON.stringify(spans.map((s) => [s.attributes, s.status, s.events]))).not.toContain("hunter2");
    } finally {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    }
  });
});
