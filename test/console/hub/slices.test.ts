import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringifySliced } from '../../../console/hub/slices.js';

describe('stringifySliced', () => {
  it('gives exactly the text JSON.stringify gives, whatever the slice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.integer({ min: 1, max: 4 }), async (value, slice) => {
        const answer = { result: { list: [value, value, value, value, value, value], value, skipped: undefined } };
        expect(await stringifySliced(answer, slice)).toBe(JSON.stringify(answer));
      }),
      { seed: 20261206, numRuns: 300 },
    );
  });

  it('lets the event loop run between slices of a large array (a 20,000-gateway fleet snapshot)', async () => {
    const gateways = Array.from({ length: 20_000 }, (_, i) => ({ gatewayId: `gw-${i}`, state: 'connected', load: { currentKw: i / 7 } }));
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const text = await stringifySliced({ result: { time: 1, gateways } });
    clearInterval(ticker);
    expect(text).toBe(JSON.stringify({ result: { time: 1, gateways } }));
    expect(turns).toBeGreaterThan(0); // one JSON.stringify would have run to the end without a timer firing
  });
});
