import { describe, expect, it } from 'vitest';
import { ZonedTime } from '../../../console/renderer/logic/format.js';
import {
  commandOutcome,
  describeScope,
  describeSelector,
  digestPlan,
  eventCountsText,
  eventSettled,
  restoreAllOutcome,
  shedEventOutcome,
  shedSummary,
  skipReasonText,
} from '../../../console/renderer/logic/summary.js';
import type { ShedEventAnswer, ShedEventSummary } from '../../../console/hub/operator/types.js';
import { aCommand, aPreview } from './builders.js';

const utc = new ZonedTime('UTC');
const now = Date.UTC(2026, 10, 25, 14, 30);

describe('the review sentence of a shed', () => {
  it('says how many loads on how many gateways, about how much, restored when', () => {
    expect(shedSummary(aPreview(), utc, now)).toBe('9 loads on 3 gateways, about 42 kW, restored at 14:45');
  });

  it('uses the singular and one decimal for small amounts', () => {
    const preview = aPreview({ loadCount: 1, gatewayCount: 1, plan: { gateways: [{ gatewayId: 'site-a', channels: [3], expectedKw: 4.26 }], skipped: [], totalKw: 4.26 } });
    expect(shedSummary(preview, utc, now)).toBe('1 load on 1 gateway, about 4.3 kW, restored at 14:45');
  });

  it('says the time in the hub zone and the date when the restore is on another day', () => {
    expect(shedSummary(aPreview(), new ZonedTime('Europe/Zurich'), now)).toMatch(/restored at 15:45$/);
    expect(shedSummary(aPreview({ restoreAt: Date.UTC(2026, 10, 26, 1, 0) }), utc, now)).toMatch(/restored at 2026-11-26 01:00$/);
  });

  it('says whether a kW target is reached, and by how much it falls short', () => {
    const reached = aPreview();
    reached.plan = { ...reached.plan, targetKw: 40, shortfallKw: 0 };
    expect(shedSummary(reached, utc, now)).toBe('9 loads on 3 gateways, about 42 kW (target 40 kW reached), restored at 14:45');
    const short = aPreview();
    short.plan = { ...short.plan, targetKw: 50, shortfallKw: 7.8 };
    expect(shedSummary(short, utc, now)).toBe('9 loads on 3 gateways, about 42 kW of the 50 kW target (7.8 kW short), restored at 14:45');
  });

  it('says plainly when nothing would be shed', () => {
    const none = aPreview({ loadCount: 0, gatewayCount: 0, plan: { gateways: [], totalKw: 0, skipped: [{ gatewayId: 'site-a', reason: 'offline', detail: 'site-a is offline' }] } });
    expect(shedSummary(none, utc, now)).toBe('Nothing to shed: 1 load or gateway was skipped.');
    expect(shedSummary(aPreview({ loadCount: 0, gatewayCount: 0, plan: { gateways: [], skipped: [], totalKw: 0 } }), utc, now)).toBe('Nothing to shed: no load matches.');
  });

  it('names every skip reason in words', () => {
    expect(skipReasonText('min-on')).toBe('minimum on time');
    expect(skipReasonText('not-sheddable')).toBe('not sheddable');
  });
});

describe('scopes and selectors in words', () => {
  it('describes each scope', () => {
    expect(describeScope({ kind: 'fleet' })).toBe('Whole fleet');
    expect(describeScope({ kind: 'gateway', gatewayId: 'site-a' })).toBe('Gateway site-a');
    expect(describeScope({ kind: 'gateways', gatewayIds: ['a', 'b'] })).toBe('Gateways a, b');
    expect(describeScope({ kind: 'gateways', gatewayIds: ['a', 'b', 'c', 'd'] })).toBe('4 gateways');
    expect(describeScope({ kind: 'label', label: 'north' })).toBe('Label north');
  });

  it('describes each selector', () => {
    expect(describeSelector({ kind: 'priority', maxPriority: 3 })).toBe('Priority ≤ 3');
    expect(describeSelector({ kind: 'channels', channels: [1] })).toBe('Channel 1');
    expect(describeSelector({ kind: 'channels', channels: [1, 2] })).toBe('Channels 1, 2');
    expect(describeSelector({ kind: 'targetKw', kw: 250 })).toBe('Target 250 kW');
  });
});

describe('outcomes announced to the operator', () => {
  it('says what a command did, on which gateway, and how it ended', () => {
    expect(commandOutcome(aCommand())).toBe('Shed of channel 3 on site-a confirmed');
    expect(commandOutcome(aCommand({ op: 'restore', channels: [1, 2] }))).toBe('Restore of channels 1, 2 on site-a confirmed');
    expect(commandOutcome(aCommand({ op: 'restore', channels: undefined, all: true }))).toBe('Restore of all channels on site-a confirmed');
  });

  it('names the code of a command that did not succeed', () => {
    expect(commandOutcome(aCommand({ state: 'rejected', code: 'CMD_MIN_ON_TIME' }))).toBe('Shed of channel 3 on site-a rejected (CMD_MIN_ON_TIME)');
    expect(commandOutcome(aCommand({ state: 'timed-out', code: 'OP_TIMED_OUT' }))).toBe('Shed of channel 3 on site-a timed out (OP_TIMED_OUT)');
  });

  it('sums up a shed event and names what was not confirmed (startShed answers with them)', () => {
    const event: ShedEventAnswer = {
      id: 'e1',
      operator: 'alice',
      createdAt: now,
      scope: { kind: 'fleet' },
      selector: { kind: 'priority', maxPriority: 1 },
      durationSeconds: 900,
      endsAt: Date.UTC(2026, 10, 25, 14, 45),
      state: 'active',
      plannedKw: 35.6,
      gatewayCount: 2,
      counts: { confirmed: 1, rejected: 1 },
      confirmedKw: 20,
      skippedCount: 0,
      skippedByReason: {},
      notConfirmed: [{ gatewayId: 'site-b', channels: [1], expectedKw: 15.6, commandId: 'c2', state: 'rejected', code: 'CMD_MIN_ON_TIME' }],
    };
    expect(shedEventOutcome(event, utc, now)).toBe('Shed event e1 confirmed on 1 of 2 gateways, about 36 kW, restored at 14:45; not confirmed: site-b rejected (CMD_MIN_ON_TIME)');
    // An answer that names only the first of them (NOT_CONFIRMED_MAX) counts them instead.
    const partial: ShedEventAnswer = { ...event, gatewayCount: 3, counts: { confirmed: 1, rejected: 2 } };
    expect(shedEventOutcome(partial, utc, now)).toBe('Shed event e1 confirmed on 1 of 3 gateways, about 36 kW, restored at 14:45; not confirmed: 2 rejected');
  });

  it('counts instead of naming when it has only the summary or many failures', () => {
    const summary: ShedEventSummary = {
      id: 'e2',
      operator: 'alice',
      createdAt: now,
      scope: { kind: 'fleet' },
      selector: { kind: 'priority', maxPriority: 1 },
      durationSeconds: 900,
      endsAt: Date.UTC(2026, 10, 25, 14, 45),
      state: 'active',
      plannedKw: 400,
      gatewayCount: 20_000,
      counts: { confirmed: 19_990, sent: 4, failed: 5, 'timed-out': 1 },
      confirmedKw: 399,
      skippedCount: 12,
      skippedByReason: { offline: 12 },
    };
    expect(shedEventOutcome(summary, utc, now)).toBe('Shed event e2 confirmed on 19990 of 20000 gateways, about 400 kW, restored at 14:45; not confirmed: 4 pending, 5 failed, 1 timed out');
    expect(eventCountsText(summary)).toBe('19990 of 20000 confirmed, 4 pending, 5 failed, 1 timed out');
    expect(eventSettled(summary)).toBe(false);
    expect(eventCountsText({ gatewayCount: 200, counts: { confirmed: 200 } })).toBe('200 of 200 confirmed');
    expect(eventSettled({ counts: { confirmed: 199, failed: 1 } })).toBe(true);
  });

  it('summarises a large plan: per label, the first rows, the skipped reasons grouped', () => {
    const gateways = Array.from({ length: 1000 }, (_, i) => ({ gatewayId: `gw-${String(i).padStart(4, '0')}`, channels: [1, 2], expectedKw: 1.5 }));
    const skipped = [
      ...Array.from({ length: 30 }, (_, i) => ({ gatewayId: `off-${i}`, reason: 'offline' as const, detail: 'offline' })),
      { gatewayId: 'gw-0001', channel: 3, reason: 'min-on' as const, detail: 'channel 3 on for 10 s' },
    ];
    const labels = (id: string): string[] => (id < 'gw-0400' ? ['north'] : id < 'gw-0900' ? ['south', 'farms'] : []);
    const d = digestPlan({ gateways, skipped, totalKw: 1500 }, labels);
    expect(d.byLabel).toEqual([
      { label: 'farms', gateways: 500, loads: 1000, kw: 750 },
      { label: 'south', gateways: 500, loads: 1000, kw: 750 },
      { label: 'north', gateways: 400, loads: 800, kw: 600 },
      { label: '', gateways: 100, loads: 200, kw: 150 },
    ]);
    expect(d.first.map((p) => p.gatewayId)).toEqual(gateways.slice(0, 20).map((p) => p.gatewayId));
    expect(d.more).toBe(980);
    expect(d.skipped.map((s) => [s.reason, s.count])).toEqual([
      ['offline', 30],
      ['min-on', 1],
    ]);
    expect(d.skipped[1]?.example.detail).toBe('channel 3 on for 10 s');
  });

  it('sums up a restore-all', () => {
    expect(restoreAllOutcome([])).toBe('Restore all: nothing was shed, nothing to restore');
    expect(restoreAllOutcome([aCommand({ op: 'restore' }), aCommand({ id: 'c2', gatewayId: 'site-b', op: 'restore', state: 'failed', code: 'OP_GATEWAY_OFFLINE' })])).toBe(
      'Restore all: 1 of 2 gateways confirmed; not confirmed: site-b failed (OP_GATEWAY_OFFLINE)',
    );
    const many = Array.from({ length: 50 }, (_, i) => aCommand({ id: `c${i}`, gatewayId: `gw-${i}`, op: 'restore', state: i < 40 ? 'confirmed' : 'failed' }));
    expect(restoreAllOutcome(many)).toBe('Restore all: 40 of 50 gateways confirmed; not confirmed: 10 failed');
  });
});
