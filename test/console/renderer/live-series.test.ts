import { describe, expect, it } from 'vitest';
import { LiveSeries, QUARTER_HOUR_MS, quarterHourBands } from '../../../console/renderer/logic/live-series.js';

describe('the live load series', () => {
  it('fills from history and appends newer points only', () => {
    const s = new LiveSeries(60_000);
    s.fill([
      { time: 1_000, kw: 1 },
      { time: 2_000, kw: 2 },
    ]);
    expect(s.append(2_000, 9)).toBe(false);
    expect(s.append(1_500, 9)).toBe(false);
    expect(s.append(3_000, 3)).toBe(true);
    expect(s.xs).toEqual([1, 2, 3]);
    expect(s.ys).toEqual([1, 2, 3]);
    expect(s.latest()).toBe(3);
  });

  it('leaves a gap after a pause instead of drawing across it', () => {
    const s = new LiveSeries(600_000);
    s.append(1_000, 5);
    s.append(20_000, 6);
    expect(s.ys).toEqual([5, null, 6]);
    expect(s.xs).toEqual([1, 2, 20]);
  });

  it('keeps unknown values as gaps', () => {
    const s = new LiveSeries(600_000);
    s.append(1_000, null);
    s.append(2_000, Number.NaN);
    expect(s.ys).toEqual([null, null]);
    expect(s.latest()).toBeNull();
  });

  it('keeps about the window, trimming old points in batches', () => {
    const s = new LiveSeries(100_000);
    for (let t = 1; t <= 400; t++) s.append(t * 1000, t);
    expect(s.length).toBeGreaterThanOrEqual(100);
    expect(s.length).toBeLessThanOrEqual(100 + 60);
    expect(s.xs[s.length - 1]).toBe(400);
    expect(s.xs.length).toBe(s.ys.length);
  });

  it('refilling replaces everything', () => {
    const s = new LiveSeries();
    s.append(5_000, 1);
    s.fill([{ time: 1_000, kw: 7 }]);
    expect(s.xs).toEqual([1]);
    expect(s.lastMs).toBe(1_000);
  });
});

describe('quarter-hour bands', () => {
  const anchor = Date.UTC(2026, 10, 25, 14, 30);

  it('covers the range with quarter-hours aligned on the hub anchor, alternating shade', () => {
    const bands = quarterHourBands(anchor - 40 * 60_000, anchor + 5 * 60_000, anchor);
    expect(bands.map((b) => new Date(b.start).toISOString().slice(11, 16))).toEqual(['13:45', '14:00', '14:15', '14:30']);
    expect(bands.every((b) => b.end - b.start === QUARTER_HOUR_MS)).toBe(true);
    expect(bands.map((b) => b.shaded)).toEqual([true, false, true, false]);
  });

  it('is empty for an empty range', () => {
    expect(quarterHourBands(anchor, anchor, anchor)).toEqual([]);
  });
});
