/**
 * Security events: every refused connection and every other security-relevant thing the link saw,
 * with its reason code and what the peer presented. Append-only, like the audit log (triggers in the
 * schema abort UPDATE and DELETE).
 */
import type Database from 'better-sqlite3';
import type { SecurityEventRecord } from '../operator/types.js';
import type { HubDb } from './db.js';
import { limitOf } from './query.js';
import { errorCodeColumn } from './records.js';

interface SecurityEventRow {
  id: number;
  time: number;
  code: string;
  remote_address: string;
  detail: string;
  gateway_id: string | null;
  subject: string | null;
  serial: string | null;
  issuer: string | null;
}

const COLUMNS = 'id, time, code, remote_address, detail, gateway_id, subject, serial, issuer';

export class SecurityEvents {
  private readonly insert: Database.Statement;
  private readonly all: Database.Statement;
  private readonly since: Database.Statement;

  constructor(
    db: HubDb,
    private readonly path: string,
  ) {
    this.insert = db.prepare(
      'INSERT INTO security_events (time, code, remote_address, detail, gateway_id, subject, serial, issuer) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.all = db.prepare(`SELECT ${COLUMNS} FROM security_events ORDER BY time DESC, id DESC LIMIT ?`);
    this.since = db.prepare(`SELECT ${COLUMNS} FROM security_events WHERE time >= ? ORDER BY time DESC, id DESC LIMIT ?`);
  }

  /** Returns the new row's id. */
  append(e: Omit<SecurityEventRecord, 'id'>): number {
    const info = this.insert.run(e.time, e.code, e.remoteAddress, e.detail, e.gatewayId ?? null, e.subject ?? null, e.serial ?? null, e.issuer ?? null);
    return Number(info.lastInsertRowid);
  }

  /** Newest first; `since` inclusive. */
  query(q: { since?: number; limit?: number }): SecurityEventRecord[] {
    const limit = limitOf(q.limit);
    const rows = (q.since === undefined ? this.all.all(limit) : this.since.all(q.since, limit)) as SecurityEventRow[];
    return rows.map((row) => toRecord(this.path, row));
  }
}

function toRecord(path: string, row: SecurityEventRow): SecurityEventRecord {
  const record: SecurityEventRecord = {
    id: row.id,
    time: row.time,
    code: errorCodeColumn({ path, table: 'security_events', row: row.id, column: 'code' }, row.code),
    remoteAddress: row.remote_address,
    detail: row.detail,
  };
  if (row.gateway_id !== null) record.gatewayId = row.gateway_id;
  if (row.subject !== null) record.subject = row.subject;
  if (row.serial !== null) record.serial = row.serial;
  if (row.issuer !== null) record.issuer = row.issuer;
  return record;
}
