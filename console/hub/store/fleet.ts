/**
 * The fleet registry's rows: every gateway ever seen, with its identity, certificate, last hello
 * and connection state, so the console lists the whole fleet — offline gateways included — the
 * moment the hub starts.
 */
import type Database from 'better-sqlite3';
import type { HelloMessage } from '../../../shared/protocol/messages.js';
import type { HubDb } from './db.js';
import { decodeJson, helloMessage, stringList } from './records.js';

export interface GatewayRow {
  gatewayId: string;
  /** From hello. */
  siteName: string | null;
  labels: string[];
  firstSeen: number;
  lastSeen: number;
  state: 'connected' | 'offline';
  since: number;
  agentVersion: string | null;
  certSerial: string | null;
  certSubject: string | null;
  certNotAfter: number | null;
  /** The last hello. */
  hello: HelloMessage | null;
  viaProxy: boolean;
  interceptionSuspected: boolean;
  remoteAddress: string | null;
  targetKw: number | null;
}

interface Row {
  gateway_id: string;
  site_name: string | null;
  labels: string;
  first_seen: number;
  last_seen: number;
  state: string;
  since: number;
  agent_version: string | null;
  cert_serial: string | null;
  cert_subject: string | null;
  cert_not_after: number | null;
  hello: string | null;
  via_proxy: number;
  interception_suspected: number;
  remote_address: string | null;
  target_kw: number | null;
}

export class FleetTable {
  private readonly upsert: Database.Statement;
  private readonly all: Database.Statement;

  constructor(
    db: HubDb,
    private readonly path: string,
  ) {
    this.upsert = db.prepare(`
      INSERT INTO gateways (gateway_id, site_name, labels, first_seen, last_seen, state, since, agent_version, cert_serial, cert_subject,
                            cert_not_after, hello, via_proxy, interception_suspected, remote_address, target_kw)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (gateway_id) DO UPDATE SET
        site_name = excluded.site_name, labels = excluded.labels, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
        state = excluded.state, since = excluded.since, agent_version = excluded.agent_version, cert_serial = excluded.cert_serial,
        cert_subject = excluded.cert_subject, cert_not_after = excluded.cert_not_after, hello = excluded.hello,
        via_proxy = excluded.via_proxy, interception_suspected = excluded.interception_suspected,
        remote_address = excluded.remote_address, target_kw = excluded.target_kw`);
    this.all = db.prepare(`
      SELECT gateway_id, site_name, labels, first_seen, last_seen, state, since, agent_version, cert_serial, cert_subject, cert_not_after,
             hello, via_proxy, interception_suspected, remote_address, target_kw
      FROM gateways ORDER BY gateway_id`);
  }

  /** Inserts the gateway or replaces every field of its row. */
  save(g: GatewayRow): void {
    this.upsert.run(
      g.gatewayId,
      g.siteName,
      JSON.stringify(g.labels),
      g.firstSeen,
      g.lastSeen,
      g.state,
      g.since,
      g.agentVersion,
      g.certSerial,
      g.certSubject,
      g.certNotAfter,
      g.hello === null ? null : JSON.stringify(g.hello),
      g.viaProxy ? 1 : 0,
      g.interceptionSuspected ? 1 : 0,
      g.remoteAddress,
      g.targetKw,
    );
  }

  /** Every gateway, by id. */
  list(): GatewayRow[] {
    return (this.all.all() as Row[]).map((row) => this.toRow(row));
  }

  private toRow(row: Row): GatewayRow {
    const ref = (column: string): { path: string; table: string; row: string; column: string } => ({ path: this.path, table: 'gateways', row: row.gateway_id, column });
    return {
      gatewayId: row.gateway_id,
      siteName: row.site_name,
      labels: decodeJson(ref('labels'), row.labels, stringList),
      firstSeen: row.first_seen,
      lastSeen: row.last_seen,
      // The schema's CHECK admits only these two.
      state: row.state === 'connected' ? 'connected' : 'offline',
      since: row.since,
      agentVersion: row.agent_version,
      certSerial: row.cert_serial,
      certSubject: row.cert_subject,
      certNotAfter: row.cert_not_after,
      hello: row.hello === null ? null : decodeJson(ref('hello'), row.hello, helloMessage),
      viaProxy: row.via_proxy === 1,
      interceptionSuspected: row.interception_suspected === 1,
      remoteAddress: row.remote_address,
      targetKw: row.target_kw,
    };
  }
}
