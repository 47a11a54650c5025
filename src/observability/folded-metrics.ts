import { Counter, type Registry } from 'prom-client';

/**
 * Metrics of the hot path, aggregated in plain numbers and handed to prom-client only when
 * /metrics is scraped. prom-client's own `observe`/`inc` validate and hash the label object on
 * every call, even through a child from `labels()`: per proxied request that was the largest
 * share of prom-client in the CPU profile (bench/RESULTS.md). Here a request costs one Map
 * lookup and a few additions; the exposition is the same as prom-client's Histogram/Counter.
 */

type Labels = Readonly<Record<string, string>>;

interface Series {
  readonly labels: Labels;
  /** Per bucket (not cumulative), the last slot counting values above every bound. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** A histogram whose label sets are resolved once by key; see the module comment. */
export class FoldedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    options: { name: string; help: string; buckets: readonly number[]; registers: Registry[] },
    private readonly bounds: readonly number[] = [...options.buckets].sort((a, b) => a - b),
  ) {
    this.name = options.name;
    this.help = options.help;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  /** The series of one label set; `key` must identify `labels` (callers build it once per set). */
  seriesFor(key: string, labels: () => Labels): Series {
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: labels(), buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  observe(s: Series, value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    s.buckets[i]!++;
    s.sum += value;
    s.count++;
  }

  /** What prom-client's Registry reads at scrape time: the same samples its Histogram exposes. */
  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }>;
  } {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.buckets[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: this.bounds[i]!, ...s.labels }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}

/** A counter of plain numbers per label set, folded into a prom-client Counter at scrape time. */
export class FoldedCounter {
  private readonly counts = new Map<string, { labels: Labels; n: number; reported: number }>();

  constructor(options: { name: string; help: string; labelNames: string[]; registers: Registry[] }) {
    const counts = this.counts;
    new Counter({
      ...options,
      collect() {
        for (const c of counts.values()) {
          if (c.n === c.reported) continue;
          this.inc(c.labels, c.n - c.reported);
          c.reported = c.n;
        }
      },
    });
  }

  /** The count of one label set; `key` must identify `labels`. */
  seriesFor(key: string, labels: () => Labels): { n: number } {
    let c = this.counts.get(key);
    if (c === undefined) {
      c = { labels: labels(), n: 0, reported: 0 };
      this.counts.set(key, c);
    }
    return c;
  }
}
