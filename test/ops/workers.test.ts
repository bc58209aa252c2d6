import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loggedWorkers, root, runToExit, startProcess, type RunningProcess } from "../helpers/process.js";
import { tempDataDir } from "../helpers/server.js";

// TESSERA_WORKERS: one primary, N workers sharing both ports and one SQLite file (CONTRACT §7).

const BOOT_ID = "boot-workers";
const BOOT_SECRET = "boot-workers-secret-0123456789abcdef0123456789";

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

/** Child process ids of `pid` (its workers), from /proc. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l !== "")
      .map(Number);
  } catch {
    return [];
  }
}

describe("TESSERA_WORKERS=2 on SQLite", () => {
  let proc: RunningProcess;
  let dataDir: string;
  let clientAuth: string;
  let clientToken: string;

  const token = (auth: string) =>
    fetch(`${proc.httpUrl}/oidc/token`, {
      method: "POST",
      headers: { authorization: `Basic ${auth}`, "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials",
    });
  const admin = async (path: string, body: unknown, bearer: string) => {
    const res = await fetch(`${proc.httpUrl}/${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status, path).toBe(200);
    return json(res);
  };
  const cis = (path: string, body: unknown) =>
    fetch(`${proc.httpUrl}/cis/v1/auth/${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${clientToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { cwd: root, stdio: "inherit" });
    dataDir = tempDataDir();
    proc = await startProcess({
      TESSERA_DATA_DIR: dataDir,
      TESSERA_WORKERS: "2",
      TESSERA_LOG_LEVEL: "info",
      TESSERA_BOOTSTRAP_CLIENT_ID: BOOT_ID,
      TESSERA_BOOTSTRAP_CLIENT_SECRET: BOOT_SECRET,
    });
    const boot = (await json(await token(Buffer.from(`${BOOT_ID}:${BOOT_SECRET}`).toString("base64")))).access_token as string;
    const app = (await admin("tessera.v1.ApplicationAdminService/CreateApplication", { application: { displayName: "Workers" } }, boot)).application as {
      id: string;
    };
    const created = await admin("tessera.v1.ApplicationAdminService/CreateClient", { client: { applicationId: app.id, displayName: "backend" } }, boot);
    const client = created.client as { id: string };
    clientAuth = Buffer.from(`${client.id}:${created.clientSecret as string}`).toString("base64");
    await admin("tessera.v1.UserAdminService/CreateUser", { user: { username: "wanda", applicationIds: [app.id] }, password: "worker password 1" }, boot);
    clientToken = (await json(await token(clientAuth))).access_token as string;
  }, 120_000);

  afterAll(async () => {
    if (proc.child.exitCode === null) {
      proc.child.kill("SIGKILL");
      await proc.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs a primary with two worker processes and prints one serving line", () => {
    expect(childrenOf(proc.child.pid!)).toHaveLength(2);
    expect(proc.stderr().match(/serving HTTP/g)).toHaveLength(1);
    expect(proc.stderr()).toContain("2 workers");
  });

  it("64 concurrent client_credentials requests all succeed, served by both workers", async () => {
    const answers = await Promise.all(Array.from({ length: 64 }, () => token(clientAuth)));
    expect(answers.map((r) => r.status)).toEqual(Array(64).fill(200));
    await new Promise((r) => setTimeout(r, 200)); // log lines are flushed asynchronously
    expect(loggedWorkers(proc.stdout(), "/oidc/token")).toEqual([0, 1]);
  });

  it("the gRPC port on every worker: a token call and a health check (passed to that worker's grpc-js) on 8 connections", async () => {
    const grpc = await import("@grpc/grpc-js");
    const call = (client: InstanceType<typeof grpc.Client>, path: string, metadata: InstanceType<typeof grpc.Metadata>) =>
      new Promise<{ code: number; bytes: number }>((resolve) =>
        client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), metadata, (err, value) =>
          resolve({ code: err?.code ?? 0, bytes: value?.length ?? 0 }),
        ),
      );
    const results: Array<{ code: number; bytes: number }> = [];
    for (let i = 0; i < 8; i++) {
      // A channel of its own each: a new connection, handed to the workers in turn.
      const client = new grpc.Client(`127.0.0.1:${proc.grpcPort}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
      const auth = new grpc.Metadata();
      auth.set("authorization", `Basic ${clientAuth}`);
      results.push(await call(client, "/tessera.v1.TokenService/IssueClientToken", auth));
      results.push(await call(client, "/grpc.health.v1.Health/Check", new grpc.Metadata()));
      client.close();
    }
    expect(results.map((r) => r.code)).toEqual(Array(16).fill(0));
    expect(results.filter((_, i) => i % 2 === 0).every((r) => r.bytes > 100)).toBe(true);
  });

  it("20 concurrent refreshes of one token across the workers: exactly one 200", async () => {
    const login = await cis("password/authenticate", { username: "wanda", password: "worker password 1" });
    expect(login.status).toBe(200);
    const refreshToken = (await json(login)).refresh_token as string;
    const answers = await Promise.all(Array.from({ length: 20 }, () => cis("token/refresh", { refresh_token: refreshToken })));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(19);
    for (const r of answers.filter((a) => a.status === 400)) expect((await json(r)).error).toBe("invalid_grant");
    expect(proc.stdout()).not.toContain("SQLITE_BUSY");
  });

  it("/metrics counts the requests of every worker", async () => {
    const text = await (await fetch(`${proc.httpUrl}/metrics`)).text();
    const tokenRequests = text
      .split("\n")
      .filter((l) => l.startsWith("tessera_http_requests_total{") && l.includes('route="/oidc/token"') && l.includes('status="200"'))
      .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
    // 2 in beforeAll + 64 above, whichever worker answered them.
    expect(tokenRequests).toBe(66);
  });

  it("a worker killed with SIGKILL is restarted and the service keeps answering", async () => {
    const [victim] = childrenOf(proc.child.pid!);
    process.kill(victim!, "SIGKILL");
    const deadline = Date.now() + 30_000;
    while (!/worker \d exited \(SIGKILL\); restarting/.test(proc.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(proc.stderr()).toMatch(/worker \d exited \(SIGKILL\); restarting/);
    const answers = await Promise.all(Array.from({ length: 8 }, () => token(clientAuth)));
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
    while (!/worker \d restarted/.test(proc.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const children = childrenOf(proc.child.pid!);
    expect(children).toHaveLength(2);
    expect(children).not.toContain(victim);
  }, 60_000);

  it("SIGTERM stops every worker gracefully and the primary exits 0", async () => {
    const pid = proc.child.pid!;
    const workers = childrenOf(pid);
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    for (const w of workers) expect(() => process.kill(w, 0)).toThrow();
  }, 30_000);
});

describe("TESSERA_WORKERS configuration", () => {
  it.each(["0", "many", "257"])("TESSERA_WORKERS=%s exits 2 with one line naming it", async (value) => {
    const { code, stderr } = await runToExit({ TESSERA_DATA_DIR: tempDataDir(), TESSERA_WORKERS: value });
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("TESSERA_WORKERS");
  });

  it("workers that cannot listen (port in use) stop the primary with exit 2", async () => {
    const blocker = createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve((blocker.address() as { port: number }).port)));
    try {
      const { code, stderr } = await runToExit({ TESSERA_DATA_DIR: tempDataDir(), TESSERA_WORKERS: "2", TESSERA_HTTP_PORT: String(port), TESSERA_GRPC_PORT: "0" });
      expect(code).toBe(2);
      expect(stderr).toContain("TESSERA_HTTP_PORT");
    } finally {
      blocker.close();
    }
  });
});
