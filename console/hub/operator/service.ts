/**
 * The operator service over the hub's domain: queries answer from memory (the live fleet) or the
 * store (history); operations audit first, then act. The same object serves the Electron IPC bridge
 * and the browser-mode HTTP API, which validate their input with ./schemas.ts before calling it;
 * this class still checks what only the domain knows (does the gateway exist, is it online).
 */
import { CertificateAuthority, listCertificates, normalizeSerial } from '../../../certs/ca.js';
import { LmgwError } from '../../../shared/errors.js';
import { TypedEvents } from '../../../shared/typed-events.js';
import type { AlarmBook } from '../fleet/alarms.js';
import type { CommandDispatcher } from '../fleet/dispatcher.js';
import type { LiveLoad } from '../fleet/live-load.js';
import type { FleetRegistry, GatewayState } from '../fleet/registry.js';
import type { ShedEvents } from '../fleet/shed-events.js';
import type { HubStore } from '../store/index.js';
import type {
  AlarmRecord,
  AuditQuery,
  AuditRecord,
  CertificateRecord,
  CommandRecord,
  CommandRequest,
  ConnectionRecord,
  FleetSnapshot,
  GatewayDetail,
  GatewaySummary,
  HubInfo,
  LoadHistoryQuery,
  LoadPoint,
  OperatorContext,
  OperatorEvent,
  OperatorService,
  RevocationReasonChoice,
  SecurityEventRecord,
  ShedEventRecord,
  ShedPreview,
  ShedRequest,
} from './types.js';

export interface HubDomain {
  info: HubInfo;
  /** The CA directory and its passphrase, when the console holds the CA. */
  ca?: { dir: string; passphrase: string };
  store: HubStore;
  registry: FleetRegistry;
  load: LiveLoad;
  dispatcher: CommandDispatcher;
  shedEvents: ShedEvents;
  alarms: AlarmBook;
  now?: () => number;
}

const FLEET_TARGET_SETTING = 'fleet.targetKw';

export class HubOperatorService implements OperatorService {
  private readonly bus = new TypedEvents<{ event: [OperatorEvent] }>();
  private readonly now: () => number;

  constructor(private readonly d: HubDomain) {
    this.now = d.now ?? Date.now;
    const fleetTarget = d.store.getSetting(FLEET_TARGET_SETTING);
    if (fleetTarget !== undefined) d.load.setTarget(undefined, Number(fleetTarget));
  }

  // --- events ----------------------------------------------------------------------------------

  subscribe(listener: (event: OperatorEvent) => void): () => void {
    return this.bus.on('event', listener);
  }

  emit(event: OperatorEvent): void {
    this.bus.emit('event', event);
  }

  gatewayChanged(gatewayId: string): void {
    const g = this.d.registry.get(gatewayId);
    if (g) this.emit({ type: 'gateway', gateway: this.summary(g) });
  }

  /** The 1 s live-load event. */
  emitLoad(): void {
    const t = this.now();
    const gateways: Record<string, ReturnType<LiveLoad['figures']>> = {};
    for (const id of this.d.registry.ids()) gateways[id] = this.d.load.figures(id, t);
    this.emit({ type: 'load', time: t, fleet: this.d.load.fleetFigures(t), gateways });
  }

  // --- queries ---------------------------------------------------------------------------------

  info(): HubInfo {
    return this.d.info;
  }

  fleet(): FleetSnapshot {
    const t = this.now();
    const gateways = this.d.registry.all().map((g) => this.summary(g, t));
    return {
      time: t,
      timeZone: this.d.info.timeZone,
      gateways,
      counts: {
        total: gateways.length,
        connected: gateways.filter((g) => g.state === 'connected').length,
        offline: gateways.filter((g) => g.state === 'offline').length,
        shedding: gateways.filter((g) => g.shedChannelCount > 0).length,
        alarms: gateways.filter((g) => g.openAlarmCount > 0).length,
      },
      load: this.d.load.fleetFigures(t),
    };
  }

  gateway(gatewayId: string): GatewayDetail {
    const g = this.need(gatewayId);
    const held = this.d.shedEvents.heldChannels(gatewayId);
    return {
      ...this.summary(g),
      devices: g.devices.map((d) => ({
        ...d,
        channels: d.channels.map((c) => {
          const h = held.get(c.id);
          return h ? { ...c, shedEventId: h.eventId, restoreAt: h.restoreAt } : { ...c };
        }),
      })),
      recentCommands: this.d.store.queryCommands({ gatewayId, limit: 20 }),
      openAlarms: this.d.alarms.forGateway(gatewayId),
    };
  }

  loadHistory(query: LoadHistoryQuery): LoadPoint[] {
    if (query.gatewayId !== undefined) this.need(query.gatewayId);
    return this.d.store.loadHistory(query);
  }

  commands(query: { gatewayId?: string; eventId?: string; limit?: number }): CommandRecord[] {
    return this.d.store.queryCommands(query);
  }

  shedEvents(query: { activeOnly?: boolean; limit?: number }): ShedEventRecord[] {
    return this.d.store.queryShedEvents(query);
  }

  audit(query: AuditQuery): AuditRecord[] {
    return this.d.store.queryAudit(query);
  }

  securityEvents(query: { since?: number; limit?: number }): SecurityEventRecord[] {
    return this.d.store.querySecurityEvents(query);
  }

  alarms(query: { openOnly?: boolean }): AlarmRecord[] {
    return query.openOnly === false ? this.d.store.queryAlarms({ openOnly: false }) : this.d.alarms.list();
  }

  connections(query: { gatewayId?: string; limit?: number }): ConnectionRecord[] {
    return this.d.store.queryConnections(query);
  }

  certificates(): CertificateRecord[] {
    const ca = this.needCa();
    const inUse = new Set(this.d.registry.all().map((g) => g.row.certSerial));
    return listCertificates(ca.dir)
      .filter((c) => c.kind === 'gateway' && c.id !== null)
      .map((c) => ({
        serial: c.serial,
        gatewayId: c.id ?? '',
        subject: c.subject,
        notBefore: Date.parse(c.notBefore),
        notAfter: Date.parse(c.notAfter),
        status: c.status,
        ...(c.revokedAt ? { revokedAt: Date.parse(c.revokedAt) } : {}),
        ...(c.reason ? { reason: c.reason } : {}),
        inUse: inUse.has(c.serial),
      }))
      .sort((a, b) => a.gatewayId.localeCompare(b.gatewayId, 'en') || b.notBefore - a.notBefore);
  }

  // --- operations ------------------------------------------------------------------------------

  async revokeCertificate(ctx: OperatorContext, request: { serial: string; reason: RevocationReasonChoice }): Promise<CertificateRecord> {
    const ca = this.needCa();
    const serial = normalizeSerial(request.serial);
    const known = this.certificates().find((c) => c.serial === serial);
    if (!known) throw new LmgwError('OP_NOT_FOUND', `no gateway certificate with serial ${serial} in the CA`);
    this.d.store.appendAudit({ time: this.now(), operator: ctx.operator, operation: 'revoke-certificate', parameters: { serial, reason: request.reason, gatewayId: known.gatewayId }, outcome: 'requested', ref: serial });
    try {
      // Writes a fresh CRL into the CA directory; the link watches it and closes the session.
      const authority = await CertificateAuthority.open(ca.dir, ca.passphrase);
      await authority.revoke({ serial }, request.reason);
    } catch (err) {
      const code = err instanceof LmgwError ? err.code : 'OP_INTERNAL';
      this.d.store.appendAudit({ time: this.now(), operator: ctx.operator, operation: 'revoke-certificate', parameters: { serial, code }, outcome: 'failed', ref: serial });
      throw err;
    }
    this.d.store.appendAudit({ time: this.now(), operator: ctx.operator, operation: 'revoke-certificate', parameters: { serial }, outcome: 'ok', ref: serial });
    const revoked = this.certificates().find((c) => c.serial === serial);
    if (!revoked) throw new LmgwError('OP_NOT_FOUND', `certificate ${serial} vanished from the CA after its revocation`);
    return revoked;
  }

  previewShed(request: ShedRequest): ShedPreview {
    return this.d.shedEvents.preview(request);
  }

  startShed(ctx: OperatorContext, request: ShedRequest): Promise<ShedEventRecord> {
    return this.d.shedEvents.start(ctx, request);
  }

  cancelShed(ctx: OperatorContext, eventId: string): Promise<ShedEventRecord> {
    return this.d.shedEvents.cancel(ctx, eventId);
  }

  async restoreAll(ctx: OperatorContext): Promise<CommandRecord[]> {
    const t = this.now();
    const online = this.d.registry.all().filter((g) => g.session !== undefined);
    this.d.store.appendAudit({ time: t, operator: ctx.operator, operation: 'restore-all', parameters: { gateways: online.length }, outcome: 'requested' });
    this.d.shedEvents.cancelAllActive(ctx);
    const results = await Promise.all(online.map((g) => this.d.dispatcher.dispatch(ctx, { gatewayId: g.row.gatewayId, op: 'restore', all: true })));
    const ok = results.filter((r) => r.state === 'confirmed').length;
    this.d.store.appendAudit({
      time: this.now(),
      operator: ctx.operator,
      operation: 'restore-all',
      parameters: { confirmed: ok, commands: results.length },
      outcome: ok === results.length ? 'ok' : 'partial',
    });
    return results;
  }

  async command(ctx: OperatorContext, request: CommandRequest): Promise<CommandRecord> {
    this.need(request.gatewayId);
    if (request.op === 'shed' && (request.channels === undefined || request.channels.length === 0)) {
      throw new LmgwError('OP_BAD_REQUEST', 'command: a shed names its channels (use a shed event to shed by priority or target)');
    }
    const all = request.op === 'restore' && (request.channels === undefined || request.channels.length === 0);
    return this.d.dispatcher.dispatch(ctx, {
      gatewayId: request.gatewayId,
      op: request.op,
      ...(request.op !== 'read' && !all ? { channels: request.channels } : {}),
      ...(all ? { all: true } : {}),
      ...(request.op === 'shed' && request.durationSeconds !== undefined ? { durationSeconds: request.durationSeconds } : {}),
    });
  }

  acknowledgeAlarm(ctx: OperatorContext, alarmId: string): AlarmRecord {
    this.d.store.appendAudit({ time: this.now(), operator: ctx.operator, operation: 'ack-alarm', parameters: { alarmId }, outcome: 'ok', ref: alarmId });
    const alarm = this.d.alarms.acknowledge(alarmId, ctx.operator);
    // The flag means "an operator has not looked at this yet"; a fresh report raises it again.
    if (alarm.code === 'LINK_INTERCEPTION_SUSPECTED' && alarm.gatewayId) {
      this.d.registry.setInterception(alarm.gatewayId, false);
      this.gatewayChanged(alarm.gatewayId);
    }
    return alarm;
  }

  setTarget(ctx: OperatorContext, target: { gatewayId?: string; targetKw: number | null }): void {
    if (target.gatewayId !== undefined) this.need(target.gatewayId);
    this.d.store.appendAudit({ time: this.now(), operator: ctx.operator, operation: 'set-target', parameters: { ...target }, outcome: 'ok' });
    if (target.gatewayId === undefined) this.d.store.setSetting(FLEET_TARGET_SETTING, target.targetKw === null ? undefined : String(target.targetKw));
    else this.d.registry.setTarget(target.gatewayId, target.targetKw);
    this.d.load.setTarget(target.gatewayId, target.targetKw);
    if (target.gatewayId !== undefined) this.gatewayChanged(target.gatewayId);
  }

  // --- helpers ---------------------------------------------------------------------------------

  private needCa(): { dir: string; passphrase: string } {
    if (!this.d.ca) throw new LmgwError('OP_NO_CA', 'this console has no CA directory configured (config field ca.dir); revoke with lmgw-ca on the CA machine');
    return this.d.ca;
  }

  private need(gatewayId: string): GatewayState {
    const g = this.d.registry.get(gatewayId);
    if (!g) throw new LmgwError('OP_NOT_FOUND', `no gateway ${gatewayId}`);
    return g;
  }

  summary(g: GatewayState, t = this.now()): GatewaySummary {
    const reg = this.d.registry;
    const id = g.row.gatewayId;
    const channels = g.devices.flatMap((d) => d.channels);
    const openAlarms = this.d.alarms.forGateway(id);
    return {
      gatewayId: id,
      siteName: reg.siteName(g),
      labels: reg.labels(g),
      state: g.row.state,
      since: g.row.since,
      firstSeen: g.row.firstSeen,
      agentVersion: g.row.agentVersion,
      certificate: g.row.certSerial ? { serial: g.row.certSerial, subject: g.row.certSubject ?? '', notAfter: g.row.certNotAfter ?? 0 } : null,
      remoteAddress: g.row.remoteAddress,
      rttMs: g.rttMs,
      viaProxy: g.row.viaProxy,
      interceptionSuspected: g.row.interceptionSuspected,
      lmHealth: reg.lmHealth(g),
      channelCount: channels.length,
      shedChannelCount: this.d.shedEvents.heldChannels(id).size,
      ratedKw: channels.reduce((s, c) => s + c.ratedKw, 0),
      lastTelemetryAt: g.lastTelemetryAt,
      openAlarmCount: openAlarms.length,
      load: this.d.load.figures(id, t),
    };
  }
}
