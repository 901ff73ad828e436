/**
 * A share of a simulated fleet in a process of its own, forked by fleet.ts: one process may hold at
 * most `ulimit -n` sockets (20,000 on our machines), and spreading the gateways over processes lets
 * their TLS handshakes and telemetry use every core. It speaks to its parent over the IPC channel in
 * request/answer pairs (FleetRequest → FleetAnswer); an error answers `failed`.
 */
import { readFileSync } from 'node:fs';
import { createLogger, type LogLevel } from '../../shared/node/log.js';
import type { ChannelProfile } from '../../shared/protocol/index.js';
import type { LatencyCounts } from './latency.js';
import { SimCounters, SimulatedGateway, type SimGatewayCredentials, type TelemetryPlan } from './gateway.js';

export interface WorkerStart {
  type: 'start';
  url: string;
  /** A JSON file of FleetCredentialsFile (written by the parent; certificates do not travel over IPC). */
  credentialsFile: string;
  from: number;
  to: number;
  telemetry: TelemetryPlan | null;
  channels?: readonly ChannelProfile[];
  labels?: readonly string[];
  /** TLS handshakes in flight at once while connecting the share. */
  concurrency: number;
  /** The level of the share's log (stdout, inherited from the parent); validated by the parent. */
  logLevel: LogLevel;
  /** SimGatewayOptions.answerDelayMs. */
  answerDelayMs?: number;
}

export type FleetRequest = WorkerStart | { type: 'status' } | { type: 'mark' } | { type: 'stop' };

export interface WorkerStatus {
  gateways: number;
  connected: number;
  connects: number;
  disconnects: number;
  commands: SimCounters['commands'];
  batchesSent: number;
  samplesSent: number;
  batchesResent: number;
  acked: number;
  errors: number;
  ackLatency: LatencyCounts;
  cpuUs: number;
}

export type FleetAnswer =
  | { type: 'started'; gateways: number; seconds: number }
  | ({ type: 'status' } & WorkerStatus)
  | { type: 'marked' }
  | { type: 'stopped' }
  | { type: 'failed'; message: string };

export interface FleetCredentialsFile {
  caPem: string;
  gateways: SimGatewayCredentials[];
}

function main(): void {
  const send = (m: FleetAnswer): void => void process.send?.(m);
  const counters = new SimCounters();
  const gateways: SimulatedGateway[] = [];

  const handle = async (m: FleetRequest): Promise<void> => {
    switch (m.type) {
      case 'start': {
        const file = JSON.parse(readFileSync(m.credentialsFile, 'utf8')) as FleetCredentialsFile;
        const share = file.gateways.slice(m.from, m.to);
        // One logger for the whole share: the link client would make one per gateway.
        const logger = createLogger({ name: 'lm-sim-fleet', level: m.logLevel });
        const t0 = performance.now();
        let next = 0;
        const lane = async (): Promise<void> => {
          while (next < share.length) {
            const credentials = share[next++];
            if (!credentials) continue;
            const gw = new SimulatedGateway({
              url: m.url,
              caPem: file.caPem,
              credentials,
              counters,
              telemetry: m.telemetry,
              logger,
              ...(m.channels ? { channels: m.channels } : {}),
              ...(m.labels ? { labels: m.labels } : {}),
              ...(m.answerDelayMs ? { answerDelayMs: m.answerDelayMs } : {}),
            });
            gateways.push(gw);
            await gw.start();
          }
        };
        await Promise.all(Array.from({ length: Math.max(1, m.concurrency) }, lane));
        // Those whose first attempt failed come back with their own back-off.
        while (gateways.some((gw) => !gw.connected)) await new Promise((r) => setTimeout(r, 200));
        return send({ type: 'started', gateways: share.length, seconds: (performance.now() - t0) / 1000 });
      }
      case 'status': {
        const cpu = process.cpuUsage();
        return send({
          type: 'status',
          gateways: gateways.length,
          connected: counters.connected,
          connects: counters.connects,
          disconnects: counters.disconnects,
          commands: { ...counters.commands },
          batchesSent: counters.batchesSent,
          samplesSent: counters.samplesSent,
          batchesResent: counters.batchesResent,
          acked: counters.acked,
          errors: counters.errors,
          ackLatency: counters.ackLatency.toCounts(),
          cpuUs: cpu.user + cpu.system,
        });
      }
      case 'mark':
        counters.mark();
        return send({ type: 'marked' });
      case 'stop':
        await Promise.all(gateways.map((gw) => gw.stop()));
        // Exit rather than wait for timers still pending (auto-restores, back-off).
        process.send?.({ type: 'stopped' } satisfies FleetAnswer, () => process.exit(0));
        return;
    }
  };

  if (process.send === undefined) {
    process.stderr.write('agent/sim/fleet-worker is forked by `lm-sim fleet` (agent/sim/fleet.ts); it does not run on its own.\n');
    process.exitCode = 2;
    return;
  }
  // The parent going away (killed, crashed) ends the share too: no orphaned gateways.
  process.on('disconnect', () => process.exit(0));
  let queue = Promise.resolve();
  process.on('message', (m: FleetRequest) => {
    // 'status' must not wait behind a 'start' that is still connecting: answer it at once.
    const run = (): Promise<void> =>
      handle(m).catch((err: unknown) => {
        send({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      });
    if (m.type === 'status' || m.type === 'mark') void run();
    else queue = queue.then(run);
  });
}

main();
