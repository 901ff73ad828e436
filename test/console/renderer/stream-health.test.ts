import { describe, expect, it } from 'vitest';
import { STALE_AFTER_MS, streamHealth } from '../../../console/renderer/logic/stream-health.js';

describe('is the stream live?', () => {
  const t0 = 1_000_000;

  it('is live while something arrives at least every 3 s (the heartbeat comes every second)', () => {
    expect(streamHealth('open', t0, t0)).toBe('live');
    expect(streamHealth('open', t0, t0 + STALE_AFTER_MS)).toBe('live');
  });

  it('is stale once an open stream has been silent for over 3 s', () => {
    expect(STALE_AFTER_MS).toBeLessThanOrEqual(3_000);
    expect(streamHealth('open', t0, t0 + STALE_AFTER_MS + 1)).toBe('stale');
    expect(streamHealth('open', null, t0)).toBe('stale');
  });

  it('says connecting or reconnecting while the stream is not open', () => {
    expect(streamHealth('connecting', null, t0)).toBe('connecting');
    expect(streamHealth('reconnecting', t0, t0)).toBe('reconnecting');
  });
});
