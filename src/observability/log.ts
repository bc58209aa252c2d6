import pino, { type DestinationStream, type Logger } from "pino";
import { workerIndex } from "../cluster.js";
import type { Config } from "../config.js";

export type { Logger };

/**
 * Paths pino blanks in every line, as a second line of defence: tessera never passes a header
 * map, a request body or a credential to the logger in the first place.
 */
const REDACT = [
  "authorization",
  "cookie",
  "*.authorization",
  "*.cookie",
  "*.headers.authorization",
  "*.headers.cookie",
  "*.password",
  "*.client_secret",
  "*.refresh_token",
  "*.access_token",
  "*.code",
];

/**
 * The process logger: JSON lines on stdout (or `destination`, for tests), level from
 * TESSERA_LOG_LEVEL, pino-pretty only when stdout is a terminal.
 */
export function createLogger(level: Config["logLevel"], destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    // `name`, not `service`: rpc lines have a `service` field of their own (the RPC service).
    base: workerIndex() === undefined ? { name: "tessera" } : { name: "tessera", worker: workerIndex() },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: "[redacted]" },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (destination !== undefined) return pino(options, destination);
  if (process.stdout.isTTY === true && level !== "silent") {
    return pino(Object.assign({}, options, { formatters: undefined, transport: { target: "pino-pretty", options: { colorize: true } } }));
  }
  return pino(options);
}

/** An unexpected error as log fields: its class and stack, never the request that caused it. */
export function errorFields(err: unknown): { err_name: string; stack?: string } {
  if (err instanceof Error) return { err_name: err.name, ...(err.stack === undefined ? {} : { stack: err.stack }) };
  return { err_name: typeof err };
}
