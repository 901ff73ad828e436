/**
 * docs/errors.md and the registry in shared/errors.ts must say the same thing: every code has exactly
 * one row, every code the page mentions exists, and each row's Meaning is the registry's description.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isErrorCode, LmgwError } from '../../shared/errors.js';

const DOC = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const CODES = Object.keys(ERROR_CODES);

interface Row {
  code: string;
  area: string;
  meaning: string;
  action: string;
}

/** The rows of the code table: lines `| `CODE` | area | meaning | what to do |`. */
function tableRows(markdown: string): Row[] {
  const rows: Row[] = [];
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
      .split('|')
      .map((c) => c.trim());
    const first = cells[0] ?? '';
    if (first === 'Code' || /^-+$/.test(first)) continue;
    rows.push({
      code: first.replace(/^`|`$/g, ''),
      area: cells[1] ?? '',
      meaning: cells[2] ?? '',
      action: cells[3] ?? '',
    });
    if (cells.length !== 4) throw new Error(`docs/errors.md: row for ${first} has ${cells.length} cells, not 4`);
  }
  return rows;
}

/** Codes named in headings (`## PROTO_X`), the other way the page may document a code. */
function headingCodes(markdown: string): string[] {
  return [...markdown.matchAll(/^#{1,6}\s+`?([A-Z][A-Z0-9]*_[A-Z0-9_]+)`?\s*$/gm)].map((m) => m[1] ?? '');
}

/**
 * Every code-shaped word on the page: an area prefix used by the registry, then `_` and more. An
 * environment variable such as LMGW_CA_PASSPHRASE does not match (no word boundary before CA_).
 */
function mentionedCodes(markdown: string): string[] {
  const prefixes = [...new Set(CODES.map((c) => c.split('_')[0]))].join('|');
  const word = new RegExp(`\\b(?:${prefixes})_[A-Z0-9_]*[A-Z0-9]\\b`, 'g');
  return [...new Set(markdown.match(word) ?? [])];
}

describe('docs/errors.md', () => {
  const rows = tableRows(DOC);
  const documented = [...rows.map((r) => r.code), ...headingCodes(DOC)];

  it('documents every registered code exactly once', () => {
    expect(CODES.filter((c) => !documented.includes(c)), 'codes missing from docs/errors.md').toEqual([]);
    expect(documented.filter((c, i) => documented.indexOf(c) !== i), 'codes documented twice').toEqual([]);
    expect(documented).toHaveLength(CODES.length);
  });

  it('names no code the registry lacks', () => {
    expect(documented.filter((c) => !isErrorCode(c)), 'rows for unknown codes').toEqual([]);
    expect(mentionedCodes(DOC).filter((c) => !isErrorCode(c)), 'unknown codes mentioned').toEqual([]);
  });

  it("gives each row the registry's meaning, an area and what to do", () => {
    for (const row of rows) {
      if (!isErrorCode(row.code)) continue;
      expect(row.meaning, `Meaning of ${row.code}`).toBe(ERROR_CODES[row.code]);
      expect(row.area, `Area of ${row.code}`).not.toBe('');
      expect(row.action.length, `What to do for ${row.code}`).toBeGreaterThan(10);
    }
  });

  it('the checks above can fail: they catch a removed row and an invented code', () => {
    const withoutRow = DOC.split('\n')
      .filter((l) => !l.startsWith('| `PROTO_TOO_DEEP`'))
      .join('\n');
    expect(tableRows(withoutRow).map((r) => r.code)).not.toContain('PROTO_TOO_DEEP');
    expect(mentionedCodes(`${DOC}\nSee also PROTO_MADE_UP.`)).toContain('PROTO_MADE_UP');
    expect(mentionedCodes('set LMGW_CA_PASSPHRASE')).toEqual([]);
  });
});

describe('the registry', () => {
  it('holds upper-case codes with an area prefix and a one-line description', () => {
    for (const [code, description] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z]+_[A-Z0-9_]+$/);
      expect(description).not.toContain('\n');
      expect(description.length).toBeGreaterThan(10);
    }
  });

  it('isErrorCode reads own properties only', () => {
    expect(isErrorCode('PROTO_NOT_XML')).toBe(true);
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '']) expect(isErrorCode(name)).toBe(false);
  });

  it('LmgwError carries its code', () => {
    const error = new LmgwError('CLI_USAGE', 'bad');
    expect(error.code).toBe('CLI_USAGE');
    expect(error).toBeInstanceOf(Error);
  });
});
