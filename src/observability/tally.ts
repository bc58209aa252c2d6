import type { Registry } from "prom-client";

/**
 * Request counters and latency histograms for the hot paths. prom-client hashes a label object on
 * every `inc`/`observe` (its `labels()` children too); these keep one series per label-value tuple in a
 * Map and hand prom-client the values only when /metrics is scraped, in the same exposition format.
 */
interface Series {
  labels: Record<string, string>;
  count: number;
  sum: number;
  buckets: number[] | undefined;
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

abstract class Tally {
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    registry: Registry,
    protected readonly upperBounds: readonly number[] | undefined,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  /** The series touched last and its label values: a steady stream of one request kind skips the key join and lookup. */
  private last: { values: readonly string[]; series: Series } | undefined;

  protected seriesFor(values: readonly string[]): Series {
    const last = this.last;
    if (last !== undefined && sameValues(last.values, values)) return last.series;
    const s = this.lookup(values);
    this.last = { values, series: s };
    return s;
  }

  private lookup(values: readonly string[]): Series {
    const key = values.join("\u0000");
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      s = { labels, count: 0, sum: 0, buckets: this.upperBounds?.map(() => 0) };
      this.series.set(key, s);
    }
    return s;
  }

  protected all(): IterableIterator<Series> {
    return this.series.values();
  }
}

export class TallyCounter extends Tally {
  readonly type = "counter";

  constructor(opts: { name: string; help: string; labelNames: readonly string[]; registry: Registry }) {
    super(opts.name, opts.help, opts.labelNames, opts.registry, undefined);
  }

  inc(...labelValues: string[]): void {
    this.seriesFor(labelValues).count++;
  }

  get() {
    const values = [...this.all()].map((s) => ({ labels: s.labels, value: s.count }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: "sum" };
  }
}

export class TallyHistogram extends Tally {
  readonly type = "histogram";

  constructor(opts: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[]; registry: Registry }) {
    super(opts.name, opts.help, opts.labelNames, opts.registry, [...opts.buckets].sort((a, b) => a - b));
  }

  observe(value: number, ...labelValues: string[]): void {
    const s = this.seriesFor(labelValues);
    s.count++;
    s.sum += value;
    const bounds = this.upperBounds!;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        s.buckets![i]!++;
        break;
      }
    }
  }

  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.all()) {
      let cumulative = 0;
      this.upperBounds!.forEach((le, i) => {
        cumulative += s.buckets![i]!;
        values.push({ labels: Object.assign({}, s.labels, { le }), value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: Object.assign({}, s.labels, { le: "+Inf" }), value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: "sum" };
  }
}
