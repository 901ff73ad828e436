/**
 * A live load curve for the chart: the last hour at one point per second, filled once from
 * loadHistory and then appended from the 'load' events, in the column layout uPlot draws
 * ([x seconds[], y kW[]]). Appending and trimming work on the same arrays, so the chart gets new data
 * every second without being rebuilt. Pure and DOM-free.
 */
import type { LoadPoint } from '../../hub/operator/types.js';

export const QUARTER_HOUR_MS = 15 * 60_000;
/** A missing sample longer than this draws a gap rather than a straight line across it. */
const GAP_MS = 5_000;
/** Trim in batches: shifting a 3,600-long array every second would cost more than it needs. */
const TRIM_SLACK = 60;

export class LiveSeries {
  /** Seconds since the epoch (uPlot's time unit). */
  readonly xs: number[] = [];
  /** kW, null marks a gap. */
  readonly ys: Array<number | null> = [];
  #lastMs = -Infinity;

  constructor(readonly windowMs: number = 3_600_000) {}

  /** The time of the newest point, ms; -Infinity when empty. */
  get lastMs(): number {
    return this.#lastMs;
  }

  get length(): number {
    return this.xs.length;
  }

  /** Replaces everything with history points (ascending by time, as loadHistory answers). */
  fill(points: readonly LoadPoint[]): void {
    this.xs.length = 0;
    this.ys.length = 0;
    this.#lastMs = -Infinity;
    for (const p of points) this.append(p.time, p.kw);
  }

  /**
   * Adds one point. A point not newer than the last is ignored (a history answer and the first events
   * overlap); a null value or a pause longer than GAP_MS leaves a gap. Returns whether it was added.
   */
  append(timeMs: number, kw: number | null): boolean {
    if (!Number.isFinite(timeMs) || timeMs <= this.#lastMs) return false;
    if (this.xs.length > 0 && timeMs - this.#lastMs > GAP_MS && this.ys[this.ys.length - 1] !== null) {
      this.xs.push((this.#lastMs + 1000) / 1000);
      this.ys.push(null);
    }
    this.xs.push(timeMs / 1000);
    this.ys.push(kw !== null && Number.isFinite(kw) ? kw : null);
    this.#lastMs = timeMs;
    this.trim(timeMs);
    return true;
  }

  /** Drops points older than the window before `nowMs` (in batches). */
  trim(nowMs: number): void {
    const cutoff = (nowMs - this.windowMs) / 1000;
    let drop = 0;
    while (drop < this.xs.length && (this.xs[drop] ?? Infinity) < cutoff) drop++;
    if (drop >= TRIM_SLACK || (drop > 0 && drop === this.xs.length)) {
      this.xs.splice(0, drop);
      this.ys.splice(0, drop);
    }
  }

  /** The newest value that is not a gap. */
  latest(): number | null {
    for (let i = this.ys.length - 1; i >= 0; i--) {
      const y = this.ys[i];
      if (y !== null && y !== undefined) return y;
    }
    return null;
  }
}

/**
 * The quarter-hours that overlap [fromMs, toMs], aligned on `anchorMs` (a quarter-hour start the hub
 * gave, so the bands follow its clock and time zone). `shaded` alternates so neighbours differ.
 */
export function quarterHourBands(fromMs: number, toMs: number, anchorMs: number): Array<{ start: number; end: number; shaded: boolean }> {
  if (!(toMs > fromMs) || !Number.isFinite(anchorMs)) return [];
  const first = Math.floor((fromMs - anchorMs) / QUARTER_HOUR_MS);
  const bands: Array<{ start: number; end: number; shaded: boolean }> = [];
  for (let k = first; anchorMs + k * QUARTER_HOUR_MS < toMs; k++) {
    const start = anchorMs + k * QUARTER_HOUR_MS;
    bands.push({ start, end: start + QUARTER_HOUR_MS, shaded: Math.abs(k) % 2 === 1 });
  }
  return bands;
}
