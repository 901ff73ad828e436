/**
 * The hub: the link to the gateways, the store, the fleet domain and the operator service, wired
 * together. `lm-console --headless` runs it in plain Node; the desktop app runs the same thing in an
 * Electron utilityProcess.
 *
 * Link events drive the domain here and nowhere else: sessions update the registry and the connection
 * history, results resolve commands, telemetry is stored and then acknowledged (grouped, so 2,000
 * gateways at 1 Hz cost a few commits a second, not 2,000 fsyncs), agent events become alarms.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { CertificateAuthority } from '../../certs/ca.js';
import type { ErrorCode } from '../../shared/errors.js';
import { LINK_PATH } from '../../shared/link.js';
import type { EventMessage, Message, TelemetryMessage } from '../../shared/protocol/messages.js';
import { AlarmBook } from './fleet/alarms.js';
import { CommandDispatcher } from './fleet/dispatcher.js';
import { LiveLoad } from './fleet/live-load.js';
import { FleetRegistry, type SiteConfig } from './fleet/registry.js';
import { ShedEvents } from './fleet/shed-events.js';
import { startLinkServer, type LinkServer, type LinkServerOptions, type SecurityEvent, type SessionInfo } from './link/server.js';
import { startOperatorApi, type OperatorApi } from './operator/api-server.js';
import { HubOperatorService } from './operator/service.js';
import type { SecurityEventRecord } from './operator/types.js';
import { HubStore } from './store/index.js';

export const HUB_VERSION = '0.1.0';

export interface HubOptions {
  /** The link server (TLS material, port, limits). Its logger is the hub's. */
  link: Omit<LinkServerOptions, 'logger'>;
  dataDir: string;
  timeZone: string;
  sites?: Readonly<Record<string, SiteConfig>>;
  fleetTargetKw?: number;
  commandDeadlineMs?: number;
  /** The CA directory and passphrase, when the console holds the CA (certificates view, revoke). */
  ca?: { dir: string; passphrase: string };
  /** Omit to run without the browser-mode API (the desktop app talks IPC). */
  operatorApi?: { host: string; port: number; tokenName: string; uiDir?: string };
  /** A gateway offline this long raises an alarm (short drops do not). Default 30 s. */
  offlineAlarmMs?: number;
  logger?: Logger;
}

export interface Hub {
  readonly service: HubOperatorService;
  readonly link: LinkServer;
  readonly store: HubStore;
  readonly api: OperatorApi | undefined;
  readonly linkUrl: string;
  close(): Promise<void>;
}

/** Telemetry batches arriving within this window share one commit. */
const TELEMETRY_GROUP_MS = 20;
const TELEMETRY_GROUP_MAX = 1000;
/**
 * Samples stamped further ahead of the console's clock than this are stored but left out of the live
 * figures (GATEWAY_CLOCK_AHEAD): a gateway with a wrong clock would otherwise move its meter into the
 * future, where every correct sample after it counts as late; and a time at the protocol's limit lies
 * beyond the last date JavaScript can represent (found by the hub fuzz test).
 */
const MAX_CLOCK_AHEAD_MS = 60_000;
const PRUNE_EVERY_MS = 5_000;

/** Refusals that name a certificate problem an operator must see (a port scan without one is not an alarm). */
const ALARMING_REFUSALS: ReadonlySet<ErrorCode> = new Set([
  'LINK_UNKNOWN_CA',
  'LINK_CERT_EXPIRED',
  'LINK_CERT_NOT_YET_VALID',
  'LINK_CERT_REVOKED',
  'LINK_WRONG_USAGE',
  'LINK_BAD_CERT',
  'LINK_IDENTITY_MISMATCH',
]);

/** The built operator UI next to this program, if it has been built. */
function defaultUiDir(): string | undefined {
  const dir = fileURLToPath(new URL('../renderer/', import.meta.url));
  return existsSync(join(dir, 'index.html')) ? dir : undefined;
}

export async function startHub(o: HubOptions): Promise<Hub> {
  const log = o.logger ?? pino({ level: 'silent' });
  // A wrong CA passphrase fails the start, not the operator's first revocation.
  if (o.ca) await CertificateAuthority.open(o.ca.dir, o.ca.passphrase);
  const store = HubStore.open(o.dataDir);
  const startedAt = Date.now();
  // The service needs the domain and the domain's callbacks reach the service: it is set below,
  // before the link starts, so no callback can fire while it is unset.
  // eslint-disable-next-line prefer-const
  let service: HubOperatorService | undefined;
  const emit: HubOperatorService['emit'] = (e) => service?.emit(e);

  const registry = new FleetRegistry(store, o.sites ?? {});
  const load = new LiveLoad(o.timeZone, store);
  for (const id of registry.ids()) load.track(id);
  for (const [id, site] of Object.entries(o.sites ?? {})) if (site.targetKw !== undefined) load.setTarget(id, site.targetKw);
  for (const g of registry.all()) if (g.row.targetKw !== null) load.setTarget(g.row.gatewayId, g.row.targetKw);
  if (o.fleetTargetKw !== undefined) load.setTarget(undefined, o.fleetTargetKw);
  const alarms = new AlarmBook(store, (alarm) => {
    emit({ type: 'alarm', alarm });
    if (alarm.gatewayId) service?.gatewayChanged(alarm.gatewayId);
  });

  // eslint-disable-next-line prefer-const -- assigned once the link is up (the dispatcher is made first)
  let link: LinkServer | undefined;
  const dispatcher = new CommandDispatcher({
    store,
    send: (id, m) => link?.send(id, m) ?? false,
    onChange: (command) => {
      emit({ type: 'command', command });
      shedEvents.commandChanged(command);
    },
    ...(o.commandDeadlineMs !== undefined ? { deadlineMs: o.commandDeadlineMs } : {}),
  });
  const shedEvents = new ShedEvents({
    store,
    dispatcher,
    registry,
    channelKw: (id, ch) => registry.get(id)?.devices.flatMap((d) => d.channels).find((c) => c.id === ch)?.kw,
    onChange: (event) => {
      emit({ type: 'shed-event', event });
      for (const out of event.outcomes) service?.gatewayChanged(out.gatewayId);
    },
  });
  const lost = dispatcher.recover();
  if (lost.length > 0) log.warn({ commands: lost.map((c) => c.id) }, `${lost.length} command(s) were in flight when the hub stopped; closed as failed (OP_HUB_RESTARTED)`);
  shedEvents.recover();
  const dangling = store.closeDanglingConnections(startedAt, 'LINK_SHUTDOWN');
  if (dangling > 0) log.info({ sessions: dangling }, 'closed the connection records a previous run left open');

  link = await startLinkServer({ ...o.link, logger: log });
  const linkHost = o.link.host ?? '0.0.0.0';
  const linkUrl = `wss://${linkHost}:${link.port}${LINK_PATH}`;
  service = new HubOperatorService({
    info: { version: HUB_VERSION, startedAt, timeZone: o.timeZone, dataDir: o.dataDir, linkUrl, caConfigured: o.ca !== undefined },
    ...(o.ca ? { ca: o.ca } : {}),
    store,
    registry,
    load,
    dispatcher,
    shedEvents,
    alarms,
  });
  const svc = service;
  const liveLink = link;

  // --- sessions -------------------------------------------------------------------------------
  const offlineTimers = new Map<string, NodeJS.Timeout>();
  const offlineAlarmMs = o.offlineAlarmMs ?? 30_000;
  liveLink.on('connected', (s: SessionInfo) => {
    clearTimeout(offlineTimers.get(s.gatewayId));
    offlineTimers.delete(s.gatewayId);
    registry.connected(s);
    load.track(s.gatewayId);
    store.openConnection({ gatewayId: s.gatewayId, sessionId: s.sessionId, remoteAddress: s.remoteAddress, connectedAt: s.connectedAt });
    alarms.clear('GATEWAY_OFFLINE', s.gatewayId);
    svc.gatewayChanged(s.gatewayId);
  });
  liveLink.on('disconnected', (s, why) => {
    store.closeConnection(s.sessionId, Date.now(), why.code);
    if (!registry.disconnected(s)) return; // replaced by a newer session
    dispatcher.gatewayLost(s.gatewayId);
    svc.gatewayChanged(s.gatewayId);
    if (why.code === 'LINK_SHUTDOWN') return;
    const timer = setTimeout(() => {
      offlineTimers.delete(s.gatewayId);
      const g = registry.get(s.gatewayId);
      if (!g || g.session) return;
      alarms.raise({ code: 'GATEWAY_OFFLINE', severity: 'alarm', gatewayId: s.gatewayId, message: `${registry.siteName(g)} offline since ${new Date(g.row.since).toISOString()} (${why.code})` });
    }, offlineAlarmMs);
    timer.unref();
    offlineTimers.set(s.gatewayId, timer);
  });
  liveLink.on('refused', (e: SecurityEvent) => {
    const record = securityRecord(store.appendSecurityEvent(securityFields(e)), e);
    emit({ type: 'security', event: record });
    if (ALARMING_REFUSALS.has(e.code)) {
      alarms.raise({
        code: e.code,
        severity: 'alarm',
        ...(e.gatewayId ? { gatewayId: e.gatewayId } : {}),
        message: `refused ${e.peer.subject ?? 'a peer'} from ${e.remoteAddress}: ${e.detail}`,
      });
    }
  });
  const syncLinkAlarms = (): void => {
    const current = new Set(liveLink.alarms.map((a) => a.code));
    for (const a of alarms.list()) {
      if (a.gatewayId === undefined && a.clearedAt === undefined && /^LINK_(CRL|OCSP)_/.test(a.code) && !current.has(a.code as ErrorCode)) alarms.clear(a.code);
    }
  };
  for (const a of liveLink.alarms) alarms.raise({ code: a.code, severity: a.code === 'LINK_CRL_EXPIRING' ? 'warning' : 'alarm', message: a.message });
  liveLink.on('alarm', (a) => alarms.raise({ code: a.code, severity: a.code === 'LINK_CRL_EXPIRING' ? 'warning' : 'alarm', message: a.message }));

  // --- messages -------------------------------------------------------------------------------
  let queue: Array<{ gatewayId: string; message: TelemetryMessage }> = [];
  let flushTimer: NodeJS.Timeout | undefined;
  /** Gateways with an active GATEWAY_CLOCK_AHEAD alarm (so a normal batch costs no alarm lookup). */
  const clockAhead = new Set<string>();
  const flushTelemetry = (): void => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    let stored: boolean[];
    try {
      stored = store.storeTelemetry(batch.map((b) => ({ gatewayId: b.gatewayId, seq: b.message.seq, samples: b.message.samples })));
    } catch (err) {
      // Not acknowledged, so the agents keep the batches and send them again.
      log.error({ err }, 'telemetry not stored; not acknowledged');
      alarms.raise({ code: 'STORE_UNAVAILABLE', severity: 'alarm', message: `telemetry cannot be stored: ${(err as Error).message}` });
      return;
    }
    alarms.clear('STORE_UNAVAILABLE');
    const changed = new Set<string>();
    batch.forEach((b, i) => {
      liveLink.send(b.gatewayId, { kind: 'ack', seq: b.message.seq });
      if (!stored[i]) return;
      // One gateway's samples must not stop the others' (nor the console): they are stored and
      // acknowledged already; only the live figures would miss them.
      try {
        const latest = Date.now() + MAX_CLOCK_AHEAD_MS;
        // The usual batch has nothing ahead and is used as it is (no copy per batch).
        const all = b.message.samples;
        const samples = all.some((x) => x.time > latest) ? all.filter((x) => x.time <= latest) : all;
        const ahead = all.length - samples.length;
        if (ahead > 0) {
          clockAhead.add(b.gatewayId);
          alarms.raise({
            code: 'GATEWAY_CLOCK_AHEAD',
            severity: 'warning',
            gatewayId: b.gatewayId,
            message: `${b.gatewayId} sends samples stamped more than ${MAX_CLOCK_AHEAD_MS / 1000} s ahead of the console's clock (${ahead} in batch ${b.message.seq}); they are stored but left out of the live figures — check the site's time synchronisation`,
          });
        } else if (clockAhead.delete(b.gatewayId)) {
          alarms.clear('GATEWAY_CLOCK_AHEAD', b.gatewayId);
        }
        load.add(b.gatewayId, samples);
        if (registry.telemetry(b.gatewayId, samples)) changed.add(b.gatewayId);
      } catch (err) {
        log.error({ err, gatewayId: b.gatewayId, seq: b.message.seq }, 'telemetry stored but not applied to the live figures');
      }
    });
    for (const id of changed) svc.gatewayChanged(id);
  };

  liveLink.on('message', (s: SessionInfo, m: Message) => {
    switch (m.kind) {
      case 'telemetry':
        queue.push({ gatewayId: s.gatewayId, message: m });
        if (queue.length >= TELEMETRY_GROUP_MAX) flushTelemetry();
        else flushTimer ??= setTimeout(flushTelemetry, TELEMETRY_GROUP_MS);
        return;
      case 'result': {
        const done = dispatcher.handleResult(s.gatewayId, m);
        if (m.relays) registry.observe(s.gatewayId, m.relays, m.time);
        if (done?.sentAt !== undefined && done.finishedAt !== undefined) registry.setRtt(s.gatewayId, done.finishedAt - done.sentAt);
        svc.gatewayChanged(s.gatewayId);
        return;
      }
      case 'event':
        agentEvent(s, m);
        return;
      case 'error':
        if (!dispatcher.handleError(s.gatewayId, m)) log.warn({ gatewayId: s.gatewayId, code: m.code, ref: m.ref }, `error from ${s.gatewayId}: ${m.message}`);
        return;
      case 'hello':
      case 'welcome':
      case 'command':
      case 'ack':
        return; // the link server refuses these from a gateway before they get here
    }
  });

  function agentEvent(s: SessionInfo, m: EventMessage): void {
    const d = Object.fromEntries(m.details.map((x) => [x.key, x.value]));
    const id = s.gatewayId;
    switch (m.type) {
      case 'interception-suspected': {
        registry.setInterception(id, true);
        const detail = `the path to the console presented "${d.subject ?? '?'}" issued by "${d.issuer ?? '?'}" (SHA-256 ${d.fingerprint ?? '?'}) via proxy ${d.proxy ?? 'none'}`;
        const fields = { time: m.time, code: 'LINK_INTERCEPTION_SUSPECTED' as const, remoteAddress: s.remoteAddress, detail, gatewayId: id, ...(d.subject ? { subject: d.subject } : {}), ...(d.issuer ? { issuer: d.issuer } : {}) };
        emit({ type: 'security', event: { id: store.appendSecurityEvent(fields), ...fields } });
        alarms.raise({ code: 'LINK_INTERCEPTION_SUSPECTED', severity: 'alarm', gatewayId: id, message: `interception suspected: ${detail}` });
        break;
      }
      case 'device-health': {
        const to = d.to === 'ok' || d.to === 'degraded' || d.to === 'offline' ? d.to : undefined;
        if (!to || !d.device) break;
        registry.setHealth(id, d.device, to);
        if (to === 'ok') alarms.clear('LM_HEALTH', id);
        else alarms.raise({ code: 'LM_HEALTH', severity: to === 'offline' ? 'alarm' : 'warning', gatewayId: id, message: `load manager ${d.device} ${to}${d.code ? ` (${d.code}${d.message ? `: ${d.message}` : ''})` : ''}` });
        svc.gatewayChanged(id);
        break;
      }
      case 'auto-restore-failed':
        alarms.raise({ code: 'AUTO_RESTORE_FAILED', severity: 'alarm', gatewayId: id, message: `auto-restore of channels ${d.channels ?? '?'} failed: ${d.message ?? ''}` });
        break;
      case 'auto-restore':
        alarms.clear('AUTO_RESTORE_FAILED', id);
        log.info({ gatewayId: id, channels: d.channels, reason: d.reason }, 'agent auto-restored');
        break;
      case 'telemetry-dropped':
        alarms.raise({ code: 'TELEMETRY_DROPPED', severity: 'warning', gatewayId: id, message: `the agent dropped ${d.samples ?? '?'} unsent samples (batches ${d.fromSeq ?? '?'}–${d.toSeq ?? '?'}) after its retention ran out` });
        break;
      default:
        log.info({ gatewayId: id, type: m.type, severity: m.severity, details: d }, `event from ${id}: ${m.type}`);
    }
  }

  // --- clocks ---------------------------------------------------------------------------------
  const tick = setInterval(() => {
    load.tick();
    svc.emitLoad();
    syncLinkAlarms();
  }, 1000);
  tick.unref();
  // Every few seconds a bounded slice (each call removes at most PRUNE_BUDGET_ROWS, ~20 ms), so the
  // 48 h window of raw samples moves on at 2,000 samples a second without ever blocking the link.
  const prune = setInterval(() => {
    try {
      for (let i = 0; i < 3 && !store.prune(Date.now()).done; i++);
    } catch (err) {
      log.error({ err }, 'pruning old telemetry failed');
    }
  }, PRUNE_EVERY_MS);
  prune.unref();

  let api: OperatorApi | undefined;
  if (o.operatorApi) {
    const uiDir = o.operatorApi.uiDir ?? defaultUiDir();
    try {
      api = await startOperatorApi({
        service: svc,
        host: o.operatorApi.host,
        port: o.operatorApi.port,
        tokenFile: join(o.dataDir, 'operator-token'),
        tokenName: o.operatorApi.tokenName,
        ...(uiDir ? { staticDir: uiDir } : {}),
        logger: log,
      });
    } catch (err) {
      await liveLink.close();
      store.close();
      throw err;
    }
  }

  let closed = false;
  return {
    service: svc,
    link: liveLink,
    store,
    api,
    linkUrl,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(tick);
      clearInterval(prune);
      for (const t of offlineTimers.values()) clearTimeout(t);
      await api?.close();
      await liveLink.close();
      flushTelemetry();
      dispatcher.close();
      shedEvents.close();
      store.close();
    },
  };
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

function securityRecord(id: number, e: SecurityEvent): SecurityEventRecord {
  return { id, ...securityFields(e) };
}
