/**
 * Shed events: the event's header as JSON (saved when the event starts and when its state changes),
 * its skipped loads (written once), and one outcome row per event and gateway, updated in place as
 * the gateway's command moves on. A fleet-wide event over N gateways so costs N small row writes,
 * not N rewrites of an N-row document.
 */
import type Database from 'better-sqlite3';
import type { ShedEventRecord, ShedEventSummary, ShedOutcome, StateCounts } from '../operator/types.js';
import type { HubDb } from './db.js';
import { limitOf } from './query.js';
import { decodeJson, errorCodeColumn, rowMismatch, shedEventHeader, shedOutcomeChannels, shedSkipped } from './records.js';

/** What is stored of an event besides its outcome rows and skipped loads. */
export type ShedEventHeader = Omit<ShedEventSummary, 'counts' | 'confirmedKw'>;
export type ShedSkipped = ShedEventRecord['skipped'];

interface Row {
  id: string;
  record: string;
}

interface OutcomeRow {
  gateway_id: string;
  command_id: string;
  channels: string;
  expected_kw: number;
  state: string;
  code: string | null;
  message: string | null;
}

const COMMAND_STATES = new Set(['requested', 'sent', 'confirmed', 'rejected', 'failed', 'expired', 'timed-out', 'cancelled']);

export class ShedEventTable {
  private readonly insert: Database.Statement;
  private readonly updateHeader: Database.Statement;
  private readonly one: Database.Statement;
  private readonly oneSkipped: Database.Statement;
  private readonly all: Database.Statement;
  private readonly active: Database.Statement;
  private readonly upsertOutcome: Database.Statement;
  private readonly updateOutcome: Database.Statement;
  private readonly outcomeRows: Database.Statement;
  private readonly countRows: Database.Statement;

  constructor(
    db: HubDb,
    private readonly path: string,
  ) {
    this.insert = db.prepare('INSERT INTO shed_events (id, state, created_at, record, skipped) VALUES (?, ?, ?, ?, ?)');
    this.updateHeader = db.prepare('UPDATE shed_events SET state = ?, record = ? WHERE id = ?');
    this.one = db.prepare('SELECT id, record FROM shed_events WHERE id = ?');
    this.oneSkipped = db.prepare('SELECT skipped FROM shed_events WHERE id = ?').pluck();
    this.all = db.prepare('SELECT id, record FROM shed_events ORDER BY created_at DESC, rowid DESC LIMIT ?');
    this.active = db.prepare("SELECT id, record FROM shed_events WHERE state = 'active' ORDER BY created_at DESC, rowid DESC LIMIT ?");
    this.upsertOutcome = db.prepare(`
      INSERT INTO shed_outcomes (event_id, gateway_id, command_id, channels, expected_kw, state, code, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (event_id, gateway_id) DO UPDATE SET command_id = excluded.command_id, state = excluded.state,
                                                       code = excluded.code, message = excluded.message`);
    this.updateOutcome = db.prepare('UPDATE shed_outcomes SET command_id = ?, state = ?, code = ?, message = ? WHERE event_id = ? AND gateway_id = ?');
    this.outcomeRows = db.prepare('SELECT gateway_id, command_id, channels, expected_kw, state, code, message FROM shed_outcomes WHERE event_id = ? ORDER BY gateway_id');
    this.countRows = db.prepare('SELECT state, count(*) AS n, sum(expected_kw) AS kw FROM shed_outcomes WHERE event_id = ? GROUP BY state');
  }

  /** A new event: its header and skipped loads. */
  create(header: ShedEventHeader, skipped: ShedSkipped): void {
    this.insert.run(header.id, header.state, header.createdAt, JSON.stringify(header), JSON.stringify(skipped));
  }

  /** The header again, after a change of state (ended, cancelled, failed). */
  saveHeader(header: ShedEventHeader): void {
    this.updateHeader.run(header.state, JSON.stringify(header), header.id);
  }

  /** Inserts or updates the event's outcome for that gateway. */
  saveOutcome(eventId: string, o: ShedOutcome): void {
    // A later state of a planned outcome: an UPDATE of its row, cheaper than the upsert.
    if (o.state !== 'requested' && this.updateOutcome.run(o.commandId, o.state, o.code ?? null, o.message ?? null, eventId, o.gatewayId).changes === 1) return;
    this.upsertOutcome.run(eventId, o.gatewayId, o.commandId, JSON.stringify(o.channels), o.expectedKw, o.state, o.code ?? null, o.message ?? null);
  }

  getHeader(id: string): ShedEventHeader | undefined {
    const row = this.one.get(id) as Row | undefined;
    return row ? this.toHeader(row) : undefined;
  }

  /** Newest first (by createdAt). */
  queryHeaders(q: { activeOnly?: boolean; limit?: number }): ShedEventHeader[] {
    const limit = limitOf(q.limit);
    const rows = (q.activeOnly === true ? this.active.all(limit) : this.all.all(limit)) as Row[];
    return rows.map((row) => this.toHeader(row));
  }

  /** The event's outcomes, by gateway id. */
  outcomes(eventId: string): ShedOutcome[] {
    return (this.outcomeRows.all(eventId) as OutcomeRow[]).map((r) => this.toOutcome(eventId, r));
  }

  /** Outcome counts by state and the confirmed outcomes' expected kW. */
  counts(eventId: string): { counts: StateCounts; confirmedKw: number } {
    const counts: StateCounts = {};
    let confirmedKw = 0;
    for (const r of this.countRows.all(eventId) as Array<{ state: string; n: number; kw: number | null }>) {
      if (!COMMAND_STATES.has(r.state)) throw rowMismatch({ path: this.path, table: 'shed_outcomes', row: eventId, column: 'state' }, `state ${JSON.stringify(r.state)} is not a command state`);
      counts[r.state as keyof StateCounts] = r.n;
      if (r.state === 'confirmed') confirmedKw = r.kw ?? 0;
    }
    return { counts, confirmedKw };
  }

  skipped(eventId: string): ShedSkipped {
    const text = this.oneSkipped.get(eventId) as string | undefined;
    if (text === undefined) return [];
    return decodeJson({ path: this.path, table: 'shed_events', row: eventId, column: 'skipped' }, text, shedSkipped);
  }

  private toHeader(row: Row): ShedEventHeader {
    const ref = { path: this.path, table: 'shed_events', row: row.id, column: 'record' };
    const stored = decodeJson(ref, row.record, shedEventHeader);
    if (stored.id !== row.id) throw rowMismatch(ref, `the record's id is ${JSON.stringify(stored.id)}`);
    // Events recorded before outcomes were rows (schema 1) lack the figures derived at creation.
    if (stored.gatewayCount !== undefined && stored.skippedCount !== undefined && stored.skippedByReason !== undefined) {
      return { ...stored, gatewayCount: stored.gatewayCount, skippedCount: stored.skippedCount, skippedByReason: stored.skippedByReason };
    }
    const skipped = this.skipped(row.id);
    return {
      ...stored,
      gatewayCount: stored.gatewayCount ?? this.outcomes(row.id).length,
      skippedCount: skipped.length,
      skippedByReason: countReasons(skipped),
    };
  }

  private toOutcome(eventId: string, r: OutcomeRow): ShedOutcome {
    const ref = { path: this.path, table: 'shed_outcomes', row: `${eventId}/${r.gateway_id}`, column: 'state' };
    if (!COMMAND_STATES.has(r.state)) throw rowMismatch(ref, `state ${JSON.stringify(r.state)} is not a command state`);
    return {
      gatewayId: r.gateway_id,
      channels: decodeJson({ ...ref, column: 'channels' }, r.channels, shedOutcomeChannels),
      expectedKw: r.expected_kw,
      commandId: r.command_id,
      state: r.state as ShedOutcome['state'],
      ...(r.code !== null ? { code: errorCodeColumn({ ...ref, column: 'code' }, r.code) } : {}),
      ...(r.message !== null ? { message: r.message } : {}),
    };
  }
}

export function countReasons(skipped: ShedSkipped): ShedEventHeader['skippedByReason'] {
  const by: ShedEventHeader['skippedByReason'] = {};
  for (const s of skipped) by[s.reason] = (by[s.reason] ?? 0) + 1;
  return by;
}
