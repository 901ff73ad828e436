/**
 * CSV export (RFC 4180) of what the operator sees, for a spreadsheet. Pure: the view turns the text
 * into a Blob download.
 *
 * Audit parameters and gateway names reach a spreadsheet through this file, and a spreadsheet runs a
 * cell that starts with `=`, `+`, `-` or `@` as a formula (CSV injection, OWASP). Such text cells get
 * a leading `'`, which spreadsheets show as plain text. Numbers are written as numbers (a negative
 * number is not a formula).
 */
import type { AuditRecord } from '../../hub/operator/types.js';
import type { ZonedTime } from './format.js';

export type CsvCell = string | number | boolean | null | undefined;

/** Characters that make a spreadsheet treat a text cell as a formula (tab and CR too, per OWASP). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell, guarded and quoted as needed. */
export function csvCell(value: CsvCell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The whole file: a header row, then the rows; CRLF line ends as RFC 4180 says. */
export function toCsv(header: readonly string[], rows: ReadonlyArray<readonly CsvCell[]>): string {
  const lines = [header.map(csvCell).join(','), ...rows.map((r) => r.map(csvCell).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

export const AUDIT_CSV_HEADER = ['time', 'time_ms', 'operator', 'operation', 'outcome', 'ref', 'parameters'] as const;

/** The audit records as CSV; times in the hub's zone and as epoch ms (for sorting and joining). */
export function auditCsv(records: readonly AuditRecord[], zone: ZonedTime): string {
  return toCsv(
    [...AUDIT_CSV_HEADER, 'time_zone'],
    records.map((r) => [zone.dateTime(r.time), r.time, r.operator, r.operation, r.outcome, r.ref, JSON.stringify(r.parameters), zone.timeZone]),
  );
}

/** "lmgw-audit-2026-11-25T1445.csv" */
export function auditFileName(nowMs: number, zone: ZonedTime): string {
  return `lmgw-audit-${zone.toInput(nowMs).replace(':', '')}.csv`;
}
