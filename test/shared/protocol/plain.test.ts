/**
 * The differential test of decode's fast path (shared/protocol/plain-xml.ts) against the full path
 * (scanXml + fast-xml-parser + validation), over well over 100,000 inputs: encodings of generated
 * messages of every kind, plain frequent messages, valid rewrites of them that are not plain, and
 * mutations of all of these and of the golden vectors. For every input:
 *
 * - decode gives what the full path gives: a deep-equal message, or an error with the same code,
 *   message, path and ref;
 * - whenever the fast path alone returns a message, the full path returns a deep-equal one;
 * - whenever the plain reader accepts a frame, scanXml accepts it too and fast-xml-parser builds
 *   the very same tree (the plain element in the parser's shape).
 *
 * Reproducible: the seed is fixed; PLAIN_SEED=<n> explores another one, and a failure names it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { decode, decodeFull, decodePlain, PLAIN_ROOTS, XML_PARSER_OPTIONS } from '../../../shared/protocol/decode.js';
import { encode, ProtocolError, type Message } from '../../../shared/protocol/index.js';
import { parserShape, readPlain } from '../../../shared/protocol/plain-xml.js';
import { scanXml } from '../../../shared/protocol/xml-scan.js';
import { ack, event, hello, message, result, telemetry } from './arbitraries.js';
import { mutate, mutationFrom, SNIPPETS } from './mutations.js';

const SEED = Number(process.env.PLAIN_SEED ?? 777_001);
const PARSER = new XMLParser(XML_PARSER_OPTIONS);
const HOT_KINDS: readonly string[] = PLAIN_ROOTS.map((r) => r.name);

const DIR = new URL('./golden/', import.meta.url);
const GOLDEN: readonly string[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.xml'))
  .sort()
  .map((f) => readFileSync(new URL(f, DIR), 'utf8'));

// --- inputs ----------------------------------------------------------------------------------------

/** Printable ASCII that encode writes as is: what plain text and values are made of. */
const PLAIN_CHARS = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).filter((c) => !`"&<>'`.includes(c));
const plainText = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...PLAIN_CHARS), maxLength });

/** The frequent kinds with texts that need no escaping, so encode writes plain XML. */
const plainHot: fc.Arbitrary<Message> = fc.oneof(
  fc.tuple(result, fc.option(plainText(256), { nil: undefined })).map(([r, text]): Message => {
    const copy = { ...r };
    if (text === undefined) delete copy.message;
    else copy.message = text;
    return copy;
  }),
  telemetry,
  ack,
  fc.tuple(event, fc.array(plainText(40), { maxLength: 32 })).map(
    ([e, texts]): Message => ({ ...e, details: e.details.map((d, i) => ({ key: d.key, value: texts[i] ?? '' })) }),
  ),
  // Hello opens every connection: site name, models and channel names without anything to escape.
  fc.tuple(hello, fc.array(plainText(32), { minLength: 1, maxLength: 32 })).map(([h, texts]): Message => {
    let k = 0;
    const text = (): string => texts[k++ % texts.length] || 'x';
    const copy = { ...h, devices: h.devices.map((d) => ({ ...d, model: text(), channels: d.channels.map((c) => ({ ...c, name: text() })) })) };
    if (h.siteName !== undefined) copy.siteName = text();
    return copy;
  }),
);

/** Rewrites that keep a frame valid XML of the same message but (mostly) leave plain XML. */
const REWRITES: readonly ((frame: string) => string)[] = [
  (f) => `<?xml version="1.0"?>${f}`,
  (f) => ` ${f}`,
  (f) => `${f}\n`,
  (f) => f.replace(/="([^"']*)"/g, "='$1'"),
  (f) => f.replace(/ ([a-z]+)="/g, '\n $1 = "'),
  (f) => f.replace(/"\/>/g, '" />'),
  (f) => f.replace(/"\/>/, '"></$TAG>'),
  (f) => f.replace(/><(s|d) /g, '>\n  <$1 '),
  (f) => f.replace(/><(dev|ch) /g, '>\n<$1 '),
  (f) => f.replace(/<ch ([^>]*)\/>/, '<ch $1></ch>'),
  (f) => f.replace(/v="1"/, 'v="&#49;"'),
  (f) => f.replace(/ t="(\d)/, ' t="&#x3$1;'),
  (f) => f.replace(/ id="([^"]*)"/, ' id="$1" '),
  (f) => f.replace(/^<([a-z]+) v="1" ([^/>]*)/, '<$1 $2 v="1"'),
  (f) => f.replace(/ relays="([^"]*)"/, ' relays="$1" x="1"'),
  (f) => f.replace(/ v="1"/, ''),
  (f) => f.replace(/ v="1"/, ' v="2"'),
  (f) => f.replace(/ v="1"/, ' v="01"'),
  (f) => f.replace(/>([^<]+)<\/d>/, '>$1&amp;</d>'),
  (f) => f.replace(/ kw="/, ' kw="+'),
  (f) => f.replace(/ seq="/, ' seq="0'),
  (f) => f.replace(/<s /, '<S '),
  (f) => f.replace(/<\/([a-z]+)>$/, '</$1 >'),
];

function rewrite(frame: string, which: number): string {
  const tag = /^<([a-z]+)/.exec(frame)?.[1] ?? 'x';
  return (REWRITES[which % REWRITES.length] ?? ((f: string) => f))(frame).replace('$TAG', tag);
}

/** The fuzz snippets plus what plain XML is picky about: quotes, spaces, references, its own elements. */
const PLAIN_SNIPPETS: readonly string[] = [
  ...SNIPPETS,
  ' ',
  '  ',
  '\t',
  '\n',
  "'",
  '&#49;',
  '&quot;',
  ' msg="x"',
  ' msg="a b"',
  ' code="CMD_STALE"',
  ' st="failed"',
  ' kw="1"',
  ' kwh="2"',
  ' chkw="1:1"',
  ' relays="1:1"',
  ' seq="7"',
  ' t="0"',
  ' k="a"',
  ' k="b"',
  ' type="x-y"',
  ' sev="info"',
  '<s t="1" kw="1" relays="1:0"/>',
  '<s t="1" kw="1" relays="1:0"></s>',
  '<d k="z">v</d>',
  '<d k="y"/>',
  '<d k="w"></d>',
  '<dev id="lm1" model="m" health="ok"/>',
  '<dev id="lm2" model="m" health="ok">',
  '</dev>',
  '<ch id="9" name="n" prio="1" shed="1" kw="1" minOn="0" minOff="0"/>',
  '<ch id="9" name="n" prio="1" shed="1" kw="1" minOn="0" minOff="0"></ch>',
  ' labels="a b"',
  ' site="s"',
  ' proxy="1"',
  ' maxOff="5"',
  ' on="1"',
  '</s>',
  '</d>',
  '<s>',
  '/>',
  '>',
  ' />',
  '<result v="1" id="a" st="ok" t="1"/>',
  '<ack v="1" seq="1"/>',
  'é',
  '😀',
  '\u0085',
  '\u00a0',
];

const plainMutations = fc.array(mutationFrom(PLAIN_SNIPPETS), { minLength: 1, maxLength: 4 });

// --- the property ----------------------------------------------------------------------------------

type Outcome =
  | { ok: true; message: Message }
  | { ok: false; code: string; message: string; path: string; ref: string | undefined };

function outcome(run: () => Message): Outcome {
  try {
    return { ok: true, message: run() };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return { ok: false, code: error.code, message: error.message, path: error.path, ref: error.ref };
  }
}

const counts = { inputs: 0, plainTrees: 0, fast: 0, plainButFull: 0, fullOnlyDecoded: 0, refused: 0 };
const fastKinds = new Map<string, number>();

function check(input: string): void {
  counts.inputs++;
  const full = outcome(() => decodeFull(input));
  expect(outcome(() => decode(input))).toStrictEqual(full);

  const fast = decodePlain(input);
  if (fast !== undefined) {
    counts.fast++;
    fastKinds.set(fast.kind, (fastKinds.get(fast.kind) ?? 0) + 1);
    expect(HOT_KINDS).toContain(fast.kind);
    expect(full).toStrictEqual({ ok: true, message: fast });
  } else if (full.ok) {
    counts.fullOnlyDecoded++;
  } else {
    counts.refused++;
  }

  const plain = readPlain(input, PLAIN_ROOTS);
  if (plain !== undefined) {
    counts.plainTrees++;
    if (fast === undefined) counts.plainButFull++;
    expect(() => scanXml(input)).not.toThrow();
    expect(PARSER.parse(input)).toStrictEqual([parserShape(plain)]);
  }
}

function run(name: string, arbitrary: fc.Arbitrary<string>, numRuns: number): void {
  try {
    fc.assert(
      fc.property(arbitrary, (input) => check(input)),
      { seed: SEED, numRuns },
    );
  } catch (error) {
    throw new Error(`differential "${name}" failed; reproduce with PLAIN_SEED=${SEED}`, { cause: error });
  }
}

describe('decode: the plain fast path against the full path', () => {
  afterAll(() => {
    console.log(
      `plain differential seed ${SEED}: ${counts.inputs} inputs; fast path decoded ${counts.fast} ` +
        `(${[...fastKinds].map(([k, n]) => `${k} ${n}`).join(', ')}); plain but left to the full path ${counts.plainButFull}; ` +
        `decoded by the full path only ${counts.fullOnlyDecoded}; refused ${counts.refused}`,
    );
  });

  it('golden vectors', () => {
    for (const frame of GOLDEN) check(frame);
  });

  it('encodings of generated messages of every kind', () => {
    run('generated', message.map(encode), 10_000);
  });

  it('plain frequent messages', () => {
    run('plain', plainHot.map(encode), 20_000);
  });

  it('valid rewrites of plain frames that are not plain', () => {
    run('rewrites', fc.tuple(plainHot, fc.nat()).map(([m, which]) => rewrite(encode(m), which)), 15_000);
  });

  it('mutated plain frames', () => {
    run('plain mutations', fc.tuple(plainHot, plainMutations).map(([m, ms]) => ms.reduce(mutate, encode(m))), 40_000);
  });

  it('mutated golden vectors', () => {
    run('golden mutations', fc.tuple(fc.constantFrom(...GOLDEN), plainMutations).map(([frame, ms]) => ms.reduce(mutate, frame)), 15_000);
  });

  it('mutated encodings of generated messages', () => {
    run('generated mutations', fc.tuple(message, plainMutations).map(([m, ms]) => ms.reduce(mutate, encode(m))), 10_000);
  });

  it('plain token soup', () => {
    const token = fc.constantFrom(
      ...PLAIN_SNIPPETS,
      '<result', '<telemetry', '<ack', '<event', '<hello', ' v="1"', ' id="c1"', ' st="ok"', ' t="1"', ' gw="site-1" vmin="1" vmax="1" agent="1.0"',
      '</telemetry>', '</event>', '</result>', '</hello>',
    );
    run('token soup', fc.array(token, { maxLength: 30 }).map((t) => t.join('')), 10_000);
  });

  it('covered what it must', () => {
    expect(counts.inputs).toBeGreaterThanOrEqual(100_000);
    // The fast path decides a large share, for every kind it serves …
    expect(counts.fast).toBeGreaterThan(25_000);
    for (const kind of HOT_KINDS) expect(fastKinds.get(kind) ?? 0, kind).toBeGreaterThan(500);
    // … and the other outcomes are exercised too: plain but invalid, valid but not plain, refused.
    expect(counts.plainButFull).toBeGreaterThan(1_000);
    expect(counts.fullOnlyDecoded).toBeGreaterThan(5_000);
    expect(counts.refused).toBeGreaterThan(20_000);
  });
});
