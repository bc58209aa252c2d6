import cluster from "node:cluster";
import { loadTracing } from "./observability/tracing-config.js";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { announceListening, joinCluster, Supervisor, workerIndex } from "./cluster.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { BOOTSTRAP_FILE, type BootstrapCredentials } from "./core/bootstrap.js";
import { buildApp, type App } from "./server.js";

/** `npm start`: serves the HTTP gateway and gRPC until SIGTERM/SIGINT, itself or from TESSERA_WORKERS workers. */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    exitOnConfigError(err);
    throw err;
  }
  if (config.workers > 1 && cluster.isPrimary) return supervise(config);
  return serveHere(config, env);
}

/** One process (or one worker) serving both ports. */
async function serveHere(config: Config, env: NodeJS.ProcessEnv): Promise<void> {
  let app: App | undefined;
  let signalled: string | undefined;
  const shutdown = (signal: string) => {
    if (signalled !== undefined) return;
    signalled = signal;
    // Still starting: the start path sees `signalled` and stops once the listeners are up.
    if (app === undefined || !app.healthy()) return;
    stopAndExit(app, signal);
  };
  // Handlers go in before anything is announced: a signal right after the "serving" line must not
  // meet the default action (immediate death) instead of a graceful stop.
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  const worker = workerIndex();
  try {
    const tracing = await loadTracing(env);
    app = await buildApp(config, tracing === undefined ? {} : { tracing });
    if (worker !== undefined) joinCluster({ registry: app.observer.metrics.registry });
    // Sweeps and scheduled key rotation run in one worker only (its slot is refilled after a crash).
    const ports = await app.start({ backgroundJobs: worker === undefined || worker === 0 });
    if (worker !== undefined) announceListening(ports, app.core.issuer);
    else {
      printBootstrap(config, await app.takeBootstrapAnnouncement());
      process.stderr.write(`tessera: serving HTTP on ${config.host}:${ports.http} and gRPC on ${config.host}:${ports.grpc}, issuer ${app.core.issuer}\n`);
    }
  } catch (err) {
    await app?.stop(0).catch(() => undefined);
    exitOnConfigError(err);
    throw err;
  }
  if (signalled !== undefined) stopAndExit(app, signalled);
}

/**
 * The primary of TESSERA_WORKERS: prepares the data once (migrations, keys, bootstrap) so workers
 * never race on an empty data directory, then forks the workers and supervises them.
 */
async function supervise(config: Config): Promise<void> {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const supervisor = new Supervisor({ workers: config.workers, say });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`tessera: ${signal} received, stopping ${config.workers} workers`);
    supervisor.stop(9000).then(
      (clean) => process.exit(clean ? 0 : 1),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  let app: App;
  try {
    app = await buildApp(config);
  } catch (err) {
    exitOnConfigError(err);
    throw err;
  }
  if (stopping) return;
  try {
    const up = await supervisor.start();
    // Printed once the workers serve, like a single process does (a failed first start prints them next time).
    printBootstrap(config, await app.takeBootstrapAnnouncement());
    await app.stop(0);
    say(`tessera: serving HTTP on ${config.host}:${up.http} and gRPC on ${config.host}:${up.grpc}, issuer ${up.issuer}, ${config.workers} workers`);
  } catch (code) {
    await app.stop(0).catch(() => undefined);
    say(`tessera: a worker failed to start; stopping`);
    process.exit(typeof code === "number" && code !== 0 ? code : 1);
  }
}

function printBootstrap(config: Config, creds: BootstrapCredentials | undefined): void {
  if (creds === undefined) return;
  process.stderr.write(`tessera: first start; bootstrap management client (also in ${join(config.dataDir, BOOTSTRAP_FILE)}):\n${JSON.stringify(creds)}\n`);
}

function exitOnConfigError(err: unknown): void {
  if (err instanceof ConfigError) {
    process.stderr.write(`tessera: configuration error: ${err.message}\n`);
    process.exit(2);
  }
}

/** Stops accepting, lets in-flight calls finish, closes the database, flushes spans and exits 0 (1 if that fails or takes over 9.5 s). */
function stopAndExit(app: App, signal: string): void {
  if (workerIndex() === undefined) process.stderr.write(`tessera: ${signal} received, stopping\n`);
  const hard = setTimeout(() => process.exit(1), 9500);
  hard.unref();
  app.stop(8000).then(
    () => process.exit(0),
    () => process.exit(1),
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  serve().catch((err: unknown) => {
    process.stderr.write(`tessera: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
