/**
 * The hub's health endpoints (shared/health.ts decides what each path answers): its readiness
 * checks, the HTTP glue the operator API and the optional metrics listener share, and that listener.
 *
 * Ready means: the data directory takes a real write (a full disk fails it), the link listens, and
 * the CRL in force has not passed its nextUpdate (after it every gateway is refused).
 *
 * No token: a load balancer's probe and a Prometheus scrape carry none, and nothing here is secret or
 * names a gateway (docs/operations.md, "Health and metrics"). The operator API binds loopback by
 * default; for a Prometheus on another host, the metrics listener serves these three paths only, on
 * an address of its own, so the operator API need not leave loopback.
 */
import { open, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { LmgwError } from '../../shared/errors.js';
import { answerHealth, probeWritable, runChecks, type CheckResult, type HealthSource } from '../../shared/health.js';
import type { LinkServer } from './link/server.js';
import type { HubMetrics } from './metrics.js';

/** A check taking longer than this fails (a hung disk answers "not ready", not nothing). */
const CHECK_TIMEOUT_MS = 2_000;
/** Written and removed by every store check, in the data directory. */
export const READY_PROBE_FILE = '.readyz-probe';

export interface HubHealthOptions {
  dataDir: string;
  link: Pick<LinkServer, 'listening' | 'crlState'>;
  metrics: Pick<HubMetrics, 'contentType' | 'text'>;
  now?: () => number;
}

export function crlCheck(state: LinkServer['crlState'], now: number): CheckResult {
  if (!state.configured) return { ok: true, detail: 'no CRL configured: revocation is not checked' };
  if (!state.nextUpdate) return { ok: true, detail: 'the CRL in force has no nextUpdate' };
  const next = state.nextUpdate.toISOString();
  return state.nextUpdate.getTime() > now
    ? { ok: true, detail: `the CRL in force is valid until ${next}` }
    : { ok: false, detail: `the CRL in force expired at ${next}: every gateway is refused until \`lmgw-ca crl\` renews it` };
}

/** The hub's HealthSource: its readiness checks and its metrics. */
export function hubHealth(o: HubHealthOptions): HealthSource {
  const now = o.now ?? Date.now;
  const probeFile = join(o.dataDir, READY_PROBE_FILE);
  // Probes asked for at once share one write (they would otherwise race for the probe file).
  let probing: Promise<CheckResult> | undefined;
  const store = (): Promise<CheckResult> =>
    (probing ??= probeWritable({ open, rm }, probeFile).finally(() => {
      probing = undefined;
    }));
  return {
    readiness: () =>
      runChecks(
        {
          store,
          link: () => (o.link.listening ? { ok: true, detail: 'the link is listening' } : { ok: false, detail: 'the link is not listening' }),
          crl: () => crlCheck(o.link.crlState, now()),
        },
        CHECK_TIMEOUT_MS,
        { setTimeout, clearTimeout },
      ),
    metrics: async () => ({ contentType: o.metrics.contentType, text: await o.metrics.text() }),
  };
}

export interface HealthListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  source: HealthSource;
  logger?: Logger;
}

export interface HealthListener {
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

/** Every limit of the listener, set explicitly. */
const LISTENER_LIMITS = { headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxHeaderBytes: 8 * 1024, maxConnections: 64 } as const;

/** The metrics listener: /healthz, /readyz and /metrics only, on an address of their own. */
export async function startHealthListener(o: HealthListenerOptions): Promise<HealthListener> {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new LmgwError('CONFIG_INVALID', `metrics port: must be a whole number in 0..65535, not ${o.port}`);
  const log = (o.logger ?? pino({ level: 'silent' })).child({ component: 'metrics-listener' });
  const server: Server = createServer({
    headersTimeout: LISTENER_LIMITS.headersTimeoutMs,
    requestTimeout: LISTENER_LIMITS.requestTimeoutMs,
    keepAliveTimeout: LISTENER_LIMITS.keepAliveTimeoutMs,
    maxHeaderSize: LISTENER_LIMITS.maxHeaderBytes,
  });
  server.maxConnections = LISTENER_LIMITS.maxConnections;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void answerHealth(req, res, o.source, (err) => log.error({ err }, 'health request failed'));
  });
  const host = o.host.replace(/^\[|\]$/g, '');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `metrics: cannot listen on ${host}:${o.port} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url }, 'metrics listener: /healthz /readyz /metrics');
  return {
    port,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
