/**
 * startShed's and cancelShed's answer: the event's summary and the gateways that did not confirm,
 * the first NOT_CONFIRMED_MAX of them — not the event's N outcome rows (megabytes at 20,000 gateways).
 */
import { describe, expect, it } from 'vitest';
import { shedEventAnswer } from '../../../../console/hub/fleet/shed-events.js';
import { NOT_CONFIRMED_MAX, type ShedEventSummary, type ShedOutcome } from '../../../../console/hub/operator/types.js';

function aSummary(gatewayCount: number): ShedEventSummary {
  return {
    id: 'e1',
    operator: 'alice',
    createdAt: 1,
    scope: { kind: 'fleet' },
    selector: { kind: 'priority', maxPriority: 2 },
    durationSeconds: 600,
    endsAt: 600_001,
    state: 'active',
    plannedKw: 10,
    gatewayCount,
    counts: {},
    confirmedKw: 0,
    skippedCount: 1,
    skippedByReason: { offline: 1 },
  };
}

const outcome = (i: number, state: ShedOutcome['state']): ShedOutcome => ({ gatewayId: `gw-${String(i).padStart(5, '0')}`, channels: [1], expectedKw: 1, commandId: `c${i}`, state });

describe('shedEventAnswer', () => {
  it('keeps the summary and names the outcomes that did not confirm, in order', () => {
    const answer = shedEventAnswer(aSummary(4), [outcome(0, 'confirmed'), outcome(1, 'timed-out'), outcome(2, 'confirmed'), outcome(3, 'rejected')]);
    expect(answer.notConfirmed.map((o) => [o.gatewayId, o.state])).toEqual([
      ['gw-00001', 'timed-out'],
      ['gw-00003', 'rejected'],
    ]);
    expect(answer).toMatchObject({ id: 'e1', gatewayCount: 4, skippedCount: 1, skippedByReason: { offline: 1 } });
    expect(Object.keys(answer)).not.toContain('outcomes');
  });

  it(`names at most ${NOT_CONFIRMED_MAX} of 20,000 that failed`, () => {
    const answer = shedEventAnswer(aSummary(20_000), Array.from({ length: 20_000 }, (_, i) => outcome(i, 'failed')));
    expect(answer.notConfirmed).toHaveLength(NOT_CONFIRMED_MAX);
    expect(answer.notConfirmed[0]?.gatewayId).toBe('gw-00000');
    expect(JSON.stringify(answer).length).toBeLessThan(20_000);
  });
});
