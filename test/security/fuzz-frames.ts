/**
 * Fuzzed frames for the hub's message path, from the codec fuzzer's own generators
 * (test/shared/protocol/arbitraries.ts and mutations.ts) and golden vectors: random strings, token
 * soup, mutated golden vectors, mutated and intact generated messages of every kind. Intact ones
 * matter here, unlike in the codec fuzzer: they get past decode into the hub's fleet logic
 * (telemetry stored and acknowledged, events turned into alarms, results matched against commands,
 * kinds a gateway may not send refused as security events).
 *
 * Deterministic: the same seed and count give the same frames; generated in chunks so a million of
 * them never sit in memory at once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { encode } from '../../shared/protocol/index.js';
import { ARBITRARIES, message } from '../shared/protocol/arbitraries.js';
import { mutate, mutations, SNIPPETS } from '../shared/protocol/mutations.js';

const GOLDEN_DIR = new URL('../shared/protocol/golden/', import.meta.url);
export const GOLDEN: readonly string[] = readdirSync(GOLDEN_DIR)
  .filter((f) => f.endsWith('.xml'))
  .sort()
  .map((f) => readFileSync(new URL(f, GOLDEN_DIR), 'utf8').trim());

/** Tokens for the soup: the attack snippets, plus every tag and attribute the golden vectors use. */
const TOKENS: readonly string[] = [...new Set([...SNIPPETS, ...GOLDEN.flatMap((g) => g.match(/<\/?[A-Za-z]+|\/?>| [A-Za-z]+="[^"]*"|[^<>" ]+/g) ?? [])])];

export interface FuzzFrame {
  text: string;
  /** Sent as a binary frame (the protocol has none: PROTO_NOT_XML). */
  binary: boolean;
}

/**
 * Intact messages, mostly of the kinds a gateway sends. The others (hello again, welcome, command,
 * ack) are refused with a security event each, which the hub stores durably (one fsync per event);
 * a few hundred of them cover that path without making the run a disk benchmark.
 */
const intact: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 12, arbitrary: fc.oneof(ARBITRARIES.telemetry, ARBITRARIES.result, ARBITRARIES.event, ARBITRARIES.error) },
    { weight: 1, arbitrary: fc.oneof(ARBITRARIES.hello, ARBITRARIES.welcome, ARBITRARIES.command, ARBITRARIES.ack) },
  )
  .map((m) => encode(m));

const frame: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.string({ unit: 'binary', maxLength: 120 }) },
  { weight: 12, arbitrary: fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join('')) },
  { weight: 50, arbitrary: fc.tuple(fc.constantFrom(...GOLDEN), mutations).map(([g, ms]) => ms.reduce(mutate, g)) },
  { weight: 14, arbitrary: fc.tuple(message, mutations).map(([m, ms]) => ms.reduce(mutate, encode(m))) },
  { weight: 10, arbitrary: intact },
);

const fuzzFrame: fc.Arbitrary<FuzzFrame> = fc.tuple(frame, fc.integer({ min: 0, max: 99 })).map(([text, n]) => ({ text, binary: n < 2 }));

/** `count` frames for `seed`, in chunks of `chunk`. */
export function* fuzzFrames(seed: number, count: number, chunk = 5000): Generator<FuzzFrame> {
  for (let done = 0, c = 0; done < count; c++) {
    const n = Math.min(chunk, count - done);
    yield* fc.sample(fuzzFrame, { seed: seed + c, numRuns: n });
    done += n;
  }
}
