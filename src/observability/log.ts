import pino, { type DestinationStream, type Logger } from "pino";
import { workerIndex } from "../cluster.js";
import { answerAtEndOfTurn, type Answer } from "../transport/end-of-turn.js";
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

/** The process's two loggers, writing to one stream: `log` for everything, `access` for the per-request lines. */
export interface Loggers {
  log: Logger;
  access: AccessLog;
}

/** Fields of an access line: scalars only; undefined ones are left out, as pino leaves them out. */
export type AccessFields = Record<string, string | number | undefined>;

/** What the Observer needs of a logger for its access lines: an AccessLog, or (in tests) any pino Logger. */
export interface AccessLogger {
  isLevelEnabled(level: "info"): boolean;
  info(fields: AccessFields, msg: string): void;
}

/**
 * The process loggers: JSON lines on stdout (or `destination`, for tests), level from TESSERA_LOG_LEVEL,
 * pino-pretty only when stdout is a terminal.
 */
export function createLoggers(level: Config["logLevel"], destination?: DestinationStream): Loggers {
  const worker = workerIndex();
  const options: pino.LoggerOptions = {
    level,
    // `name`, not `service`: rpc lines have a `service` field of their own (the RPC service).
    base: worker === undefined ? { name: "tessera" } : { name: "tessera", worker },
    timestamp: () => `,"time":"${isoTime(Date.now())}"`,
    redact: { paths: REDACT, censor: "[redacted]" },
    formatters: { level: (label) => ({ level: label }) },
  };
  let stream = destination;
  let levelField = '"level":"info"';
  if (stream === undefined && process.stdout.isTTY === true && level !== "silent") {
    stream = pino.transport({ target: "pino-pretty", options: { colorize: true } }) as DestinationStream;
    // pino-pretty reads pino's numeric levels: the label formatter is for JSON lines.
    delete options.formatters;
    levelField = `"level":${pino.levels.values.info}`;
  }
  // pino's own default (SonicBoom on stdout, asynchronous writes), handed a turn's lines at once.
  stream ??= new TurnBatchedStream(pino.destination({ dest: process.stdout.fd || 1, sync: false }));
  const log = pino(options, stream);
  const bindings = `,"name":"tessera"${worker === undefined ? "" : `,"worker":${worker}`}`;
  return { log, access: new AccessLog(stream, log.isLevelEnabled("info"), `{${levelField}`, bindings) };
}

/**
 * The access lines, one per HTTP request and per RPC, in pino's format (`{"level":"info","time":…,"name":"tessera",
 * <fields>,"msg":…}`, test/ops/access-log.test.ts compares the two), written to the same stream.
 *
 * The Observer builds them from scalars it chooses (ids, names, codes, durations): no path of REDACT can occur in
 * them, so they skip redaction, and a line of known scalars needs none of pino's per-line generic work. Through pino
 * an access line cost 41 µs with redaction (its wildcard paths walk every field of every line) and 8 µs without;
 * this writes one in about 2 µs (docs/performance.md, "sixth session").
 */
export class AccessLog implements AccessLogger {
  constructor(
    private readonly stream: DestinationStream,
    private readonly enabled: boolean,
    /** `{"level":"info"` (or pino-pretty's numeric level). */
    private readonly head: string,
    /** The logger's bindings: `,"name":"tessera"` and the worker's index. */
    private readonly bindings: string,
    private readonly now: () => number = Date.now,
  ) {}

  isLevelEnabled(level: "info"): boolean {
    return level === "info" && this.enabled;
  }

  info(fields: AccessFields, msg: string): void {
    if (!this.enabled) return;
    let line = `${this.head},"time":"${isoTime(this.now())}"${this.bindings}`;
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined) continue;
      // Keys are tessera's own field names (no escaping needed); JSON has no NaN or Infinity: pino writes null.
      line += `,"${key}":${typeof value === "number" ? (Number.isFinite(value) ? String(value) : "null") : jsonString(value)}`;
    }
    this.stream.write(`${line},"msg":${jsonString(msg)}}\n`);
  }
}

/** JSON.stringify(value), without its call for the usual string that needs no escape (a fifth of the cost). */
function jsonString(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // What JSON.stringify escapes: quote, backslash, control characters, a lone surrogate (any surrogate goes to it).
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(value);
  }
  return `"${value}"`;
}

/** `new Date(ms).toISOString()` for the years 0000–9999, its seconds prefix made once per second. */
export function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond.second) lastSecond = { second, prefix: new Date(second * 1000).toISOString().slice(0, 20) };
  const millis = ms - second * 1000;
  return `${lastSecond.prefix}${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}Z`;
}
let lastSecond = { second: NaN, prefix: "" };

/**
 * Hands the lines logged during one turn of the event loop to `target` in one write when the turn ends
 * (end-of-turn.ts). SonicBoom writes each chunk through the libuv thread pool; a write per line cost a pool
 * round trip per request, more than building the line (docs/performance.md, "sixth session"). A line waits at most
 * until its turn ends; lines still waiting when the process exits are written first (see `waiting`).
 */
export class TurnBatchedStream implements DestinationStream, Answer {
  private pending: string[] = [];

  constructor(private readonly target: DestinationStream & { flushSync?: () => void }) {}

  write(line: string): void {
    if (this.pending.length === 0) {
      waiting.add(this);
      answerAtEndOfTurn(this);
    }
    this.pending.push(line);
  }

  /** Writes the turn's lines (end-of-turn.ts calls it once per turn that logged). */
  answerNow(): void {
    if (this.pending.length === 0) return;
    // One flat string: a chain of `+=` would be flattened again by each consumer.
    const chunk = this.pending.join("");
    this.pending = [];
    waiting.delete(this);
    try {
      this.target.write(chunk);
    } catch {
      // SonicBoom reports write failures as events (pino's destination ignores a closed stdout); never the turn's answers.
    }
  }

  /** Writes what waits and flushes the target (at exit). */
  flushSync(): void {
    this.answerNow();
    this.target.flushSync?.();
  }
}

/**
 * Batches with lines waiting for their turn to end. Registered when this module loads, so this exit listener runs
 * before the one pino adds for its destination (which then finds these lines in SonicBoom's buffer).
 */
const waiting = new Set<TurnBatchedStream>();
process.on("exit", () => {
  for (const batch of waiting) batch.flushSync();
});

/** An unexpected error as log fields: its class and stack, never the request that caused it. */
export function errorFields(err: unknown): { err_name: string; stack?: string } {
  if (err instanceof Error) return { err_name: err.name, ...(err.stack === undefined ? {} : { stack: err.stack }) };
  return { err_name: typeof err };
}
