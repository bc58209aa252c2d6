import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from "prom-client";

/**
 * TESSERA_WORKERS > 1: a primary process forks that many workers, which share both listeners
 * (node:cluster hands accepted connections round-robin). The primary prepares the data once
 * (migrations, keys, bootstrap) before any worker starts, restarts a crashed worker with back-off,
 * answers /metrics requests with the sum over all workers, and stops them all on SIGTERM.
 */

/** Messages between primary and workers; `tessera` tags them apart from anything else on the channel. */
type Message =
  | { tessera: "listening"; http: number; grpc: number; metrics?: number; issuer: string }
  | { tessera: "metrics-request"; id: number }
  | { tessera: "metrics-collect"; id: number }
  | { tessera: "metrics-part"; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] }
  | { tessera: "metrics-result"; id: number; text: string };

const isMessage = (m: unknown): m is Message => typeof m === "object" && m !== null && typeof (m as { tessera?: unknown }).tessera === "string";

/** This worker's index (0 … N-1) when running under a primary; stable across restarts of that slot. */
export function workerIndex(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const raw = process.env.TESSERA_WORKER_INDEX;
  return raw === undefined ? undefined : Number(raw);
}

export interface WorkerHooks {
  /** The worker's own series, for the primary to add up. */
  registry: Registry;
}

/** Worker side: answers the primary's metrics collection; returns a function that tells the primary we listen. */
export function joinCluster(hooks: WorkerHooks): void {
  process.on("message", (m: unknown) => {
    if (!isMessage(m) || m.tessera !== "metrics-collect") return;
    void hooks.registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ tessera: "metrics-part", id: m.id, metrics } satisfies Message),
      () => process.send?.({ tessera: "metrics-part", id: m.id, metrics: [] } satisfies Message),
    );
  });
  // The primary is gone: nobody hands us connections any more, so stop instead of lingering.
  process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
}

export function announceListening(ports: { http: number; grpc: number; metrics?: number }, issuer: string): void {
  process.send?.({ tessera: "listening", ...ports, issuer } satisfies Message);
}

let nextRequest = 0;
const pendingResults = new Map<number, (text: string) => void>();

/** Worker side: the Prometheus text for the whole process (every worker's series added up by the primary). */
export function clusterMetrics(): Promise<string> {
  const id = nextRequest++;
  if (pendingResults.size === 0) process.on("message", onResult);
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      pendingResults.delete(id);
      reject(new Error("the primary did not answer the metrics request"));
    }, 5000);
    pendingResults.set(id, (text) => {
      clearTimeout(timer);
      resolve(text);
    });
    process.send?.({ tessera: "metrics-request", id } satisfies Message);
  });
}

function onResult(m: unknown): void {
  if (!isMessage(m) || m.tessera !== "metrics-result") return;
  const resolve = pendingResults.get(m.id);
  pendingResults.delete(m.id);
  resolve?.(m.text);
  if (pendingResults.size === 0) process.off("message", onResult);
}

export interface PrimaryOptions {
  workers: number;
  /** Lines for the operator (stderr). */
  say: (line: string) => void;
  /** First back-off after a crash; doubles up to `maxBackoffMs`, back to the start after a minute of calm. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Primary side: forks the workers, resolves once every one listens (with the ports they share),
 * rejects with the exit code of a worker that dies before it ever listened (a bad port, say).
 */
export class Supervisor {
  private readonly slots: { worker: Worker | undefined; listened: boolean; backoff: number; lastStart: number }[] = [];
  private stopping = false;
  private readonly ready: Promise<Extract<Message, { tessera: "listening" }>>;
  private resolveReady!: (m: Extract<Message, { tessera: "listening" }>) => void;
  private rejectReady!: (code: number) => void;
  private collecting = new Map<number, { parts: MetricObjectWithValues<MetricValue<string>>[][]; expected: number; from: Worker; requestId: number }>();
  private nextCollect = 0;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly opts: PrimaryOptions) {
    this.backoffMs = opts.backoffMs ?? 250;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    for (let i = 0; i < opts.workers; i++) this.slots.push({ worker: undefined, listened: false, backoff: this.backoffMs, lastStart: 0 });
  }

  /** Forks every worker; resolves with the shared ports once all of them listen. */
  start(): Promise<Extract<Message, { tessera: "listening" }>> {
    this.slots.forEach((_, i) => this.fork(i));
    return this.ready;
  }

  private fork(index: number): void {
    const slot = this.slots[index]!;
    slot.lastStart = Date.now();
    const worker = cluster.fork({ TESSERA_WORKER_INDEX: String(index) });
    slot.worker = worker;
    worker.on("message", (m: unknown) => this.onMessage(index, worker, m));
    worker.once("exit", (code, signal) => this.onExit(index, worker, code, signal));
  }

  private onMessage(index: number, worker: Worker, m: unknown): void {
    if (!isMessage(m)) return;
    if (m.tessera === "listening") {
      if (this.slots[index]!.listened) this.opts.say(`tessera: worker ${index} restarted`);
      this.slots[index]!.listened = true;
      if (this.slots.every((s) => s.listened)) this.resolveReady(m);
    } else if (m.tessera === "metrics-request") {
      this.collect(worker, m.id);
    } else if (m.tessera === "metrics-part") {
      const c = this.collecting.get(m.id);
      if (c === undefined) return;
      c.parts.push(m.metrics);
      if (c.parts.length === c.expected) this.finishCollect(m.id);
    }
  }

  /** Asks every live worker for its series; answers with what arrived within a second. */
  private collect(from: Worker, requestId: number): void {
    const id = this.nextCollect++;
    const live = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== undefined && w.isConnected());
    this.collecting.set(id, { parts: [], expected: live.length, from, requestId });
    for (const w of live) w.send({ tessera: "metrics-collect", id } satisfies Message);
    setTimeout(() => this.finishCollect(id), 1000).unref();
  }

  private finishCollect(id: number): void {
    const c = this.collecting.get(id);
    if (c === undefined) return;
    this.collecting.delete(id);
    void AggregatorRegistry.aggregate(c.parts)
      .metrics()
      .then((text) => {
        if (c.from.isConnected()) c.from.send({ tessera: "metrics-result", id: c.requestId, text } satisfies Message);
      });
  }

  private onExit(index: number, worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots[index]!;
    if (slot.worker === worker) slot.worker = undefined;
    if (this.stopping) return;
    if (!slot.listened) {
      // Never came up: the same configuration would fail again, so the whole process stops.
      this.stopping = true;
      for (const s of this.slots) s.worker?.process.kill("SIGTERM");
      this.rejectReady(code ?? 1);
      return;
    }
    if (Date.now() - slot.lastStart > 60_000) slot.backoff = this.backoffMs;
    const delay = slot.backoff;
    slot.backoff = Math.min(slot.backoff * 2, this.maxBackoffMs);
    this.opts.say(`tessera: worker ${index} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
    setTimeout(() => {
      if (!this.stopping) this.fork(index);
    }, delay);
  }

  /** SIGTERM to every worker; resolves true once all exited within `graceMs`, false otherwise (the rest get SIGKILL). */
  stop(graceMs: number): Promise<boolean> {
    this.stopping = true;
    const live = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== undefined && !w.isDead());
    // A worker still loading when SIGTERM came dies of it before its handler exists: it had nothing in flight.
    const exits = live.map(
      (w) => new Promise<boolean>((resolve) => w.once("exit", (code: number | null, signal: string | null) => resolve(code === 0 || signal === "SIGTERM"))),
    );
    for (const w of live) w.process.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    return Promise.race([Promise.all(exits).then((clean) => clean.every(Boolean)), timeout]).then((clean) => {
      clearTimeout(timer);
      if (!clean) for (const w of live) if (!w.isDead()) w.process.kill("SIGKILL");
      return clean;
    });
  }
}
