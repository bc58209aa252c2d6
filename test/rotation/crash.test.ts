import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { createApplication, createClient, createUser } from "../helpers/fixtures.js";
import { databaseEnv, postForm, startServer, tempDataDir, TestClock, type TestServer } from "../helpers/server.js";
import { rotateChains } from "../helpers/tokens.js";

const CHAINS = 16;
const LEEWAY = 120;

/** `node dist/src/main.js` on the data dir; resolves with its HTTP base URL once it serves. */
function spawnTessera(dataDir: string, dbEnv: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["dist/src/main.js"], {
    env: {
      ...process.env,
      ...dbEnv,
      TESSERA_DATA_DIR: dataDir,
      TESSERA_HTTP_PORT: "0",
      TESSERA_GRPC_PORT: "0",
      TESSERA_SYNCHRONOUS: "FULL",
      TESSERA_LOG_LEVEL: "silent",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      const m = /serving HTTP on [^:]+:(\d+)/.exec(err);
      if (m) resolve({ child, url: `http://127.0.0.1:${m[1]}` });
    });
    child.on("exit", (code) => reject(new Error(`tessera exited with ${code}: ${err}`)));
  });
}

describe("crash safety", () => {
  const dataDir = tempDataDir();
  let server: TestServer | undefined;
  let child: ChildProcess | undefined;
  afterAll(async () => {
    child?.kill("SIGKILL");
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("after SIGKILL mid-load, the newest token of every chain works and no consumed token does", async () => {
    execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
    // Fixtures through an in-process server on the same data dir, with the real clock (as the child has).
    const dbEnv = await databaseEnv();
    const setup = await startServer({ dataDir, env: dbEnv, clock: new TestClock(Date.now()) });
    const appId = await createApplication(setup.app);
    const { clientId, clientSecret } = await createClient(setup.app, appId, { reuseLeeway: LEEWAY });
    const user = await createUser(setup.app, { applicationIds: [appId] });
    const basic = setup.basic(clientId, clientSecret);
    await setup.stop();

    const started = await spawnTessera(dataDir, dbEnv);
    child = started.child;
    const cc = await postForm(`${started.url}/oidc/token`, { grant_type: "client_credentials" }, basic);
    const bearer = ((await cc.json()) as { access_token: string }).access_token;
    const chains: string[][] = await Promise.all(
      Array.from({ length: CHAINS }, async () => {
        const res = await fetch(`${started.url}/cis/v1/auth/password/authenticate`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
          body: JSON.stringify({ username: user.username, password: user.password }),
        });
        expect(res.status).toBe(200);
        return [((await res.json()) as { refresh_token: string }).refresh_token];
      }),
    );

    // Every chain refreshes as fast as it can; each 200's token is the chain's newest.
    const load = rotateChains(chains, (token) => postForm(`${started.url}/oidc/token`, { grant_type: "refresh_token", refresh_token: token }, basic));
    // Kill mid-load once every chain has rotated a few times.
    await load.until(CHAINS * 5);
    load.stop();
    child.kill("SIGKILL");
    await load.done;
    expect(load.rotated()).toBeGreaterThanOrEqual(CHAINS * 5);

    server = await startServer({ dataDir, env: dbEnv, clock: new TestClock(Date.now()) });
    const refresh = async (token: string) =>
      (await postForm(`${server!.httpUrl}/oidc/token`, { grant_type: "refresh_token", refresh_token: token }, server!.basic(clientId, clientSecret))).status;
    for (const chain of chains) {
      // The newest works: rotated now, or (if its refresh committed but the answer was lost to the kill) retried inside the leeway.
      expect(await refresh(chain.at(-1)!)).toBe(200);
      // Every older token is consumed, and its successor too: none works (and the first attempt revokes the family).
      for (const old of chain.slice(0, -1)) expect(await refresh(old)).toBe(400);
    }
  }, 90_000);
});
