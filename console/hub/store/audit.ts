/**
 * The audit log: who did what, when, with which parameters, and how it ended. Append-only — no
 * method here changes or deletes a row, and triggers in the schema abort any UPDATE or DELETE
 * anyone else tries, so the log is evidence. The outcome of an action is a second row with the
 * same ref as its 'requested' row.
 */
import type Database from 'better-sqlite3';
import type { AuditQuery, AuditRecord } from '../operator/types.js';
import type { HubDb } from './db.js';
import { StatementCache, limitOf, where } from './query.js';
import { decodeJson, jsonObject } from './records.js';

interface AuditRow {
  id: number;
  time: number;
  operator: string;
  operation: string;
  parameters: string;
  outcome: string;
  ref: string | null;
}

export class AuditLog {
  private readonly insert: Database.Statement;
  private readonly outcomeOf: Database.Statement;
  private readonly queries: StatementCache;

  constructor(
    db: HubDb,
    private readonly path: string,
  ) {
    this.insert = db.prepare('INSERT INTO audit (time, operator, operation, parameters, outcome, ref) VALUES (?, ?, ?, ?, ?, ?)');
    // By the (operation, time) index: an operation's rows, then their ref (an operation like 'shed-event' has a few rows per event).
    this.outcomeOf = db.prepare("SELECT outcome FROM audit WHERE operation = ? AND ref = ? AND outcome <> 'requested' ORDER BY id LIMIT 1").pluck();
    this.queries = new StatementCache(db);
  }

  /** Returns the new row's id. */
  append(r: Omit<AuditRecord, 'id'>): number {
    const info = this.insert.run(r.time, r.operator, r.operation, JSON.stringify(r.parameters), r.outcome, r.ref ?? null);
    return Number(info.lastInsertRowid);
  }

  /** The first outcome (any row but 'requested') of `operation` with this ref, or undefined when it has none yet. */
  outcome(operation: string, ref: string): string | undefined {
    return this.outcomeOf.get(operation, ref) as string | undefined;
  }

  /** Newest first; `from` inclusive, `to` exclusive. */
  query(q: AuditQuery): AuditRecord[] {
    const conditions: string[] = [];
    const params: Array<string | number> = [];
    if (q.from !== undefined) {
      conditions.push('time >= ?');
      params.push(q.from);
    }
    if (q.to !== undefined) {
      conditions.push('time < ?');
      params.push(q.to);
    }
    if (q.operator !== undefined) {
      conditions.push('operator = ?');
      params.push(q.operator);
    }
    if (q.operation !== undefined) {
      conditions.push('operation = ?');
      params.push(q.operation);
    }
    const sql = `SELECT id, time, operator, operation, parameters, outcome, ref FROM audit ${where(conditions)} ORDER BY time DESC, id DESC LIMIT ?`;
    const rows = this.queries.get(sql).all(...params, limitOf(q.limit)) as AuditRow[];
    return rows.map((row) => this.record(row));
  }

  private record(row: AuditRow): AuditRecord {
    const parameters = decodeJson({ path: this.path, table: 'audit', row: row.id, column: 'parameters' }, row.parameters, jsonObject);
    const record: AuditRecord = { id: row.id, time: row.time, operator: row.operator, operation: row.operation, parameters, outcome: row.outcome };
    if (row.ref !== null) record.ref = row.ref;
    return record;
  }
}
