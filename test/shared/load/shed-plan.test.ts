import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PlanChannel, type PlanGateway, type PlanSelector, planShed, type ShedPlan, ShedPlanner } from '../../../shared/load/index.js';

const NOW = Date.parse('2026-06-01T10:00:00Z');

function aChannel(override: Partial<PlanChannel> = {}): PlanChannel {
  return { id: 1, name: 'Boiler', priority: 1, sheddable: true, ratedKw: 10, on: true, minOnSeconds: 0, ...override };
}

function aGateway(override: Partial<PlanGateway> = {}): PlanGateway {
  return { gatewayId: 'gw-a', connected: true, channels: [aChannel()], ...override };
}

/** Planned channels as 'gateway:channel' strings, in plan order. */
function plannedIds(plan: ShedPlan): string[] {
  return plan.gateways.flatMap((g) => g.channels.map((c) => `${g.gatewayId}:${c}`));
}

describe('planShed: channels selector', () => {
  it('sheds the named channels on every gateway in scope, at measured kW where known', () => {
    const fleet = [
      aGateway({
        gatewayId: 'gw-a',
        channels: [aChannel({ id: 1, kw: 3.5 }), aChannel({ id: 2, ratedKw: 7 }), aChannel({ id: 3, ratedKw: 2 })],
      }),
      aGateway({ gatewayId: 'gw-b', channels: [aChannel({ id: 1, ratedKw: 4 }), aChannel({ id: 2 })] }),
    ];
    const plan = planShed(fleet, { kind: 'channels', channels: [3, 1] }, NOW);
    expect(plan.gateways).toEqual([
      { gatewayId: 'gw-a', channels: [1, 3], expectedKw: 5.5 },
      { gatewayId: 'gw-b', channels: [1], expectedKw: 4 },
    ]);
    expect(plan.totalKw).toBe(9.5);
    expect(plan.skipped).toEqual([
      { gatewayId: 'gw-b', channel: 3, reason: 'unknown-channel', detail: 'gateway gw-b has no channel 3' },
    ]);
    expect(plan).not.toHaveProperty('targetKw');
    expect(plan).not.toHaveProperty('shortfallKw');
  });
});

describe('planShed: priority selector', () => {
  it('sheds every sheddable channel up to the priority that is on or in an unknown state', () => {
    const gateway = aGateway({
      channels: [
        aChannel({ id: 1, priority: 1, ratedKw: 5 }),
        aChannel({ id: 2, priority: 2, ratedKw: 8, on: undefined }), // unknown: shed anyway, at rated kW
        aChannel({ id: 3, priority: 2, on: false, name: 'Pool pump' }),
        aChannel({ id: 4, priority: 1, sheddable: false, name: 'Fridge' }),
        aChannel({ id: 5, priority: 3, ratedKw: 100 }), // out of scope: no row at all
      ],
    });
    const plan = planShed([gateway], { kind: 'priority', maxPriority: 2 }, NOW);
    expect(plan.gateways).toEqual([{ gatewayId: 'gw-a', channels: [1, 2], expectedKw: 13 }]);
    expect(plan.skipped).toEqual([
      { gatewayId: 'gw-a', channel: 3, reason: 'already-off', detail: 'channel 3 (Pool pump) is already off' },
      { gatewayId: 'gw-a', channel: 4, reason: 'not-sheddable', detail: 'channel 4 (Fridge) is not sheddable' },
    ]);
  });
});

describe('planShed: targetKw selector', () => {
  const fleet = [
    aGateway({
      gatewayId: 'gw-b',
      channels: [
        aChannel({ id: 1, priority: 1, ratedKw: 20, kw: 6 }), // measured 6 kW beats its 20 kW rating
        aChannel({ id: 2, priority: 2, ratedKw: 30 }),
        aChannel({ id: 3, priority: 1, ratedKw: 9 }),
      ],
    }),
    aGateway({
      gatewayId: 'gw-a',
      channels: [aChannel({ id: 7, priority: 1, ratedKw: 9 }), aChannel({ id: 8, priority: 3, ratedKw: 50 })],
    }),
  ];

  it('takes priority 1 first, the largest saving first, gateway and channel id on ties, until the target is met', () => {
    // Order: gw-a:7 (9) = gw-b:3 (9) → gw-a first; then gw-b:1 (6); then priority 2 gw-b:2 (30); then gw-a:8.
    expect(plannedIds(planShed(fleet, { kind: 'targetKw', kw: 9 }, NOW))).toEqual(['gw-a:7']);
    expect(plannedIds(planShed(fleet, { kind: 'targetKw', kw: 10 }, NOW))).toEqual(['gw-a:7', 'gw-b:3']);
    const plan = planShed(fleet, { kind: 'targetKw', kw: 25 }, NOW);
    expect(plan.gateways).toEqual([
      { gatewayId: 'gw-a', channels: [7], expectedKw: 9 },
      { gatewayId: 'gw-b', channels: [1, 2, 3], expectedKw: 45 },
    ]);
    // Priority beats size: the 30 kW priority-2 channel comes only after every priority-1 one.
    expect(plan).toMatchObject({ totalKw: 54, targetKw: 25, shortfallKw: 0 });
    expect(plan.skipped).toEqual([]);
  });

  it('reports the shortfall when the candidates run out', () => {
    const plan = planShed(fleet, { kind: 'targetKw', kw: 150 }, NOW);
    expect(plannedIds(plan)).toEqual(['gw-a:7', 'gw-a:8', 'gw-b:1', 'gw-b:2', 'gw-b:3']);
    expect(plan).toMatchObject({ totalKw: 104, targetKw: 150, shortfallKw: 46 });
  });

  it('never takes a channel that would save nothing, and plans nothing for a target of zero', () => {
    const idle = [aGateway({ channels: [aChannel({ id: 1, kw: 0 }), aChannel({ id: 2, ratedKw: 3 })] })];
    expect(plannedIds(planShed(idle, { kind: 'targetKw', kw: 5 }, NOW))).toEqual(['gw-a:2']);
    expect(planShed(idle, { kind: 'targetKw', kw: 0 }, NOW)).toEqual({ gateways: [], skipped: [], totalKw: 0, targetKw: 0, shortfallKw: 0 });
  });

  it('meets a target reached only up to float noise', () => {
    // 0.7 + 0.1 is 0.7999999999999999 in floating point; a third channel would be shed for nothing.
    const small = [aGateway({ channels: [aChannel({ id: 1, ratedKw: 0.7 }), aChannel({ id: 2, ratedKw: 0.1 }), aChannel({ id: 3, ratedKw: 0.05 })] })];
    const plan = planShed(small, { kind: 'targetKw', kw: 0.8 }, NOW);
    expect(plannedIds(plan)).toEqual(['gw-a:1', 'gw-a:2']);
    expect(plan.shortfallKw).toBe(0);
  });
});

describe('planShed: constraints', () => {
  it('skips every constrained channel with its reason and a sentence, and never plans it', () => {
    const fleet = [
      aGateway({ gatewayId: 'gw-off', connected: false }),
      aGateway({
        gatewayId: 'gw-on',
        channels: [
          aChannel({ id: 1, sheddable: false, name: 'Fridge' }),
          aChannel({ id: 2, on: false, name: 'Pool pump' }),
          aChannel({ id: 3, name: 'Heat pump', minOnSeconds: 300, onSinceMs: NOW - 40_500 }),
          aChannel({ id: 4, name: '', minOnSeconds: 300, onSinceMs: NOW - 300_000 }), // just elapsed: allowed
        ],
      }),
      aGateway({ gatewayId: 'gw-empty', channels: [] }),
    ];
    for (const selector of [
      { kind: 'channels', channels: [1, 2, 3, 4] },
      { kind: 'priority', maxPriority: 1 },
      { kind: 'targetKw', kw: 1_000 },
    ] satisfies PlanSelector[]) {
      const plan = planShed(fleet, selector, NOW);
      expect(plannedIds(plan)).toEqual(['gw-on:4']);
      expect(plan.skipped.map((s) => [s.gatewayId, s.channel, s.reason])).toEqual([
        // A gateway without channels: nothing to shed there (named channels would be unknown instead).
        ...(selector.kind === 'channels' ? [1, 2, 3, 4].map((id) => ['gw-empty', id, 'unknown-channel']) : [['gw-empty', undefined, 'no-channels']]),
        ['gw-off', undefined, 'offline'],
        ['gw-on', 1, 'not-sheddable'],
        ['gw-on', 2, 'already-off'],
        ['gw-on', 3, 'min-on'],
      ]);
      expect(plan.skipped.find((s) => s.reason === 'min-on')?.detail).toBe(
        'channel 3 (Heat pump) switched on 40 s ago; minimum on time is 300 s',
      );
      expect(plan.skipped.find((s) => s.reason === 'offline')?.detail).toBe('gateway gw-off is offline');
    }
    expect(planShed(fleet, { kind: 'channels', channels: [4] }, NOW).skipped.find((s) => s.gatewayId === 'gw-empty')?.detail).toBe(
      'gateway gw-empty has no channel 4',
    );
    expect(planShed(fleet, { kind: 'targetKw', kw: 1 }, NOW).skipped.find((s) => s.gatewayId === 'gw-empty')?.detail).toBe(
      'gateway gw-empty has no channels',
    );
  });

  it("says 'no-channels' for a gateway the selector names nothing on, not for one merely not needed", () => {
    const fleet = [
      aGateway({ gatewayId: 'gw-a', channels: [aChannel({ id: 1, priority: 1, ratedKw: 50 })] }),
      aGateway({ gatewayId: 'gw-b', channels: [aChannel({ id: 1, priority: 4 })] }),
    ];
    expect(planShed(fleet, { kind: 'priority', maxPriority: 2 }, NOW).skipped).toEqual([
      { gatewayId: 'gw-b', reason: 'no-channels', detail: 'gateway gw-b has no channel with priority ≤ 2' },
    ]);
    const target = planShed(fleet, { kind: 'targetKw', kw: 20 }, NOW);
    expect(plannedIds(target)).toEqual(['gw-a:1']);
    expect(target.skipped).toEqual([]);
  });

  it('refuses malformed input as a programming error', () => {
    expect(() => planShed([aGateway(), aGateway()], { kind: 'priority', maxPriority: 1 }, NOW)).toThrow(/gw-a is listed twice/);
    expect(() => planShed([aGateway({ channels: [aChannel(), aChannel()] })], { kind: 'priority', maxPriority: 1 }, NOW)).toThrow(RangeError);
    expect(() => planShed([aGateway()], { kind: 'targetKw', kw: Number.NaN }, NOW)).toThrow(RangeError);
    expect(() => planShed([aGateway()], { kind: 'channels', channels: [1.5] }, NOW)).toThrow(RangeError);
  });
});

describe('planShed: properties', () => {
  const channel = fc.record({
    id: fc.integer({ min: 1, max: 12 }),
    name: fc.constantFrom('', 'Boiler', 'Heat pump'),
    priority: fc.integer({ min: 1, max: 4 }),
    sheddable: fc.boolean(),
    ratedKw: fc.integer({ min: 0, max: 40 }),
    on: fc.constantFrom(true, false, undefined),
    minOnSeconds: fc.constantFrom(0, 60, 300),
    onSinceMs: fc.option(fc.integer({ min: NOW - 600_000, max: NOW }), { nil: undefined }),
    kw: fc.option(fc.double({ min: -2, max: 40, noNaN: true }), { nil: undefined }),
  });
  const gateway = fc.record({
    gatewayId: fc.constantFrom('gw-1', 'gw-2', 'gw-3', 'gw-10', 'Gw-1'),
    connected: fc.boolean(),
    channels: fc.uniqueArray(channel, { selector: (c) => c.id, maxLength: 8 }),
  });
  const fleet = fc.uniqueArray(gateway, { selector: (g) => g.gatewayId, maxLength: 5 });
  const selector: fc.Arbitrary<PlanSelector> = fc.oneof(
    fc.record({ kind: fc.constant('channels' as const), channels: fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 6 }) }),
    fc.record({ kind: fc.constant('priority' as const), maxPriority: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ kind: fc.constant('targetKw' as const), kw: fc.double({ min: 0, max: 200, noNaN: true }) }),
  );

  it('is deterministic: any order of gateways and channels gives the same plan', () => {
    fc.assert(
      fc.property(fleet, selector, fc.nat(), (gateways, sel, seed) => {
        const shuffled = fc.sample(fc.shuffledSubarray(gateways, { minLength: gateways.length }), { seed, numRuns: 1 })[0] ?? [];
        const reordered = shuffled.map((g) => ({ ...g, channels: [...g.channels].reverse() }));
        expect(planShed(reordered, sel, NOW)).toEqual(planShed(gateways, sel, NOW));
      }),
      { seed: 20261025, numRuns: 300 },
    );
  });

  it('planned in slices (ShedPlanner, as the hub plans 20,000 gateways) gives the plan planShed gives', () => {
    fc.assert(
      fc.property(fleet, selector, fc.integer({ min: 1, max: 5 }), (gateways, sel, slice) => {
        const sorted = [...gateways].sort((a, b) => (a.gatewayId < b.gatewayId ? -1 : 1));
        const planner = new ShedPlanner(sel, NOW);
        for (let i = 0; i < sorted.length; i += slice) planner.add(sorted.slice(i, i + slice));
        expect(planner.finish()).toEqual(planShed(gateways, sel, NOW));
      }),
      { seed: 20261206, numRuns: 300 },
    );
  });

  it('refuses gateways added out of order or twice across slices', () => {
    const planner = new ShedPlanner({ kind: 'priority', maxPriority: 1 }, NOW);
    planner.add([aGateway({ gatewayId: 'gw-b' })]);
    expect(() => planner.add([aGateway({ gatewayId: 'gw-a' })])).toThrow('planShed: gateway gw-a added after gw-b');
    expect(() => planner.add([aGateway({ gatewayId: 'gw-b' })])).toThrow('planShed: gateway gw-b is listed twice');
  });

  it('never plans a constrained channel, accounts for every named one, and takes candidates until the target', () => {
    fc.assert(
      fc.property(fleet, selector, (gateways, sel) => {
        const plan = planShed(gateways, sel, NOW);
        const byId = new Map<string, PlanGateway>(gateways.map((g) => [g.gatewayId, g]));
        let total = 0;
        for (const planned of plan.gateways) {
          const gw = byId.get(planned.gatewayId);
          expect(gw?.connected).toBe(true);
          expect(planned.channels.length).toBeGreaterThan(0);
          for (const id of planned.channels) {
            const c = gw?.channels.find((x) => x.id === id);
            expect(c?.sheddable).toBe(true);
            expect(c?.on).not.toBe(false);
            if (c?.onSinceMs !== undefined) expect(c.onSinceMs + c.minOnSeconds * 1000).toBeLessThanOrEqual(NOW);
          }
          total += planned.expectedKw;
        }
        expect(plan.totalKw).toBeCloseTo(total, 9);
        const rows = new Set([...plannedIds(plan), ...plan.skipped.map((s) => `${s.gatewayId}:${s.channel ?? ''}`)]);
        expect(rows.size).toBe(plannedIds(plan).length + plan.skipped.length); // nothing both planned and skipped
        if (sel.kind === 'channels') {
          for (const g of gateways.filter((x) => x.connected)) {
            for (const id of sel.channels) expect(rows.has(`${g.gatewayId}:${id}`)).toBe(true);
          }
        }
        if (sel.kind === 'targetKw') {
          if (plan.shortfallKw === 0) expect(plan.totalKw).toBeGreaterThanOrEqual(sel.kw - 1e-9);
          else expect(plan.shortfallKw).toBeCloseTo(sel.kw - plan.totalKw, 9);
        }
      }),
      { seed: 20261025, numRuns: 300 },
    );
  });
});
