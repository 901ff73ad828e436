/**
 * What the link's sessions mean for the fleet: a connection updates the registry and the connection
 * history and clears the gateway's offline alarm; a disconnection ends its pending commands and, if
 * it stays away for `offlineAlarmMs`, raises GATEWAY_OFFLINE; a refused peer is a security event (an
 * alarm when it names a certificate problem); the link's own alarms (CRL, OCSP) follow the link.
 */
import type { Logger } from 'pino';
import type { ErrorCode } from '../../../shared/errors.js';
import type { LinkServer, SecurityEvent, SessionInfo } from '../link/server.js';
import type { SecurityEventRecord } from '../operator/types.js';
import type { HubStore } from '../store/index.js';
import type { AlarmBook } from './alarms.js';
import type { CommandDispatcher } from './dispatcher.js';
import type { DomainBus } from './domain-bus.js';
import type { LiveLoad } from './live-load.js';
import type { FleetRegistry, RowWriter } from './registry.js';

/** What Sessions needs of the link: its events and its current alarms. */
export type SessionLink = Pick<LinkServer, 'on' | 'alarms'>;

export interface SessionsOptions {
  link: SessionLink;
  store: HubStore;
  registry: FleetRegistry;
  load: LiveLoad;
  alarms: AlarmBook;
  dispatcher: CommandDispatcher;
  bus: DomainBus;
  /** A gateway offline this long raises an alarm (short drops do not). */
  offlineAlarmMs: number;
  /** How the end of a connection reaches the store (the hub's bookkeeping group commit); default at once. */
  write?: RowWriter;
  log: Logger;
}

/** Refusals that name a certificate problem an operator must see (a port scan without one is not an alarm). */
export const ALARMING_REFUSALS: ReadonlySet<ErrorCode> = new Set([
  'LINK_UNKNOWN_CA',
  'LINK_CERT_EXPIRED',
  'LINK_CERT_NOT_YET_VALID',
  'LINK_CERT_REVOKED',
  'LINK_WRONG_USAGE',
  'LINK_BAD_CERT',
  'LINK_IDENTITY_MISMATCH',
]);

export class Sessions {
  private readonly offlineTimers = new Map<string, NodeJS.Timeout>();
  private readonly write: RowWriter;

  constructor(private readonly o: SessionsOptions) {
    this.write = o.write ?? ((w) => w());
    const { link, alarms } = o;
    link.on('connected', (s) => this.connected(s));
    link.on('disconnected', (s, why) => this.disconnected(s, why.code));
    link.on('refused', (e) => this.refused(e));
    for (const a of link.alarms) alarms.raise({ code: a.code, severity: a.code === 'LINK_CRL_EXPIRING' ? 'warning' : 'alarm', message: a.message });
    link.on('alarm', (a) => alarms.raise({ code: a.code, severity: a.code === 'LINK_CRL_EXPIRING' ? 'warning' : 'alarm', message: a.message }));
  }

  /** Clears the link alarms (CRL, OCSP) whose condition the link no longer reports. Call every second. */
  syncLinkAlarms(): void {
    const current = new Set(this.o.link.alarms.map((a) => a.code));
    for (const a of this.o.alarms.list()) {
      if (a.gatewayId === undefined && a.clearedAt === undefined && /^LINK_(CRL|OCSP)_/.test(a.code) && !current.has(a.code as ErrorCode)) this.o.alarms.clear(a.code);
    }
  }

  close(): void {
    for (const t of this.offlineTimers.values()) clearTimeout(t);
    this.offlineTimers.clear();
  }

  private connected(s: SessionInfo): void {
    const { registry, load, store, alarms, bus } = this.o;
    clearTimeout(this.offlineTimers.get(s.gatewayId));
    this.offlineTimers.delete(s.gatewayId);
    registry.connected(s);
    load.track(s.gatewayId);
    store.openConnection({ gatewayId: s.gatewayId, sessionId: s.sessionId, remoteAddress: s.remoteAddress, connectedAt: s.connectedAt });
    alarms.clear('GATEWAY_OFFLINE', s.gatewayId);
    bus.emit('gateway-changed', s.gatewayId);
  }

  private disconnected(s: SessionInfo, code: ErrorCode | 'NORMAL'): void {
    const { registry, store, alarms, dispatcher, bus } = this.o;
    const at = Date.now();
    this.write(() => store.closeConnection(s.sessionId, at, code));
    if (!registry.disconnected(s)) return; // replaced by a newer session
    dispatcher.gatewayLost(s.gatewayId);
    bus.emit('gateway-changed', s.gatewayId);
    if (code === 'LINK_SHUTDOWN') return;
    const timer = setTimeout(() => {
      this.offlineTimers.delete(s.gatewayId);
      const g = registry.get(s.gatewayId);
      if (!g || g.session) return;
      alarms.raise({ code: 'GATEWAY_OFFLINE', severity: 'alarm', gatewayId: s.gatewayId, message: `${registry.siteName(g)} offline since ${new Date(g.row.since).toISOString()} (${code})` });
    }, this.o.offlineAlarmMs);
    timer.unref();
    this.offlineTimers.set(s.gatewayId, timer);
  }

  private refused(e: SecurityEvent): void {
    const fields = securityFields(e);
    this.o.bus.emit('security', { id: this.o.store.appendSecurityEvent(fields), ...fields });
    if (ALARMING_REFUSALS.has(e.code)) {
      this.o.alarms.raise({
        code: e.code,
        severity: 'alarm',
        ...(e.gatewayId ? { gatewayId: e.gatewayId } : {}),
        message: `refused ${e.peer.subject ?? 'a peer'} from ${e.remoteAddress}: ${e.detail}`,
      });
    }
  }
}

function securityFields(e: SecurityEvent): Omit<SecurityEventRecord, 'id'> {
  return {
    time: e.time,
    code: e.code,
    remoteAddress: e.remoteAddress,
    detail: e.detail,
    ...(e.gatewayId ? { gatewayId: e.gatewayId } : {}),
    ...(e.peer.subject ? { subject: e.peer.subject } : {}),
    ...(e.peer.serial ? { serial: e.peer.serial } : {}),
    ...(e.peer.issuer ? { issuer: e.peer.issuer } : {}),
  };
}
