import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { KeyRing, KeyState } from "../core/keys.js";
import { TallyCounter, TallyHistogram } from "./tally.js";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * tessera's Prometheus series on a registry of its own (never prom-client's global one: a test
 * process runs many Apps). Label values are bounded: route templates, RPC names, code names.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new TallyCounter({
    name: "tessera_http_requests_total",
    help: "HTTP requests answered, by route template, method and status",
    labelNames: ["route", "method", "status"],
    registry: this.registry,
  });
  readonly httpDuration = new TallyHistogram({
    name: "tessera_http_request_duration_seconds",
    help: "HTTP request latency until the answer was sent, by route template and method",
    labelNames: ["route", "method"],
    buckets: LATENCY_BUCKETS,
    registry: this.registry,
  });
  readonly rpcRequests = new TallyCounter({
    name: "tessera_rpc_requests_total",
    help: "RPCs answered, by service, method, status code name and transport (grpc or connect)",
    labelNames: ["service", "method", "code", "transport"],
    registry: this.registry,
  });
  readonly rpcDuration = new TallyHistogram({
    name: "tessera_rpc_request_duration_seconds",
    help: "RPC latency, by service, method and transport",
    labelNames: ["service", "method", "transport"],
    buckets: LATENCY_BUCKETS,
    registry: this.registry,
  });
  readonly tokensIssued = new TallyCounter({
    name: "tessera_tokens_issued_total",
    help: "Access tokens issued, by grant",
    labelNames: ["grant"],
    registry: this.registry,
  });
  readonly refreshReuse = new Counter({
    name: "tessera_refresh_reuse_detected_total",
    help: "Refresh token reuse detections (each revoked a token family)",
    registers: [this.registry],
  });
  readonly checkpoints = new TallyCounter({
    name: "tessera_sqlite_checkpoints_total",
    help: "SQLite WAL checkpoints, by who ran them: the checkpoint worker, or the serving connection when the WAL reached its bound",
    labelNames: ["by"],
    registry: this.registry,
  });
  readonly busyRetries = new Counter({
    name: "tessera_sqlite_busy_retries_total",
    help: "Write transactions retried after SQLITE_BUSY (each retry waited up to TESSERA_BUSY_TIMEOUT_MS)",
    registers: [this.registry],
  });

  constructor(keys: KeyRing) {
    const states: KeyState[] = ["pending", "active", "retired"];
    new Gauge({
      name: "tessera_signing_keys",
      help: "Signing keys held, by state (pending: published, not yet signing)",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        const counts = new Map<KeyState, number>(states.map((s) => [s, 0]));
        for (const k of keys.list()) counts.set(keys.state(k), counts.get(keys.state(k))! + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }
}
