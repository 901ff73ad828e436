import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decode, encode, MESSAGE_KINDS } from '../../../shared/protocol/index.js';
import { GOLDEN, VARIANTS } from './golden.js';

const DIR = new URL('./golden/', import.meta.url);

function frame(name: string): string {
  return readFileSync(new URL(`${name}.xml`, DIR), 'utf8');
}

function bytes(name: string): number {
  return readFileSync(new URL(`${name}.xml`, DIR)).length;
}

describe('golden vectors', () => {
  it('has a file for every expected message and a message for every file', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.xml'))
      .map((f) => f.slice(0, -4))
      .sort();
    expect(files).toEqual(Object.keys(GOLDEN).sort());
  });

  it('covers every message kind', () => {
    const kinds = new Set(Object.values(GOLDEN).map((m) => m.kind));
    expect([...kinds].sort()).toEqual([...MESSAGE_KINDS].sort());
  });

  for (const [name, message] of Object.entries(GOLDEN)) {
    it(`${name}: decode(bytes) equals the message`, () => {
      expect(decode(frame(name))).toStrictEqual(message);
    });
    it(`${name}: encode(message) is exactly the bytes`, () => {
      expect(encode(message)).toBe(frame(name));
    });
  }

  it('docs/protocol.md quotes every vector, so the spec cannot drift from the code', () => {
    const spec = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
    const missing = Object.keys(GOLDEN).filter((name) => !spec.includes(`\n${frame(name)}\n`));
    expect(missing).toEqual([]);
  });

  it('keeps the frequent messages near 100 bytes', () => {
    for (const name of ['command-shed-channels', 'command-shed-priority', 'command-read', 'result-ok', 'ack']) {
      expect(bytes(name), name).toBeLessThanOrEqual(100);
    }
    expect(bytes('result-rejected')).toBeLessThanOrEqual(120);
  });
});

describe('non-canonical frames', () => {
  for (const v of VARIANTS) {
    it(`${v.name}: decodes like ${v.canonical}, re-encodes canonically`, () => {
      const message = decode(v.frame);
      expect(message).toStrictEqual(GOLDEN[v.canonical]);
      expect(encode(message)).toBe(frame(v.canonical));
    });
  }
});
