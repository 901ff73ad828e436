/**
 * The agent's Prometheus metrics, all in this one module: it listens to the link's, the drivers'
 * and the daemon's events and counts; nothing else in the agent knows metrics exist. Loaded only
 * when the config turns the local endpoint on (agent/health.ts). Series and their meaning:
 * docs/operations.md, "Health and metrics".
 *
 * A device label names a load manager as the local config does (a few per site); the endpoint is
 * local to the gateway, so no fleet-wide cardinality follows from it.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withProcessMetrics } from '../shared/node/process-metrics.js';
import { COMMAND_OPS } from '../shared/protocol/messages.js';
import type { TypedEvents } from '../shared/typed-events.js';
import type { AgentEvents } from './daemon.js';
import type { LinkClient } from './link/client.js';
import type { SiteController } from './site.js';

const COMMAND_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const HEALTHS = ['ok', 'degraded', 'offline'] as const;

export interface AgentMetricsSources {
  link: Pick<LinkClient, 'events' | 'connected'>;
  /** Undefined in link-only mode. */
  site: Pick<SiteController, 'drivers' | 'telemetryBacklog'> | undefined;
  events: TypedEvents<AgentEvents>;
  version: string;
}

export class AgentMetrics {
  private readonly registry = new Registry();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(s: AgentMetricsSources) {
    const registers = [this.registry];
    new Gauge({ name: 'lmgw_agent_info', help: 'Always 1; the agent version as a label', labelNames: ['version'], registers }).set({ version: s.version }, 1);
    new Gauge({
      name: 'lmgw_agent_link_up',
      help: '1 while the link to the console is up (after a valid welcome), else 0',
      registers,
      collect() {
        this.set(s.link.connected ? 1 : 0);
      },
    });
    const connects = new Counter({ name: 'lmgw_agent_link_connections_total', help: 'Sessions with the console that reached the welcome', registers });
    const failures = new Counter({
      name: 'lmgw_agent_link_failures_total',
      help: 'Connection attempts or sessions that ended in an error, by LMGW error code (LINK_CONNECT_FAILED, LINK_REFUSED, LINK_INTERCEPTION_SUSPECTED, …)',
      labelNames: ['code'],
      registers,
    });
    const commands = new Counter({ name: 'lmgw_agent_commands_total', help: 'Commands from the console answered, by op and status (ok, rejected, failed)', labelNames: ['op', 'status'], registers });
    for (const op of COMMAND_OPS) for (const status of ['ok', 'rejected', 'failed']) commands.inc({ op, status }, 0);
    const duration = new Histogram({ name: 'lmgw_agent_command_duration_seconds', help: 'From a command arriving to its result, by op', labelNames: ['op'], buckets: COMMAND_BUCKETS, registers });
    const lmErrors = new Counter({ name: 'lmgw_agent_lm_errors_total', help: 'Load manager operations (polls, switches) that failed, by device and Modbus error code', labelNames: ['device', 'code'], registers });
    const drivers = s.site?.drivers ?? [];
    new Gauge({
      name: 'lmgw_agent_lm_health',
      help: '1 for the health each load manager is in (ok, degraded, offline), 0 for the others',
      labelNames: ['device', 'health'],
      registers,
      collect() {
        for (const d of drivers) for (const health of HEALTHS) this.set({ device: d.id, health }, d.health === health ? 1 : 0);
      },
    });
    if (s.site) {
      const site = s.site;
      new Gauge({
        name: 'lmgw_agent_telemetry_backlog_batches',
        help: 'Telemetry batches stored and not yet acknowledged by the console',
        registers,
        collect() {
          this.set(site.telemetryBacklog().batches);
        },
      });
      new Gauge({
        name: 'lmgw_agent_telemetry_backlog_samples',
        help: 'Telemetry samples stored and not yet acknowledged by the console',
        registers,
        collect() {
          this.set(site.telemetryBacklog().samples);
        },
      });
    }
    this.unsubscribe.push(
      s.link.events.on('connected', () => connects.inc()),
      s.link.events.on('retry', (r) => {
        if (r.error) failures.inc({ code: r.error.code });
      }),
      s.events.on('command', (command, result, ms) => {
        commands.inc({ op: command.op, status: result.status });
        duration.observe({ op: command.op }, ms / 1000);
      }),
      ...drivers.map((d) => d.events.on('failed', (err) => lmErrors.inc({ device: d.id, code: err.code }))),
    );
  }

  readonly contentType = this.registry.contentType;

  text(): Promise<string> {
    return withProcessMetrics(this.registry);
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }
}
