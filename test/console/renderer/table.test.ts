import { describe, expect, it } from 'vitest';
import { sortRows, visibleRange } from '../../../console/renderer/logic/table.js';

describe('the rows a virtualised table renders', () => {
  it('covers the viewport and a few rows either side', () => {
    // 20,000 rows of 50 px, a 500 px viewport scrolled to row 1,000.
    expect(visibleRange(20_000, 50, 50_000, 500, 8)).toEqual({ start: 992, end: 1019 });
  });

  it('stays within the rows at both ends', () => {
    expect(visibleRange(20_000, 50, 0, 500, 8)).toEqual({ start: 0, end: 19 });
    expect(visibleRange(20_000, 50, 50 * 20_000, 500, 8)).toEqual({ start: 19_992, end: 20_000 });
    expect(visibleRange(5, 50, 0, 500, 8)).toEqual({ start: 0, end: 5 });
    expect(visibleRange(0, 50, 0, 500, 8)).toEqual({ start: 0, end: 0 });
  });
});

describe('sorting rows by a key', () => {
  it('computes each key once and keeps the input order on ties, unknowns last both ways', () => {
    const rows = [
      { id: 'a', v: 2 },
      { id: 'b', v: null },
      { id: 'c', v: 1 },
      { id: 'd', v: 2 },
    ];
    let calls = 0;
    const key = (r: { v: number | null }): number | null => {
      calls++;
      return r.v;
    };
    expect(sortRows(rows, key, 'ascending').map((r) => r.id)).toEqual(['c', 'a', 'd', 'b']);
    expect(calls).toBe(4);
    expect(sortRows(rows, key, 'descending').map((r) => r.id)).toEqual(['a', 'd', 'c', 'b']);
  });
});
