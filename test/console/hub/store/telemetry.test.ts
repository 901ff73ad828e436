/**
 * Telemetry: exactly once per (gateway, seq), load curves per gateway and for the fleet, the
 * billing-period peak, the latest sample, and pruning at the retention boundaries.
 */
import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { HubStore } from '../../../../console/hub/store/index.js';
import { PRUNE_BUDGET_ROWS, QUARTER_PRUNE_GATEWAYS } from '../../../../console/hub/store/index.js';
import { BugError } from '../../../../shared/errors.js';
import type { TelemetrySample } from '../../../../shared/protocol/messages.js';
import { aDataDir, aSample, aStore, rawDb, T0 } from './builders.js';

const MIN = 60_000;
const QH = 900_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Everything telemetry wrote, to compare before and after. */
function snapshot(db: Database.Database): Record<string, unknown[]> {
  const tables = ['telemetry_raw', 'telemetry_seqs', 'telemetry_1m', 'telemetry_15m', 'fleet_1s', 'fleet_1m', 'fleet_15m'];
  return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]));
}

/** One sample per second from `from` for `seconds`, `kw(i)` each. */
function everySecond(from: number, seconds: number, kw: (i: number) => number): TelemetrySample[] {
  return Array.from({ length: seconds }, (_, i) => aSample(from + i * 1_000, kw(i)));
}

function store1(store: HubStore, gatewayId: string, seq: number, samples: TelemetrySample[]): boolean {
  const [stored] = store.storeTelemetry([{ gatewayId, seq, samples }]);
  return stored ?? false;
}

describe('telemetry exactly once per (gateway, seq)', () => {
  it('stores a batch once; the same batch again is reported as a replay and changes nothing at all', () => {
    const store = aStore();
    const raw = rawDb(store.path);
    const batch = { gatewayId: 'gw-1', seq: 1, samples: [aSample(T0, 10, { kwh: 100 }), aSample(T0 + 1_000, 20, { kwh: 100.01 })] };
    expect(store.storeTelemetry([batch])).toEqual([true]);
    const before = snapshot(raw);
    const curve = store.loadHistory({ gatewayId: 'gw-1', from: T0, to: T0 + MIN, resolution: '1m' });
    expect(curve).toEqual([{ time: T0, kw: 15 }]);

    expect(store.storeTelemetry([batch])).toEqual([false]);
    expect(snapshot(raw)).toEqual(before);
    expect(before.telemetry_raw).toHaveLength(2);
    expect(store.loadHistory({ gatewayId: 'gw-1', from: T0, to: T0 + MIN, resolution: '1m' })).toEqual(curve);
    expect(store.loadHistory({ from: T0, to: T0 + MIN, resolution: '1m' })).toEqual(curve);
  });

  it('answers per batch within one group: a replay inside the group, the same seq of another gateway, an empty batch', () => {
    const store = aStore();
    const result = store.storeTelemetry([
      { gatewayId: 'gw-1', seq: 1, samples: [aSample(T0, 1)] },
      { gatewayId: 'gw-2', seq: 1, samples: [aSample(T0, 2)] },
      { gatewayId: 'gw-1', seq: 1, samples: [aSample(T0, 1)] },
      { gatewayId: 'gw-1', seq: 2, samples: [] },
    ]);
    expect(result).toEqual([true, true, false, true]);
    expect(store.storeTelemetry([{ gatewayId: 'gw-1', seq: 2, samples: [] }])).toEqual([false]);
    expect(store.loadHistory({ from: T0, to: T0 + 1_000, resolution: '1s' })).toEqual([{ time: T0, kw: 3 }]);
  });

  it('remembers every seq in any arrival order, across gaps and a reopen, in a few ranges per gateway', () => {
    const dataDir = aDataDir();
    const store = aStore(dataDir);
    const order = [3, 1, 2, 7, 5, 4, 10, 9];
    for (const seq of order) expect(store1(store, 'gw-1', seq, [aSample(T0 + seq * 1_000, seq)])).toBe(true);
    for (const seq of order) expect(store1(store, 'gw-1', seq, [aSample(T0 + seq * 1_000, seq)])).toBe(false);
    store.close();

    const again = aStore(dataDir);
    for (const seq of order) expect(store1(again, 'gw-1', seq, [aSample(T0 + seq * 1_000, seq)])).toBe(false);
    for (const seq of [6, 8, 11]) expect(store1(again, 'gw-1', seq, [aSample(T0 + seq * 1_000, seq)])).toBe(true);
    expect(rawDb(again.path).prepare('SELECT from_seq, to_seq FROM telemetry_seqs').all()).toEqual([{ from_seq: 1, to_seq: 11 }]);
    expect(again.loadHistory({ gatewayId: 'gw-1', from: T0, to: T0 + HOUR, resolution: '1s' })).toHaveLength(11);
  });

  it('refuses a group holding an invalid sample before writing anything of it', () => {
    const store = aStore();
    const good = { gatewayId: 'gw-1', seq: 1, samples: [aSample(T0, 1)] };
    const bad = { gatewayId: 'gw-2', seq: 1, samples: [aSample(T0, Number.NaN)] };
    expect(() => store.storeTelemetry([good, bad])).toThrow(BugError);
    expect(store.storeTelemetry([good])).toEqual([true]);
    expect(() => store.storeTelemetry([{ gatewayId: 'gw-1', seq: 0, samples: [] }])).toThrow(BugError);
  });

  it('stores a group as one transaction: when a later batch fails in SQLite, the earlier ones are not stored either', () => {
    const store = aStore();
    // Another process's schema change makes inserts for one gateway fail inside the transaction.
    rawDb(store.path).exec('CREATE TRIGGER refuse BEFORE INSERT ON telemetry_samples WHEN NEW.seq = 13 BEGIN SELECT RAISE(ABORT, \'refused\'); END');
    const good = { gatewayId: 'gw-1', seq: 1, samples: [aSample(T0, 1)] };
    const bad = { gatewayId: 'gw-bad', seq: 13, samples: [aSample(T0, 2)] };
    expect(() => store.storeTelemetry([good, bad])).toThrow(/refused/);
    expect(store.lastSample('gw-1')).toBeNull();
    // Not acked, so the agent sends it again — and it is new.
    expect(store.storeTelemetry([good])).toEqual([true]);
  });

  it('rolls back the whole group when the surrounding transaction fails', () => {
    const store = aStore();
    expect(() =>
      store.transaction(() => {
        store.storeTelemetry([{ gatewayId: 'gw-1', seq: 1, samples: [aSample(T0, 1)] }]);
        throw new Error('the hub gave up');
      }),
    ).toThrow('the hub gave up');
    expect(store.lastSample('gw-1')).toBeNull();
    expect(store.storeTelemetry([{ gatewayId: 'gw-1', seq: 1, samples: [aSample(T0, 1)] }])).toEqual([true]);
  });
});

describe('load history', () => {
  it("'1s' per gateway: the samples of each second averaged, buckets starting in [from, to), ascending", () => {
    const store = aStore();
    store1(store, 'gw-1', 1, [aSample(T0 + 2_500, 30), aSample(T0 + 100, 10), aSample(T0 + 900, 20), aSample(T0 + 3_000, 40)]);
    expect(store.loadHistory({ gatewayId: 'gw-1', from: T0, to: T0 + 10_000, resolution: '1s' })).toEqual([
      { time: T0, kw: 15 },
      { time: T0 + 2_000, kw: 30 },
      { time: T0 + 3_000, kw: 40 },
    ]);
    // A bucket starting before `from` is not included, not even partly; `to` is exclusive.
    expect(store.loadHistory({ gatewayId: 'gw-1', from: T0 + 500, to: T0 + 3_000, resolution: '1s' })).toEqual([{ time: T0 + 2_000, kw: 30 }]);
    expect(store.loadHistory({ gatewayId: 'gw-1', from: T0 + 3_000, to: T0, resolution: '1s' })).toEqual([]);
    expect(store.loadHistory({ gatewayId: 'gw-other', from: T0, to: T0 + 10_000, resolution: '1s' })).toEqual([]);
  });

  it("'1m' and '15m' per gateway: the average of the samples in each bucket", () => {
    const store = aStore();
    // 08:00:00..08:19:59 at 1 Hz: first minute 10 kW, the rest 40 kW.
    store1(store, 'gw-1', 1, everySecond(T0, 20 * 60, (i) => (i < 60 ? 10 : 40)));
    const minutes = store.loadHistory({ gatewayId: 'gw-1', from: T0, to: T0 + 3 * MIN, resolution: '1m' });
    expect(minutes).toEqual([
      { time: T0, kw: 10 },
      { time: T0 + MIN, kw: 40 },
      { time: T0 + 2 * MIN, kw: 40 },
    ]);
    const quarters = store.loadHistory({ gatewayId: 'gw-1', from: T0, to: T0 + HOUR, resolution: '15m' });
    expect(quarters).toHaveLength(2);
    expect(quarters[0]?.time).toBe(T0);
    expect(quarters[0]?.kw).toBeCloseTo((60 * 10 + 840 * 40) / 900, 9);
    expect(quarters[1]).toEqual({ time: T0 + QH, kw: 40 });
  });

  it('fleet: per bucket the sum of each gateway’s own average, not the average of all samples', () => {
    const store = aStore();
    store.storeTelemetry([
      // gw-a: a full minute at 10 kW, and two samples within one second (5 and 15 → 10).
      { gatewayId: 'gw-a', seq: 1, samples: [...everySecond(T0, 60, () => 10)] },
      // gw-b: one sample in that minute, 4 kW, in second 0 and second 30.
      { gatewayId: 'gw-b', seq: 1, samples: [aSample(T0 + 30_000, 4)] },
      // gw-c: only in the next minute.
      { gatewayId: 'gw-c', seq: 1, samples: [aSample(T0 + MIN, 7), aSample(T0 + MIN + 400, 9)] },
    ]);
    expect(store.loadHistory({ from: T0, to: T0 + 2 * MIN, resolution: '1m' })).toEqual([
      { time: T0, kw: 14 },
      { time: T0 + MIN, kw: 8 },
    ]);
    const seconds = store.loadHistory({ from: T0 + 29_000, to: T0 + 32_000, resolution: '1s' });
    expect(seconds).toEqual([
      { time: T0 + 29_000, kw: 10 },
      { time: T0 + 30_000, kw: 14 },
      { time: T0 + 31_000, kw: 10 },
    ]);
    expect(store.loadHistory({ from: T0 + MIN, to: T0 + MIN + 1_000, resolution: '1s' })).toEqual([{ time: T0 + MIN, kw: 8 }]);
    const quarter = store.loadHistory({ from: T0, to: T0 + QH, resolution: '15m' });
    expect(quarter).toHaveLength(1);
    expect(quarter[0]?.kw).toBeCloseTo(10 + 4 + 8, 9);
  });

  it('fleet: a sample arriving late for a bucket moves the fleet by that gateway’s change of average', () => {
    const store = aStore();
    store1(store, 'gw-a', 1, [aSample(T0, 10)]);
    store1(store, 'gw-b', 1, [aSample(T0 + 1_000, 20)]);
    store1(store, 'gw-a', 3, [aSample(T0 + 30_000, 30)]); // seq 2 is late
    store1(store, 'gw-a', 2, [aSample(T0 + 20_000, 50)]);
    const [minute] = store.loadHistory({ from: T0, to: T0 + MIN, resolution: '1m' });
    expect(minute?.kw).toBeCloseTo((10 + 30 + 50) / 3 + 20, 9);
  });
});

describe('peakOf', () => {
  /** gw-a: 08:00–08:15 at 10 kW, 08:15–08:30 at 30 kW, 08:30–08:37:30 (450 s) at 50 kW, 08:45–08:45:05 at 900 kW. */
  function aMonth(store: HubStore): void {
    store1(store, 'gw-a', 1, everySecond(T0, 900, () => 10));
    store1(store, 'gw-a', 2, everySecond(T0 + QH, 900, () => 30));
    store1(store, 'gw-a', 3, everySecond(T0 + 2 * QH, 450, () => 50));
    store1(store, 'gw-a', 4, everySecond(T0 + 3 * QH, 5, () => 900));
    // gw-b: 20 kW during the first two quarter-hours, at 1 sample per 10 s (90 per quarter).
    store1(store, 'gw-b', 1, Array.from({ length: 180 }, (_, i) => aSample(T0 + i * 10_000, 20)));
  }

  it('per gateway: the highest quarter-hour average with enough samples, wholly inside [from, to)', () => {
    const store = aStore();
    aMonth(store);
    expect(store.peakOf({ gatewayId: 'gw-a', from: T0, to: T0 + 4 * QH })).toEqual({ kw: 50, start: T0 + 2 * QH });
    // 449 samples are not enough with minSamples 450; the 5-second spike never counts.
    expect(store.peakOf({ gatewayId: 'gw-a', from: T0, to: T0 + 4 * QH, minSamples: 451 })).toEqual({ kw: 30, start: T0 + QH });
    // The quarter-hour still running at `to` is left out.
    expect(store.peakOf({ gatewayId: 'gw-a', from: T0, to: T0 + 3 * QH - 1 })).toEqual({ kw: 30, start: T0 + QH });
    expect(store.peakOf({ gatewayId: 'gw-a', from: T0 + 1, to: T0 + 2 * QH })).toEqual({ kw: 30, start: T0 + QH });
    expect(store.peakOf({ gatewayId: 'gw-a', from: T0, to: T0 + QH - 1 })).toBeNull();
    expect(store.peakOf({ gatewayId: 'gw-b', from: T0, to: T0 + 4 * QH })).toBeNull();
    expect(store.peakOf({ gatewayId: 'gw-b', from: T0, to: T0 + 4 * QH, minSamples: 90 })).toEqual({ kw: 20, start: T0 });
    expect(store.peakOf({ gatewayId: 'gw-none', from: T0, to: T0 + 4 * QH })).toBeNull();
  });

  it('fleet: the per-quarter sum of gateway averages, a quarter counting when one gateway has enough samples; ties go to the earliest', () => {
    const store = aStore();
    aMonth(store);
    // 08:15: 30 + 20 = 50, 08:30: 50 alone = 50 → the earlier wins.
    expect(store.peakOf({ from: T0, to: T0 + 4 * QH })).toEqual({ kw: 50, start: T0 + QH });
    expect(store.peakOf({ from: T0 + 2 * QH, to: T0 + 4 * QH })).toEqual({ kw: 50, start: T0 + 2 * QH });
    expect(store.peakOf({ from: T0, to: T0 + 4 * QH, minSamples: 901 })).toBeNull();
    expect(store.peakOf({ from: T0, to: T0 + QH })?.kw).toBeCloseTo(30, 9);
  });
});

describe('lastSample', () => {
  it('is the latest sample by time, whatever order they arrived in, with its relays', () => {
    const store = aStore();
    expect(store.lastSample('gw-1')).toBeNull();
    store1(store, 'gw-1', 2, [aSample(T0 + 5_000, 12.5, { relays: [{ channel: 3, on: false }, { channel: 4, on: true }] })]);
    store1(store, 'gw-1', 1, [aSample(T0, 99)]);
    expect(store.lastSample('gw-1')).toEqual({ time: T0 + 5_000, kw: 12.5, relays: [{ channel: 3, on: false }, { channel: 4, on: true }] });
  });
});

describe('prune', () => {
  it('deletes raw samples older than 48 h and roll-ups older than 400 days — whole seconds and buckets — and nothing newer', () => {
    const store = aStore();
    const now = T0 + 400 * DAY;
    const rawCut = now - 2 * DAY;
    const rollCut = now - 400 * DAY; // = T0, aligned to the quarter-hour
    store.storeTelemetry([
      { gatewayId: 'gw-1', seq: 1, samples: [aSample(rollCut - 1, 1), aSample(rollCut, 2), aSample(rollCut + QH, 3)] },
      { gatewayId: 'gw-1', seq: 2, samples: [aSample(rawCut - 1, 4), aSample(rawCut, 5), aSample(rawCut + 1, 6)] },
      { gatewayId: 'gw-2', seq: 1, samples: [aSample(rawCut - 1_000, 7)] },
    ]);
    // rollups: gw-1's minute and quarter-hour before the 400-day cut-off, the fleet's minute and
    // quarter-hour, and the fleet's per-second rows of the 4 seconds before the 48 h cut-off.
    expect(store.prune(now)).toEqual({ raw: 5, rollups: 1 + 1 + 1 + 1 + 4, done: true });
    // raw: only the samples at and after the 48 h cut-off are left.
    expect(store.loadHistory({ gatewayId: 'gw-1', from: 0, to: now, resolution: '1s' })).toEqual([{ time: rawCut, kw: 5.5 }]);
    expect(store.loadHistory({ from: 0, to: now, resolution: '1s' })).toEqual([{ time: rawCut, kw: 5.5 }]);
    // The minute and the quarter-hour before the 400-day cut-off went (per gateway and fleet), the rest stayed.
    expect(store.loadHistory({ gatewayId: 'gw-1', from: 0, to: rollCut + 2 * QH, resolution: '1m' }).map((p) => p.time)).toEqual([rollCut, rollCut + QH]);
    expect(store.loadHistory({ from: 0, to: rollCut + 2 * QH, resolution: '15m' }).map((p) => p.time)).toEqual([rollCut, rollCut + QH]);
    expect(store.loadHistory({ from: rawCut - 2 * QH, to: now, resolution: '1m' }).map((p) => p.time)).toEqual([rawCut - MIN, rawCut]);
    expect(store.prune(now)).toEqual({ raw: 0, rollups: 0, done: true });
    // Exactly-once outlives pruning: the pruned batches are still known.
    expect(store.storeTelemetry([{ gatewayId: 'gw-2', seq: 1, samples: [aSample(rawCut - 1_000, 7)] }])).toEqual([false]);
  });

  it('leaves a second the cut-off falls inside until all of it is older than 48 h', () => {
    const store = aStore();
    const now = T0 + 2 * DAY + 500; // cut-off T0 + 500 → rounded down to T0
    store1(store, 'gw-1', 1, [aSample(T0 - 1, 1), aSample(T0 + 100, 2)]);
    expect(store.prune(now).raw).toBe(1);
    expect(store.lastSample('gw-1')?.time).toBe(T0 + 100);
  });

  it(`removes at most ${PRUNE_BUDGET_ROWS} rows per call, says when more is left, and finishes over further calls`, () => {
    const store = aStore();
    const gateways = ['gw-a', 'gw-b', 'gw-c'];
    const perGateway = 25_000;
    store.storeTelemetry(
      gateways.flatMap((gatewayId) =>
        Array.from({ length: perGateway / 500 }, (_, b) => ({ gatewayId, seq: b + 1, samples: everySecond(T0 + b * 500_000, 500, () => 1) })),
      ),
    );
    const now = T0 + 10 * DAY;
    const calls: Array<{ raw: number; rollups: number; done: boolean }> = [];
    for (let i = 0; i < 40 && !calls.at(-1)?.done; i++) calls.push(store.prune(now));
    expect(calls[0]?.done).toBe(false);
    expect(calls.at(-1)?.done).toBe(true);
    for (const c of calls) expect(c.raw + c.rollups).toBeLessThanOrEqual(PRUNE_BUDGET_ROWS + 1_000);
    expect(calls.reduce((n, c) => n + c.raw, 0)).toBe(gateways.length * perGateway);
    for (const g of gateways) expect(store.lastSample(g)).toBeNull();
  });

  it(`keeps to the budget of ${PRUNE_BUDGET_ROWS} rows in the quarter-hours too, going on with the same gateway at the next call`, () => {
    const store = aStore();
    // 12,000 quarter-hours (and as many minutes) of one gateway, then one of another, all past 400 days.
    const quarters = 12_000;
    const samples = Array.from({ length: quarters }, (_, q) => aSample(T0 + q * QH, 1));
    store.storeTelemetry([
      { gatewayId: 'gw-a', seq: 1, samples },
      { gatewayId: 'gw-b', seq: 1, samples: [aSample(T0, 2)] },
    ]);
    const now = T0 + quarters * QH + 401 * DAY;
    const calls: Array<{ raw: number; rollups: number; done: boolean }> = [];
    for (let i = 0; i < 20 && !calls.at(-1)?.done; i++) calls.push(store.prune(now));
    expect(calls.at(-1)?.done).toBe(true);
    expect(calls.length).toBeGreaterThan(2);
    for (const c of calls) expect(c.raw + c.rollups).toBeLessThanOrEqual(PRUNE_BUDGET_ROWS);
    for (const gatewayId of ['gw-a', 'gw-b']) expect(store.loadHistory({ gatewayId, from: 0, to: now, resolution: '15m' })).toEqual([]);
  });

  it(`looks at the quarter-hours of at most ${QUARTER_PRUNE_GATEWAYS} gateways per call, once per quarter-hour cut-off`, () => {
    const store = aStore();
    const gateways = Array.from({ length: 2 * QUARTER_PRUNE_GATEWAYS + 10 }, (_, i) => `gw-${String(i).padStart(4, '0')}`);
    // One quarter-hour 401 days back for each (with its minute), one recent.
    store.storeTelemetry(gateways.map((gatewayId) => ({ gatewayId, seq: 1, samples: [aSample(T0, 1), aSample(T0 + 401 * DAY, 2)] })));
    const now = T0 + 401 * DAY + QH;
    const calls: Array<{ raw: number; rollups: number; done: boolean }> = [];
    for (let i = 0; i < 10 && !calls.at(-1)?.done; i++) calls.push(store.prune(now));
    // Minutes and the fleet's rows go in the first call; the gateways' quarter-hours over three.
    expect(calls.map((c) => c.done)).toEqual([false, false, true]);
    // Each gateway's minute and quarter-hour; the fleet's second, minute and quarter-hour.
    expect(calls.reduce((n, c) => n + c.rollups, 0)).toBe(gateways.length * 2 + 3);
    expect(store.loadHistory({ gatewayId: 'gw-0000', from: 0, to: now, resolution: '15m' }).map((p) => p.time)).toEqual([T0 + 401 * DAY]);
    // Until the cut-off moves to the next quarter-hour, a call has nothing to look at.
    expect(store.prune(now + 60_000)).toEqual({ raw: 0, rollups: 0, done: true });
    store.storeTelemetry([{ gatewayId: 'gw-0000', seq: 2, samples: [aSample(T0 + QH, 3)] }]);
    const later = now + QH;
    for (let i = 0; i < 10 && !store.prune(later).done; i++);
    expect(store.loadHistory({ gatewayId: 'gw-0000', from: 0, to: later, resolution: '15m' }).map((p) => p.time)).toEqual([T0 + 401 * DAY]);
  });
});
