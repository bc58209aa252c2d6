import http, { type IncomingMessage } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { GatewayResponse } from "../../src/transport/http/respond.js";
import { startServer, type TestServer } from "../helpers/server.js";

/** A bare server with tessera's response class; `handle` gets every request's response as it arrives. */
async function bareServer(handle: (res: GatewayResponse, req: IncomingMessage) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer({ ServerResponse: GatewayResponse }, (req, res) => handle(res as GatewayResponse, req));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Sends raw bytes on one connection and returns everything the server wrote until it closed or `until` matched. */
function exchange(port: number, bytes: string, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    let text = "";
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (until(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(text));
  });
}

describe("answers are written when the event loop's turn ends", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes the answers ended in one turn together, after the turn, with their callbacks and finish events", async () => {
    const waiting: GatewayResponse[] = [];
    const seen: string[] = [];
    let done!: () => void;
    const flushed = new Promise<void>((r) => (done = r));
    const server = await bareServer((res) => {
      waiting.push(res);
      if (waiting.length < 2) return;
      const [a, b] = waiting as [GatewayResponse, GatewayResponse];
      a.on("finish", () => seen.push("a finish"));
      b.on("finish", () => seen.push("b finish"));
      a.end("one", () => seen.push("a callback"));
      b.end("two");
      // Both are still unwritten in this turn…
      seen.push(`in the turn: a ended ${a.writableEnded}, b ended ${b.writableEnded}`);
      // …and both are written once it is over (this immediate was queued after the writer's).
      setImmediate(() => {
        seen.push(`after the turn: a ended ${a.writableEnded}, b ended ${b.writableEnded}`);
        done();
      });
    });
    try {
      const [one, two] = await Promise.all([fetch(server.url).then((r) => r.text()), fetch(server.url).then((r) => r.text())]);
      await flushed;
      expect(new Set([one, two])).toEqual(new Set(["one", "two"]));
      expect(seen.filter((s) => s.includes("turn"))).toEqual(["in the turn: a ended false, b ended false", "after the turn: a ended true, b ended true"]);
      expect(seen).toEqual(expect.arrayContaining(["a finish", "b finish", "a callback"]));
    } finally {
      await server.close();
    }
  });

  it("still writes when a test has faked setImmediate", async () => {
    const server = await bareServer((res) => {
      vi.useFakeTimers({ toFake: ["setImmediate"] });
      res.end("answered");
      vi.useRealTimers();
    });
    try {
      expect(await (await fetch(server.url)).text()).toBe("answered");
    } finally {
      await server.close();
    }
  });

  it("skips an answer destroyed before the turn ended, and a bad argument fails only its own answer", async () => {
    const waiting: GatewayResponse[] = [];
    const server = await bareServer((res) => {
      waiting.push(res);
      if (waiting.length < 3) return;
      const [gone, bad, good] = waiting as [GatewayResponse, GatewayResponse, GatewayResponse];
      gone.end("never");
      gone.destroy();
      (bad.end as (chunk: unknown) => void)({ not: "a chunk" });
      good.end("fine");
    });
    try {
      const outcome = (r: Promise<Response>) => r.then((x) => x.text()).catch(() => "failed");
      const answers = await Promise.all([outcome(fetch(server.url)), outcome(fetch(server.url)), outcome(fetch(server.url))]);
      expect(answers.sort()).toEqual(["failed", "failed", "fine"]);
    } finally {
      await server.close();
    }
  });

  describe("on tessera's HTTP port", () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startServer();
    });
    afterAll(() => server.dispose());

    it("answers pipelined requests on one connection in order", async () => {
      const port = Number(new URL(server.httpUrl).port);
      const body = "grant_type=client_credentials";
      const request = (id: string) =>
        `POST /oidc/token HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${server.basic()}\r\n` +
        `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nx-request-id: ${id}\r\n\r\n${body}`;
      const ids = ["first-request-0001", "second-request-002", "third-request-0003"];
      const text = await exchange(port, ids.map(request).join(""), (t) => (t.match(/"expires_in"/g) ?? []).length === 3);
      const answers = text.split(/(?=HTTP\/1\.1 )/);
      expect(answers).toHaveLength(3);
      expect(answers.map((a) => /^x-request-id: (\S+)/im.exec(a)?.[1])).toEqual(ids);
      for (const a of answers) expect(a).toMatch(/^HTTP\/1\.1 200 OK/);
    });

    it("answers many concurrent callers, each with its own token", async () => {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          fetch(`${server.httpUrl}/oidc/token`, {
            method: "POST",
            headers: { authorization: server.basic(), "content-type": "application/x-www-form-urlencoded", "x-request-id": `concurrent-caller-${String(i).padStart(4, "0")}` },
            body: "grant_type=client_credentials",
          }).then(async (r) => ({ id: r.headers.get("x-request-id"), status: r.status, token: ((await r.json()) as { access_token: string }).access_token })),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
      expect(results.map((r) => r.id)).toEqual(results.map((_, i) => `concurrent-caller-${String(i).padStart(4, "0")}`));
      expect(new Set(results.map((r) => r.token)).size).toBe(40);
    });
  });
});
