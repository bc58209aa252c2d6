import { ConfigError, loadConfig } from "./config.js";
import { BOOTSTRAP_FILE } from "./core/bootstrap.js";
import { loadTracing } from "./observability/tracing-config.js";
import { buildApp, type App } from "./server.js";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** `npm start`: one process serving the HTTP gateway and gRPC until SIGTERM/SIGINT. */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
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
  try {
    const config = loadConfig(env);
    const tracing = await loadTracing(env);
    app = buildApp(config, tracing === undefined ? {} : { tracing });
    const ports = await app.start();
    if (app.bootstrapCredentials !== undefined) {
      process.stderr.write(
        `tessera: first start; bootstrap management client (also in ${join(config.dataDir, BOOTSTRAP_FILE)}):\n` +
          `${JSON.stringify(app.bootstrapCredentials)}\n`,
      );
    }
    process.stderr.write(`tessera: serving HTTP on ${config.host}:${ports.http} and gRPC on ${config.host}:${ports.grpc}, issuer ${app.core.issuer}\n`);
  } catch (err) {
    await app?.stop(0).catch(() => undefined);
    if (err instanceof ConfigError) {
      process.stderr.write(`tessera: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (signalled !== undefined) stopAndExit(app, signalled);
}

/** Stops accepting, lets in-flight calls finish, closes the database, flushes spans and exits 0 (1 if that fails or takes over 9.5 s). */
function stopAndExit(app: App, signal: string): void {
  process.stderr.write(`tessera: ${signal} received, stopping\n`);
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
