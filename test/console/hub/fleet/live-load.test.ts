/**
 * Live load after a hub restart: the billing period's peak and the current quarter-hour are resumed
 * from the store, so the operator's figures do not reset when the hub does.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LiveLoad } from '../../../../console/hub/fleet/live-load.js';
import type { LoadFigures } from '../../../../console/hub/operator/types.js';
import { HubStore } from '../../../../console/hub/store/index.js';
import type { TelemetrySample } from '../../../../shared/protocol/messages.js';
import { tempDir } from '../../../helpers/processes.js';

const Q = 900_000;
const NOW = Date.parse('2026-11-25T10:07:30Z');
const START = Date.parse('2026-11-25T10:00:00Z');

/** The fleet's figures as the fleet snapshot makes them: from its gateways' own. */
function fleetOf(load: LiveLoad, ids: readonly string[], at = NOW): LoadFigures {
  return load.fleetFiguresFrom(ids.map((id) => load.figures(id, at)), at);
}

function samples(from: number, to: number, kw: number): TelemetrySample[] {
  const out: TelemetrySample[] = [];
  for (let t = from; t < to; t += 1000) out.push({ time: t, kw, relays: [{ channel: 1, on: true }] });
  return out;
}

describe('LiveLoad', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: HubStore;

  beforeEach(() => {
    tmp = tempDir('lmgw-live-');
    store = HubStore.open(tmp.dir);
  });
  afterEach(() => {
    store.close();
    tmp.cleanup();
  });

  it('resumes the billing-period peak and the current quarter-hour from the store', () => {
    // Last month's higher peak must not count; this month's 09:45 quarter-hour at 30 kW is the peak.
    store.storeTelemetry([
      { gatewayId: 'gw', seq: 1, samples: samples(Date.parse('2026-10-31T12:00:00Z'), Date.parse('2026-10-31T12:15:00Z'), 80) },
      { gatewayId: 'gw', seq: 2, samples: samples(START - Q, START, 30) },
      { gatewayId: 'gw', seq: 3, samples: samples(START, NOW, 10) },
    ]);
    const load = new LiveLoad('UTC', store, () => NOW);
    load.track('gw');
    const f = load.figures('gw');
    expect(f).toMatchObject({ intervalStart: START, intervalEnd: START + Q, peakKw: 30, peakIntervalStart: START - Q, currentKw: 10, targetKw: null });
    expect(f.averageKw).toBeCloseTo(10, 9);
    expect(f.projectedKw).toBeCloseTo(10, 9);
    expect(f.coverage).toBeCloseTo(0.5, 2);
    expect(fleetOf(load, ['gw'])).toMatchObject({ peakKw: 30, currentKw: 10 });
  });

  it('adds live samples, goes stale after 10 s of silence, and sums the fleet', () => {
    let now = NOW;
    const load = new LiveLoad('Europe/Zurich', store, () => now);
    load.add('a', samples(NOW - 5000, NOW, 4));
    load.add('b', samples(NOW - 5000, NOW, 6));
    load.setTarget(undefined, 12);
    load.setTarget('a', 3);
    expect(fleetOf(load, ['a', 'b'], now)).toMatchObject({ currentKw: 10, targetKw: 12 });
    expect(load.figures('a').targetKw).toBe(3);
    now += 11_000;
    expect(load.currentKw('a')).toBeNull();
    expect(fleetOf(load, ['a', 'b'], now).currentKw).toBeNull();
  });
  it('projects the fleet as the sum of its gateways, also while gateways are still joining', async () => {
    const load = new LiveLoad('UTC', store, () => NOW);
    load.add('a', samples(START, NOW, 10));
    await load.second(NOW - 4000);
    load.add('b', samples(NOW - 3000, NOW, 20)); // joined 3 s ago
    for (let t = NOW - 3000; t <= NOW; t += 1000) await load.second(t);
    const f = fleetOf(load, ['a', 'b']);
    expect(f.currentKw).toBe(30);
    expect(f.projectedKw).toBeCloseTo(load.figures('a').projectedKw! + load.figures('b').projectedKw!, 9);
    expect(f.projectedKw).toBeCloseTo(30, 6);
    expect(f.averageKw).toBeCloseTo(30, 6);
  });
  it('makes the once-a-second pass over 5,000 gateways in slices, with the figures of one go, and skips a second while a pass is under way', async () => {
    const load = new LiveLoad('UTC', store, () => NOW);
    for (let i = 0; i < 5_000; i++) load.add(`g${i}`, samples(NOW - 3000, NOW, 1 + (i % 7)));
    const first = load.second(NOW);
    expect(await load.second(NOW)).toBeUndefined(); // the first is still on its way (3 slices)
    const figures = await first;
    const sum = Array.from({ length: 5_000 }, (_, i) => 1 + (i % 7)).reduce((a, b) => a + b, 0);
    expect(figures?.currentKw).toBe(sum);
    // The pass sums the meters' snapshots; the fleet snapshot sums the gateways' own figures: the same.
    expect(fleetOf(load, Array.from({ length: 5_000 }, (_, i) => `g${i}`))).toEqual(figures);
  });
});
