import { describe, expect, it } from 'vitest';
import { takeToken, type TokenState } from '../../../../console/hub/link/rate-limit.js';

describe('takeToken', () => {
  it('allows the burst at once, then the sustained rate, and never saves up more than the burst', () => {
    const bucket: TokenState = { tokens: 3, tokensAt: 0 };
    const take = (now: number): boolean => takeToken(bucket, 10, 3, now);
    expect([take(0), take(0), take(0), take(0)]).toEqual([true, true, true, false]);
    // 10/s: one token every 100 ms.
    expect(take(50)).toBe(false);
    expect(take(100)).toBe(true);
    expect(take(100)).toBe(false);
    // A long pause refills to the burst, not beyond.
    expect([take(60_000), take(60_000), take(60_000), take(60_000)]).toEqual([true, true, true, false]);
  });
});

describe('takeToken after a stall of the hub', () => {
  it('may hold the burst plus what the stalled time earned, keeps it until used, and refills no higher than the burst again', () => {
    const bucket: TokenState = { tokens: 3, tokensAt: 0 };
    // 10 s without reading at 10/s: 100 frames may have been sent and are read now, at once.
    const taken = Array.from({ length: 104 }, (_, i) => takeToken(bucket, 10, 3, 10_000, i === 0 ? 10_000 : 0));
    expect(taken.filter(Boolean)).toHaveLength(103);
    expect(taken.at(-1)).toBe(false);
    // Without a stall, a long pause refills to the burst only.
    expect(Array.from({ length: 4 }, () => takeToken(bucket, 10, 3, 70_000, 0))).toEqual([true, true, true, false]);
  });
});
