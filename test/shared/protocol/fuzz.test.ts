/**
 * Fuzzing decode with well over 100,000 inputs: random strings, XML-ish token soup, and mutations of
 * the golden vectors and of generated messages (bit flips, inserted specials, truncations, duplicated
 * attributes, spliced attack snippets). Every input must either decode to a message that survives a
 * round trip, or be refused with a ProtocolError carrying a registered PROTO_ code; nothing else may
 * escape, and Object.prototype must come out untouched.
 *
 * Reproducible: the seed is fixed; FUZZ_SEED=<n> explores another one, and a failure names it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isErrorCode } from '../../../shared/errors.js';
import { decode, encode, ProtocolError } from '../../../shared/protocol/index.js';
import { message } from './arbitraries.js';
import { mutate, mutations, SNIPPETS } from './mutations.js';

const SEED = Number(process.env.FUZZ_SEED ?? 424242);

const DIR = new URL('./golden/', import.meta.url);
const GOLDEN: readonly string[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.xml'))
  .sort()
  .map((f) => readFileSync(new URL(f, DIR), 'utf8'));

let inputs = 0;
let decoded = 0;
const refusals = new Map<string, number>();
let prototypeNames: string[] = [];

/** The property every input must satisfy. Returns normally or fails the run with an assertion. */
function checkInput(input: string): void {
  inputs++;
  let result;
  try {
    result = decode(input);
  } catch (error) {
    if (!(error instanceof ProtocolError) || !isErrorCode(error.code) || !error.code.startsWith('PROTO_')) {
      throw new Error(`decode threw something other than a ProtocolError for ${JSON.stringify(input.slice(0, 200))}`, {
        cause: error,
      });
    }
    refusals.set(error.code, (refusals.get(error.code) ?? 0) + 1);
    return;
  }
  decoded++;
  // Whatever decode accepts is a valid message: it re-encodes, and the canonical frame decodes to it.
  let frame: string;
  try {
    frame = encode(result);
  } catch (error) {
    // A frame near 64 KiB may grow when re-encoded (a raw ' becomes &apos;); nothing else may fail.
    if (error instanceof ProtocolError && error.code === 'PROTO_TOO_LARGE') return;
    throw error;
  }
  expect(decode(frame)).toStrictEqual(result);
}

function run(name: string, arbitrary: fc.Arbitrary<string>, numRuns: number): void {
  try {
    fc.assert(
      fc.property(arbitrary, (input) => {
        checkInput(input);
        // Cheap per-input probe; the full comparison runs once at the end.
        if (({} as Record<string, unknown>).polluted !== undefined) throw new Error('Object.prototype.polluted is set');
      }),
      { seed: SEED, numRuns },
    );
  } catch (error) {
    throw new Error(`fuzz "${name}" failed; reproduce with FUZZ_SEED=${SEED}`, { cause: error });
  }
}

describe('fuzzing decode', () => {
  beforeAll(() => {
    prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
  });

  afterAll(() => {
    console.log(
      `fuzz seed ${SEED}: ${inputs} inputs, ${decoded} decoded, refused: ${[...refusals].map(([c, n]) => `${c} ${n}`).join(', ')}`,
    );
  });

  it('random strings (any code point)', () => {
    run('random strings', fc.string({ unit: 'binary', maxLength: 120 }), 15_000);
  });

  it('XML-ish token soup', () => {
    const token = fc.constantFrom(
      ...SNIPPETS,
      'ack',
      'command',
      'hello',
      'telemetry',
      'error',
      'v="1"',
      'seq="42"',
      'id="c1"',
      'op="shed"',
      'dl="1"',
      '1',
      '42',
      'x',
      '\n',
      '\t',
    );
    run('token soup', fc.array(token, { maxLength: 40 }).map((t) => t.join('')), 15_000);
  });

  it('mutated golden vectors', () => {
    const golden = fc.constantFrom(...GOLDEN);
    run(
      'golden mutations',
      fc.tuple(golden, mutations).map(([frame, ms]) => ms.reduce(mutate, frame)),
      60_000,
    );
  });

  it('mutated encodings of generated messages', () => {
    run(
      'generated mutations',
      fc.tuple(message, mutations).map(([m, ms]) => ms.reduce(mutate, encode(m))),
      12_000,
    );
  });

  it('left Object.prototype and the refusal counts as expected', () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
    for (const probe of ['polluted', 'x', 'v', 'seq', 'a', 'isAdmin']) {
      expect(({} as Record<string, unknown>)[probe], probe).toBeUndefined();
    }
    expect(inputs).toBeGreaterThanOrEqual(100_000);
    // The mutations must reach deep into validation, not only trip the scanner.
    for (const code of ['PROTO_NOT_XML', 'PROTO_FORBIDDEN_MARKUP', 'PROTO_BAD_ENTITY', 'PROTO_BAD_FIELD', 'PROTO_UNKNOWN_FIELD', 'PROTO_DUPLICATE']) {
      expect(refusals.get(code) ?? 0, code).toBeGreaterThan(0);
    }
    expect(decoded).toBeGreaterThan(1000);
  });
});
