/**
 * Property: whatever order samples arrive in — batches shuffled, split over groups, some replayed —
 * the stored raw rows are exactly the samples sent, once each, and every 1-minute and 15-minute
 * roll-up (count, average, min, max, last meter reading) and every fleet point equals what a
 * computation from those raw rows gives.
 */
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HubStore } from '../../../../console/hub/store/index.js';
import type { LoadResolution } from '../../../../console/hub/operator/types.js';
import type { TelemetrySample } from '../../../../shared/protocol/messages.js';
import { tempDir } from '../../../helpers/processes.js';
import { T0 } from './builders.js';

const GATEWAYS = ['gw-a', 'gw-b', 'gw-c'] as const;
const BASE = T0 + 900_000; // a quarter-hour boundary; samples fall 20 minutes either side
const SIZE: Record<LoadResolution, number> = { '1s': 1_000, '1m': 60_000, '15m': 900_000 };

interface Rollup {
  count: number;
  average: number;
  min: number;
  max: number;
  lastKwh: number | null;
}

interface RawRow {
  gateway_id: string;
  time: number;
  kw: number;
  kwh: number | null;
}

/** Rolls raw rows up per (gateway, bucket) the obvious way. */
function rollUp(rows: readonly RawRow[], size: number): Map<string, Rollup> {
  const groups = new Map<string, RawRow[]>();
  for (const r of rows) {
    const key = `${r.gateway_id}|${Math.floor(r.time / size) * size}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const result = new Map<string, Rollup>();
  for (const [key, g] of groups) {
    const withKwh = g.filter((r) => r.kwh !== null).sort((a, b) => a.time - b.time);
    result.set(key, {
      count: g.length,
      average: g.reduce((s, r) => s + r.kw, 0) / g.length,
      min: Math.min(...g.map((r) => r.kw)),
      max: Math.max(...g.map((r) => r.kw)),
      lastKwh: withKwh.at(-1)?.kwh ?? null,
    });
  }
  return result;
}

/** Per bucket, the sum over gateways of each gateway's average. */
function fleetOf(rollups: Map<string, Rollup>): Map<number, number> {
  const fleet = new Map<number, number>();
  for (const [key, r] of rollups) {
    const bucket = Number(key.split('|')[1]);
    fleet.set(bucket, (fleet.get(bucket) ?? 0) + r.average);
  }
  return fleet;
}

const close = (a: number | undefined, b: number | undefined): void => {
  expect(a).toBeDefined();
  expect(Math.abs((a ?? NaN) - (b ?? NaN))).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b ?? 0)));
};

// Times cluster around minute boundaries (m minutes ± up to 1.5 s), so buckets' edges are exercised.
const time = fc.tuple(fc.integer({ min: -20, max: 20 }), fc.integer({ min: -1_500, max: 1_500 })).map(([m, d]) => BASE + m * 60_000 + d);
const sample = fc.record({
  time,
  kw: fc.integer({ min: -50_000, max: 500_000 }).map((w) => w / 1_000),
  kwh: fc.option(fc.integer({ min: 0, max: 10_000_000 }).map((w) => w / 1_000), { nil: undefined }),
});
/** Per gateway: samples with distinct times (so "the last meter reading" has one answer), in batches. */
const gatewaySamples = fc.uniqueArray(sample, { selector: (s) => s.time, maxLength: 80 });
const scenario = fc.record({
  perGateway: fc.tuple(gatewaySamples, gatewaySamples, gatewaySamples),
  batchSize: fc.integer({ min: 1, max: 12 }),
  order: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 200, maxLength: 200 }),
  groupSize: fc.integer({ min: 1, max: 10 }),
  replays: fc.array(fc.nat(), { maxLength: 8 }),
});

describe('roll-ups follow the raw samples whatever the arrival order', () => {
  it('1m and 15m roll-ups and fleet points equal those computed from the raw rows', () => {
    fc.assert(
      fc.property(scenario, ({ perGateway, batchSize, order, groupSize, replays }) => {
        const dir = tempDir('lmgw-rollups-');
        const store = HubStore.open(dir.dir);
        const raw = new Database(store.path, { readonly: true });
        try {
          const batches: Array<{ gatewayId: string; seq: number; samples: TelemetrySample[] }> = [];
          GATEWAYS.forEach((gatewayId, g) => {
            const samples = (perGateway[g] ?? []).map((s): TelemetrySample => ({ time: s.time, kw: s.kw, relays: [{ channel: 1, on: true }], ...(s.kwh === undefined ? {} : { kwh: s.kwh }) }));
            for (let i = 0; i * batchSize < samples.length; i++) batches.push({ gatewayId, seq: i + 1, samples: samples.slice(i * batchSize, (i + 1) * batchSize) });
          });
          // Shuffle, then replay some batches (again, later).
          const shuffled = batches.map((b, i) => ({ b, k: order[i % order.length] ?? 0 })).sort((x, y) => x.k - y.k).map((x) => x.b);
          const replayed = replays.flatMap((n) => {
            const b = batches[n % Math.max(1, batches.length)];
            return b ? [b] : [];
          });
          const arrivals = [...shuffled, ...replayed];
          const firstTimes = new Set<string>();
          for (let i = 0; i < arrivals.length; i += groupSize) {
            const group = arrivals.slice(i, i + groupSize);
            const result = store.storeTelemetry(group);
            group.forEach((b, j) => {
              const key = `${b.gatewayId}#${b.seq}`;
              expect(result[j]).toBe(!firstTimes.has(key));
              firstTimes.add(key);
            });
          }

          const rows = raw.prepare('SELECT gateway_id, time, kw, kwh FROM telemetry_raw ORDER BY gateway_id, time').all() as RawRow[];
          // Exactly the samples sent, each once.
          const sent = batches.flatMap((b) => b.samples.map((s) => ({ gateway_id: b.gatewayId, time: s.time, kw: s.kw, kwh: s.kwh ?? null })));
          sent.sort((a, b) => a.gateway_id.localeCompare(b.gateway_id) || a.time - b.time);
          expect(rows).toEqual(sent);

          for (const resolution of ['1m', '15m'] as const) {
            const expected = rollUp(rows, SIZE[resolution]);
            const stored = raw
              .prepare(`SELECT gateway_id, bucket, count, sum_kw, min_kw, max_kw, last_kwh FROM telemetry_${resolution}`)
              .all() as Array<{ gateway_id: string; bucket: number; count: number; sum_kw: number; min_kw: number; max_kw: number; last_kwh: number | null }>;
            expect(stored).toHaveLength(expected.size);
            for (const s of stored) {
              const e = expected.get(`${s.gateway_id}|${s.bucket}`);
              expect(e).toBeDefined();
              expect(s.count).toBe(e?.count);
              close(s.sum_kw / s.count, e?.average);
              expect(s.min_kw).toBe(e?.min);
              expect(s.max_kw).toBe(e?.max);
              expect(s.last_kwh).toBe(e?.lastKwh);
            }
          }
          for (const resolution of ['1s', '1m', '15m'] as const) {
            const expected = rollUp(rows, SIZE[resolution]);
            const range = { from: BASE - 3_600_000, to: BASE + 3_600_000, resolution };
            for (const gatewayId of GATEWAYS) {
              const curve = store.loadHistory({ ...range, gatewayId });
              const want = [...expected].filter(([k]) => k.startsWith(`${gatewayId}|`)).map(([k, r]) => ({ time: Number(k.split('|')[1]), kw: r.average }));
              want.sort((a, b) => a.time - b.time);
              expect(curve.map((p) => p.time)).toEqual(want.map((p) => p.time));
              curve.forEach((p, i) => close(p.kw, want[i]?.kw));
            }
            const fleet = fleetOf(expected);
            const curve = store.loadHistory(range);
            expect(curve.map((p) => p.time)).toEqual([...fleet.keys()].sort((a, b) => a - b));
            for (const p of curve) close(p.kw, fleet.get(p.time));
          }
        } finally {
          raw.close();
          store.close();
          dir.cleanup();
        }
      }),
      { numRuns: 40 },
    );
  });
});
