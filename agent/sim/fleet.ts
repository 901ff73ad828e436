/**
 * A simulated gateway fleet (gateway.ts) spread over worker processes (fleet-worker.ts), for scale
 * tests, benchmarks, e2e tests and demos. The parent side:
 *
 *   const fleet = await SimulatedFleet.start({ url, caPem, gateways: credentials });
 *   await fleet.status();   // connected, commands answered, telemetry acks (p50/p99), disconnects
 *   await fleet.mark();     // start a new counting window
 *   await fleet.stop();
 *
 * Each worker holds at most the open-file limit's worth of sockets (less a reserve); there are at
 * least `minWorkers` of them, so the client side of thousands of TLS handshakes uses every core.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogLevel } from '../../shared/node/log.js';
import type { ChannelProfile } from '../../shared/protocol/index.js';
import type { FleetAnswer, FleetCredentialsFile, FleetRequest, WorkerStatus } from './fleet-worker.js';
import type { SimGatewayCredentials, TelemetryPlan } from './gateway.js';
import { LatencyHistogram, type LatencySummary } from './latency.js';

export interface SimFleetOptions {
  /** The console's link, `wss://host:port/lmgw/v1`. */
  url: string;
  /** PEM of the CA the console's certificate chains to (and that issued the gateways'). */
  caPem: string;
  gateways: readonly SimGatewayCredentials[];
  /** Default: one sample a second, each sent at once. null: no telemetry. */
  telemetry?: TelemetryPlan | null;
  channels?: readonly ChannelProfile[];
  labels?: readonly string[];
  /** Worker processes at least. Default: the number of cores, at most one per 500 gateways, at least 1. */
  minWorkers?: number;
  /** Gateways per worker at most. Default: the open-file limit less 64. */
  maxPerWorker?: number;
  /** TLS handshakes in flight per worker while connecting. Default 32. */
  concurrency?: number;
  /** Node flags for the workers. */
  execArgv?: readonly string[];
  /** The workers' log level (JSON lines on this process's stdout). Default silent: thousands of gateways would flood it. */
  logLevel?: LogLevel;
  /** Each command answered after a delay drawn from [0, answerDelayMs) (SimGatewayOptions.answerDelayMs). Default 0. */
  answerDelayMs?: number;
}

export interface SimFleetStatus {
  gateways: number;
  connected: number;
  /** Since the last mark (or the start): */
  connects: number;
  disconnects: number;
  commands: WorkerStatus['commands'];
  batchesSent: number;
  samplesSent: number;
  batchesResent: number;
  acked: number;
  errors: number;
  /** Telemetry batch send → ack, ms. */
  ackLatency: LatencySummary;
  /** The workers' CPU time since they started, µs. */
  cpuUs: number;
}

/** The open-file limit (soft) of this process, from /proc/self/limits; undefined when unknown or unlimited. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** How long a worker has to answer a request (status, mark, stop); `start` connects its gateways and has START_TIMEOUT_MS. */
const CALL_TIMEOUT_MS = 30_000;
const START_TIMEOUT_MS = 15 * 60_000;

/** Sockets a worker needs besides its gateways' (stdio, IPC, epoll, files). */
const FD_RESERVE = 64;

/** The worker script: next to this file when it runs compiled, else (vitest on the sources) in dist/. */
function workerScript(): string {
  const here = fileURLToPath(new URL('./fleet-worker.js', import.meta.url));
  if (existsSync(here)) return here;
  const built = fileURLToPath(new URL('../../dist/agent/sim/fleet-worker.js', import.meta.url));
  if (existsSync(built)) return built;
  throw new Error(`no compiled fleet worker at ${here} or ${built}: run npm run build`);
}

class Worker {
  private readonly waiting: { type: FleetAnswer['type']; resolve: (m: FleetAnswer) => void; reject: (e: Error) => void }[] = [];
  readonly exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    readonly index: number,
  ) {
    child.on('message', (m: FleetAnswer) => {
      if (m.type === 'failed') {
        for (const w of this.waiting.splice(0)) w.reject(new Error(`simulated fleet worker ${index}: ${m.message}`));
        return;
      }
      const i = this.waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]?.resolve(m);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        for (const w of this.waiting.splice(0)) w.reject(new Error(`simulated fleet worker ${index} exited (${code ?? signal})`));
        resolve();
      }),
    );
  }

  /** Sends `message` and waits for the answer of type `answer`, at most `timeoutMs` (a worker that hangs fails the caller instead of holding it for ever). */
  call<T extends FleetAnswer['type']>(message: FleetRequest, answer: T, timeoutMs = CALL_TIMEOUT_MS): Promise<Extract<FleetAnswer, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (!this.child.connected) return reject(new Error(`simulated fleet worker ${this.index} is gone`));
      const waiter = {
        type: answer,
        resolve: (m: FleetAnswer) => {
          clearTimeout(timer);
          resolve(m as Extract<FleetAnswer, { type: T }>);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error(`simulated fleet worker ${this.index} did not answer '${message.type}' within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiting.push(waiter);
      this.child.send(message);
    });
  }
}

export class SimulatedFleet {
  private constructor(
    private readonly workers: Worker[],
    private readonly dir: string,
    readonly size: number,
  ) {}

  /** Splits `n` gateways into shares, one per worker. */
  static shares(n: number, minWorkers: number, maxPerWorker: number): { from: number; to: number }[] {
    const count = Math.max(1, Math.min(n, Math.max(minWorkers, Math.ceil(n / Math.max(1, maxPerWorker)))));
    const size = Math.ceil(n / count);
    return Array.from({ length: count }, (_, i) => ({ from: i * size, to: Math.min(n, (i + 1) * size) })).filter((s) => s.to > s.from);
  }

  /** Forks the workers and connects every gateway; resolves once each has been welcomed once. */
  static async start(o: SimFleetOptions): Promise<SimulatedFleet> {
    const n = o.gateways.length;
    const minWorkers = o.minWorkers ?? Math.max(1, Math.min(cpus().length, Math.ceil(n / 500)));
    const maxPerWorker = o.maxPerWorker ?? Math.max(1, (openFileLimit() ?? 20_000) - FD_RESERVE);
    const dir = mkdtempSync(join(tmpdir(), 'lmgw-sim-fleet-'));
    const credentialsFile = join(dir, 'credentials.json');
    writeFileSync(credentialsFile, JSON.stringify({ caPem: o.caPem, gateways: [...o.gateways] } satisfies FleetCredentialsFile), { mode: 0o600 });
    const script = workerScript();
    const shares = SimulatedFleet.shares(n, minWorkers, maxPerWorker);
    const workers = shares.map((_, i) => new Worker(fork(script, [], { execArgv: [...(o.execArgv ?? [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), i));
    const fleet = new SimulatedFleet(workers, dir, n);
    try {
      await Promise.all(
        workers.map((w, i) =>
          w.call(
            {
              type: 'start',
              url: o.url,
              credentialsFile,
              from: shares[i]?.from ?? 0,
              to: shares[i]?.to ?? 0,
              telemetry: o.telemetry === undefined ? { sampleSeconds: 1, batchSeconds: 1 } : o.telemetry,
              concurrency: o.concurrency ?? 32,
              logLevel: o.logLevel ?? 'silent',
              ...(o.channels ? { channels: o.channels } : {}),
              ...(o.labels ? { labels: o.labels } : {}),
              ...(o.answerDelayMs ? { answerDelayMs: o.answerDelayMs } : {}),
            },
            'started',
            START_TIMEOUT_MS,
          ),
        ),
      );
    } catch (err) {
      await fleet.stop();
      throw err;
    } finally {
      rmSync(credentialsFile, { force: true });
    }
    return fleet;
  }

  /** The worker processes' ids (for CPU readings from /proc). */
  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0).filter((p) => p > 0);
  }

  async status(): Promise<SimFleetStatus> {
    const all = await Promise.all(this.workers.map((w) => w.call({ type: 'status' }, 'status')));
    const acks = new LatencyHistogram();
    const sum = (f: (s: WorkerStatus) => number): number => all.reduce((a, s) => a + f(s), 0);
    for (const s of all) acks.add(s.ackLatency);
    return {
      gateways: sum((s) => s.gateways),
      connected: sum((s) => s.connected),
      connects: sum((s) => s.connects),
      disconnects: sum((s) => s.disconnects),
      commands: {
        shed: sum((s) => s.commands.shed),
        restore: sum((s) => s.commands.restore),
        read: sum((s) => s.commands.read),
        rejected: sum((s) => s.commands.rejected),
        repeated: sum((s) => s.commands.repeated),
      },
      batchesSent: sum((s) => s.batchesSent),
      samplesSent: sum((s) => s.samplesSent),
      batchesResent: sum((s) => s.batchesResent),
      acked: sum((s) => s.acked),
      errors: sum((s) => s.errors),
      ackLatency: acks.summary(),
      cpuUs: sum((s) => s.cpuUs),
    };
  }

  /** Starts a new counting window (everything but `connected`). */
  async mark(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ type: 'mark' }, 'marked')));
  }

  /** Closes every gateway (1000) and ends the workers; a worker that does not stop within 15 s is killed. */
  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        const timer = setTimeout(() => w.child.kill('SIGKILL'), 15_000);
        await w.call({ type: 'stop' }, 'stopped').catch(() => undefined);
        await w.exited;
        clearTimeout(timer);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
