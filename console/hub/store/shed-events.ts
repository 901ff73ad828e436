/**
 * Shed events: each whole ShedEventRecord as JSON, saved at every change (created, outcomes in,
 * ended or cancelled), with the columns the queries filter on.
 */
import type Database from 'better-sqlite3';
import type { ShedEventRecord } from '../operator/types.js';
import type { HubDb } from './db.js';
import { limitOf } from './query.js';
import { decodeJson, rowMismatch, shedEventRecord } from './records.js';

interface Row {
  id: string;
  record: string;
}

export class ShedEventTable {
  private readonly upsert: Database.Statement;
  private readonly one: Database.Statement;
  private readonly all: Database.Statement;
  private readonly active: Database.Statement;

  constructor(
    db: HubDb,
    private readonly path: string,
  ) {
    this.upsert = db.prepare(`
      INSERT INTO shed_events (id, state, created_at, record) VALUES (?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET state = excluded.state, created_at = excluded.created_at, record = excluded.record`);
    this.one = db.prepare('SELECT id, record FROM shed_events WHERE id = ?');
    this.all = db.prepare('SELECT id, record FROM shed_events ORDER BY created_at DESC, rowid DESC LIMIT ?');
    this.active = db.prepare("SELECT id, record FROM shed_events WHERE state = 'active' ORDER BY created_at DESC, rowid DESC LIMIT ?");
  }

  /** Inserts the event or replaces its record. */
  save(e: ShedEventRecord): void {
    this.upsert.run(e.id, e.state, e.createdAt, JSON.stringify(e));
  }

  get(id: string): ShedEventRecord | undefined {
    const row = this.one.get(id) as Row | undefined;
    return row ? this.toRecord(row) : undefined;
  }

  /** Newest first (by createdAt). */
  query(q: { activeOnly?: boolean; limit?: number }): ShedEventRecord[] {
    const limit = limitOf(q.limit);
    const rows = (q.activeOnly === true ? this.active.all(limit) : this.all.all(limit)) as Row[];
    return rows.map((row) => this.toRecord(row));
  }

  private toRecord(row: Row): ShedEventRecord {
    const ref = { path: this.path, table: 'shed_events', row: row.id, column: 'record' };
    const record = decodeJson(ref, row.record, shedEventRecord);
    if (record.id !== row.id) throw rowMismatch(ref, `the record's id is ${JSON.stringify(record.id)}`);
    return record;
  }
}
