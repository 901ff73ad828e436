/**
 * Live load and 15-minute peaks from a power signal sampled about once per second.
 *
 * The tariff bills the highest 15-minute average power of the month, so what matters is energy per
 * interval, not the instantaneous maximum. Samples are integrated step-wise: a sample's value holds
 * until the next sample, but for at most `maxGapMs`; beyond that the time is *uncovered* — we do not
 * know the load, which is not the same as knowing it was zero. Averages are therefore energy over
 * covered time, and every figure carries its coverage.
 */
import {
  billingPeriodStart,
  isValidTimeZone,
  nextBillingPeriodStart,
  quarterHourEnd,
  quarterHourStart,
} from './quarter-hours.js';

export interface PowerSample {
  /** Epoch ms. */
  time: number;
  kw: number;
}

export interface ClosedInterval {
  /** Epoch ms. */
  start: number;
  /** Epoch ms, exclusive: start + 15 min except across a historical mid-interval offset change. */
  end: number;
  /** Energy over covered time. */
  averageKw: number;
  /** 0..1: share of the interval covered by samples. Intervals with no data at all are never reported. */
  coverage: number;
  energyKwh: number;
}

export interface QuarterHourSnapshot {
  intervalStart: number;
  intervalEnd: number;
  /** The newest sample's value while it still holds (within maxGapMs); null when stale or none yet. */
  currentKw: number | null;
  /** Energy so far / covered time; null while nothing is covered. */
  averageKw: number | null;
  /**
   * (averageKw × elapsed time + currentKw × remaining time) / interval length: where the interval ends
   * if the current power holds; null without a current value.
   */
  projectedKw: number | null;
  energyKwh: number;
  coverage: number;
  periodStart: number;
  /** Highest closed interval average in the billing period (only intervals with enough coverage). */
  peakKw: number | null;
  peakIntervalStart: number | null;
}

export interface QuarterHourMeterOptions {
  /** IANA zone of the tariff: intervals and the billing month follow its wall clock. */
  timeZone: string;
  /** How long a sample's value may stand in for missing ones, ms. Default 10 000. */
  maxGapMs?: number;
  /**
   * Least coverage (0..1) for a closed interval to count towards the billing-period peak. Default 0.5:
   * an interval mostly without data is not a measured peak, and letting a few seconds of inrush
   * current set the month's peak would misstate what the utility's meter will bill.
   */
  minPeakCoverage?: number;
}

export interface PeakState {
  periodStart: number;
  peakKw: number | null;
  peakIntervalStart: number | null;
}

export const DEFAULT_MAX_GAP_MS = 10_000;
export const DEFAULT_MIN_PEAK_COVERAGE = 0.5;

const MS_PER_HOUR = 3_600_000;

/** Everything the meter knows, as plain data so a snapshot can advance a copy without side effects. */
interface MeterState {
  intervalStart: number;
  intervalEnd: number;
  /** kW·ms integrated into the current interval. */
  energy: number;
  coveredMs: number;
  /** The newest sample; its step is integrated up to `integratedTo` so far. */
  last: PowerSample | null;
  integratedTo: number;
  periodStart: number | null;
  periodEnd: number;
  peakKw: number | null;
  peakIntervalStart: number | null;
}

function isValidSample(sample: PowerSample): boolean {
  return Number.isFinite(sample.time) && Number.isFinite(sample.kw);
}

/**
 * Time-weighted average of `samples` (in time order; a sample older than one before it is ignored, as
 * the meter does) over [start, end). The same integration as QuarterHourMeter, as a pure function.
 */
export function averageOf(
  samples: readonly PowerSample[],
  start: number,
  end: number,
  maxGapMs: number = DEFAULT_MAX_GAP_MS,
): { averageKw: number | null; coverage: number; energyKwh: number } {
  if (!(Number.isFinite(start) && Number.isFinite(end) && end > start)) {
    throw new RangeError(`averageOf: [${start}, ${end}) is not a time range`);
  }
  assertMaxGap(maxGapMs);
  let energy = 0;
  let coveredMs = 0;
  let newest: PowerSample | null = null;
  function step(sample: PowerSample, until: number): void {
    const from = Math.max(sample.time, start);
    const to = Math.min(until, sample.time + maxGapMs, end);
    if (to > from) {
      energy += sample.kw * (to - from);
      coveredMs += to - from;
    }
  }
  for (const sample of samples) {
    if (!isValidSample(sample)) continue;
    if (newest !== null) {
      if (sample.time < newest.time) continue;
      step(newest, sample.time);
    }
    newest = sample;
  }
  if (newest !== null) step(newest, end);
  return {
    averageKw: coveredMs > 0 ? energy / coveredMs : null,
    coverage: coveredMs / (end - start),
    energyKwh: energy / MS_PER_HOUR,
  };
}

function assertMaxGap(maxGapMs: number): void {
  if (!(Number.isFinite(maxGapMs) && maxGapMs > 0)) throw new RangeError(`maxGapMs must be a positive number of ms, not ${maxGapMs}`);
}

/**
 * Running 15-minute figures and the billing-period peak for one power signal (a gateway, or the fleet).
 *
 * Feed samples with add(); it returns the intervals they closed, for the caller to store. A quiet
 * signal closes nothing by itself: call advanceTo(now) on a timer to close intervals that ended
 * without a newer sample. snapshot(now) shows the live state as if advanced, without closing anything,
 * so the next add()/advanceTo() still returns every closed interval.
 *
 * Samples older than the newest one already added, or older than the current interval (after an
 * advanceTo), are ignored and counted in `lateSamples`: a closed interval is final. Samples with a
 * non-finite time or value are ignored and counted in `invalidSamples`.
 */
export class QuarterHourMeter {
  readonly timeZone: string;
  readonly maxGapMs: number;
  readonly minPeakCoverage: number;
  #state: MeterState | null = null;
  /** Billing-period state before the first sample (from restore()). */
  #restored: PeakState | null = null;
  #late = 0;
  #invalid = 0;

  constructor(options: QuarterHourMeterOptions) {
    if (!isValidTimeZone(options.timeZone)) throw new RangeError(`unknown time zone '${options.timeZone}'`);
    const maxGapMs = options.maxGapMs ?? DEFAULT_MAX_GAP_MS;
    assertMaxGap(maxGapMs);
    const minPeakCoverage = options.minPeakCoverage ?? DEFAULT_MIN_PEAK_COVERAGE;
    if (!(minPeakCoverage >= 0 && minPeakCoverage <= 1)) {
      throw new RangeError(`minPeakCoverage must be between 0 and 1, not ${minPeakCoverage}`);
    }
    this.timeZone = options.timeZone;
    this.maxGapMs = maxGapMs;
    this.minPeakCoverage = minPeakCoverage;
  }

  /** Samples ignored because they were older than what the meter had already integrated. */
  get lateSamples(): number {
    return this.#late;
  }

  /** Samples ignored because their time or value was not a finite number. */
  get invalidSamples(): number {
    return this.#invalid;
  }

  /** Integrates one sample; returns the intervals it closed (usually none, at a boundary one). */
  add(sample: PowerSample): ClosedInterval[] {
    if (!isValidSample(sample)) {
      this.#invalid++;
      return [];
    }
    const state = this.#state;
    if (state === null) {
      this.#state = this.#open(sample);
      return [];
    }
    if (sample.time < state.intervalStart || (state.last !== null && sample.time < state.last.time)) {
      this.#late++;
      return [];
    }
    const closed = this.#advance(state, sample.time);
    integrate(state, sample.time, this.maxGapMs);
    state.last = { time: sample.time, kw: sample.kw };
    state.integratedTo = sample.time;
    return closed;
  }

  /** Closes every interval that ended at or before `nowMs`; returns them (none when nothing ended). */
  advanceTo(nowMs: number): ClosedInterval[] {
    if (!Number.isFinite(nowMs)) throw new RangeError(`not a valid time: ${nowMs}`);
    return this.#state === null ? [] : this.#advance(this.#state, nowMs);
  }

  /** The live figures at `nowMs`. Does not change the meter (see the class comment). */
  snapshot(nowMs: number): QuarterHourSnapshot {
    if (!Number.isFinite(nowMs)) throw new RangeError(`not a valid time: ${nowMs}`);
    if (this.#state === null) {
      const intervalStart = quarterHourStart(nowMs, this.timeZone);
      const period = this.#periodFor(intervalStart, this.#restored);
      return {
        intervalStart,
        intervalEnd: quarterHourEnd(nowMs, this.timeZone),
        currentKw: null,
        averageKw: null,
        projectedKw: null,
        energyKwh: 0,
        coverage: 0,
        ...period,
      };
    }
    const state = { ...this.#state };
    this.#advance(state, nowMs);
    const { intervalStart, intervalEnd, last } = state;
    const length = intervalEnd - intervalStart;
    // What the newest step contributes so far, without committing it: a sample stamped before
    // nowMs may still arrive (transport delay, clock skew) and must then be integrated instead.
    integrate(state, Math.min(Math.max(nowMs, state.integratedTo), intervalEnd), this.maxGapMs);
    const currentKw = last !== null && nowMs < last.time + this.maxGapMs ? last.kw : null;
    const elapsedTo = Math.min(Math.max(nowMs, state.integratedTo, intervalStart), intervalEnd);
    return {
      intervalStart,
      intervalEnd,
      currentKw,
      averageKw: state.coveredMs > 0 ? state.energy / state.coveredMs : null,
      // Elapsed time without data counts at the average so far, as in averageKw (a hub started at
      // minute 7 must not project as if the first 7 minutes had no load).
      projectedKw:
        currentKw === null
          ? null
          : ((state.coveredMs > 0 ? state.energy / state.coveredMs : currentKw) * (elapsedTo - intervalStart) + currentKw * (intervalEnd - elapsedTo)) / length,
      energyKwh: state.energy / MS_PER_HOUR,
      coverage: state.coveredMs / length,
      periodStart: state.periodStart ?? billingPeriodStart(intervalStart, this.timeZone),
      peakKw: state.peakKw,
      peakIntervalStart: state.peakIntervalStart,
    };
  }

  /**
   * Resumes a billing period's peak after a restart (from the hub's store). Returns false, changing
   * nothing, when the state is older than the period the meter is already in, or does not fit this
   * meter's zone (`periodStart` not a month start there, the peak interval outside the period, a peak
   * without its interval). Within the same period the higher peak wins.
   */
  restore(saved: PeakState): boolean {
    const { periodStart, peakKw, peakIntervalStart } = saved;
    if (!Number.isFinite(periodStart) || billingPeriodStart(periodStart, this.timeZone) !== periodStart) return false;
    const periodEnd = nextBillingPeriodStart(periodStart, this.timeZone);
    if ((peakKw === null) !== (peakIntervalStart === null)) return false;
    if (peakKw !== null && !Number.isFinite(peakKw)) return false;
    if (peakIntervalStart !== null && !(peakIntervalStart >= periodStart && peakIntervalStart < periodEnd)) return false;
    const current = this.#state ?? this.#restored;
    if (current !== null && current.periodStart !== null) {
      if (periodStart < current.periodStart) return false;
      if (periodStart === current.periodStart) {
        if (peakKw === null || (current.peakKw !== null && current.peakKw >= peakKw)) return true;
        current.peakKw = peakKw;
        current.peakIntervalStart = peakIntervalStart;
        return true;
      }
    }
    if (this.#state === null) {
      this.#restored = { periodStart, peakKw, peakIntervalStart };
    } else {
      Object.assign(this.#state, { periodStart, periodEnd, peakKw, peakIntervalStart });
    }
    return true;
  }

  #open(sample: PowerSample): MeterState {
    const intervalStart = quarterHourStart(sample.time, this.timeZone);
    const restored = this.#restored;
    this.#restored = null;
    const state: MeterState = {
      intervalStart,
      intervalEnd: quarterHourEnd(sample.time, this.timeZone),
      energy: 0,
      coveredMs: 0,
      last: { time: sample.time, kw: sample.kw },
      integratedTo: sample.time,
      periodStart: restored?.periodStart ?? null,
      periodEnd: restored === null ? 0 : nextBillingPeriodStart(restored.periodStart, this.timeZone),
      peakKw: restored?.peakKw ?? null,
      peakIntervalStart: restored?.peakIntervalStart ?? null,
    };
    this.#enterPeriod(state);
    return state;
  }

  /** The billing period an interval starting at `intervalStart` is shown under, given `saved`. */
  #periodFor(intervalStart: number, saved: PeakState | null): PeakState {
    if (saved !== null && intervalStart < nextBillingPeriodStart(saved.periodStart, this.timeZone)) {
      return { periodStart: saved.periodStart, peakKw: saved.peakKw, peakIntervalStart: saved.peakIntervalStart };
    }
    return { periodStart: billingPeriodStart(intervalStart, this.timeZone), peakKw: null, peakIntervalStart: null };
  }

  /**
   * A new month starts a new peak. An interval older than the meter's period (replayed data after a
   * restore) leaves the period alone; it is still reported, it just does not touch this month's peak.
   */
  #enterPeriod(state: MeterState): void {
    if (state.periodStart !== null && state.intervalStart < state.periodEnd) return;
    state.periodStart = billingPeriodStart(state.intervalStart, this.timeZone);
    state.periodEnd = nextBillingPeriodStart(state.intervalStart, this.timeZone);
    state.peakKw = null;
    state.peakIntervalStart = null;
  }

  #advance(state: MeterState, toMs: number): ClosedInterval[] {
    const closed: ClosedInterval[] = [];
    while (toMs >= state.intervalEnd) {
      integrate(state, state.intervalEnd, this.maxGapMs);
      const interval = this.#close(state);
      if (interval !== null) closed.push(interval);
      // A step still holding past the boundary continues in the adjacent interval; otherwise nothing
      // is known until toMs and the empty intervals in between are skipped, not reported.
      const holds = state.last !== null && state.last.time + this.maxGapMs > state.intervalEnd;
      const next = holds ? state.intervalEnd : quarterHourStart(toMs, this.timeZone);
      state.intervalStart = next;
      state.intervalEnd = quarterHourEnd(next, this.timeZone);
      state.energy = 0;
      state.coveredMs = 0;
      state.integratedTo = Math.max(state.integratedTo, next);
      this.#enterPeriod(state);
    }
    return closed;
  }

  #close(state: MeterState): ClosedInterval | null {
    if (state.coveredMs <= 0) return null;
    const length = state.intervalEnd - state.intervalStart;
    const interval: ClosedInterval = {
      start: state.intervalStart,
      end: state.intervalEnd,
      averageKw: state.energy / state.coveredMs,
      coverage: state.coveredMs / length,
      energyKwh: state.energy / MS_PER_HOUR,
    };
    const inPeriod = state.periodStart !== null && interval.start >= state.periodStart && interval.start < state.periodEnd;
    if (inPeriod && interval.coverage >= this.minPeakCoverage && (state.peakKw === null || interval.averageKw > state.peakKw)) {
      state.peakKw = interval.averageKw;
      state.peakIntervalStart = interval.start;
    }
    return interval;
  }
}

/** Integrates the newest sample's step from where it stands up to `untilMs` (capped by maxGapMs). */
function integrate(state: MeterState, untilMs: number, maxGapMs: number): void {
  const last = state.last;
  if (last === null || untilMs <= state.integratedTo) return;
  const to = Math.min(untilMs, last.time + maxGapMs);
  if (to > state.integratedTo) {
    state.energy += last.kw * (to - state.integratedTo);
    state.coveredMs += to - state.integratedTo;
  }
  state.integratedTo = untilMs;
}
