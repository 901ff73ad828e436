/**
 * The hub's health endpoints (shared/health.ts decides what each path answers): its readiness
 * checks, the HTTP glue the operator API and the optional metrics listener share, and that listener.
 *
 * Ready means: the data directory takes a real write (a full disk fails it) and the store's WAL has
 * never failed an fsync (after one, nothing is acknowledged until a restart: wal-sync.ts), the link
 * listens, and the CRL in force has not passed its nextUpdate (after it every gateway is refused).
 *
 * No token: a load balancer's probe and a Prometheus scrape carry none, and nothing here is secret or
 * names a gateway (docs/operations.md, "Health and metrics"). The operator API binds loopback by
 * default; for a Prometheus on another host, the metrics listener serves these three paths only, on
 * an address of its own, so the operator API need not leave loopback.
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { probeWritable, runChecks, type CheckResult, type HealthSource } from '../../shared/health.js';
import type { LinkServer } from './link/server.js';
import type { HubMetrics } from './metrics.js';
import type { HubStore } from './store/index.js';

/** A check taking longer than this fails (a hung disk answers "not ready", not nothing). */
const CHECK_TIMEOUT_MS = 2_000;
/** Written and removed by every store check, in the data directory. */
export const READY_PROBE_FILE = '.readyz-probe';

export interface HubHealthOptions {
  dataDir: string;
  link: Pick<LinkServer, 'listening' | 'crlState'>;
  metrics: Pick<HubMetrics, 'contentType' | 'text'>;
  store: Pick<HubStore, 'syncFailure'>;
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
  const store = (): Promise<CheckResult> => {
    const failed = o.store.syncFailure;
    if (failed) return Promise.resolve({ ok: false, detail: `${failed.message}; nothing is acknowledged any more: restart the console once the disk is sound` });
    return (probing ??= probeWritable({ open, rm }, probeFile).finally(() => {
      probing = undefined;
    }));
  };
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

