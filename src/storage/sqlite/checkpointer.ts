import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Db } from "./database.js";

export interface CheckpointerOptions {
  /** The database file (its WAL is `<file>-wal`). */
  file: string;
  synchronous: "FULL" | "NORMAL";
  /** Pause between the worker's checkpoints while it is caught up (default 100 ms). */
  intervalMs?: number;
  /** WAL frames past which the worker restarts the WAL from its beginning (default 4096, 16 MiB of 4 KiB pages). */
  restartFrames?: number;
  /** WAL size past which the serving connection checkpoints and truncates it itself (default 64 MiB). */
  walLimitBytes?: number;
}

/** What one PASSIVE checkpoint of the worker reported (frames of the WAL, frames copied into the database). */
export interface CheckpointReport {
  busy: boolean;
  log: number;
  checkpointed: number;
  /** This pass was a RESTART (the next write starts the WAL over). */
  restart: boolean;
}

export interface CheckpointStats {
  /** Checkpoints the worker completed. */
  passes: number;
  /** Of those, RESTART checkpoints (the WAL had grown past `restartFrames`). */
  restarts: number;
  /** Times the serving connection had to checkpoint and truncate the WAL itself (the bound). */
  inline: number;
  /** The worker is gone (failed or stopped); the serving connection checkpoints as SQLite does by default. */
  workerLost: boolean;
  last: CheckpointReport | undefined;
}

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 100;
export const DEFAULT_RESTART_FRAMES = 4096;
export const DEFAULT_WAL_LIMIT_BYTES = 64 * 1024 * 1024;
/** How long the worker's RESTART waits for the write lock and for readers (it holds writers off meanwhile). */
const RESTART_BUSY_TIMEOUT_MS = 50;
/** SQLite's own default, restored if the worker is lost. */
const AUTOCHECKPOINT_PAGES = 1000;
/** Back-to-back passes while a writer keeps appending, before the worker pauses anyway. */
const CATCH_UP_PASSES = 8;

// The worker's code, plain CommonJS (evaluated, so it runs the same under tsc's output and the test runner).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, timeout: workerData.restartBusyTimeoutMs });
db.pragma("synchronous = " + workerData.synchronous);
let timer;
let stopped = false;
let catchUp = 0;
let previous = { log: 0, checkpointed: 0 };
const checkpoint = (mode) => {
  const row = db.pragma("wal_checkpoint(" + mode + ")")[0];
  return { busy: row.busy !== 0, log: row.log, checkpointed: row.checkpointed, restart: mode === "RESTART" };
};
function pass() {
  if (stopped) return;
  let report;
  try {
    report = checkpoint("PASSIVE");
    // The bulk is copied without blocking anyone; the few frames appended meanwhile are copied with
    // writers held off, so the next write starts the WAL over instead of growing it.
    if (!report.busy && report.log >= workerData.restartFrames) report = checkpoint("RESTART");
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
    return;
  }
  parentPort.postMessage(report);
  const progressed = report.checkpointed > previous.checkpointed || report.log < previous.log;
  previous = report;
  const behind = !report.busy && report.log > report.checkpointed && progressed && catchUp < ${CATCH_UP_PASSES};
  catchUp = behind ? catchUp + 1 : 0;
  timer = setTimeout(pass, behind ? 0 : workerData.intervalMs);
}
parentPort.on("message", (message) => {
  if (message === "now") {
    clearTimeout(timer);
    pass();
  } else if (message === "stop") {
    stopped = true;
    clearTimeout(timer);
    db.close();
    parentPort.close();
  }
});
timer = setTimeout(pass, workerData.intervalMs);
`;

/**
 * WAL checkpoints off the request path. The serving connection runs with `wal_autocheckpoint = 0`,
 * so a commit never copies pages into the database file or waits for its fsync; a worker thread with
 * its own connection runs PASSIVE checkpoints every `intervalMs`, back to back while a writer keeps
 * appending (PASSIVE never blocks writers). A PASSIVE checkpoint racing a steady writer seldom ends
 * with nothing left to copy, and only then does the next write start the WAL over; so once the WAL
 * holds `restartFrames`, the worker follows its pass with a RESTART, which holds writers off (at most
 * a short busy timeout) while it copies the few frames appended meanwhile.
 *
 * The bound, should the worker fall behind or stall: after its commits the serving connection looks
 * at the WAL's size, and past `walLimitBytes` runs a TRUNCATE checkpoint itself, without waiting on
 * other connections (busy timeout 0; when busy it tries again once the WAL has grown by another half
 * limit). If the worker fails, the connection goes back to SQLite's own automatic checkpoints.
 */
export class Checkpointer {
  private readonly worker: Worker;
  private readonly walFile: string;
  private readonly walLimitBytes: number;
  private nextCheckBytes: number;
  private stopping: Promise<void> | undefined;
  private waiters: { resolve: (report: CheckpointReport) => void; reject: (err: Error) => void }[] = [];
  readonly stats: CheckpointStats = { passes: 0, restarts: 0, inline: 0, workerLost: false, last: undefined };

  /** Told about each checkpoint (metrics). */
  onCheckpoint: ((by: "worker" | "inline") => void) | undefined;

  constructor(
    private readonly db: Db,
    opts: CheckpointerOptions,
  ) {
    this.walFile = `${opts.file}-wal`;
    this.walLimitBytes = opts.walLimitBytes ?? DEFAULT_WAL_LIMIT_BYTES;
    this.nextCheckBytes = this.walLimitBytes;
    db.pragma("wal_autocheckpoint = 0");
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve("better-sqlite3"),
        file: opts.file,
        synchronous: opts.synchronous,
        intervalMs: opts.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
        restartFrames: opts.restartFrames ?? DEFAULT_RESTART_FRAMES,
        restartBusyTimeoutMs: RESTART_BUSY_TIMEOUT_MS,
      },
    });
    // Never what keeps a process alive; close() stops it.
    this.worker.unref();
    this.worker.on("message", (message: CheckpointReport | { error: string }) => {
      if ("error" in message) {
        this.lose();
        return;
      }
      const copied = message.checkpointed !== this.stats.last?.checkpointed || message.log !== this.stats.last.log;
      this.stats.passes += 1;
      if (message.restart) this.stats.restarts += 1;
      this.stats.last = message;
      if (copied) this.onCheckpoint?.("worker");
      for (const waiter of this.waiters.splice(0)) waiter.resolve(message);
      this.afterCommit();
    });
    this.worker.on("error", () => this.lose());
    this.worker.on("exit", () => {
      if (this.stopping === undefined) this.lose();
    });
  }

  /** After a commit of the serving connection: keeps the WAL within its bound. */
  afterCommit(): void {
    if (!this.db.open || this.db.inTransaction) return;
    const size = statSync(this.walFile, { throwIfNoEntry: false })?.size ?? 0;
    if (size <= this.nextCheckBytes) return;
    const busyTimeout = this.db.pragma("busy_timeout", { simple: true }) as number;
    this.db.pragma("busy_timeout = 0");
    try {
      const row = (this.db.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[])[0]!;
      this.stats.inline += 1;
      this.onCheckpoint?.("inline");
      this.nextCheckBytes = row.busy === 0 ? this.walLimitBytes : size + this.walLimitBytes / 2;
    } finally {
      this.db.pragma(`busy_timeout = ${busyTimeout}`);
    }
  }

  /** One checkpoint now (tests and benches drive the worker with it instead of waiting on its timer). */
  checkpointNow(): Promise<CheckpointReport> {
    if (!this.running) return Promise.reject(new Error("the checkpoint worker is not running"));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.worker.postMessage("now");
    });
  }

  /** Whether the worker thread is still running. */
  get running(): boolean {
    return this.stopping === undefined && !this.stats.workerLost;
  }

  /** Stops the worker and waits for its connection to close (before the serving connection's last checkpoint). */
  stop(): Promise<void> {
    this.stopping ??= this.stats.workerLost
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const force = setTimeout(() => void this.worker.terminate(), 5000);
          this.worker.once("exit", () => {
            clearTimeout(force);
            resolve();
          });
          this.worker.postMessage("stop");
        });
    return this.stopping;
  }

  private lose(): void {
    if (this.stats.workerLost) return;
    this.stats.workerLost = true;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error("the checkpoint worker is gone"));
    void this.worker.terminate();
  }
}
