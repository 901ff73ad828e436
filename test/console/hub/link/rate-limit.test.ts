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
