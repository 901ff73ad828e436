/**
 * Connection history: one row per link session, from connect to disconnect with the reason. A hub
 * that dies leaves its sessions open; the next start closes them (closeDangling) so the history
 * never shows a gateway connected to a hub that is gone.
 */
import type Database from 'better-sqlite3';
import type { ConnectionRecord } from '../operator/types.js';
import type { HubDb } from './db.js';
import { limitOf } from './query.js';

interface ConnectionRow {
  session_id: string;
  gateway_id: string;
  remote_address: string;
  connected_at: number;
  disconnected_at: number | null;
  reason: string | null;
}

const COLUMNS = 'session_id, gateway_id, remote_address, connected_at, disconnected_at, reason';

export class ConnectionLog {
  private readonly insert: Database.Statement;
  private readonly close: Database.Statement;
  private readonly closeAll: Database.Statement;
  private readonly all: Database.Statement;
  private readonly ofGateway: Database.Statement;

  constructor(db: HubDb) {
    this.insert = db.prepare('INSERT INTO connections (session_id, gateway_id, remote_address, connected_at) VALUES (?, ?, ?, ?)');
    // Only an open session is closed: the first disconnect and its reason stand.
    this.close = db.prepare('UPDATE connections SET disconnected_at = ?, reason = ? WHERE session_id = ? AND disconnected_at IS NULL');
    this.closeAll = db.prepare('UPDATE connections SET disconnected_at = ?, reason = ? WHERE disconnected_at IS NULL');
    this.all = db.prepare(`SELECT ${COLUMNS} FROM connections ORDER BY connected_at DESC, session_id DESC LIMIT ?`);
    this.ofGateway = db.prepare(`SELECT ${COLUMNS} FROM connections WHERE gateway_id = ? ORDER BY connected_at DESC, session_id DESC LIMIT ?`);
  }

  open(r: { gatewayId: string; sessionId: string; remoteAddress: string; connectedAt: number }): void {
    this.insert.run(r.sessionId, r.gatewayId, r.remoteAddress, r.connectedAt);
  }

  /** Returns whether an open session of that id was closed. */
  closeSession(sessionId: string, disconnectedAt: number, reason: string): boolean {
    return this.close.run(disconnectedAt, reason, sessionId).changes > 0;
  }

  /** Closes every session still open; returns how many. */
  closeDangling(at: number, reason: string): number {
    return this.closeAll.run(at, reason).changes;
  }

  /** Newest first. */
  query(q: { gatewayId?: string; limit?: number }): ConnectionRecord[] {
    const limit = limitOf(q.limit);
    const rows = (q.gatewayId === undefined ? this.all.all(limit) : this.ofGateway.all(q.gatewayId, limit)) as ConnectionRow[];
    return rows.map(toRecord);
  }
}

function toRecord(row: ConnectionRow): ConnectionRecord {
  const record: ConnectionRecord = { gatewayId: row.gateway_id, sessionId: row.session_id, remoteAddress: row.remote_address, connectedAt: row.connected_at };
  if (row.disconnected_at !== null) record.disconnectedAt = row.disconnected_at;
  if (row.reason !== null) record.reason = row.reason;
  return record;
}
