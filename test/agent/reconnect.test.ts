import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, parseRetryAfter, Reconnector } from '../../agent/link/reconnect.js';
import { jittered } from '../../shared/backoff.js';

// Reconnect timing with an injected random source and clock: full jitter spreads agents over the
// whole window, the window grows to the cap, and only a stable connection resets it.

/** mulberry32: a small seeded PRNG, so a failure reproduces. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The delay of attempt n for many independent agents. */
function delaysAt(attempt: number, agents: number, random: () => number): number[] {
  return Array.from({ length: agents }, () => {
    const r = new Reconnector({ random, policy: { baseMs: 1_000, capMs: 60_000 } });
    for (let i = 0; i < attempt; i++) r.nextDelay();
    return r.nextDelay();
  });
}

describe('Reconnector', () => {
  it('spreads agents uniformly over the whole window (full jitter), not at its end', () => {
    const delays = delaysAt(3, 2_000, seeded(1));
    // Attempt 3: window 8 s.
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(8_000);
    const buckets = Array.from({ length: 8 }, (_, i) => delays.filter((d) => d >= i * 1000 && d < (i + 1) * 1000).length);
    // Each second of the window gets about 1/8 of the agents (250 ± 30 %).
    for (const b of buckets) {
      expect(b).toBeGreaterThan(175);
      expect(b).toBeLessThan(325);
    }
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(mean).toBeGreaterThan(3_700);
    expect(mean).toBeLessThan(4_300);
  });

  it('doubles the window per failed attempt up to the cap', () => {
    const top = (attempt: number) => Math.max(...delaysAt(attempt, 300, seeded(attempt + 7)));
    expect(top(0)).toBeLessThan(1_000);
    expect(top(1)).toBeLessThan(2_000);
    expect(top(1)).toBeGreaterThan(1_000);
    expect(top(5)).toBeGreaterThan(30_000);
    for (const attempt of [6, 10, 40]) {
      const delays = delaysAt(attempt, 300, seeded(attempt));
      expect(Math.max(...delays)).toBeLessThan(60_000);
      expect(Math.max(...delays)).toBeGreaterThan(55_000);
    }
    const edge = new Reconnector({ random: () => 0.999_999, policy: { baseMs: 1_000, capMs: 60_000 } });
    for (let i = 0; i < 50; i++) expect(edge.nextDelay()).toBeLessThan(60_000);
  });

  it('resets the attempt counter only after a connection stayed up stableAfterMs', () => {
    let now = 0;
    const r = new Reconnector({ stableAfterMs: 60_000, now: () => now, random: () => 0.5 });
    for (let i = 0; i < 5; i++) r.nextDelay();
    expect(r.attempts).toBe(5);
    // Up for just under a minute: a flapping hub must not reset the back-off.
    r.connected();
    now += 59_999;
    r.disconnected();
    expect(r.attempts).toBe(5);
    expect(r.nextDelay()).toBe(Math.floor(0.5 * 32_000));
    // Up for a minute: back to the first window.
    r.connected();
    now += 60_000;
    r.disconnected();
    expect(r.attempts).toBe(0);
    expect(r.nextDelay()).toBe(500);
    // A disconnect without a connection in between changes nothing.
    r.disconnected();
    expect(r.attempts).toBe(1);
  });

  it('treats Retry-After as a floor, adds its own jitter, and bounds absurd values', () => {
    const r = new Reconnector({ random: seeded(3) });
    const delays = Array.from({ length: 50 }, (_, i) => new Reconnector({ random: seeded(100 + i) }).nextDelay(30_000));
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(30_000);
      expect(d).toBeLessThan(31_000);
    }
    expect(new Set(delays).size).toBeGreaterThan(40);
    expect(r.nextDelay(10 * 86_400_000)).toBeLessThan(MAX_RETRY_AFTER_MS + 1_000);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, ignores garbage', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:45 GMT', now)).toBe(45_000);
    expect(parseRetryAfter('Mon, 31 Dec 2029 00:00:00 GMT', now)).toBe(0);
    for (const bad of [undefined, '', '-5', '1.5', 'soon', '12345678901']) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });
});

describe('maximum connection age jitter', () => {
  it('spreads 12 h by ±10 %, so sessions opened together do not re-handshake together', () => {
    const random = seeded(9);
    const ages = Array.from({ length: 1_000 }, () => jittered(12 * 3_600_000, 0.1, random));
    expect(Math.min(...ages)).toBeGreaterThanOrEqual(10.8 * 3_600_000);
    expect(Math.max(...ages)).toBeLessThanOrEqual(13.2 * 3_600_000);
    expect(Math.max(...ages) - Math.min(...ages)).toBeGreaterThan(2 * 3_600_000);
  });
});
