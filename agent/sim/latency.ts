/**
 * A latency histogram that worker processes can add up: logarithmic buckets 2 % wide from 10 µs to
 * about 20 minutes, so the simulated fleet's telemetry ack latencies (thousands per second, over
 * several processes) cost a fixed 1 KiB each and still give p50/p99 within 2 %.
 */
const MIN_MS = 0.01;
const GROWTH = 1.02;
const BUCKETS = Math.ceil(Math.log(1_200_000 / MIN_MS) / Math.log(GROWTH)) + 1;

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** The plain form sent between processes. */
export interface LatencyCounts {
  counts: number[];
  count: number;
  sum: number;
  max: number;
}

export class LatencyHistogram {
  private counts = new Float64Array(BUCKETS);
  private count = 0;
  private sum = 0;
  private max = 0;

  record(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / Math.log(GROWTH)));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count += 1;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  /** Sparse: only the buckets in use, as [index, count] pairs flattened. */
  toCounts(): LatencyCounts {
    const counts: number[] = [];
    this.counts.forEach((n, i) => {
      if (n > 0) counts.push(i, n);
    });
    return { counts, count: this.count, sum: this.sum, max: this.max };
  }

  add(other: LatencyCounts): void {
    for (let k = 0; k + 1 < other.counts.length; k += 2) {
      const i = other.counts[k] ?? 0;
      this.counts[i] = (this.counts[i] ?? 0) + (other.counts[k + 1] ?? 0);
    }
    this.count += other.count;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
  }

  /** The upper bound of the bucket holding the p-th percentile (nearest rank), ms; NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(this.max, MIN_MS * GROWTH ** i);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return { count: this.count, p50: this.percentile(50), p99: this.percentile(99), max: this.count ? this.max : Number.NaN, mean: this.count ? this.sum / this.count : Number.NaN };
  }
}
