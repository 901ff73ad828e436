/**
 * The agent's local health and metrics endpoint (config `metrics`, off by default): /healthz,
 * /readyz and /metrics on a loopback address (the config refuses any other: there is no token), for
 * the box's own monitoring — a systemd watchdog script, node_exporter's neighbour, an SSH tunnel.
 * shared/health.ts decides what each path answers.
 *
 * Ready means: the link to the console is up, every load manager answers (none offline), and the
 * data directory takes a real write (a full disk fails it). In link-only mode there is no load
 * manager and no store to check.
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { probeWritable, runChecks, type CheckResult, type HealthSource } from '../shared/health.js';
import type { TypedEvents } from '../shared/typed-events.js';
import type { AgentEvents } from './daemon.js';
import type { LinkClient } from './link/client.js';
import { AgentMetrics } from './metrics.js';
import type { SiteController } from './site.js';
import { startHealthListener, type HealthListener } from '../shared/node/health-listener.js';
import { LMGW_VERSION } from '../shared/version.js';

/** A check taking longer than this fails. */
const CHECK_TIMEOUT_MS = 2_000;
/** Written and removed by every store check, in the data directory. */
const READY_PROBE_FILE = '.readyz-probe';

export interface AgentHealthOptions {
  /** Loopback (the config checks it). */
  host: string;
  /** 0 picks a free port (logged). */
  port: number;
  link: Pick<LinkClient, 'events' | 'connected'>;
  site: Pick<SiteController, 'drivers' | 'telemetryBacklog'> | undefined;
  events: TypedEvents<AgentEvents>;
  dataDir: string | undefined;
  log: Logger;
}

function lmCheck(site: AgentHealthOptions['site']): CheckResult {
  if (!site) return { ok: true, detail: 'link-only mode: no load manager configured' };
  const offline = site.drivers.filter((d) => d.health === 'offline').map((d) => d.id);
  return offline.length === 0
    ? { ok: true, detail: `${site.drivers.length} load manager(s) answering` }
    : { ok: false, detail: `load manager(s) not answering: ${offline.join(', ')}` };
}

export function agentHealth(o: Omit<AgentHealthOptions, 'host' | 'port' | 'log'>, metrics: AgentMetrics): HealthSource {
  let probing: Promise<CheckResult> | undefined;
  const dataDir = o.site ? o.dataDir : undefined;
  const store = (): CheckResult | Promise<CheckResult> =>
    dataDir === undefined
      ? { ok: true, detail: 'link-only mode: no store' }
      : (probing ??= probeWritable({ open, rm }, join(dataDir, READY_PROBE_FILE)).finally(() => {
          probing = undefined;
        }));
  return {
    readiness: () =>
      runChecks(
        {
          link: () => (o.link.connected ? { ok: true, detail: 'the link to the console is up' } : { ok: false, detail: 'the link to the console is down' }),
          lm: () => lmCheck(o.site),
          store,
        },
        CHECK_TIMEOUT_MS,
        { setTimeout, clearTimeout },
      ),
    metrics: async () => ({ contentType: metrics.contentType, text: await metrics.text() }),
  };
}

/** Starts the endpoint; resolves once it listens. */
export async function startAgentHealth(o: AgentHealthOptions): Promise<{ url: string; close(): Promise<void> }> {
  const metrics = new AgentMetrics({ link: o.link, site: o.site, events: o.events, version: LMGW_VERSION });
  const source = agentHealth(o, metrics);
  let listener: HealthListener;
  try {
    // Loopback, for the box's own scraper: fewer connections than the hub's listener.
    listener = await startHealthListener({ host: o.host, port: o.port, source, logger: o.log, maxConnections: 16 });
  } catch (err) {
    metrics.close();
    throw err;
  }
  return {
    url: listener.url,
    close: async () => {
      metrics.close();
      await listener.close();
    },
  };
}
