import { describe, expect, it } from 'vitest';
import { auditCsv, auditFileName, csvCell, toCsv } from '../../../console/renderer/logic/csv.js';
import { ZonedTime } from '../../../console/renderer/logic/format.js';

describe('CSV cells (RFC 4180)', () => {
  it('leaves plain text alone', () => {
    expect(csvCell('bakery-muller')).toBe('bakery-muller');
    expect(csvCell('Bakery Müller')).toBe('Bakery Müller');
  });

  it('quotes commas, quotes and line breaks, doubling quotes', () => {
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell('cr\r')).toBe('"cr\r"');
    expect(csvCell(' padded ')).toBe('" padded "');
  });

  it('writes numbers and booleans as themselves and nothing for null', () => {
    expect(csvCell(42.5)).toBe('42.5');
    expect(csvCell(true)).toBe('true');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell(Number.NaN)).toBe('');
  });

  it.each(['=1+1', '+41 79', '-2+3', '@SUM(A1)', '\tx', '\r=1'])('guards %j against formula injection with a leading quote', (text) => {
    const cell = csvCell(text);
    const unquoted = cell.startsWith('"') ? cell.slice(1, -1).replace(/""/g, '"') : cell;
    expect(unquoted).toBe(`'${text}`);
  });

  it('guards and quotes together', () => {
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
  });

  it('does not guard numbers: a negative number is not a formula', () => {
    expect(csvCell(-5)).toBe('-5');
  });
});

describe('CSV files', () => {
  it('has a header and CRLF line ends', () => {
    expect(toCsv(['a', 'b'], [[1, 'x'], [2, 'y,z']])).toBe('a,b\r\n1,x\r\n2,"y,z"\r\n');
  });

  it('exports audit records with the hub zone time, epoch ms and parameters as JSON', () => {
    const zone = new ZonedTime('Europe/Zurich');
    const text = auditCsv(
      [
        { id: 1, time: Date.UTC(2026, 6, 1, 12, 0, 0), operator: '=cmd|calc', operation: 'command', parameters: { gatewayId: 'site-a', channels: [1, 2] }, outcome: 'confirmed', ref: 'c1' },
        { id: 2, time: Date.UTC(2026, 6, 1, 12, 1, 0), operator: 'bob', operation: 'restore-all', parameters: {}, outcome: 'requested' },
      ],
      zone,
    );
    const lines = text.split('\r\n');
    expect(lines[0]).toBe('time,time_ms,operator,operation,outcome,ref,parameters,time_zone');
    expect(lines[1]).toBe(`2026-07-01 14:00:00,${Date.UTC(2026, 6, 1, 12)},'=cmd|calc,command,confirmed,c1,"{""gatewayId"":""site-a"",""channels"":[1,2]}",Europe/Zurich`);
    expect(lines[2]).toBe(`2026-07-01 14:01:00,${Date.UTC(2026, 6, 1, 12, 1)},bob,restore-all,requested,,{},Europe/Zurich`);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('');
  });

  it('names the file after the time in the hub zone', () => {
    expect(auditFileName(Date.UTC(2026, 6, 1, 12, 45), new ZonedTime('Europe/Zurich'))).toBe('lmgw-audit-2026-07-01T1445.csv');
  });
});
