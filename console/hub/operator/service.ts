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
import type { DomainBus } from '../fleet/domain-bus.js';
import type { LiveLoad } from '../fleet/live-load.js';
import type { FleetRegistry, GatewayState } from '../fleet/registry.js';
import type { ShedEvents } from '../fleet/shed-events.js';
import { nextTurn } from '../slices.js';
import type { HubStore } from '../store/index.js';
import type {
  AlarmRecord,
  AuditQuery,
  AuditRecord,
  BulkCommandRequest,
  BulkCommandResult,
  CertificateRecord,
  CommandRecord,
  CommandRequest,
  ConnectionRecord,
  FleetSnapshot,
  GatewayDetail,
  GatewayPatch,
  GatewaySummary,
  HubInfo,
  LoadFigures,
  LoadHistoryQuery,
  LoadPoint,
  OperatorContext,
  OperatorEvent,
  OperatorService,
  RevocationReasonChoice,
  SecurityEventRecord,
  ShedEventAnswer,
  ShedEventRecord,
  ShedEventSummary,
  ShedPreview,
  ShedRequest,
  StateCounts,
} from './types.js';
import { EVENT_COALESCE_MS } from './types.js';

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
  bus: DomainBus;
  now?: () => number;
}

const FLEET_TARGET_SETTING = 'fleet.targetKw';
/** Gateway summaries computed per turn of the loop when changes go out (each costs a few µs). */
const PATCH_SLICE = 250;
/** Gateway summaries built per turn for the fleet snapshot. */
const SUMMARY_SLICE = 1_000;

export type CoreSummary = Omit<GatewaySummary, 'load'>;

/**
 * Equal values of a summary's field: the same primitive, or arrays or objects of primitives (labels,
 * certificate) with the same entries. A summary is built afresh each time, so its objects are new.
 */
function sameField(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k]);
}

/** The fields of `next` that differ from `prev` (all of them when there is no prev). */
export function patchOf(prev: CoreSummary | undefined, next: CoreSummary): GatewayPatch | undefined {
  if (!prev) return next;
  const patch: GatewayPatch = { gatewayId: next.gatewayId };
  let changed = false;
  for (const key of Object.keys(next) as Array<keyof CoreSummary>) {
    const a = prev[key];
    const b = next[key];
    if (sameField(a, b)) continue;
    (patch as Record<string, unknown>)[key] = b;
    changed = true;
  }
  return changed ? patch : undefined;
}

export class HubOperatorService implements OperatorService {
  private readonly events = new TypedEvents<{ event: [OperatorEvent] }>();
  private readonly now: () => number;
  /** Gateways whose summary may have changed since the last patches went out. */
  private dirtyGateways = new Set<string>();
  /** What each gateway's last patch made of its summary, to send only what changed. */
  private readonly sentSummaries = new Map<string, CoreSummary>();
  private dirtyEvents = new Map<string, ShedEventSummary>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** The gateways whose load figures someone watches, by watcher. */
  private readonly watchers = new Map<object, ReadonlySet<string> | 'all'>();
  private readonly offBus: Array<() => void>;

  constructor(private readonly d: HubDomain) {
    this.now = d.now ?? Date.now;
    const fleetTarget = d.store.getSetting(FLEET_TARGET_SETTING);
    if (fleetTarget !== undefined) d.load.setTarget(undefined, Number(fleetTarget));
    for (const g of d.registry.all()) this.sentSummaries.set(g.row.gatewayId, this.coreSummary(g));
    this.offBus = [
      d.bus.on('command', (command, bulk) => {
        if (!bulk) this.emit({ type: 'command', command });
      }),
      d.bus.on('gateway-changed', (id) => this.gatewayChanged(id)),
      d.bus.on('shed-event', (event) => {
        this.dirtyEvents.set(event.id, event);
        this.scheduleFlush();
      }),
      d.bus.on('alarm', (alarm) => {
        this.emit({ type: 'alarm', alarm });
        if (alarm.gatewayId) this.gatewayChanged(alarm.gatewayId);
      }),
      d.bus.on('security', (event) => this.emit({ type: 'security', event })),
    ];
  }

  /** Sends what is pending and stops listening. */
  close(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const off of this.offBus) off();
  }

  // --- events ----------------------------------------------------------------------------------

  subscribe(listener: (event: OperatorEvent) => void): () => void {
    return this.events.on('event', listener);
  }

  emit(event: OperatorEvent): void {
    this.events.emit('event', event);
  }

  /**
   * Which gateways' figures `watcher` wants in the 1 s load event: a set (the visible rows), 'all'
   * (the desktop app's IPC, no bytes on a wire), or undefined to stop watching.
   */
  watch(watcher: object, gateways: ReadonlySet<string> | 'all' | undefined): void {
    if (gateways === undefined) this.watchers.delete(watcher);
    else this.watchers.set(watcher, gateways);
  }

  /** The gateway's summary goes out with the next patches (coalesced over EVENT_COALESCE_MS). */
  gatewayChanged(gatewayId: string): void {
    this.dirtyGateways.add(gatewayId);
    this.scheduleFlush();
  }

  /** Every second: the heartbeat, then the fleet's figures (LiveLoad.second's) and the watched gateways'. */
  emitLoad(fleet: LoadFigures): void {
    const t = this.now();
    this.emit({ type: 'heartbeat', time: t });
    const gateways: Record<string, ReturnType<LiveLoad['figures']>> = {};
    const all = [...this.watchers.values()].includes('all');
    if (all) {
      for (const id of this.d.registry.ids()) gateways[id] = this.d.load.figures(id, t);
    } else {
      for (const ids of this.watchers.values()) {
        if (ids === 'all') continue;
        for (const id of ids) if (gateways[id] === undefined && this.d.registry.get(id)) gateways[id] = this.d.load.figures(id, t);
      }
    }
    this.emit({ type: 'load', time: t, fleet, gateways });
  }

  private scheduleFlush(): void {
    this.flushTimer ??= setTimeout(() => this.flushChanges(), EVENT_COALESCE_MS);
  }

  /** Sends the coalesced changes: each event's latest summary, then the gateways' patches in slices. */
  private flushChanges(): void {
    this.flushTimer = undefined;
    const events = this.dirtyEvents;
    this.dirtyEvents = new Map();
    for (const event of events.values()) this.emit({ type: 'shed-event', event });
    const ids = [...this.dirtyGateways];
    this.dirtyGateways = new Set();
    this.sendPatches(ids, 0);
  }

  private sendPatches(ids: readonly string[], from: number): void {
    const patches: GatewayPatch[] = [];
    const to = Math.min(ids.length, from + PATCH_SLICE);
    for (let i = from; i < to; i++) {
      const id = ids[i] as string;
      const g = this.d.registry.get(id);
      if (!g) continue;
      const next = this.coreSummary(g);
      const patch = patchOf(this.sentSummaries.get(id), next);
      this.sentSummaries.set(id, next);
      if (patch) patches.push(patch);
    }
    if (patches.length > 0) this.emit({ type: 'gateways', patches });
    if (to < ids.length) setImmediate(() => this.sendPatches(ids, to));
  }

  // --- queries ---------------------------------------------------------------------------------

  info(): HubInfo {
    return this.d.info;
  }

  /** Summaries made SUMMARY_SLICE per turn of the event loop: 20,000 in one go are one long task. */
  async fleet(): Promise<FleetSnapshot> {
    const t = this.now();
    const all = this.d.registry.all();
    const gateways: GatewaySummary[] = [];
    for (let i = 0; i < all.length; i += SUMMARY_SLICE) {
      if (i > 0) await nextTurn();
      for (const g of all.slice(i, i + SUMMARY_SLICE)) gateways.push(this.summary(g, t));
    }
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
      load: this.d.load.fleetFiguresFrom(gateways.map((g) => g.load), t),
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

  shedEvents(query: { activeOnly?: boolean; limit?: number }): ShedEventSummary[] {
    return this.d.shedEvents.query(query);
  }

  shedEvent(eventId: string): ShedEventRecord {
    return this.d.shedEvents.get(eventId);
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

  durable(): Promise<void> {
    return this.d.store.durable();
  }

  previewShed(request: ShedRequest): Promise<ShedPreview> {
    return this.d.shedEvents.preview(request);
  }

  startShed(ctx: OperatorContext, request: ShedRequest): Promise<ShedEventAnswer> {
    return this.d.shedEvents.start(ctx, request);
  }

  cancelShed(ctx: OperatorContext, eventId: string): Promise<ShedEventAnswer> {
    return this.d.shedEvents.cancel(ctx, eventId);
  }

  async restoreAll(ctx: OperatorContext): Promise<CommandRecord[]> {
    const t = this.now();
    const online = this.d.registry.all().filter((g) => g.session !== undefined);
    this.d.store.appendAudit({ time: t, operator: ctx.operator, operation: 'restore-all', parameters: { gateways: online.length }, outcome: 'requested' });
    this.d.shedEvents.cancelAllActive(ctx);
    const results = await this.d.dispatcher.dispatchMany(ctx, online.map((g) => ({ gatewayId: g.row.gatewayId, op: 'restore' as const, all: true })));
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

  async commandMany(ctx: OperatorContext, request: BulkCommandRequest): Promise<BulkCommandResult> {
    const ids = this.d.shedEvents.scopeIds(request.scope);
    const all = request.op === 'restore' && (request.channels === undefined || request.channels.length === 0);
    const t = this.now();
    this.d.store.appendAudit({ time: t, operator: ctx.operator, operation: 'command-many', parameters: { ...request, gateways: ids.length }, outcome: 'requested' });
    const commands = await this.d.dispatcher.dispatchMany(
      ctx,
      ids.map((gatewayId) => ({
        gatewayId,
        op: request.op,
        ...(request.op !== 'read' && !all ? { channels: request.channels } : {}),
        ...(all ? { all: true } : {}),
        ...(request.op === 'shed' && request.durationSeconds !== undefined ? { durationSeconds: request.durationSeconds } : {}),
      })),
    );
    const counts: StateCounts = {};
    for (const c of commands) counts[c.state] = (counts[c.state] ?? 0) + 1;
    const confirmed = counts.confirmed ?? 0;
    this.d.store.appendAudit({
      time: this.now(),
      operator: ctx.operator,
      operation: 'command-many',
      parameters: { counts },
      outcome: confirmed === commands.length ? 'ok' : confirmed === 0 ? 'failed' : 'partial',
    });
    return { gatewayCount: ids.length, counts, commands };
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
    return { ...this.coreSummary(g), load: this.d.load.figures(g.row.gatewayId, t) };
  }

  /** The summary without the load figures (those go out with the 1 s load event). */
  private coreSummary(g: GatewayState): CoreSummary {
    const reg = this.d.registry;
    const id = g.row.gatewayId;
    let channelCount = 0;
    let ratedKw = 0;
    for (const d of g.devices) {
      channelCount += d.channels.length;
      for (const c of d.channels) ratedKw += c.ratedKw;
    }
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
      channelCount,
      shedChannelCount: this.d.shedEvents.heldChannelCount(id),
      ratedKw,
      lastTelemetryAt: g.lastTelemetryAt,
      openAlarmCount: this.d.alarms.countFor(id),
    };
  }
}

