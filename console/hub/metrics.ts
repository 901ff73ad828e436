/**
 * The hub's Prometheus metrics, all in this one module: it listens to the domain bus, the link's
 * events and the store's failures and counts; nothing else in the hub knows metrics exist. Series
 * and their meaning: docs/operations.md, "Health and metrics".
 *
 * Cost per event stays small — the hub sees 2,000 telemetry batches a second (counted per commit
 * group) and 20,000 commands in one shed (a plain increment per change, one histogram observation
 * per finished command). No label ever names a gateway, an address or a certificate: the series
 * count stays fixed whatever the fleet size (a gateway's own figures are in the operator API, behind
 * its token).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withProcessMetrics } from '../../shared/node/process-metrics.js';
import { COMMAND_OPS, type CommandOp } from '../../shared/protocol/messages.js';
import type { DomainBus } from './fleet/domain-bus.js';
import { ALARMING_REFUSALS } from './fleet/sessions.js';
import type { LinkServer } from './link/server.js';
import type { CommandState } from './operator/types.js';
import type { HubStore } from './store/index.js';

/** The final states a command can end in (CommandState without requested and sent). */
type FinalState = Exclude<CommandState, 'requested' | 'sent'>;
const FINAL_STATES: readonly FinalState[] = ['confirmed', 'rejected', 'failed', 'expired', 'timed-out', 'cancelled'];

/**
 * One op's commands by state (each change counted, `sent` too), bumped by the bus listener
 * and read into the counters at scrape time: a 20,000-command shed makes 60,000 changes, and
 * prom-client's inc() builds a label object, a label hash and a key list per call (measured: ~11 ms
 * of loop time per such shed, against under 1 ms for these increments).
 */
type OpTally = Record<CommandState, number>;

/** Seconds, from a LAN round trip to a command that waits out its deadline (10 s by default, 300 s at most). */
const COMMAND_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Seconds: the group window is 50 ms, so the normal lag is 0.05–0.1 s; a stalled loop shows above. */
const ACK_LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface HubMetricsSources {
  bus: DomainBus;
  link: Pick<LinkServer, 'on' | 'connectedCount' | 'crlState'>;
  store: Pick<HubStore, 'events'>;
  /** Gateways the hub knows (connected or not). */
  knownGateways: () => number;
  /** Telemetry batches received and not yet committed. */
  telemetryQueued: () => number;
  version: string;
}

export class HubMetrics {
  private readonly registry = new Registry();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(s: HubMetricsSources) {
    const registers = [this.registry];
    new Gauge({ name: 'lmgw_hub_info', help: 'Always 1; the hub version as a label', labelNames: ['version'], registers }).set({ version: s.version }, 1);
    new Gauge({
      name: 'lmgw_hub_gateways_connected',
      help: 'Gateways with a live session (valid certificate and hello)',
      registers,
      collect() {
        this.set(s.link.connectedCount);
      },
    });
    new Gauge({
      name: 'lmgw_hub_gateways_known',
      help: 'Gateways the hub has on record, connected or not',
      registers,
      collect() {
        this.set(s.knownGateways());
      },
    });
    const handshakes = new Counter({ name: 'lmgw_hub_link_handshakes_total', help: 'WebSocket upgrade requests after a completed TLS handshake (accepted or refused)', registers });
    const connections = new Counter({ name: 'lmgw_hub_link_connections_total', help: 'Sessions accepted (valid certificate and hello)', registers });
    const refusals = new Counter({
      name: 'lmgw_hub_link_refusals_total',
      help: 'Peers refused or cut by the link, by LINK_ error code (certificate problems, protocol, rate limit, overload)',
      labelNames: ['code'],
      registers,
    });
    for (const code of ALARMING_REFUSALS) refusals.inc({ code }, 0);
    const disconnections = new Counter({
      name: 'lmgw_hub_link_disconnections_total',
      help: 'Sessions ended, by reason (a LINK_ code, or NORMAL)',
      labelNames: ['code'],
      registers,
    });
    new Gauge({
      name: 'lmgw_hub_crl_next_update_timestamp_seconds',
      help: 'nextUpdate of the CRL in force, Unix seconds (absent without a CRL or a nextUpdate); every gateway is refused after it',
      registers,
      collect() {
        const next = s.link.crlState.nextUpdate;
        if (next) this.set(next.getTime() / 1000);
        else this.reset();
      },
    });

    const tally = {} as Record<CommandOp, OpTally>;
    for (const op of COMMAND_OPS) tally[op] = { requested: 0, sent: 0, confirmed: 0, rejected: 0, failed: 0, expired: 0, 'timed-out': 0, cancelled: 0 };
    new Counter({
      name: 'lmgw_hub_commands_requested_total',
      help: 'Commands audited and handed to the link, by op',
      labelNames: ['op'],
      registers,
      collect() {
        this.reset();
        for (const op of COMMAND_OPS) this.inc({ op }, tally[op].requested);
      },
    });
    new Counter({
      name: 'lmgw_hub_commands_total',
      help: 'Commands that reached a final state, by op and state',
      labelNames: ['op', 'state'],
      registers,
      collect() {
        this.reset();
        for (const op of COMMAND_OPS) for (const state of FINAL_STATES) this.inc({ op, state }, tally[op][state]);
      },
    });
    const latency = new Histogram({
      name: 'lmgw_hub_command_duration_seconds',
      help: 'From a command being requested to its final state being stored (commands closed by a hub restart are left out), by op',
      labelNames: ['op'],
      buckets: COMMAND_BUCKETS,
      registers,
    });
    // Built once: observe() then allocates no label object per command.
    const opLabels = Object.fromEntries(COMMAND_OPS.map((op) => [op, { op }])) as Record<CommandOp, { op: CommandOp }>;

    const batches = new Counter({ name: 'lmgw_hub_telemetry_batches_total', help: 'Telemetry batches committed and acknowledged (replays included)', registers });
    const samples = new Counter({ name: 'lmgw_hub_telemetry_samples_total', help: 'Telemetry samples stored (replays of stored batches not counted)', registers });
    const ackLag = new Histogram({
      name: 'lmgw_hub_telemetry_ack_lag_seconds',
      help: 'Per commit group: from its first batch arriving to the acks being sent',
      buckets: ACK_LAG_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'lmgw_hub_telemetry_queued_batches',
      help: 'Telemetry batches received and not yet committed',
      registers,
      collect() {
        this.set(s.telemetryQueued());
      },
    });
    const storeErrors = new Counter({
      name: 'lmgw_hub_store_errors_total',
      help: 'Store operations that failed, by SQLite error code (SQLITE_FULL: the disk is full), or by errno for a failed fsync of the WAL (EIO)',
      labelNames: ['code'],
      registers,
    });

    this.unsubscribe.push(
      s.link.on('upgradeRequest', () => handshakes.inc()),
      s.link.on('connected', () => connections.inc()),
      s.link.on('refused', (e) => refusals.inc({ code: e.code })),
      s.link.on('disconnected', (_s, why) => disconnections.inc({ code: why.code })),
      s.bus.on('command', (c) => {
        if (c.state !== 'requested') tally[c.op][c.state] += 1;
        // Requested: counted once, when it has left or ended without leaving (the commands of a bulk
        // operation are announced from 'sent' on, a single command from 'requested').
        if (c.state === 'sent' || (c.sentAt === undefined && c.finishedAt !== undefined)) tally[c.op].requested += 1;
        // finishedAt: a final state; a command closed by a restart, or never sent, has no meaningful duration.
        if (c.finishedAt !== undefined && c.code !== 'OP_HUB_RESTARTED' && c.state !== 'cancelled') latency.observe(opLabels[c.op], (c.finishedAt - c.requestedAt) / 1000);
      }),
      s.bus.on('telemetry-stored', (g) => {
        batches.inc(g.batches);
        samples.inc(g.samples);
        ackLag.observe(g.lagMs / 1000);
      }),
      s.store.events.on('error', (err) => storeErrors.inc({ code: sqliteCode(err) })),
    );
  }

  readonly contentType = this.registry.contentType;

  /** The exposition: the hub's series, then the process's. */
  text(): Promise<string> {
    return withProcessMetrics(this.registry);
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }
}

/** The SQLite code behind a STORE_ error (SQLITE_FULL, SQLITE_IOERR_WRITE, …), or the STORE_ code itself. */
function sqliteCode(err: Error & { code: string }): string {
  const cause = err.cause as { code?: unknown } | undefined;
  return typeof cause?.code === 'string' && /^(SQLITE_[A-Z_]+|E[A-Z]+)$/.test(cause.code) ? cause.code : err.code;
}
