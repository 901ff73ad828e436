import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonSliced } from '../../../console/hub/slices.js';

const stringifySliced = async (value: unknown, slice?: number): Promise<string> => Buffer.concat(await jsonSliced(value, slice)).toString('utf8');

describe('jsonSliced', () => {
  it('gives exactly the text JSON.stringify gives, whatever the slice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ stringUnit: 'binary' }), fc.integer({ min: 1, max: 4 }), async (value, slice) => {
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

  it('hands over the UTF-8 a slice at a time, never splitting a character', async () => {
    const names = Array.from({ length: 2_000 }, (_, i) => ({ name: `Zürich Süd ⚡ ${i} 🔌` }));
    const chunks = await jsonSliced({ result: names }, 100);
    expect(chunks.length).toBe(20);
    for (const c of chunks) expect(Buffer.from(c.toString('utf8'), 'utf8').equals(c)).toBe(true);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(JSON.stringify({ result: names }));
  });
});
