import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  averageOf,
  type ClosedInterval,
  type PowerSample,
  QUARTER_HOUR_MS,
  QuarterHourMeter,
  quarterHourEnd,
} from '../../../shared/load/index.js';

const ZONE = 'Europe/Zurich';
const SECOND = 1_000;
const MINUTE = 60_000;
const at = (iso: string): number => Date.parse(iso);
/** 12:00 local, the start of a quarter hour. */
const T0 = at('2026-06-01T10:00:00Z');

function aMeter(options: { maxGapMs?: number; minPeakCoverage?: number } = {}): QuarterHourMeter {
  return new QuarterHourMeter({ timeZone: ZONE, ...options });
}

/** One sample every `everyMs` over [from, to) at `kw`; returns the intervals they closed. */
function feed(meter: QuarterHourMeter, from: number, to: number, kw: number, everyMs = SECOND): ClosedInterval[] {
  const closed: ClosedInterval[] = [];
  for (let t = from; t < to; t += everyMs) closed.push(...meter.add({ time: t, kw }));
  return closed;
}

/** A full interval at a constant load starting at `start`, closed by the next interval's first sample. */
function constantInterval(meter: QuarterHourMeter, start: number, kw: number): ClosedInterval[] {
  return feed(meter, start, start + QUARTER_HOUR_MS, kw);
}

describe('QuarterHourMeter: the running interval', () => {
  it('constant load: average = projection = load, right from the start', () => {
    const meter = aMeter();
    feed(meter, T0, T0 + 5 * MINUTE + SECOND, 42);
    const snap = meter.snapshot(T0 + 5 * MINUTE);
    expect(snap.intervalStart).toBe(T0);
    expect(snap.intervalEnd).toBe(T0 + QUARTER_HOUR_MS);
    expect(snap.currentKw).toBe(42);
    expect(snap.averageKw).toBeCloseTo(42, 9);
    expect(snap.projectedKw).toBeCloseTo(42, 9);
    expect(snap.coverage).toBeCloseTo(1 / 3, 9);
    expect(snap.energyKwh).toBeCloseTo(42 / 12, 9); // 42 kW for 5 minutes
  });

  it('a step change mid-interval: exact time-weighted average and projection', () => {
    const meter = aMeter();
    feed(meter, T0, T0 + 5 * MINUTE, 10);
    feed(meter, T0 + 5 * MINUTE, T0 + 10 * MINUTE + SECOND, 40);
    const snap = meter.snapshot(T0 + 10 * MINUTE);
    // 5 min at 10 kW and 5 min at 40 kW so far; 5 more min at 40 kW projected.
    expect(snap.averageKw).toBeCloseTo(25, 9);
    expect(snap.projectedKw).toBeCloseTo((10 * 5 + 40 * 10) / 15, 9);
    expect(snap.currentKw).toBe(40);

    const closed = feed(meter, T0 + 10 * MINUTE + SECOND, T0 + 15 * MINUTE + SECOND, 40);
    expect(closed).toEqual([
      { start: T0, end: T0 + QUARTER_HOUR_MS, averageKw: 30, coverage: 1, energyKwh: (10 * 5 + 40 * 10) / 60 },
    ]);
  });

  it('a gap longer than maxGapMs lowers the coverage, not the average', () => {
    const meter = aMeter({ maxGapMs: 10 * SECOND });
    feed(meter, T0, T0 + 5 * MINUTE, 10);
    // Nothing from 12:04:59 to 12:10: that last 10 kW sample stands in for 10 s, the rest is unknown.
    feed(meter, T0 + 10 * MINUTE, T0 + 15 * MINUTE, 40);
    const [interval] = meter.add({ time: T0 + 15 * MINUTE, kw: 40 });
    const coveredS = 299 + 10 + 300;
    expect(interval?.coverage).toBeCloseTo(coveredS / 900, 9);
    expect(interval?.averageKw).toBeCloseTo((10 * 309 + 40 * 300) / coveredS, 9);
    // As zero load, the gap would have pulled the average down to (10·309 + 40·300) / 900 ≈ 16.8 kW.
    expect(interval?.averageKw).toBeGreaterThan(24);
  });

  it('time without data before the first sample counts at the average in the projection, not as zero load', () => {
    const meter = aMeter();
    // The hub started at 12:07: nothing is known of 12:00–12:07.
    feed(meter, T0 + 7 * MINUTE, T0 + 10 * MINUTE, 20);
    const snap = meter.snapshot(T0 + 10 * MINUTE);
    expect(snap.averageKw).toBeCloseTo(20, 9);
    expect(snap.projectedKw).toBeCloseTo(20, 9);
    expect(snap.coverage).toBeCloseTo(3 / 15, 2);
  });

  it('a stale signal shows no current value and no projection, but keeps what it measured', () => {
    const meter = aMeter({ maxGapMs: 10 * SECOND });
    feed(meter, T0, T0 + MINUTE + SECOND, 20);
    const snap = meter.snapshot(T0 + 3 * MINUTE);
    expect(snap.currentKw).toBeNull();
    expect(snap.projectedKw).toBeNull();
    expect(snap.averageKw).toBeCloseTo(20, 9);
    expect(snap.coverage).toBeCloseTo((60 + 10) / 900, 9);
  });

  it('a step across the boundary is split between the two intervals', () => {
    const meter = aMeter({ maxGapMs: 15 * MINUTE });
    meter.add({ time: T0, kw: 10 });
    meter.add({ time: T0 + 14 * MINUTE + 30 * SECOND, kw: 100 });
    const closed = meter.add({ time: T0 + 15 * MINUTE + 30 * SECOND, kw: 0 });
    // 14.5 min at 10 kW and 30 s at 100 kW before 12:15; the other 30 s at 100 kW belong after it.
    expect(closed).toHaveLength(1);
    expect(closed[0]?.averageKw).toBeCloseTo((10 * 870 + 100 * 30) / 900, 9);
    expect(closed[0]?.coverage).toBe(1);
    const next = meter.add({ time: T0 + 30 * MINUTE, kw: 0 });
    expect(next[0]?.start).toBe(T0 + QUARTER_HOUR_MS);
    expect(next[0]?.averageKw).toBeCloseTo((100 * 30) / 900, 9);
  });

  it('reports no interval for a stretch without data, and skips ahead to the sample', () => {
    const meter = aMeter();
    feed(meter, T0, T0 + MINUTE, 5);
    const closed = meter.add({ time: T0 + 2 * 60 * MINUTE + 5 * MINUTE, kw: 7 });
    expect(closed.map((c) => c.start)).toEqual([T0]);
    expect(meter.snapshot(T0 + 2 * 60 * MINUTE + 6 * MINUTE).intervalStart).toBe(T0 + 2 * 60 * MINUTE);
  });

  it('ignores and counts late samples, and ignores non-finite ones', () => {
    const meter = aMeter();
    feed(meter, T0, T0 + 16 * MINUTE, 10);
    expect(meter.add({ time: T0 + 14 * MINUTE, kw: 1_000 })).toEqual([]); // the closed interval is final
    expect(meter.add({ time: T0 + 15 * MINUTE + 30 * SECOND, kw: 1_000 })).toEqual([]); // older than the newest
    expect(meter.lateSamples).toBe(2);
    expect(meter.add({ time: T0 + 16 * MINUTE, kw: Number.NaN })).toEqual([]);
    expect(meter.invalidSamples).toBe(1);
    expect(meter.snapshot(T0 + 16 * MINUTE).averageKw).toBeCloseTo(10, 9);
  });

  it('snapshot past the interval end shows the new interval and closes the old one only logically', () => {
    const meter = aMeter({ maxGapMs: 10 * SECOND });
    feed(meter, T0, T0 + QUARTER_HOUR_MS, 30);
    const later = T0 + QUARTER_HOUR_MS + 5 * MINUTE;
    const snap = meter.snapshot(later);
    expect(snap.intervalStart).toBe(T0 + QUARTER_HOUR_MS);
    expect(snap.peakKw).toBeCloseTo(30, 9);
    expect(snap.peakIntervalStart).toBe(T0);
    expect(snap.currentKw).toBeNull();
    // The 30 kW sample at 12:14:59 holds for 10 s, into the first 9 s of 12:15.
    expect(snap.averageKw).toBe(30);
    expect(snap.coverage).toBeCloseTo(9 / 900, 9);
    // Not lost: the interval is still handed out once, to whoever advances the meter.
    expect(meter.snapshot(later).peakKw).toBeCloseTo(30, 9);
    const closed = meter.advanceTo(later);
    expect(closed.map((c) => c.start)).toEqual([T0]);
    expect(meter.advanceTo(later)).toEqual([]);
  });

  it('before any sample: the interval and billing period of now, nothing measured', () => {
    expect(aMeter().snapshot(T0 + 7 * MINUTE)).toEqual({
      intervalStart: T0,
      intervalEnd: T0 + QUARTER_HOUR_MS,
      currentKw: null,
      averageKw: null,
      projectedKw: null,
      energyKwh: 0,
      coverage: 0,
      periodStart: at('2026-05-31T22:00:00Z'),
      peakKw: null,
      peakIntervalStart: null,
    });
  });

  it('refuses bad options', () => {
    expect(() => new QuarterHourMeter({ timeZone: 'Nowhere/Else' })).toThrow(/Nowhere\/Else/);
    expect(() => aMeter({ maxGapMs: 0 })).toThrow(RangeError);
    expect(() => aMeter({ minPeakCoverage: 1.5 })).toThrow(RangeError);
  });
});

describe('QuarterHourMeter: the billing-period peak', () => {
  it('is the highest closed interval average, not the highest instantaneous value', () => {
    const meter = aMeter();
    constantInterval(meter, T0, 20);
    // A 2-minute 500 kW spike in a 10 kW interval: 72 kW average.
    feed(meter, T0 + QUARTER_HOUR_MS, T0 + QUARTER_HOUR_MS + 2 * MINUTE, 500);
    feed(meter, T0 + QUARTER_HOUR_MS + 2 * MINUTE, T0 + 2 * QUARTER_HOUR_MS, 10);
    constantInterval(meter, T0 + 2 * QUARTER_HOUR_MS, 50);
    const snap = meter.snapshot(T0 + 3 * QUARTER_HOUR_MS);
    expect(snap.peakKw).toBeCloseTo((500 * 2 + 10 * 13) / 15, 9);
    expect(snap.peakIntervalStart).toBe(T0 + QUARTER_HOUR_MS);
  });

  it('ignores intervals below minPeakCoverage, which is configurable', () => {
    const sparse = (meter: QuarterHourMeter): void => {
      constantInterval(meter, T0, 20);
      // 4 minutes of 200 kW, then silence: coverage (240 + 10) / 900 < 0.5.
      feed(meter, T0 + QUARTER_HOUR_MS, T0 + QUARTER_HOUR_MS + 4 * MINUTE, 200);
      feed(meter, T0 + 2 * QUARTER_HOUR_MS, T0 + 2 * QUARTER_HOUR_MS + MINUTE, 20);
    };
    const strict = aMeter();
    sparse(strict);
    expect(strict.snapshot(T0 + 2 * QUARTER_HOUR_MS + MINUTE)).toMatchObject({ peakKw: 20, peakIntervalStart: T0 });
    const lenient = aMeter({ minPeakCoverage: 0.2 });
    sparse(lenient);
    expect(lenient.snapshot(T0 + 2 * QUARTER_HOUR_MS + MINUTE)).toMatchObject({
      peakKw: 200,
      peakIntervalStart: T0 + QUARTER_HOUR_MS,
    });
  });

  it('resets when a new billing month starts (local midnight, 2026-11-01 00:00 Zurich = 23:00Z)', () => {
    const meter = aMeter();
    const lastOct = at('2026-10-31T22:45:00Z');
    const firstNov = at('2026-10-31T23:00:00Z');
    constantInterval(meter, lastOct - QUARTER_HOUR_MS, 90);
    constantInterval(meter, lastOct, 80);
    expect(meter.snapshot(firstNov - 1)).toMatchObject({ peakKw: 90, periodStart: at('2026-09-30T22:00:00Z') });
    meter.add({ time: firstNov, kw: 5 });
    expect(meter.snapshot(firstNov + MINUTE)).toMatchObject({ periodStart: firstNov, peakKw: null, peakIntervalStart: null });
    constantInterval(meter, firstNov, 5);
    expect(meter.snapshot(firstNov + QUARTER_HOUR_MS)).toMatchObject({ peakKw: 5, peakIntervalStart: firstNov });
  });

  it('restore() resumes the period peak after a restart; the higher of restored and measured wins', () => {
    const june = at('2026-05-31T22:00:00Z');
    const meter = aMeter();
    expect(meter.restore({ periodStart: june, peakKw: 60, peakIntervalStart: at('2026-06-01T06:00:00Z') })).toBe(true);
    expect(meter.snapshot(T0)).toMatchObject({ periodStart: june, peakKw: 60 });
    constantInterval(meter, T0, 40);
    expect(meter.snapshot(T0 + QUARTER_HOUR_MS)).toMatchObject({ peakKw: 60, peakIntervalStart: at('2026-06-01T06:00:00Z') });
    constantInterval(meter, T0 + QUARTER_HOUR_MS, 70);
    expect(meter.snapshot(T0 + 2 * QUARTER_HOUR_MS)).toMatchObject({ peakKw: 70, peakIntervalStart: T0 + QUARTER_HOUR_MS });
  });

  it('restore() refuses stale or foreign state and changes nothing', () => {
    const meter = aMeter();
    constantInterval(meter, T0, 40);
    const before = meter.snapshot(T0 + QUARTER_HOUR_MS);
    // May's peak, a period start that is not a Zurich month start, a peak outside its period.
    expect(meter.restore({ periodStart: at('2026-04-30T22:00:00Z'), peakKw: 99, peakIntervalStart: at('2026-05-02T00:00:00Z') })).toBe(false);
    expect(meter.restore({ periodStart: at('2026-06-01T00:00:00Z'), peakKw: 99, peakIntervalStart: T0 })).toBe(false);
    expect(meter.restore({ periodStart: at('2026-05-31T22:00:00Z'), peakKw: 99, peakIntervalStart: at('2026-07-02T00:00:00Z') })).toBe(false);
    expect(meter.snapshot(T0 + QUARTER_HOUR_MS)).toEqual(before);
  });

  it('a restored peak from a past month does not carry into the current one', () => {
    const meter = aMeter();
    expect(meter.restore({ periodStart: at('2026-04-30T22:00:00Z'), peakKw: 99, peakIntervalStart: at('2026-05-02T00:00:00Z') })).toBe(true);
    expect(meter.snapshot(T0)).toMatchObject({ periodStart: at('2026-05-31T22:00:00Z'), peakKw: null });
    constantInterval(meter, T0, 40);
    expect(meter.snapshot(T0 + QUARTER_HOUR_MS)).toMatchObject({ peakKw: 40 });
  });
});

describe('averageOf', () => {
  it('integrates step-wise with the maxGap cap, counting a sample from before the window', () => {
    const samples: PowerSample[] = [
      { time: T0 - 5 * SECOND, kw: 8 }, // holds 5 s into the window
      { time: T0 + 60 * SECOND, kw: 20 }, // holds 10 s
    ];
    const result = averageOf(samples, T0, T0 + QUARTER_HOUR_MS, 10 * SECOND);
    expect(result.coverage).toBeCloseTo(15 / 900, 12);
    expect(result.averageKw).toBeCloseTo((8 * 5 + 20 * 10) / 15, 12);
    expect(result.energyKwh).toBeCloseTo((8 * 5 + 20 * 10) / 3_600, 12);
    expect(averageOf([], T0, T0 + 1)).toEqual({ averageKw: null, coverage: 0, energyKwh: 0 });
    expect(() => averageOf(samples, T0, T0)).toThrow(RangeError);
  });
});

describe('the meter agrees with averageOf', () => {
  const zoneAndStart = fc.constantFrom(
    { zone: 'Europe/Zurich', start: at('2026-10-25T00:40:00Z') }, // over the fall-back
    { zone: 'Europe/Zurich', start: at('2026-10-31T22:40:00Z') }, // into a new billing month
    { zone: 'Asia/Kathmandu', start: at('2026-01-31T18:00:00Z') },
    { zone: 'Africa/Monrovia', start: at('1972-01-07T00:38:00Z') }, // a 30-second quarter hour
  );
  const step = fc.record({
    // Mostly about a second apart, sometimes gaps longer than maxGapMs, sometimes out of order.
    dt: fc.oneof(
      { weight: 200, arbitrary: fc.integer({ min: 0, max: 3_000 }) },
      { weight: 5, arbitrary: fc.integer({ min: 0, max: 120_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * 3_600_000 }) },
      { weight: 2, arbitrary: fc.integer({ min: -60_000, max: 0 }) },
    ),
    kw: fc.oneof(fc.integer({ min: -50, max: 500 }), fc.double({ min: -50, max: 500, noNaN: true })),
  });

  it('for every closed interval, the live snapshot, the uncovered intervals and the peak', () => {
    fc.assert(
      fc.property(zoneAndStart, fc.array(step, { maxLength: 2_000, size: 'max' }), fc.integer({ min: 1_000, max: 60_000 }), (where, steps, maxGapMs) => {
        const meter = new QuarterHourMeter({ timeZone: where.zone, maxGapMs });
        const samples: PowerSample[] = [];
        const closed: ClosedInterval[] = [];
        let t = where.start;
        for (const { dt, kw } of steps) {
          t += dt;
          samples.push({ time: t, kw });
          closed.push(...meter.add({ time: t, kw }));
        }
        const now = Math.max(where.start, ...samples.map((s) => s.time)) + 500;
        // The snapshot closes intervals only logically; advancing the meter then hands them out.
        const snap = meter.snapshot(now);
        closed.push(...meter.advanceTo(now));
        expect(meter.snapshot(now)).toEqual(snap);
        const close = (a: number, b: number): void => {
          expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(a), Math.abs(b)));
        };
        for (const interval of closed) {
          const expected = averageOf(samples, interval.start, interval.end, maxGapMs);
          expect(expected.averageKw).not.toBeNull();
          close(interval.averageKw, expected.averageKw ?? Number.NaN);
          close(interval.coverage, expected.coverage);
          close(interval.energyKwh, expected.energyKwh);
        }
        if (samples.length === 0) return;
        // Every quarter hour from the first sample's to the live one was either reported or empty.
        const reported = new Set(closed.map((c) => c.start));
        for (let start = closed[0]?.start ?? snap.intervalStart; start < snap.intervalStart; start = quarterHourEnd(start, where.zone)) {
          if (!reported.has(start)) expect(averageOf(samples, start, quarterHourEnd(start, where.zone), maxGapMs).coverage).toBe(0);
        }
        const live = averageOf(samples, snap.intervalStart, now, maxGapMs);
        close(snap.energyKwh, live.energyKwh);
        if (live.averageKw === null) expect(snap.averageKw).toBeNull();
        else close(snap.averageKw ?? Number.NaN, live.averageKw);
        const eligible = closed.filter((c) => c.start >= snap.periodStart && c.coverage >= 0.5);
        const peak = eligible.length === 0 ? null : Math.max(...eligible.map((c) => c.averageKw));
        expect(snap.peakKw).toBe(peak);
      }),
      { seed: 20260329, numRuns: 100 },
    );
  });
});
