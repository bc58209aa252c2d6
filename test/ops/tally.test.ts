import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { TallyCounter, TallyHistogram } from "../../src/observability/tally.js";

describe("tally metrics (the hot-path counters and histograms behind /metrics)", () => {
  it("expose counters per label tuple and cumulative histogram buckets in the Prometheus text format", async () => {
    const registry = new Registry();
    const count = new TallyCounter({ name: "t_requests_total", help: "requests", labelNames: ["route", "status"], registry });
    const latency = new TallyHistogram({ name: "t_seconds", help: "latency", labelNames: ["route"], buckets: [0.1, 0.01, 1], registry });
    count.inc("/a", "200");
    count.inc("/a", "200");
    count.inc("/a", "404");
    for (const v of [0.005, 0.01, 0.5, 3]) latency.observe(v, "/a");
    latency.observe(0.02, "/b");
    const lines = (await registry.metrics()).split("\n");
    expect(lines).toContain("# TYPE t_requests_total counter");
    expect(lines).toContain('t_requests_total{route="/a",status="200"} 2');
    expect(lines).toContain('t_requests_total{route="/a",status="404"} 1');
    expect(lines).toContain("# TYPE t_seconds histogram");
    // Buckets sorted and cumulative; a value equal to a bound falls in that bucket.
    expect(lines.filter((l) => l.startsWith('t_seconds_bucket{route="/a"'))).toEqual([
      't_seconds_bucket{route="/a",le="0.01"} 2',
      't_seconds_bucket{route="/a",le="0.1"} 2',
      't_seconds_bucket{route="/a",le="1"} 3',
      't_seconds_bucket{route="/a",le="+Inf"} 4',
    ]);
    expect(lines).toContain('t_seconds_sum{route="/a"} 3.515');
    expect(lines).toContain('t_seconds_count{route="/a"} 4');
    expect(lines).toContain('t_seconds_count{route="/b"} 1');
  });

  it("count each label tuple apart when requests alternate, repeat, or differ only in one label", async () => {
    const registry = new Registry();
    const count = new TallyCounter({ name: "t_alt_total", help: "requests", labelNames: ["route", "status"], registry });
    // The last series touched is remembered: a repeat, a switch back, and a tuple that shares a prefix.
    for (const [route, status] of [["/a", "200"], ["/a", "200"], ["/a", "401"], ["/a", "200"], ["/b", "200"], ["/a", "401"], ["/a\u0000", "200"]]) {
      count.inc(route!, status!);
    }
    const lines = (await registry.metrics()).split("\n");
    expect(lines.filter((l) => l.startsWith("t_alt_total{"))).toEqual([
      't_alt_total{route="/a",status="200"} 3',
      't_alt_total{route="/a",status="401"} 2',
      't_alt_total{route="/b",status="200"} 1',
      't_alt_total{route="/a\u0000",status="200"} 1',
    ]);
  });
});
