/**
 * Mutations of frames for the fuzz and differential tests: bit flips, inserted specials and attack
 * snippets, deletions, truncations, duplicated attributes and repeated runs.
 */
import fc from 'fast-check';

export const SNIPPETS: readonly string[] = [
  '<',
  '>',
  '&',
  '"',
  "'",
  '/',
  '=',
  ' ',
  '\u0000',
  '\uD800',
  '\uFFFF',
  '\r\n',
  '</x>',
  '<x>',
  '<x/>',
  '<dev>',
  '</dev>',
  '<s t="1" kw="1" relays=""/>',
  '<d k="a">b</d>',
  '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>',
  '<!ENTITY x SYSTEM "file:///etc/passwd">',
  '<![CDATA[x]]>',
  '<!-- c -->',
  '<?pi x?>',
  '<?xml version="1.0"?>',
  '&a;',
  '&amp;',
  '&lt;',
  '&#0;',
  '&#x41;',
  '&#xD800;',
  '&#1114112;',
  '&#x10FFFF;',
  '<__proto__>',
  '</__proto__>',
  '<constructor/>',
  '<prototype x="1"/>',
  ' __proto__="1"',
  ' constructor="x"',
  ' prototype="y"',
  ' polluted="1"',
  ' hasOwnProperty="1"',
  ' toString="1"',
  ' v="2"',
  ' v="1"',
  ' x="1"',
  ' ch="1 1"',
  ' prio="3"',
  ' all="1"',
  ' code="CMD_STALE"',
  ' kw="1e3"',
  ' kw="-0"',
  '<a><a><a><a><a><a><a><a><a><a>',
  '9007199254740993',
  '-1',
  'NaN',
];

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; length: number }
  | { op: 'truncate'; at: number }
  | { op: 'duplicate-attribute'; at: number }
  | { op: 'repeat'; at: number; length: number; times: number };

/** One mutation, inserting snippets from `snippets`. */
export function mutationFrom(snippets: readonly string[]): fc.Arbitrary<Mutation> {
  return fc.oneof(
    fc.record({ op: fc.constant('flip'), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('insert'), at: fc.nat(), text: fc.constantFrom(...snippets) }),
    fc.record({ op: fc.constant('delete'), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ op: fc.constant('truncate'), at: fc.nat() }),
    fc.record({ op: fc.constant('duplicate-attribute'), at: fc.nat() }),
    fc.record({
      op: fc.constant('repeat'),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 12 }),
      times: fc.integer({ min: 2, max: 40 }),
    }),
  );
}

export const mutation: fc.Arbitrary<Mutation> = mutationFrom(SNIPPETS);

export function mutate(input: string, m: Mutation): string {
  const at = input.length === 0 ? 0 : m.at % (input.length + 1);
  switch (m.op) {
    case 'flip': {
      const c = input.charCodeAt(at);
      return Number.isNaN(c) ? input : input.slice(0, at) + String.fromCharCode(c ^ (1 << m.bit)) + input.slice(at + 1);
    }
    case 'insert':
      return input.slice(0, at) + m.text + input.slice(at);
    case 'delete':
      return input.slice(0, at) + input.slice(at + m.length);
    case 'truncate':
      return input.slice(0, at);
    case 'duplicate-attribute': {
      const attributes = [...input.matchAll(/ [A-Za-z]+="[^"]*"/g)];
      const a = attributes.length === 0 ? undefined : attributes[m.at % attributes.length];
      if (a === undefined) return input;
      const end = a.index + a[0].length;
      return input.slice(0, end) + a[0] + input.slice(end);
    }
    case 'repeat':
      return input.slice(0, at) + input.slice(at, at + m.length).repeat(m.times) + input.slice(at);
  }
}

export const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });
