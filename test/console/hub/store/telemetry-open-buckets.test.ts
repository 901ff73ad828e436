/**
 * Telemetry's open buckets: samples of the current minute and quarter-hour are rolled up in memory
 * and written once the bucket has closed (plus a grace time), behind the rolled_up_to watermark;
 * what the memory held is rebuilt from the raw rows when the store opens again. Also: a schema-2
 * database with telemetry in the old layout is migrated.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openHubDb } from '../../../../console/hub/store/db.js';
import { HubStore, ROLLUP_GRACE_MS } from '../../../../console/hub/store/index.js';
import { MIGRATIONS } from '../../../../console/hub/store/migrations.js';
import type { LoadPoint } from '../../../../console/hub/operator/types.js';
import type { TelemetrySample } from '../../../../shared/protocol/messages.js';
import { aDataDir, aSample, rawDb } from './builders.js';

const MIN = 60_000;
const QH = 900_000;
/** 12:07:00 UTC: inside a quarter-hour, on a minute. */
const NOW = Date.UTC(2026, 5, 1, 12, 7, 0);

function aClock(start = NOW): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v) };
}

function open(dir: string, clock: { now: () => number }): HubStore {
  return HubStore.open(dir, { now: clock.now });
}

function everySecond(from: number, seconds: number, kw: (i: number) => number): TelemetrySample[] {
  return Array.from({ length: seconds }, (_, i) => aSample(from + i * 1_000, kw(i)));
}

/** Every curve and peak the store answers, to compare before and after a restart. */
function answers(store: HubStore, gateways: string[]): unknown {
  const range = { from: NOW - 2 * QH, to: NOW + 2 * QH };
  const curves: Record<string, LoadPoint[]> = {};
  for (const resolution of ['1s', '1m', '15m'] as const) {
    curves[`fleet ${resolution}`] = store.loadHistory({ ...range, resolution });
    for (const g of gateways) curves[`${g} ${resolution}`] = store.loadHistory({ ...range, resolution, gatewayId: g });
  }
  const peaks = gateways.map((g) => store.peakOf({ gatewayId: g, from: range.from, to: range.to, minSamples: 1 }));
  return { curves, peaks, fleetPeak: store.peakOf({ ...range, minSamples: 1 }), last: gateways.map((g) => store.lastSample(g)) };
}

describe('open buckets', () => {
  it('answers from memory at once, writes a minute to the tables only after it closed and its grace passed, and answers the same after', () => {
    const dir = aDataDir();
    const clock = aClock();
    const store = open(dir, clock);
    const raw = rawDb(store.path);
    store.storeTelemetry([
      { gatewayId: 'gw-a', seq: 1, samples: everySecond(NOW, 30, () => 10) },
      { gatewayId: 'gw-b', seq: 1, samples: everySecond(NOW + 500, 30, (i) => i) },
    ]);
    const before = answers(store, ['gw-a', 'gw-b']);
    expect(store.loadHistory({ from: NOW, to: NOW + MIN, resolution: '1m' })).toEqual([{ time: NOW, kw: 10 + 14.5 }]);
    expect(store.loadHistory({ gatewayId: 'gw-b', from: NOW, to: NOW + MIN, resolution: '1m' })).toEqual([{ time: NOW, kw: 14.5 }]);
    // Nothing of the open minute is in the roll-up tables yet: the commit wrote the raw rows only.
    expect(raw.prepare('SELECT COUNT(*) AS n FROM telemetry_1m').get()).toEqual({ n: 0 });

    clock.set(NOW + MIN + ROLLUP_GRACE_MS - 1);
    store.storeTelemetry([{ gatewayId: 'gw-a', seq: 2, samples: [aSample(NOW + MIN + 1_000, 10)] }]);
    expect(raw.prepare('SELECT COUNT(*) AS n FROM telemetry_1m').get()).toEqual({ n: 0 });
    clock.set(NOW + MIN + ROLLUP_GRACE_MS);
    store.flushTelemetryRollups();
    expect(raw.prepare('SELECT gateway_id, bucket, count, sum_kw FROM telemetry_1m ORDER BY gateway_id').all()).toEqual([
      { gateway_id: 'gw-a', bucket: NOW, count: 30, sum_kw: 300 },
      { gateway_id: 'gw-b', bucket: NOW, count: 30, sum_kw: 435 },
    ]);
    expect(raw.prepare('SELECT bucket, kw FROM fleet_1m').all()).toEqual([{ bucket: NOW, kw: 24.5 }]);
    expect(raw.prepare('SELECT from_seq, to_seq FROM telemetry_seqs ORDER BY gateway_id').all()).toEqual([
      { from_seq: 1, to_seq: 2 },
      { from_seq: 1, to_seq: 1 },
    ]);
    // The quarter-hour is still open: in memory.
    expect(raw.prepare('SELECT COUNT(*) AS n FROM telemetry_15m').get()).toEqual({ n: 0 });
    const after = answers(store, ['gw-a', 'gw-b']) as { curves: Record<string, LoadPoint[]> };
    expect(after.curves['gw-a 1m']).toEqual([
      { time: NOW, kw: 10 },
      { time: NOW + MIN, kw: 10 },
    ]);
    expect((before as { curves: Record<string, LoadPoint[]> }).curves['fleet 1s']).toEqual(after.curves['fleet 1s']?.slice(0, 30));

    // A sample late for the written minute goes straight into the tables, and moves the fleet by its gateway's change.
    store.storeTelemetry([{ gatewayId: 'gw-b', seq: 2, samples: [aSample(NOW + 45_000, 45)] }]);
    const [minute] = store.loadHistory({ gatewayId: 'gw-b', from: NOW, to: NOW + MIN, resolution: '1m' });
    expect(minute?.kw).toBeCloseTo((435 + 45) / 31, 9);
    expect(store.loadHistory({ from: NOW, to: NOW + MIN, resolution: '1m' })[0]?.kw).toBeCloseTo(10 + (435 + 45) / 31, 9);
    store.close();
  });

  it('rebuilds the open buckets and the seqs not yet written from the raw rows after a stop without any flush: the same answers, exactly once', () => {
    const dir = aDataDir();
    const clock = aClock();
    const store = open(dir, clock);
    const gateways = ['gw-a', 'gw-b', 'gw-c'];
    // 20 minutes of 1 Hz in batches of 30 s, some out of order, a replay, and one sample late for a written minute.
    const batches = gateways.flatMap((gatewayId, g) =>
      Array.from({ length: 40 }, (_, b) => ({ gatewayId, seq: b + 1, samples: everySecond(NOW - 10 * MIN + b * 30_000 + g * 100, 30, (i) => g * 10 + (i % 7)) })),
    );
    clock.set(NOW - 10 * MIN);
    store.storeTelemetry([]); // nothing
    for (let i = 0; i < batches.length; i += 7) {
      const group = batches.slice(i, i + 7).reverse();
      clock.set(Math.max(clock.now(), ...group.flatMap((b) => b.samples.map((s) => s.time))) + 1_000);
      expect(store.storeTelemetry(group)).toEqual(group.map(() => true));
    }
    expect(store.storeTelemetry([batches[5] as (typeof batches)[number]])).toEqual([false]);
    const before = answers(store, gateways);
    store.close();

    const again = open(dir, clock);
    expect(answers(again, gateways)).toEqual(before);
    expect(again.storeTelemetry(batches.slice(0, 20))).toEqual(batches.slice(0, 20).map(() => false));
    expect(again.storeTelemetry([{ gatewayId: 'gw-a', seq: 41, samples: [aSample(clock.now(), 1)] }])).toEqual([true]);
    // And once the buckets are written to the tables, still the same answers.
    const inMemory = answers(again, gateways);
    clock.set(clock.now() + QH + ROLLUP_GRACE_MS);
    again.flushTelemetryRollups();
    expect(rawDb(again.path).prepare('SELECT COUNT(*) AS n FROM telemetry_15m').get()).not.toEqual({ n: 0 });
    expect(answers(again, gateways)).toEqual(inMemory);
    again.close();
  });
});

describe('migration from schema 2', () => {
  it('moves old raw rows, roll-ups and seqs into the new layout: same curves, peaks, last sample and exactly-once', () => {
    const dir = aDataDir();
    const old = openHubDb(dir, MIGRATIONS.slice(0, 2)).db;
    const T = Date.UTC(2025, 2, 3, 9, 0, 0);
    const insertRaw = old.prepare('INSERT INTO telemetry_raw (gateway_id, time, seq, idx, kw, kwh, relays, channel_kw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const rows: Array<[string, number, number, number]> = [];
    for (let i = 0; i < 120; i++) rows.push(['gw-old', T + i * 1_000 + 250, 1 + Math.floor(i / 60), i % 60]);
    old.transaction(() => {
      for (const [gw, time, seq, idx] of rows) insertRaw.run(gw, time, seq, idx, idx < 30 ? 8 : 12, 1000 + idx, '[[1,1],[2,0]]', '[[1,4.5]]');
      old.prepare("INSERT INTO telemetry_seqs VALUES ('gw-old', 1, 2), ('gw-gone', 1, 9)").run();
      old.prepare("INSERT INTO telemetry_1m VALUES ('gw-old', ?, 60, 600, 8, 12, 1059, ?), ('gw-old', ?, 60, 600, 8, 12, 1059, ?)").run(T, T + 59_250, T + MIN, T + MIN + 59_250);
      old.prepare("INSERT INTO telemetry_15m VALUES ('gw-old', ?, 120, 1200, 8, 12, 1059, ?)").run(T, T + MIN + 59_250);
      old.prepare('INSERT INTO fleet_1m VALUES (?, 10, 60), (?, 10, 60)').run(T, T + MIN);
      old.prepare('INSERT INTO fleet_15m VALUES (?, 10, 120)').run(T);
    })();
    old.close();

    const store = HubStore.open(dir);
    expect(new Database(store.path, { readonly: true }).pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(store.lastSample('gw-old')).toEqual({ time: T + 119_250, kw: 12, relays: [{ channel: 1, on: true }, { channel: 2, on: false }] });
    const seconds = store.loadHistory({ gatewayId: 'gw-old', from: T, to: T + 2 * MIN, resolution: '1s' });
    expect(seconds).toHaveLength(120);
    expect(seconds[0]).toEqual({ time: T, kw: 8 });
    expect(store.loadHistory({ gatewayId: 'gw-old', from: T, to: T + QH, resolution: '1m' })).toEqual([
      { time: T, kw: 10 },
      { time: T + MIN, kw: 10 },
    ]);
    expect(store.loadHistory({ gatewayId: 'gw-old', from: T, to: T + QH, resolution: '15m' })).toEqual([{ time: T, kw: 10 }]);
    expect(store.peakOf({ gatewayId: 'gw-old', from: T, to: T + QH, minSamples: 100 })).toEqual({ kw: 10, start: T });
    expect(store.peakOf({ from: T, to: T + QH, minSamples: 100 })).toEqual({ kw: 10, start: T });
    expect(
      store.storeTelemetry([
        { gatewayId: 'gw-old', seq: 2, samples: [] },
        { gatewayId: 'gw-gone', seq: 9, samples: [] },
        { gatewayId: 'gw-old', seq: 3, samples: [] },
      ]),
    ).toEqual([false, false, true]);
    // The old rows keep their JSON forms; the view shows them with the gateway's id.
    expect(rawDb(store.path).prepare('SELECT COUNT(*) AS n, MIN(time) AS first FROM telemetry_raw WHERE gateway_id = ?').get('gw-old')).toEqual({ n: 120, first: T + 250 });
    store.close();
  });
});

describe('a flush in slices', () => {
  it('writes the closed minute of 2,500 gateways over five group commits; stopped after the first, the reopened store answers the same and finishes it', () => {
    const dir = aDataDir();
    const clock = aClock();
    const store = open(dir, clock);
    const gateways = Array.from({ length: 2_500 }, (_, i) => `gw-${i}`);
    store.storeTelemetry(gateways.map((gatewayId, g) => ({ gatewayId, seq: 1, samples: everySecond(NOW + g, 3, (i) => g + i) })));
    const before = answers(store, gateways.slice(0, 5));
    const fleetBefore = store.loadHistory({ from: NOW, to: NOW + MIN, resolution: '1m' });
    clock.set(NOW + MIN + ROLLUP_GRACE_MS);
    store.flushTelemetryRollups(); // the first 500 gateways
    const raw = rawDb(store.path);
    expect(raw.prepare('SELECT COUNT(*) AS n FROM rollup_1m').get()).toEqual({ n: 500 });
    expect(raw.prepare('SELECT COUNT(*) AS n FROM fleet_1m').get()).toEqual({ n: 0 });
    expect(answers(store, gateways.slice(0, 5))).toEqual(before);
    store.close(); // as a crash would: the flush not finished

    const again = open(dir, clock);
    expect(answers(again, gateways.slice(0, 5))).toEqual(before);
    for (let i = 0; i < 5; i++) again.flushTelemetryRollups();
    expect(raw.prepare('SELECT COUNT(*) AS n FROM rollup_1m').get()).toEqual({ n: 2_500 });
    expect(raw.prepare('SELECT COUNT(*) AS n FROM telemetry_index').get()).toEqual({ n: 2_500 });
    expect(raw.prepare('SELECT SUM(count) AS n FROM rollup_1m').get()).toEqual({ n: 7_500 });
    expect(answers(again, gateways.slice(0, 5))).toEqual(before);
    const fleetAfter = again.loadHistory({ from: NOW, to: NOW + MIN, resolution: '1m' });
    expect(fleetAfter.map((p) => p.time)).toEqual(fleetBefore.map((p) => p.time));
    expect(fleetAfter[0]?.kw).toBeCloseTo(fleetBefore[0]?.kw ?? NaN, 6);
    expect(again.storeTelemetry(gateways.map((gatewayId) => ({ gatewayId, seq: 1, samples: [] }))).every((fresh) => !fresh)).toBe(true);
    again.close();
  });
});
