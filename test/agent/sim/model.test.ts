import { describe, expect, it } from 'vitest';
import { LmModel } from '../../../agent/sim/model.js';
import { aFastProfile, aProfile, LM16 } from '../fixtures/lm.js';

function aClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('the simulated load manager', () => {
  it('is deterministic: the same seed gives the same curves, another seed other ones', () => {
    const series = (seed: number): number[] => {
      const clock = aClock();
      const model = new LmModel(aFastProfile(), { seed, now: clock.now });
      const values: number[] = [];
      for (let i = 0; i < 20; i++) {
        if (i === 5) model.setRelay(2, false);
        if (i === 12) model.setRelay(2, true);
        values.push(model.totalKw());
        clock.advance(700);
      }
      return values;
    };
    expect(series(42)).toEqual(series(42));
    expect(series(42)).not.toEqual(series(43));
  });

  it('follows the relays: a load drops to 0 at once and comes back with a soft start', () => {
    const clock = aClock();
    const model = new LmModel(aFastProfile(), { seed: 3, now: clock.now });
    const before = model.totalKw();
    const load = model.channelKw(3);
    expect(load).toBeGreaterThan(0);
    model.setRelay(3, false);
    expect(model.channelKw(3)).toBe(0);
    expect(model.totalKw()).toBeCloseTo(before - load, 6);
    model.setRelay(3, true);
    clock.advance(200);
    const early = model.channelKw(3);
    clock.advance(15_000);
    const settled = model.channelKw(3);
    expect(early).toBeGreaterThan(0);
    expect(early).toBeLessThan(settled * 0.2);
    expect(settled).toBeGreaterThan(0);
  });

  it('keeps every load within its rating and the site total plausible', () => {
    const clock = aClock();
    const profile = aProfile(LM16);
    const model = new LmModel(profile, { seed: 9, now: clock.now });
    for (let i = 0; i < 200; i++) {
      for (const c of profile.channels) {
        const kw = model.channelKw(c.id);
        expect(kw).toBeGreaterThanOrEqual(0);
        expect(kw).toBeLessThanOrEqual(c.ratedKw);
      }
      expect(model.totalKw()).toBeLessThan(profile.channels.reduce((s, c) => s + c.ratedKw, 0) * 1.1);
      clock.advance(997);
    }
  });

  it('counts energy: the meter advances by the power integrated over time', () => {
    const clock = aClock();
    const model = new LmModel(aFastProfile(), { seed: 5, now: clock.now });
    const start = model.energy();
    const kw = model.totalKw();
    clock.advance(3_600_000 / 10); // 6 minutes
    const delta = model.energy() - start;
    expect(delta).toBeGreaterThan(kw / 10 / 2);
    expect(delta).toBeLessThan(kw / 10 * 2);
  });
});
