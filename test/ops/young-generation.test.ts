import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tessera/v1/token_service_pb.js";
import { createGrpcClient } from "../helpers/grpc-client.js";
import { startProcess, type RunningProcess } from "../helpers/process.js";

/**
 * A token request's objects must die young. Two patterns once made V8 keep them until a full GC (every
 * request's objects promoted to the old generation, GC threads busy, fewer tokens per second): an object
 * literal with a getter (the HTTP handler context) and `{ ...object, more }` (the Connect answer's headers),
 * each of which gives every object a map of its own (docs/performance.md, "One map per object").
 * The server runs with a 1 MiB young generation and V8's GC trace, so a request's bytes that outlive it show
 * up in `promoted=` of the scavenges during a burst of calls through each door.
 */
const CALLS = 3000;
const WARM_UP = 600; // the maps appear once the code is optimized
const LIMIT_BYTES_PER_CALL = 300; // before the fix: HTTP ≈ 1,600, Connect ≈ 4,400; after: HTTP and Connect ≈ 50, gRPC ≈ 140

describe("the token doors leave nothing for the old generation", () => {
  let dataDir: string;
  let server: RunningProcess;
  let clientId: string;
  let clientSecret: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-young-"));
    server = await startProcess({ TESSERA_DATA_DIR: dataDir }, [process.execPath, "--min-semi-space-size=4", "--max-semi-space-size=4", "--trace-gc-nvp", "dist/src/main.js"]);
    ({ client_id: clientId, client_secret: clientSecret } = JSON.parse(readFileSync(join(dataDir, "bootstrap.json"), "utf8")) as {
      client_id: string;
      client_secret: string;
    });
  });

  afterAll(async () => {
    server?.child.kill("SIGTERM");
    await server?.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Bytes promoted by the scavenges while `calls` run (16 at a time), per call. */
  async function promotedPerCall(call: () => Promise<unknown>): Promise<{ perCall: number; scavenges: number }> {
    const burst = async (n: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next++ < n) await call();
        }),
      );
    };
    await burst(WARM_UP);
    const from = server.stdout().length;
    await burst(CALLS);
    let promoted = 0;
    let scavenges = 0;
    for (const line of server.stdout().slice(from).split("\n")) {
      if (!line.includes("gc=s ")) continue;
      scavenges += 1;
      promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? NaN);
    }
    return { perCall: promoted / CALLS, scavenges };
  }

  const basic = () => `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")}`;

  it("form POST /oidc/token", async () => {
    const { perCall, scavenges } = await promotedPerCall(async () => {
      const res = await fetch(`${server.httpUrl}/oidc/token`, {
        method: "POST",
        headers: { authorization: basic(), "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=client_credentials",
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    });
    expect(scavenges).toBeGreaterThan(5);
    expect(perCall).toBeLessThan(LIMIT_BYTES_PER_CALL);
  });

  it("IssueClientToken over Connect JSON", async () => {
    const client = createClient(TokenService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const { perCall, scavenges } = await promotedPerCall(async () => {
      const res = await client.issueClientToken({}, { headers: { authorization: basic() } });
      expect(res.accessToken).not.toBe("");
    });
    expect(scavenges).toBeGreaterThan(5);
    expect(perCall).toBeLessThan(LIMIT_BYTES_PER_CALL);
  });

  it("IssueClientToken over gRPC", async () => {
    const client = createGrpcClient(TokenService, `127.0.0.1:${server.grpcPort}`);
    try {
      const { perCall, scavenges } = await promotedPerCall(async () => {
        const res = await client.issueClientToken({}, { authorization: basic() });
        expect(res.accessToken).not.toBe("");
      });
      expect(scavenges).toBeGreaterThan(5);
      expect(perCall).toBeLessThan(LIMIT_BYTES_PER_CALL);
    } finally {
      client.close();
    }
  });
});
