import { execFile, execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, TestClock, type TestServer } from "../helpers/server.js";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Result> {
  return new Promise((done) => {
    execFile(file, args, { cwd: opts.cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env }, timeout: 180_000 }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}
/** The built CLI, as an operator runs it. */
const tessera = (args: string[], env: Record<string, string>) => exec(process.execPath, ["dist/src/cli.js", ...args], { env });
const json = <T>(r: Result): T => {
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
};

beforeAll(() => {
  execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
}, 120_000);

describe("tessera CLI: list commands and resources", () => {
  let server: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    server = await startServer({ clock: new TestClock(Date.now()) });
    env = { TESSERA_DATA_DIR: server.dataDir };
  });
  afterAll(() => server.dispose());

  it("resource create and list; app, client and user list show what was created", async () => {
    const resource = json<Record<string, unknown>>(await tessera(["resource", "create", "https://orders.example/api", "--name", "Orders", "--access-token-ttl", "5m", "--json"], env));
    expect(resource).toMatchObject({ uri: "https://orders.example/api", display_name: "Orders", access_token_ttl: 300, refresh_token_ttl: null, max_rotation: null, default: false });
    const resources = json<{ uri: string; default: boolean }[]>(await tessera(["resource", "list", "--json"], env));
    expect(resources.map((r) => [r.uri, r.default]).sort()).toEqual([["https://orders.example/api", false], ["userid-api", true]]);

    const app = json<{ id: string }>(await tessera(["app", "create", "Shop", "--json"], env));
    const client = json<{ client_id: string }>(await tessera(["client", "create", app.id, "--resource", resource.id as string, "--json"], env));
    const user = await tessera(["user", "create", "bob", "--app", app.id, "--json"], env);
    expect(user.code).toBe(0);

    const apps = json<{ id: string; management: boolean }[]>(await tessera(["app", "list", "--json"], env));
    expect(apps.find((a) => a.id === app.id)).toMatchObject({ management: false, display_name: "Shop" });
    expect(apps.filter((a) => a.management)).toHaveLength(1);

    const clients = json<Record<string, unknown>[]>(await tessera(["client", "list", "--app", app.id, "--json"], env));
    expect(clients).toEqual([expect.objectContaining({ id: client.client_id, application_id: app.id, resource_ids: [resource.id], access_token_ttl: null, previous_secret_expire_time: null })]);
    expect(JSON.stringify(clients)).not.toMatch(/secret_hash|client_secret"/);
    const all = json<{ id: string }[]>(await tessera(["client", "list", "--json"], env));
    expect(all.map((c) => c.id)).toEqual(expect.arrayContaining([client.client_id, server.bootstrap.client_id]));

    const users = json<Record<string, unknown>[]>(await tessera(["user", "list", "--app", app.id, "--json"], env));
    expect(users).toEqual([expect.objectContaining({ username: "bob", email: null, application_ids: [app.id] })]);

    const human = await tessera(["resource", "list"], env);
    expect(human.stdout).toMatch(/\tuserid-api\t\(default\)/);
    expect((await tessera(["user", "list", "--app", app.id], env)).stdout).toMatch(/\tbob\t-\n/);
  }, 120_000);

  it("--json writes null, not \"-\", for absent values", async () => {
    const keys = json<Record<string, unknown>[]>(await tessera(["keys", "list", "--json"], env));
    const active = keys.find((k) => k.state === "active")!;
    expect(active.retire_time).toBeNull();
    expect(JSON.stringify(keys)).not.toContain('"-"');
    expect((await tessera(["keys", "list"], env)).stdout).toContain("retires -");
  });

  it("resource create refuses a relative URI with exit 2", async () => {
    const bad = await tessera(["resource", "create", "not-a-uri"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("resource.uri");
  });
});

describe("npx tessera in a source checkout before any build", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-checkout-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("builds dist/ first, then runs the command", async () => {
    for (const entry of ["src", "gen", "scripts", "bin", "package.json", "tsconfig.json", "tsconfig.build.json"]) {
      if (existsSync(entry)) cpSync(entry, join(dir, entry), { recursive: true });
    }
    symlinkSync(resolve("node_modules"), join(dir, "node_modules"));
    expect(existsSync(join(dir, "dist"))).toBe(false);
    const r = await exec("npx", ["--offline", "tessera", "--help"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: tessera <command>/);
    expect(r.stdout).toContain("resource list");
    expect(existsSync(join(dir, "dist", "src", "cli.js"))).toBe(true);
  }, 200_000);
});
