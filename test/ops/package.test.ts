import { execFile, spawn } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
/** What `npm pack` needs from the checkout (prepack builds dist/ from these). */
const SOURCES = ["bin", "src", "gen", "scripts", "docs", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "README.md", "LICENSE"];

/*
 * `npm pack`, then `npm install <tarball>` into an empty folder, then the installed `tessera` bin.
 * The pack runs in a copy of the sources so that prepack's clean build never touches this checkout's
 * dist/ (other tests run from it). better-sqlite3's own install step compiles SQLite, which takes
 * 2-8 minutes on a busy 2-core machine: by default its addon is copied from this checkout instead
 * (same pinned version, same Node), TESSERA_PACKAGE_TEST_NATIVE_BUILD=1 lets npm build it.
 */
describe("the npm package", () => {
  let work: string;
  let tarball: string;
  let installed: string;
  let files: string[];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "tessera-pack-"));
    const source = join(work, "source");
    mkdirSync(source);
    for (const name of SOURCES) cpSync(join(ROOT, name), join(source, name), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(source, "node_modules"), "dir");
    const out = join(work, "out");
    mkdirSync(out);
    await run("npm", ["pack", "--pack-destination", out, "--json"], { cwd: source, maxBuffer: 16 << 20 });
    tarball = join(out, readdirSync(out).find((f) => f.endsWith(".tgz"))!);
    files = (await run("tar", ["tzf", tarball])).stdout.split("\n").filter((f) => f !== "");

    installed = join(work, "installed");
    mkdirSync(installed);
    writeFileSync(join(installed, "package.json"), JSON.stringify({ name: "tessera-install-test", private: true }));
    const native = process.env.TESSERA_PACKAGE_TEST_NATIVE_BUILD === "1";
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...(native ? [] : ["--ignore-scripts"]), tarball], {
      cwd: installed,
      maxBuffer: 16 << 20,
    });
    if (!native) {
      const release = join(installed, "node_modules/better-sqlite3/build/Release");
      mkdirSync(release, { recursive: true });
      copyFileSync(join(ROOT, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"), join(release, "better_sqlite3.node"));
    }
  }, 420_000);

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it("ships the compiled server and CLI, the license and docs, and no sources or tests", () => {
    expect(files).toEqual(
      expect.arrayContaining(["package/package.json", "package/LICENSE", "package/README.md", "package/bin/tessera.mjs", "package/dist/src/cli.js", "package/dist/src/main.js"]),
    );
    expect(files.some((f) => f.startsWith("package/dist/gen/tessera/v1/"))).toBe(true);
    expect(files.filter((f) => f.endsWith(".ts") || f.endsWith(".map") || f.startsWith("package/test/") || f.startsWith("package/src/"))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(installed, "node_modules/tessera/package.json"), "utf8")) as { license: string; bin: Record<string, string> };
    expect(manifest.license).toBe("Apache-2.0");
    expect(readFileSync(join(installed, "node_modules/tessera/LICENSE"), "utf8")).toContain("Apache License");
    // Installed as a dependency: no TypeScript, no build step.
    expect(existsSync(join(installed, "node_modules/typescript"))).toBe(false);
  });

  it("`tessera --help` lists the commands", async () => {
    const { stdout } = await run(join(installed, "node_modules/.bin/tessera"), ["--help"], { cwd: installed });
    expect(stdout).toMatch(/serve/);
    expect(stdout).toMatch(/backup/);
  });

  it("`tessera serve` issues a client_credentials token, flushes its spans and exits 0 on SIGTERM", async () => {
    const bodies: string[] = [];
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString("utf8")));
      req.on("end", () => {
        if (req.url === "/v1/traces") bodies.push(body);
        res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const dataDir = join(work, "data");
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OTEL_") && !k.startsWith("TESSERA_")));
    const child = spawn(join(installed, "node_modules/.bin/tessera"), ["serve"], {
      cwd: installed,
      env: {
        ...env,
        TESSERA_DATA_DIR: dataDir,
        TESSERA_HOST: "127.0.0.1",
        TESSERA_HTTP_PORT: "0",
        TESSERA_GRPC_PORT: "0",
        TESSERA_LOG_LEVEL: "warn",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        // Nothing is exported before the stop: what arrives was flushed by the SIGTERM handling.
        OTEL_BSP_SCHEDULE_DELAY: "600000",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    try {
      let stderr = "";
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      const port = await new Promise<number>((resolvePort, reject) => {
        child.stderr!.on("data", (c: Buffer) => {
          stderr += c.toString("utf8");
          const m = /serving HTTP on [^ ]+:(\d+)/.exec(stderr);
          if (m) resolvePort(Number(m[1]));
        });
        void exited.then((code) => reject(new Error(`tessera exited ${code}: ${stderr}`)));
      });
      const bootstrap = JSON.parse(readFileSync(join(dataDir, "bootstrap.json"), "utf8")) as { client_id: string; client_secret: string };
      const res = await fetch(`http://127.0.0.1:${port}/oidc/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", client_id: bootstrap.client_id, client_secret: bootstrap.client_secret }),
      });
      expect(res.status).toBe(200);
      const token = ((await res.json()) as { access_token: string }).access_token;
      expect(token.split(".")).toHaveLength(3);
      expect(bodies).toEqual([]);

      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      const exported = bodies.join("\n");
      expect(exported).toContain("POST /oidc/token");
      expect(exported).toContain("tessera.token.issue");
      expect(exported).not.toContain(bootstrap.client_secret);
      expect(exported).not.toContain(token);
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => receiver.close(r));
    }
  }, 60_000);
});
