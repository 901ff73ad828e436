/**
 * Commands: each whole CommandRecord as JSON, with the columns the queries filter on. A record is
 * saved at every state change (requested → sent → final); unfinished() lets a restarted hub close
 * what was in flight when it stopped.
 */
import type Database from 'better-sqlite3';
import type { CommandRecord } from '../operator/types.js';
import type { HubDb } from './db.js';
import { StatementCache, limitOf, where } from './query.js';
import { commandRecord, decodeJson, rowMismatch } from './records.js';

interface Row {
  id: string;
  record: string;
}

export class CommandTable {
  private readonly upsert: Database.Statement;
  private readonly update: Database.Statement;
  private readonly unfinishedRows: Database.Statement;
  private readonly queries: StatementCache;

  constructor(
    db: HubDb,
    private readonly path: string,
  ) {
    // ON CONFLICT DO UPDATE, not INSERT OR REPLACE: the row keeps its rowid, the tie-breaker of "newest first".
    this.upsert = db.prepare(`
      INSERT INTO commands (id, gateway_id, event_id, state, requested_at, record) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET gateway_id = excluded.gateway_id, event_id = excluded.event_id, state = excluded.state,
                                     requested_at = excluded.requested_at, record = excluded.record`);
    this.update = db.prepare('UPDATE commands SET state = ?, record = ? WHERE id = ?');
    this.unfinishedRows = db.prepare("SELECT id, record FROM commands WHERE state IN ('requested', 'sent') ORDER BY requested_at, rowid");
    this.queries = new StatementCache(db);
  }

  /** Inserts the command or replaces its record (a later state: an UPDATE by id, cheaper than the upsert). */
  save(c: CommandRecord): void {
    const record = JSON.stringify(c);
    if (c.state !== 'requested' && this.update.run(c.state, record, c.id).changes === 1) return;
    this.upsert.run(c.id, c.gatewayId, c.eventId ?? null, c.state, c.requestedAt, record);
  }

  /** Newest first (by requestedAt). */
  query(q: { gatewayId?: string; eventId?: string; limit?: number }): CommandRecord[] {
    const conditions: string[] = [];
    const params: string[] = [];
    if (q.gatewayId !== undefined) {
      conditions.push('gateway_id = ?');
      params.push(q.gatewayId);
    }
    if (q.eventId !== undefined) {
      conditions.push('event_id = ?');
      params.push(q.eventId);
    }
    const sql = `SELECT id, record FROM commands ${where(conditions)} ORDER BY requested_at DESC, rowid DESC LIMIT ?`;
    return (this.queries.get(sql).all(...params, limitOf(q.limit)) as Row[]).map((row) => this.toRecord(row));
  }

  /** Commands requested or sent and not finished, oldest first. */
  unfinished(): CommandRecord[] {
    return (this.unfinishedRows.all() as Row[]).map((row) => this.toRecord(row));
  }

  private toRecord(row: Row): CommandRecord {
    const ref = { path: this.path, table: 'commands', row: row.id, column: 'record' };
    const record = decodeJson(ref, row.record, commandRecord);
    if (record.id !== row.id) throw rowMismatch(ref, `the record's id is ${JSON.stringify(record.id)}`);
    return record;
  }
}
