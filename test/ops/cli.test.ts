import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOOTSTRAP_FILE } from "../../src/core/bootstrap.js";
import { SECRET_KEY_FILE } from "../../src/core/secrets.js";
import { DATABASE_FILE } from "../../src/storage/sqlite/database.js";
import { MIGRATIONS } from "../../src/storage/sqlite/migrations.js";
import { createApplication, createClient } from "../helpers/fixtures.js";
import { clientToken, jwtHeader, startServer, tempDataDir, TestClock, type TestServer } from "../helpers/server.js";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI like an operator would. */
function tessera(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["dist/src/cli.js", ...args], { env: { PATH: process.env.PATH, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}
const json = <T>(r: Result): T => {
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
};

beforeAll(() => {
  execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
});

describe("tessera CLI: usage", () => {
  it("--help lists every command, backup among them", async () => {
    const r = await tessera(["--help"]);
    expect(r.code).toBe(0);
    for (const c of ["serve", "tenant create <name>", "tenant list", "app create", "client create", "client rotate-secret", "user create", "keys list", "keys rotate", "backup <file>", "migrate"]) expect(r.stdout).toContain(c);
  });

  it("each command has --help", async () => {
    const r = await tessera(["keys", "rotate", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("usage: tessera keys rotate");
    expect(r.stdout).toContain("--alg");
  });

  it("a command group's --help lists its commands", async () => {
    const r = await tessera(["client", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("tessera client create <application-id>");
    expect(r.stdout).toContain("tessera client rotate-secret <client-id>");
    expect(r.stdout).not.toContain("tenant");
  });

  it.each([
    [["frobnicate"], /unknown command "frobnicate"/],
    [["--data-dir", "/tmp/x", "tenant", "list"], /unknown command "\/tmp\/x tenant list" \(command words come first, options after them\)/],
    [[], /usage: tessera <command>/],
    [["tenant"], /unknown command "tenant"/],
    [["tenant", "create"], /expected <name>, got none/],
    [["tenant", "list", "--bogus"], /Unknown option '--bogus'/],
    [["tenant", "create", "Not A Name", "--data-dir", "."], /tenant name must be/],
    [["keys", "rotate", "--alg", "HS256"], /--alg must be ES256, EdDSA, RS256/],
    [["migrate", "--to", "x"], /--to must be a whole number/],
  ])("%j is a usage error: exit 2", async (args, message) => {
    const dir = tempDataDir();
    try {
      const r = await tessera(args, { TESSERA_DATA_DIR: dir });
      expect(r.code).toBe(2);
      expect(`${r.stdout}${r.stderr}`).toMatch(message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a data dir without a database is a failure (exit 1) that names the directory", async () => {
    const dir = tempDataDir();
    const r = await tessera(["tenant", "list"], { TESSERA_DATA_DIR: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no tessera database in ${dir}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it("migrate creates the schema, goes down with --to and up again", async () => {
    const dir = tempDataDir();
    try {
      const latest = MIGRATIONS.length;
      expect(json(await tessera(["migrate", "--json", "--data-dir", dir]))).toEqual({ from: 0, to: latest });
      expect(json(await tessera(["migrate", "--to", "0", "--json", "--data-dir", dir]))).toEqual({ from: latest, to: 0 });
      expect((await tessera(["migrate", "--data-dir", dir])).stdout).toContain(`from version 0 to ${latest}`);
      expect((await tessera(["migrate", "--data-dir", dir])).stdout).toContain(`already at version ${latest}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("tessera CLI next to a running server", () => {
  let server: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    // The CLI runs on the system clock; the server's must agree for key states.
    server = await startServer({ clock: new TestClock(Date.now()) });
    env = { TESSERA_DATA_DIR: server.dataDir };
  });
  afterAll(() => server.dispose());

  it("tenant create and list", async () => {
    expect(json(await tessera(["tenant", "create", "acme", "--json"], env))).toMatchObject({ id: "acme", name: "acme" });
    const dup = await tessera(["tenant", "create", "acme"], env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('tenant "acme" already exists');
    const list = json<{ id: string }[]>(await tessera(["tenant", "list", "--json"], env));
    // Listed by creation second, then id: both may share a second, so compare as sets.
    expect(list.map((t) => t.id).sort()).toEqual(["acme", "default"]);
    const human = (await tessera(["tenant", "list"], env)).stdout.trim().split("\n");
    expect(human.map((line) => line.split("\t")[0]).sort()).toEqual(["acme", "default"]);
    // The server sees the new tenant's rows (same database).
    expect(await server.app.core.storage.tenants.get("acme")).toBeDefined();
  });

  it("app create, client create and user create set up a working backend login; client rotate-secret replaces the secret", async () => {
    const app = json<{ id: string; management: boolean }>(await tessera(["app", "create", "Shop", "--json"], env));
    expect(app.management).toBe(false);
    const client = json<{ client_id: string; client_secret: string }>(await tessera(["client", "create", app.id, "--name", "Shop backend", "--json"], env));
    expect(client.client_secret.length).toBeGreaterThanOrEqual(43);
    const user = await new Promise<Result>((resolve) => {
      const child = execFile(
        process.execPath,
        ["dist/src/cli.js", "user", "create", "alice", "--app", app.id, "--password-stdin", "--json"],
        { env: { PATH: process.env.PATH, ...env } },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : 1, stdout, stderr }),
      );
      child.stdin!.end("correct horse battery staple\n");
    });
    expect(json<{ username: string; application_ids: string[] }>(user)).toMatchObject({ username: "alice", application_ids: [app.id] });

    // The running server authenticates the CLI-made client and user.
    const bearer = await clientToken(server, {}, server.basic(client.client_id, client.client_secret));
    const login = await fetch(`${server.httpUrl}/cis/v1/auth/password/authenticate`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ username: "alice", password: "correct horse battery staple" }),
    });
    expect(login.status).toBe(200);

    const rotated = json<{ client_id: string; client_secret: string }>(await tessera(["client", "rotate-secret", client.client_id, "--json"], env));
    expect(rotated.client_secret).not.toBe(client.client_secret);
    await expect(clientToken(server, {}, server.basic(client.client_id, client.client_secret))).rejects.toThrow(/401/);
    await clientToken(server, {}, server.basic(client.client_id, rotated.client_secret));

    const bad = await tessera(["client", "create", "app_missing"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("app_missing");
    expect((await tessera(["app", "create", "X", "--tenant", "nope"], env)).stderr).toContain('tenant "nope" does not exist');
  });

  it("keys rotate: the running server signs with the new key once its announce period passed; --alg RS256 adds an RSA key", async () => {
    const before = json<{ kid: string; state: string }[]>(await tessera(["keys", "list", "--json"], env));
    expect(before.map((k) => k.state)).toEqual(["active"]);
    const rotated = json<{ kid: string; algorithm: string; state: string }>(await tessera(["keys", "rotate", "--json"], env));
    expect(rotated).toMatchObject({ algorithm: "ES256", state: "pending" });
    const rsa = json<{ kid: string; algorithm: string; state: string }>(await tessera(["keys", "rotate", "--alg", "RS256", "--json"], env));
    expect(rsa).toMatchObject({ algorithm: "RS256", state: "pending" });
    server.clock.ms = Date.now() + 61_000; // the server's clock passes the CLI's announce period (60 s, the JWKS max-age)
    const token = await clientToken(server);
    expect(jwtHeader(token)).toMatchObject({ kid: rotated.kid, alg: "ES256" });
    const after = json<{ kid: string; state: string }[]>(await tessera(["keys", "list", "--json"], env));
    // The CLI reads states at the real clock, where the announce period has not passed yet.
    expect(Object.fromEntries(after.map((k) => [k.kid, k.state]))).toEqual({ [before[0]!.kid]: "active", [rotated.kid]: "pending", [rsa.kid]: "pending" });
  });

  it("backup while serving restores to a working server with the same clients and keys", async () => {
    const appId = await createApplication(server.app);
    const extra = await createClient(server.app, appId);
    const kid = jwtHeader(await clientToken(server)).kid;
    const out = mkdtempSync(join(tmpdir(), "tessera-backup-"));
    const file = join(out, "tessera-backup.db");
    // Writes and token requests keep going while the backup runs.
    let writing = true;
    const load = (async () => {
      let n = 0;
      while (writing) {
        await clientToken(server);
        if (n++ % 5 === 0) await createApplication(server.app, { displayName: `busy ${n}` });
      }
    })();
    const r = await tessera(["backup", file, "--json"], env);
    writing = false;
    await load;
    expect(json<{ file: string; bytes: number }>(r)).toMatchObject({ file, bytes: statSync(file).size });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await tessera(["backup", file], env)).code).toBe(1);

    const restored = mkdtempSync(join(tmpdir(), "tessera-restore-"));
    copyFileSync(file, join(restored, DATABASE_FILE));
    copyFileSync(join(server.dataDir, SECRET_KEY_FILE), join(restored, SECRET_KEY_FILE));
    copyFileSync(join(server.dataDir, BOOTSTRAP_FILE), join(restored, BOOTSTRAP_FILE));
    const second = await startServer({ dataDir: restored, clock: server.clock });
    try {
      expect(second.app.bootstrapCredentials).toBeUndefined();
      expect(jwtHeader(await clientToken(second)).kid).toBe(kid);
      expect(jwtHeader(await clientToken(second, {}, second.basic(extra.clientId, extra.clientSecret))).kid).toBe(kid);
      expect(await second.app.core.storage.tenants.get("acme")).toBeDefined();
    } finally {
      await second.dispose();
      rmSync(out, { recursive: true, force: true });
    }
    expect(existsSync(restored)).toBe(false);
  });
});
