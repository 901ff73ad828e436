/**
 * Alarms: each whole AlarmRecord as JSON. An alarm is open until it is both cleared (the condition
 * went away) and acknowledged by an operator — an alarm nobody saw stays listed.
 */
import type Database from 'better-sqlite3';
import type { AlarmRecord } from '../operator/types.js';
import type { HubDb } from './db.js';
import { MAX_LIMIT } from './query.js';
import { alarmRecord, decodeJson, rowMismatch } from './records.js';

interface Row {
  id: string;
  record: string;
}

/** Open = not (cleared and acknowledged). */
export function isOpen(a: AlarmRecord): boolean {
  return !(a.clearedAt !== undefined && a.acknowledgedAt !== undefined);
}

export class AlarmTable {
  private readonly upsert: Database.Statement;
  private readonly all: Database.Statement;
  private readonly open: Database.Statement;

  constructor(
    db: HubDb,
    private readonly path: string,
  ) {
    this.upsert = db.prepare(`
      INSERT INTO alarms (id, is_open, raised_at, record) VALUES (?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET is_open = excluded.is_open, raised_at = excluded.raised_at, record = excluded.record`);
    // The newest MAX_LIMIT: the API takes no limit, and a flapping alarm over years must not make this unbounded.
    this.all = db.prepare(`SELECT id, record FROM alarms ORDER BY raised_at DESC, rowid DESC LIMIT ${MAX_LIMIT}`);
    this.open = db.prepare(`SELECT id, record FROM alarms WHERE is_open = 1 ORDER BY raised_at DESC, rowid DESC LIMIT ${MAX_LIMIT}`);
  }

  /** Inserts the alarm or replaces its record. */
  save(a: AlarmRecord): void {
    this.upsert.run(a.id, isOpen(a) ? 1 : 0, a.raisedAt, JSON.stringify(a));
  }

  /** Newest first (by raisedAt), at most MAX_LIMIT. */
  query(q: { openOnly?: boolean }): AlarmRecord[] {
    const rows = (q.openOnly === true ? this.open.all() : this.all.all()) as Row[];
    return rows.map((row) => this.toRecord(row));
  }

  private toRecord(row: Row): AlarmRecord {
    const ref = { path: this.path, table: 'alarms', row: row.id, column: 'record' };
    const record = decodeJson(ref, row.record, alarmRecord);
    if (record.id !== row.id) throw rowMismatch(ref, `the record's id is ${JSON.stringify(record.id)}`);
    return record;
  }
}
