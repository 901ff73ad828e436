/**
 * The hub's composition root: it creates the parts (store, fleet registry, live load, alarms,
 * command dispatcher, shed events, the link, the operator service and API), connects them through
 * one typed domain event bus (fleet/domain-bus.ts), starts and stops them. The handlers live in
 * their own modules: fleet/sessions.ts (connections, refusals, link alarms), fleet/agent-messages.ts
 * (results, errors, agent events), the telemetry ingest. `lm-console --headless` runs it in plain
 * Node; the desktop app runs the same thing in an Electron utilityProcess.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { CertificateAuthority } from '../../certs/ca.js';
import type { HealthSource } from '../../shared/health.js';
import { LINK_PATH } from '../../shared/link.js';
import type { Message } from '../../shared/protocol/messages.js';
import { LMGW_VERSION } from '../../shared/version.js';
import { AgentMessages } from './fleet/agent-messages.js';
import { AlarmBook } from './fleet/alarms.js';
import { CommandDispatcher } from './fleet/dispatcher.js';
import { createDomainBus } from './fleet/domain-bus.js';
import { LiveLoad } from './fleet/live-load.js';
import { FleetRegistry, type RowWriter, type SiteConfig } from './fleet/registry.js';
import { Sessions } from './fleet/sessions.js';
import { ShedEvents } from './fleet/shed-events.js';
import { TelemetryIngest } from './fleet/telemetry-ingest.js';
import { startHealthListener, type HealthListener } from '../../shared/node/health-listener.js';
import { hubHealth } from './health.js';
import { startLinkServer, type LinkServer, type LinkServerOptions, type SessionInfo } from './link/server.js';
import { HubMetrics } from './metrics.js';
import { startOperatorApi, type OperatorApi } from './operator/api-server.js';
import { HubOperatorService } from './operator/service.js';
import { GroupCommit } from './store/group-commit.js';
import { HubStore } from './store/index.js';

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
  /**
   * A listener of its own for /healthz, /readyz and /metrics (they are on the operator API too), for
   * a Prometheus or load balancer on another host. Omit for none.
   */
  metricsListen?: { host: string; port: number };
  logger?: Logger;
}

export interface Hub {
  readonly service: HubOperatorService;
  readonly link: LinkServer;
  readonly store: HubStore;
  readonly api: OperatorApi | undefined;
  /** /healthz, /readyz and /metrics as served (console/hub/health.ts). */
  readonly health: HealthSource;
  readonly metricsListener: HealthListener | undefined;
  readonly linkUrl: string;
  close(): Promise<void>;
}

const PRUNE_EVERY_MS = 5_000;

/** The built operator UI next to this program, if it has been built. */
function defaultUiDir(): string | undefined {
  const dir = fileURLToPath(new URL('../renderer/', import.meta.url));
  return existsSync(join(dir, 'index.html')) ? dir : undefined;
}

const BOOKKEEPING_GROUP_MS = 20;
const BOOKKEEPING_GROUP_MAX = 250;

export async function startHub(o: HubOptions): Promise<Hub> {
  const log = o.logger ?? pino({ level: 'silent' });
  // A wrong CA passphrase fails the start, not the operator's first revocation.
  if (o.ca) await CertificateAuthority.open(o.ca.dir, o.ca.passphrase);
  const store = HubStore.open(o.dataDir);
  const startedAt = Date.now();
  const bus = createDomainBus(log);
  // Bookkeeping of disconnections and alarms goes out in groups: 2,000 gateways dropping at once
  // cost a few commits instead of 2,000 (connections are written at once).
  const bookkeeping = new GroupCommit(store, { maxDelayMs: BOOKKEEPING_GROUP_MS, maxItems: BOOKKEEPING_GROUP_MAX });
  const deferWrite: RowWriter = (write) =>
    bookkeeping.add(write, (err) => {
      if (err) log.error({ err }, 'bookkeeping rows (gateways, connections, alarms) not stored');
    });

  // --- the domain, resumed from the store -----------------------------------------------------
  const registry = new FleetRegistry(store, o.sites ?? {}, Date.now, deferWrite);
  const load = new LiveLoad(o.timeZone, store);
  for (const id of registry.ids()) load.track(id);
  for (const [id, site] of Object.entries(o.sites ?? {})) if (site.targetKw !== undefined) load.setTarget(id, site.targetKw);
  for (const g of registry.all()) if (g.row.targetKw !== null) load.setTarget(g.row.gatewayId, g.row.targetKw);
  if (o.fleetTargetKw !== undefined) load.setTarget(undefined, o.fleetTargetKw);
  const alarms = new AlarmBook(store, (alarm) => bus.emit('alarm', alarm), Date.now, deferWrite);
  // The link is started below, after recovery (the dispatcher is made first): until then nothing is sent.
  // eslint-disable-next-line prefer-const
  let link: LinkServer | undefined;
  const dispatcher = new CommandDispatcher({
    store,
    send: (id, m) => link?.send(id, m) ?? false,
    onChange: (command, bulk) => bus.emit('command', command, bulk),
    ...(o.commandDeadlineMs !== undefined ? { deadlineMs: o.commandDeadlineMs } : {}),
  });
  const shedEvents = new ShedEvents({ store, dispatcher, registry, bus });
  const lost = dispatcher.recover(shedEvents.recoverOutcome);
  if (lost.length > 0) log.warn({ commands: lost.length, first: lost.slice(0, 20).map((c) => c.id) }, `${lost.length} command(s) were in flight when the hub stopped; closed as failed (OP_HUB_RESTARTED)`);
  shedEvents.recover();
  const dangling = store.closeDanglingConnections(startedAt, 'LINK_SHUTDOWN');
  if (dangling > 0) log.info({ sessions: dangling }, 'closed the connection records a previous run left open');

  // --- the link and the service ---------------------------------------------------------------
  link = await startLinkServer({ ...o.link, logger: log });
  const linkHost = o.link.host ?? '0.0.0.0';
  const linkUrl = `wss://${linkHost}:${link.port}${LINK_PATH}`;
  const svc = new HubOperatorService({
    info: { version: LMGW_VERSION, startedAt, timeZone: o.timeZone, dataDir: o.dataDir, linkUrl, caConfigured: o.ca !== undefined },
    ...(o.ca ? { ca: o.ca } : {}),
    store,
    registry,
    load,
    dispatcher,
    shedEvents,
    alarms,
    bus,
  });
  const liveLink = link;
  const sessions = new Sessions({ link: liveLink, store, registry, load, alarms, dispatcher, bus, offlineAlarmMs: o.offlineAlarmMs ?? 30_000, write: deferWrite, log });
  const agentMessages = new AgentMessages({ store, registry, alarms, dispatcher, bus, log });

  // --- messages -------------------------------------------------------------------------------
  const telemetry = new TelemetryIngest({
    store,
    load,
    registry,
    alarms,
    send: (id, m) => liveLink.send(id, m),
    changed: (id) => bus.emit('gateway-changed', id),
    stored: (group) => bus.emit('telemetry-stored', group),
    yieldTo: () => dispatcher.bulkInFlight,
    log,
  });
  const metrics = new HubMetrics({
    bus,
    link: liveLink,
    store,
    knownGateways: () => registry.size,
    telemetryQueued: () => telemetry.queued,
    version: LMGW_VERSION,
  });
  const health = hubHealth({ dataDir: o.dataDir, link: liveLink, metrics, store });

  liveLink.on('message', (s: SessionInfo, m: Message) => {
    switch (m.kind) {
      case 'telemetry':
        return telemetry.accept(s.gatewayId, m);
      case 'result':
        return agentMessages.result(s, m);
      case 'event':
        return agentMessages.event(s, m);
      case 'error':
        return agentMessages.error(s, m);
      case 'hello':
      case 'welcome':
      case 'command':
      case 'ack':
        return; // the link server refuses these from a gateway before they get here
    }
  });

  // --- clocks ---------------------------------------------------------------------------------
  const tick = setInterval(() => {
    load.second().then(
      (fleet) => {
        if (fleet) svc.emitLoad(fleet);
      },
      (err: unknown) => log.error({ err }, 'the live load figures could not be updated'),
    );
    sessions.syncLinkAlarms();
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
  let metricsListener: HealthListener | undefined;
  try {
    if (o.operatorApi) {
      const uiDir = o.operatorApi.uiDir ?? defaultUiDir();
      api = await startOperatorApi({
        service: svc,
        host: o.operatorApi.host,
        port: o.operatorApi.port,
        tokenFile: join(o.dataDir, 'operator-token'),
        tokenName: o.operatorApi.tokenName,
        ...(uiDir ? { staticDir: uiDir } : {}),
        health,
        logger: log,
      });
    }
    if (o.metricsListen) metricsListener = await startHealthListener({ ...o.metricsListen, source: health, logger: log });
  } catch (err) {
    await api?.close();
    await liveLink.close();
    metrics.close();
    bookkeeping.stop();
    store.close();
    throw err;
  }

  let closed = false;
  return {
    service: svc,
    link: liveLink,
    store,
    api,
    health,
    metricsListener,
    linkUrl,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(tick);
      clearInterval(prune);
      sessions.close();
      await api?.close();
      await metricsListener?.close();
      await liveLink.close();
      metrics.close();
      telemetry.close();
      dispatcher.close();
      shedEvents.close();
      svc.close();
      try {
        bookkeeping.flush();
      } catch (err) {
        log.error({ err }, 'bookkeeping rows not stored at close');
      }
      store.close();
    },
  };
}
