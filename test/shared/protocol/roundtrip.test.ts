import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../shared/protocol/index.js';
import { ARBITRARIES, message } from './arbitraries.js';

const SEED = Number(process.env.ROUNDTRIP_SEED ?? 20251125);

function check(property: fc.IProperty<[unknown]> | fc.IPropertyWithHooks<[unknown]>, numRuns: number): void {
  // fast-check's report names the seed and the path of the shrunk counterexample.
  fc.assert(property, { seed: SEED, numRuns });
}

describe('decode(encode(m)) equals m', () => {
  for (const [kind, arbitrary] of Object.entries(ARBITRARIES)) {
    it(`for every ${kind}`, () => {
      check(
        fc.property(arbitrary, (m) => {
          const frame = encode(m);
          expect(decode(frame)).toStrictEqual(m);
        }),
        kind === 'hello' || kind === 'event' || kind === 'telemetry' ? 400 : 1000,
      );
    });
  }

  it('and encode is deterministic and canonical: encode(decode(encode(m))) === encode(m)', () => {
    check(
      fc.property(message, (m) => {
        const frame = encode(m);
        expect(encode(m)).toBe(frame);
        expect(encode(decode(frame))).toBe(frame);
      }),
      1000,
    );
  });
});
