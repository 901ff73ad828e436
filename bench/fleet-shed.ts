/**
 * The fleet-wide shed benchmark (issue #13, item 6): the real hub process (`lm-console --headless`
 * from dist/, link and operator API on loopback), N simulated gateways in worker processes
 * (agent/sim/fleet.ts: each a real mutual-TLS WebSocket with its own certificate, the agent's own
 * link client, a hello with a 4-channel profile, every command answered at once, telemetry each
 * second — batched every 10 s from --batch-from gateways on), and one subscriber of the operator
 * event stream (`WS /api/v1/events`, bearer token) that counts the bytes it receives, as the UI would.
 *
 * Per N and run:
 * 1. Floor: the same gateways connected to the link server alone (bench/link-hub.ts, `startLinkServer`,
 *    no domain), which sends one shed command to every gateway at once and times the last answer.
 * 2. The hub, fresh (its own data directory): the fleet connects, then a steady phase (telemetry only):
 *    hub CPU per sample, disk writes (/proc/PID/io write_bytes) against the database's growth, bytes
 *    stored per sample, telemetry ack p50/p99, event-stream bytes per second.
 * 3. The shed, as the console's shed dialog makes it: `POST /api/v1/previewShed` (the review), a second
 *    later `POST /api/v1/startShed` {scope fleet, priority ≤ 2, 600 s} with the token. Timed from
 *    just before the request to every command final (the first `shed-event` on the stream — or the
 *    API's answer — whose outcomes are all final) and to the API's answer. Over that time: hub CPU
 *    per gateway, peak RSS (/proc, every 100 ms) against the RSS just before, bytes written, bytes on
 *    the event stream (until 1 s after all final, so coalesced updates are counted), the hub's
 *    event-loop stall (monitorEventLoopDelay, max and p99, by bench/loop-probe.ts loaded into the hub
 *    with --import: no hub code involved), telemetry ack p50/p99, disconnects, commands timed out.
 *
 * Run: npm run bench:fleet-shed [-- --gateways 500,2000,5000,20000 --runs 3 --steady-seconds 20
 *        --batch-from 19000 --shed-timeout 600 --json FILE]   (--quick: 100 gateways, 1 run, 5 s)
 * Medians over the runs; every figure beside its target; exit 1 when a target is missed.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { WebSocket, type RawData } from 'ws';
import { openFileLimit, SimulatedFleet, type SimFleetStatus } from '../agent/sim/fleet.js';
import type { TelemetryPlan } from '../agent/sim/gateway.js';
import { IpcChild } from './ipc-child.js';
import type { FromHub, ToHub } from './link-hub.js';
import { makeBenchPki, type BenchPki } from './link-pki.js';
import { bin, fmt, machineBusyUs, OtherLoad, processCpuUs, processMemory, Processes, sleep, type Started } from './processes.js';

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const LINK_HUB_SCRIPT = fileURLToPath(new URL('./link-hub.js', import.meta.url));
const LOOP_PROBE = pathToFileURL(fileURLToPath(new URL('./loop-probe.js', import.meta.url))).href;
const TURN_PROBE = pathToFileURL(fileURLToPath(new URL('./turn-probe.js', import.meta.url))).href;
const FINAL_STATES = ['confirmed', 'rejected', 'failed', 'expired', 'timed-out'];
/** Sockets the hub needs besides its gateways' (listeners, the database, the API, the event stream). */
const HUB_FD_RESERVE = 100;
/** A fleet this large counts as "20,000" for the targets: the open-file limit (20,000 here) caps the hub at 19,900 gateways. */
const LARGE = 19_000;

export const TARGETS = {
  /** Shed all final ≤ 1.5× the floor's time for the same N. */
  floorRatio: 1.5,
  /** Seconds, at 2,000 and at 20,000. */
  seconds2000: 3,
  seconds20000: 20,
  /** Time at 20,000 / time at 2,000. */
  growth: 11,
  loopStallMaxMs: 100,
  ackP99DuringMs: 500,
  disconnected: 0,
  timedOut: 0,
  eventBytesPerGateway: 300,
  rssPeakOverIdle: 1.3,
  /** Steady (at 2,000 × 1 Hz): */
  cpuUsPerSample: 60,
  writesOverGrowth: 4,
  bytesPerSample: 80,
  steadyAckP99Ms: 100,
  /** At 20,000. */
  eventBytesPerSecond: 20_000,
} as const;

export interface FleetShedOptions {
  gateways: number[];
  runs: number;
  steadySeconds: number;
  /** From this many gateways on, telemetry goes in 10-s batches (one sample a second). */
  batchFrom: number;
  shedTimeoutSeconds: number;
  maxPriority: number;
  /** When set, the hub writes a V8 CPU profile into this directory (node --cpu-prof) when it exits. */
  cpuProfDir?: string;
  /** Where bench/turn-probe.ts writes what each long turn of the hub's loop held (a diagnosis run: its hooks cost CPU). */
  turnsFile?: string;
  /** More node options for the hub (V8 tuning experiments: `--max-semi-space-size=64`). */
  hubNodeArgs?: string[];
}

export interface SteadyFigures {
  seconds: number;
  samples: number;
  batches: number;
  hubCpuUsPerSample: number;
  writeBytes: number;
  /** Growth of the pages in use (dbstat): what was stored. */
  dbGrowthBytes: number;
  /** Growth of hub.db + hub.db-wal on disk. */
  fileGrowthBytes: number;
  writesOverGrowth: number;
  bytesStoredPerSample: number;
  ackP50Ms: number;
  ackP99Ms: number;
  eventBytesPerSecond: number;
  disconnects: number;
}

export interface ShedFigures {
  /** API call → every outcome final (stream or answer, whichever showed it first), seconds; NaN when not within the timeout. */
  allFinalSeconds: number;
  /** API call → the HTTP answer, seconds. */
  apiAnswerSeconds: number;
  /** How "all final" was seen: 'stream', 'answer' or 'timeout'. */
  finalSeenOn: string;
  outcomes: number;
  states: Record<string, number>;
  timedOut: number;
  hubCpuUsPerGateway: number;
  /**
   * Cores of the machine busy from the API call to all final (/proc/stat, every process: the hub, the
   * simulated gateways, this process; 10 ms ticks), absent from runs before 2026-12-07 22:00 UTC. Near
   * the machine's core count, the shed is bound by the machine's CPU, not by any one thread.
   */
  machineCores?: number;
  /** Of those: the hub's and the simulated gateways' worker processes' (absent before 2026-12-07 22:00 UTC). */
  hubCores?: number;
  fleetCores?: number;
  rssIdleBytes: number;
  rssPeakBytes: number;
  rssPeakOverIdle: number;
  writeBytes: number;
  eventBytes: number;
  eventBytesPerGateway: number;
  eventsByType: Record<string, { count: number; bytes: number }>;
  loopStallMaxMs: number;
  loopStallP99Ms: number;
  /** The garbage collector's longest pause of the hub's main thread over the same time, its kind, and all its pauses summed. */
  gcMaxMs: number;
  gcMaxKind: string;
  gcMs: number;
  ackP50Ms: number;
  ackP99Ms: number;
  acked: number;
  disconnects: number;
  commandsAnswered: number;
  httpStatus: number;
}

/** One operator operation after the shed, through the API: time to its answer (every command final) and the loop stall meanwhile. */
export interface OperationFigures {
  seconds: number;
  httpStatus: number;
  /** Final states of its commands (none for previewShed). */
  states: Record<string, number>;
  loopStallMaxMs: number;
  gcMaxMs: number;
  gcMaxKind: string;
  gcMs: number;
}

export const OPERATIONS = ['previewShed', 'cancelShed', 'commandMany', 'restoreAll'] as const;

/** A second fleet-wide shed, cancelled once its first commands are out (the rest still going out). */
export interface MidCancelFigures {
  /** cancelShed: API call → answer (its restores final). */
  seconds: number;
  httpStatus: number;
  /** The event's outcomes by state, from startShed's answer: confirmed (shed, then restored) and cancelled (never sent). */
  states: Record<string, number>;
  /** Sheds and restores the simulated gateways executed meanwhile: every shed must have its restore. */
  shedsExecuted: number;
  restoresExecuted: number;
  loopStallMaxMs: number;
  gcMaxMs: number;
  gcMaxKind: string;
}

export interface RunFigures {
  run: number;
  gateways: number;
  telemetry: TelemetryPlan;
  floor: {
    seconds: number;
    answered: number;
    serverCpuUsPerGateway: number;
    /** The link server's CPU per telemetry sample over the steady window, acking each batch at once (no store). */
    steadyCpuUsPerSample: number;
    /** Cores of the machine busy during the burst, as ShedFigures.machineCores (timed here, around the burst request). */
    machineCores?: number;
    /** Of those: the link server's and the simulated gateways' (absent before 2026-12-07 22:00 UTC). */
    serverCores?: number;
    fleetCores?: number;
  };
  connectSeconds: number;
  rssEmptyBytes: number;
  steady: SteadyFigures;
  shed: ShedFigures;
  /** The other fleet-wide operations, in this order after the shed: preview, cancel the event, a `read` to the fleet, restore all. */
  operations: Record<(typeof OPERATIONS)[number], OperationFigures>;
  /** After them: a shed cancelled while going out (absent from the JSON of runs before 2026-12-07 20:00 UTC). */
  cancelMidShed?: MidCancelFigures;
  floorRatio: number;
  othersCores: number | undefined;
}

// --- helpers -------------------------------------------------------------------------------------------

function median(values: readonly number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function writeBytesOf(pid: number): number {
  try {
    return Number(/^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

function dbBytes(dataDir: string): number {
  let total = 0;
  for (const f of ['hub.db', 'hub.db-wal']) {
    const p = join(dataDir, f);
    if (existsSync(p)) total += statSync(p).size;
  }
  return total;
}

/**
 * Bytes of database pages in use (sqlite's dbstat, read through the WAL as the hub sees it): what is
 * stored, unlike the files' sizes, which a WAL that is reused after each checkpoint blurs.
 */
function storedBytes(dataDir: string): number {
  const db = new Database(join(dataDir, 'hub.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT sum(pgsize) AS b FROM dbstat').get() as { b: number }).b;
  } finally {
    db.close();
  }
}

/** A timer that can be cancelled, so a finished benchmark does not wait out its timeout. */
function deadline(ms: number): { promise: Promise<undefined>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

/** POST with no client-side timeout (a fleet shed on a slow hub takes minutes; fetch gives up after 300 s). */
function post(url: URL, token: string, body: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Outcome counts of a shed event as the stream or the API carries it: the summary's `counts` or the full `outcomes`. */
function outcomeCounts(event: Record<string, unknown>): { total: number; final: number; states: Record<string, number> } {
  const states: Record<string, number> = {};
  let total = 0;
  if (event.counts && typeof event.counts === 'object') {
    for (const [state, n] of Object.entries(event.counts as Record<string, number>)) states[state] = n;
    total = typeof event.gatewayCount === 'number' ? event.gatewayCount : Object.values(states).reduce((a, b) => a + b, 0);
  } else if (Array.isArray(event.outcomes)) {
    for (const o of event.outcomes as { state: string }[]) states[o.state] = (states[o.state] ?? 0) + 1;
    total = event.outcomes.length;
  }
  const final = FINAL_STATES.reduce((sum, s) => sum + (states[s] ?? 0), 0);
  return { total, final, states };
}

/** The operator event stream: bytes and events by type; notices the shed event whose outcomes are all final. */
class EventCounter {
  bytes = 0;
  byType: Record<string, { count: number; bytes: number }> = {};
  onShedEvent: ((event: Record<string, unknown>, at: number) => void) | undefined;
  closed: string | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: RawData) => {
      const buf = data as Buffer;
      this.bytes += buf.length;
      // Only the head is read: at today's hub a shed pushes gigabytes, which this process must not parse.
      const type = /^\{"type":"([a-z-]+)"/.exec(buf.toString('latin1', 0, 32))?.[1] ?? '?';
      const t = (this.byType[type] ??= { count: 0, bytes: 0 });
      t.count += 1;
      t.bytes += buf.length;
      if (type === 'shed-event' && this.onShedEvent) {
        const at = performance.now();
        const e = JSON.parse(buf.toString('utf8')) as { event: Record<string, unknown> };
        this.onShedEvent(e.event, at);
      }
    });
    ws.on('close', (code, reason) => (this.closed = `${code} ${reason.toString()}`));
  }

  static async open(apiBase: string, token: string): Promise<EventCounter> {
    const ws = new WebSocket(`${apiBase.replace(/^http/, 'ws')}api/v1/events`, { headers: { authorization: `Bearer ${token}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new EventCounter(ws);
  }

  mark(): { bytes: number; byType: Record<string, { count: number; bytes: number }> } {
    const m = { bytes: this.bytes, byType: structuredClone(this.byType) };
    return m;
  }

  since(m: { bytes: number; byType: Record<string, { count: number; bytes: number }> }): { bytes: number; byType: Record<string, { count: number; bytes: number }> } {
    const byType: Record<string, { count: number; bytes: number }> = {};
    for (const [type, t] of Object.entries(this.byType)) {
      const before = m.byType[type] ?? { count: 0, bytes: 0 };
      if (t.count > before.count) byType[type] = { count: t.count - before.count, bytes: t.bytes - before.bytes };
    }
    return { bytes: this.bytes - m.bytes, byType };
  }
}

/** What the loop probe reports (bench/loop-probe.ts). */
interface LoopStats {
  maxMs: number;
  p99Ms: number;
  gcMaxMs: number;
  gcMaxKind: string;
  gcMs: number;
}

/** The loop probe inside the hub: SIGUSR2 → one LMGW_LOOP_STATS line on its stderr. */
class LoopProbe {
  private waiting: ((stats: LoopStats) => void)[] = [];
  /** The hub's, once started. */
  pid = 0;
  line(line: string): void {
    if (!line.startsWith('LMGW_LOOP_STATS ')) return;
    const stats = JSON.parse(line.slice('LMGW_LOOP_STATS '.length)) as LoopStats;
    this.waiting.shift()?.(stats);
  }
  read(): Promise<LoopStats> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the hub did not answer the loop probe within 120 s')), 120_000);
      this.waiting.push((s) => {
        clearTimeout(timer);
        resolve(s);
      });
      process.kill(this.pid, 'SIGUSR2');
    });
  }
}

/** " (longest GC pause 212 ms major, 640 ms in all)": how much of a stall the garbage collector may explain. */
function gcNote(s: LoopStats): string {
  return ` (longest GC pause ${fmt(s.gcMaxMs)} ms${s.gcMaxKind ? ` ${s.gcMaxKind}` : ''}, ${fmt(s.gcMs)} ms in all)`;
}

function telemetryPlan(gateways: number, o: FleetShedOptions): TelemetryPlan {
  return { sampleSeconds: 1, batchSeconds: gateways >= o.batchFrom ? 10 : 1 };
}

/** CPU time (µs) of these processes together (those gone count 0). */
function cpuOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (processCpuUs(pid) ?? 0), 0);
}

/** The shed every phase makes (and previews): the whole fleet, priority ≤ --max-priority, 600 s. */
function fleetShed(o: FleetShedOptions): { scope: { kind: 'fleet' }; selector: { kind: 'priority'; maxPriority: number }; durationSeconds: number } {
  return { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: o.maxPriority }, durationSeconds: 600 };
}

// --- the floor ---------------------------------------------------------------------------------------

async function floor(pki: BenchPki, pkiDir: string, gateways: number, o: FleetShedOptions): Promise<RunFigures['floor']> {
  const server = IpcChild.start<ToHub, FromHub>(LINK_HUB_SCRIPT, 'link server');
  let fleet: SimulatedFleet | undefined;
  try {
    const { port } = await server.call(
      { type: 'start', mode: 'hub', caPem: pki.caPem, certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, crlPath: join(pkiDir, 'crl.pem'), crlPem: pki.crlPem, maxConnections: gateways + 100 },
      'listening',
    );
    fleet = await SimulatedFleet.start({ url: `wss://127.0.0.1:${port}/lmgw/v1`, caPem: pki.caPem, gateways: pki.gateways.slice(0, gateways), telemetry: telemetryPlan(gateways, o) });
    await sleep(2000);
    // The steady floor: the link's own cost of a telemetry sample — received, decoded, validated and
    // acked at once, as the hub acks it after its store — over the hub run's steady window length.
    await server.call({ type: 'ack-telemetry', on: true }, 'ack-telemetry');
    await sleep(1000); // the batches held unacked meanwhile are acked on their resend, not in the window
    await server.call({ type: 'window-start' }, 'window-started');
    await sleep(o.steadySeconds * 1000);
    const { report } = await server.call({ type: 'window-end' }, 'window');
    const steadyCpuUsPerSample = (report.cpuUserUs + report.cpuSystemUs) / Math.max(1, report.telemetrySamples ?? 0);
    // The burst as before (no acks): its floor stays comparable with the earlier runs.
    await server.call({ type: 'ack-telemetry', on: false }, 'ack-telemetry');
    const m0 = { at: performance.now(), busy: machineBusyUs() ?? Number.NaN, fleet: cpuOf(fleet.pids) };
    const done = await server.call({ type: 'burst', timeoutMs: o.shedTimeoutSeconds * 1000 }, 'burst-done');
    const burstMs = performance.now() - m0.at;
    const machineCores = ((machineBusyUs() ?? Number.NaN) - m0.busy) / 1000 / burstMs;
    const fleetCores = (cpuOf(fleet.pids) - m0.fleet) / 1000 / burstMs;
    log(`  floor: ${done.answered} of ${done.peers} answered in ${(done.ms / 1000).toFixed(3)} s (link server alone, machine ${fmt(machineCores, 2)} cores busy: server ${fmt(done.cpuUs / 1000 / done.ms, 2)}, gateways ${fmt(fleetCores, 2)}); steady ${fmt(steadyCpuUsPerSample)} µs CPU per sample (${report.telemetrySamples ?? 0} samples)`);
    return { seconds: done.answered === done.peers ? done.ms / 1000 : Number.NaN, answered: done.answered, serverCpuUsPerGateway: done.cpuUs / Math.max(1, done.peers), steadyCpuUsPerSample, machineCores, serverCores: done.cpuUs / 1000 / done.ms, fleetCores };
  } finally {
    await fleet?.stop();
    await server.stop();
  }
}

// --- the hub -----------------------------------------------------------------------------------------

async function hubRun(pki: BenchPki, pkiDir: string, gateways: number, o: FleetShedOptions): Promise<Omit<RunFigures, 'run' | 'floor' | 'floorRatio'>> {
  const procs = new Processes(log);
  let fleet: SimulatedFleet | undefined;
  let events: EventCounter | undefined;
  try {
    const dir = procs.tempDir('lmgw-bench-fleet-shed-');
    writeFileSync(join(dir, 'server.pem'), pki.serverCertPem);
    writeFileSync(join(dir, 'server.key'), pki.serverKeyPem, { mode: 0o600 });
    writeFileSync(
      join(dir, 'hub.json'),
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        tls: { ca: join(pkiDir, 'ca.pem'), cert: 'server.pem', key: 'server.key', crl: join(pkiDir, 'crl.pem') },
        dataDir: 'hub-data',
        timeZone: 'UTC',
        operatorApi: { host: '127.0.0.1', port: 0, tokenName: 'bench-operator' },
        link: { maxConnections: gateways + 100 },
      }),
    );
    const probe = new LoopProbe();
    const hub: Started = procs.start('lm-console', [bin('lm-console'), '--headless', '--config', join(dir, 'hub.json')], {
      cwd: dir,
      nodeArgs: [
        '--import',
        LOOP_PROBE,
        ...(o.turnsFile === undefined ? [] : ['--import', TURN_PROBE]),
        ...(o.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`]),
        ...(o.hubNodeArgs ?? []),
      ],
      env: { LMGW_LOG_LEVEL: 'warn', ...(o.turnsFile === undefined ? {} : { LMGW_TURN_LOG: resolvePath(o.turnsFile) }) },
      onLine: (line) => probe.line(line),
    });
    probe.pid = hub.pid;
    const linkPort = Number((await hub.waitForLine(/^lm-console: link listening on wss:\/\/[\d.]+:(\d+)\//, 30_000))[1]);
    const apiBase = (await hub.waitForLine(/^lm-console: operator console (http:\/\/127\.0\.0\.1:\d+\/)login/, 30_000))[1] ?? '';
    await hub.waitForLine(/^lm-console: data in /, 30_000);
    const dataDir = join(dir, 'hub-data');
    const token = readFileSync(join(dataDir, 'operator-token'), 'utf8').trim();
    const rssEmptyBytes = processMemory(hub.pid)?.rss ?? Number.NaN;
    events = await EventCounter.open(apiBase, token);

    const telemetry = telemetryPlan(gateways, o);
    const t0 = performance.now();
    fleet = await SimulatedFleet.start({ url: `wss://127.0.0.1:${linkPort}/lmgw/v1`, caPem: pki.caPem, gateways: pki.gateways.slice(0, gateways), telemetry });
    const connectSeconds = (performance.now() - t0) / 1000;
    log(`  hub: ${gateways} gateways connected in ${connectSeconds.toFixed(1)} s (telemetry every ${telemetry.batchSeconds} s); settling`);
    await sleep(Math.max(3000, telemetry.batchSeconds * 1000 + 1000));

    // --- steady ---
    const others = new OtherLoad([hub.pid, ...fleet.pids, process.pid]);
    await fleet.mark();
    const stored0 = storedBytes(dataDir);
    const s0 = { at: performance.now(), cpu: processCpuUs(hub.pid) ?? Number.NaN, io: writeBytesOf(hub.pid), db: dbBytes(dataDir), ev: events.mark() };
    await sleep(o.steadySeconds * 1000);
    const s1 = { at: performance.now(), cpu: processCpuUs(hub.pid) ?? Number.NaN, io: writeBytesOf(hub.pid), db: dbBytes(dataDir), ev: events.since(s0.ev) };
    const st: SimFleetStatus = await fleet.status();
    const growth = storedBytes(dataDir) - stored0;
    const seconds = (s1.at - s0.at) / 1000;
    const steady: SteadyFigures = {
      seconds,
      samples: st.samplesSent,
      batches: st.batchesSent,
      hubCpuUsPerSample: (s1.cpu - s0.cpu) / Math.max(1, st.samplesSent),
      writeBytes: s1.io - s0.io,
      dbGrowthBytes: growth,
      fileGrowthBytes: s1.db - s0.db,
      writesOverGrowth: growth > 0 ? (s1.io - s0.io) / growth : Number.NaN,
      bytesStoredPerSample: growth / Math.max(1, st.samplesSent),
      ackP50Ms: st.ackLatency.p50,
      ackP99Ms: st.ackLatency.p99,
      eventBytesPerSecond: s1.ev.bytes / seconds,
      disconnects: st.disconnects,
    };
    log(
      `  steady ${seconds.toFixed(1)} s: ${st.samplesSent} samples, hub ${fmt(steady.hubCpuUsPerSample)} µs CPU/sample, writes ${fmt(steady.writesOverGrowth, 2)}× the db growth, ` +
        `${fmt(steady.bytesStoredPerSample)} B/sample, ack p50 ${fmt(steady.ackP50Ms)} p99 ${fmt(steady.ackP99Ms)} ms, stream ${fmt(steady.eventBytesPerSecond / 1000)} KB/s`,
    );

    // --- the shed ---
    // The operator's flow, as the console's shed dialog has it: the review (previewShed), read for a
    // moment, then the confirmation (startShed) — which is what is timed.
    const review = await post(new URL('api/v1/previewShed', apiBase), token, fleetShed(o));
    if (review.status !== 200) log(`  previewShed before the shed: HTTP ${review.status} ${review.text.slice(0, 300)}`);
    await sleep(1000);
    await fleet.mark();
    await probe.read();
    const rssIdleBytes = processMemory(hub.pid)?.rss ?? Number.NaN;
    let rssPeakBytes = rssIdleBytes;
    const sampler = setInterval(() => {
      const rss = processMemory(hub.pid)?.rss;
      if (rss !== undefined && rss > rssPeakBytes) rssPeakBytes = rss;
    }, 100);
    const ev0 = events.mark();
    const cpu0 = processCpuUs(hub.pid) ?? Number.NaN;
    const io0 = writeBytesOf(hub.pid);
    let finalAt: number | undefined;
    let finalBusyUs = Number.NaN;
    let finalCpu = { hub: Number.NaN, fleet: Number.NaN };
    let finalSeenOn = 'timeout';
    let lastCounts = { total: 0, final: 0, states: {} as Record<string, number> };
    let resolveFinal: () => void = () => undefined;
    const allFinal = new Promise<void>((resolve) => (resolveFinal = resolve));
    const seen = (event: Record<string, unknown>, at: number, on: string): void => {
      const c = outcomeCounts(event);
      if (c.total === 0) return;
      lastCounts = c;
      if (finalAt === undefined && c.final === c.total) {
        finalAt = at;
        finalBusyUs = machineBusyUs() ?? Number.NaN;
        finalCpu = { hub: processCpuUs(hub.pid) ?? Number.NaN, fleet: cpuOf(fleetPids) };
        finalSeenOn = on;
        resolveFinal();
      }
    };
    events.onShedEvent = (event, at) => seen(event, at, 'stream');
    const fleetPids = fleet.pids;
    const fleetCpu0 = cpuOf(fleetPids);
    const busy0 = machineBusyUs() ?? Number.NaN;
    const start = performance.now();
    const answer = post(new URL('api/v1/startShed', apiBase), token, { ...fleetShed(o), note: `bench:fleet-shed ${gateways}` }).then((r) => {
      const at = performance.now();
      if (r.status === 200) seen((JSON.parse(r.text) as { result: Record<string, unknown> }).result, at, 'answer');
      else log(`  startShed: HTTP ${r.status} ${r.text.slice(0, 300)}`);
      return { ...r, at };
    });
    const timeout = deadline(o.shedTimeoutSeconds * 1000);
    await Promise.race([allFinal, timeout.promise]);
    const ans = await Promise.race([answer, timeout.promise]);
    timeout.cancel();
    const endAt = finalAt ?? performance.now();
    // Coalesced updates still on their way count towards the shed's stream bytes.
    await sleep(1000);
    clearInterval(sampler);
    const cpu1 = processCpuUs(hub.pid) ?? Number.NaN;
    const io1 = writeBytesOf(hub.pid);
    const ev = events.since(ev0);
    const loop = await probe.read();
    const fs = await fleet.status();
    events.onShedEvent = undefined;
    const answered = fs.commands.shed + fs.commands.rejected + fs.commands.repeated;
    const shed: ShedFigures = {
      allFinalSeconds: finalAt === undefined ? Number.NaN : (finalAt - start) / 1000,
      apiAnswerSeconds: ans ? (ans.at - start) / 1000 : Number.NaN,
      finalSeenOn,
      outcomes: lastCounts.total,
      states: lastCounts.states,
      timedOut: lastCounts.states['timed-out'] ?? 0,
      hubCpuUsPerGateway: (cpu1 - cpu0) / gateways,
      machineCores: finalAt === undefined ? Number.NaN : (finalBusyUs - busy0) / 1000 / (finalAt - start),
      hubCores: finalAt === undefined ? Number.NaN : (finalCpu.hub - cpu0) / 1000 / (finalAt - start),
      fleetCores: finalAt === undefined ? Number.NaN : (finalCpu.fleet - fleetCpu0) / 1000 / (finalAt - start),
      rssIdleBytes,
      rssPeakBytes,
      rssPeakOverIdle: rssPeakBytes / rssIdleBytes,
      writeBytes: io1 - io0,
      eventBytes: ev.bytes,
      eventBytesPerGateway: ev.bytes / gateways,
      eventsByType: ev.byType,
      loopStallMaxMs: loop.maxMs,
      loopStallP99Ms: loop.p99Ms,
      gcMaxMs: loop.gcMaxMs,
      gcMaxKind: loop.gcMaxKind,
      gcMs: loop.gcMs,
      ackP50Ms: fs.ackLatency.p50,
      ackP99Ms: fs.ackLatency.p99,
      acked: fs.acked,
      disconnects: fs.disconnects,
      commandsAnswered: answered,
      httpStatus: ans?.status ?? 0,
    };
    void endAt;
    log(
      `  shed: all final ${fmt(shed.allFinalSeconds, 3)} s (${finalSeenOn}), API answer ${fmt(shed.apiAnswerSeconds, 3)} s; ${JSON.stringify(shed.states)}; ` +
        `hub ${fmt(shed.hubCpuUsPerGateway / 1000, 2)} ms CPU/gateway, machine ${fmt(shed.machineCores ?? Number.NaN, 2)} cores busy (hub ${fmt(shed.hubCores ?? Number.NaN, 2)}, gateways ${fmt(shed.fleetCores ?? Number.NaN, 2)}), RSS ${fmt(rssIdleBytes / 1048576)} → ${fmt(rssPeakBytes / 1048576)} MiB, ` +
        `stream ${fmt(shed.eventBytesPerGateway)} B/gateway, loop stall max ${fmt(shed.loopStallMaxMs)} p99 ${fmt(shed.loopStallP99Ms)} ms${gcNote(loop)}, ` +
        `ack p99 ${fmt(shed.ackP99Ms)} ms, disconnects ${shed.disconnects}${events.closed ? `, stream closed ${events.closed}` : ''}`,
    );
    const eventId = ans?.status === 200 ? ((JSON.parse(ans.text) as { result: { id: string } }).result.id) : '';
    const operations = await otherOperations(apiBase, token, probe, eventId, o);
    const cancelMidShed = await cancelWhileGoingOut(apiBase, token, probe, fleet, o);
    return { gateways, telemetry, connectSeconds, rssEmptyBytes, steady, shed, operations, cancelMidShed, othersCores: others.cores() };
  } finally {
    events?.ws.terminate();
    await fleet?.stop();
    await procs.cleanup();
  }
}

/** Command states in an answer: a ShedEventRecord's outcomes, a BulkCommandResult's counts or a CommandRecord list. */
function answerStates(result: unknown): Record<string, number> {
  const states: Record<string, number> = {};
  const list = Array.isArray(result)
    ? (result as { state: string }[])
    : result && typeof result === 'object' && Array.isArray((result as { outcomes?: unknown }).outcomes)
      ? (result as { outcomes: { state: string }[] }).outcomes
      : undefined;
  if (list) for (const x of list) states[x.state] = (states[x.state] ?? 0) + 1;
  else if (result && typeof result === 'object' && 'counts' in result) Object.assign(states, (result as { counts: Record<string, number> }).counts);
  return states;
}

/** Preview, cancel, a fleet-wide `read` (commandMany) and restore all, one after the other, each timed to its answer. */
async function otherOperations(apiBase: string, token: string, probe: LoopProbe, eventId: string, o: FleetShedOptions): Promise<RunFigures['operations']> {
  const bodies: Record<(typeof OPERATIONS)[number], unknown> = {
    previewShed: fleetShed(o),
    cancelShed: { eventId },
    commandMany: { scope: { kind: 'fleet' }, op: 'read' },
    restoreAll: {},
  };
  const out = {} as RunFigures['operations'];
  for (const op of OPERATIONS) {
    await probe.read(); // starts the stall figures afresh
    const start = performance.now();
    const r = await post(new URL(`api/v1/${op}`, apiBase), token, bodies[op]);
    const seconds = (performance.now() - start) / 1000;
    const loop = await probe.read();
    const states = r.status === 200 ? answerStates((JSON.parse(r.text) as { result: unknown }).result) : {};
    out[op] = { seconds, httpStatus: r.status, states, loopStallMaxMs: loop.maxMs, gcMaxMs: loop.gcMaxMs, gcMaxKind: loop.gcMaxKind, gcMs: loop.gcMs };
    log(`  ${op}: answered in ${fmt(seconds, 3)} s (HTTP ${r.status}) ${JSON.stringify(states)}, loop stall max ${fmt(loop.maxMs)} ms${gcNote(loop)}`);
    if (r.status !== 200) log(`    ${r.text.slice(0, 300)}`);
    await sleep(1000);
  }
  return out;
}

/**
 * A fleet-wide shed cancelled while its commands are still going out: cancelShed is sent as soon as
 * `shedEvents` shows the active event's first commands sent or confirmed, and timed to its answer.
 * What the operator needs to hold: every shed a gateway executed is followed by its restore (the
 * simulated gateways count both), and the gateways not reached are cancelled, never shed.
 */
async function cancelWhileGoingOut(apiBase: string, token: string, probe: LoopProbe, fleet: SimulatedFleet, o: FleetShedOptions): Promise<MidCancelFigures> {
  const api = async <T>(method: string, body: unknown): Promise<{ status: number; result: T | undefined; text: string }> => {
    const r = await post(new URL(`api/v1/${method}`, apiBase), token, body);
    return { status: r.status, result: r.status === 200 ? (JSON.parse(r.text) as { result: T }).result : undefined, text: r.text };
  };
  await fleet.mark();
  await probe.read();
  let answered = false;
  const shed = api<Record<string, unknown>>('startShed', { ...fleetShed(o), note: 'bench:fleet-shed cancelled while going out' }).finally(
    () => (answered = true),
  );
  let eventId: string | undefined;
  const until = performance.now() + o.shedTimeoutSeconds * 1000;
  // Until the shed's answer at the latest (an event whose commands all failed shows none sent or confirmed).
  while (eventId === undefined && !answered && performance.now() < until) {
    const [event] = (await api<Array<{ id: string; counts: Record<string, number> }>>('shedEvents', { activeOnly: true })).result ?? [];
    if (event && (event.counts.sent ?? 0) + (event.counts.confirmed ?? 0) > 0) eventId = event.id;
    else await sleep(2);
  }
  const start = performance.now();
  const cancel = await api<unknown>('cancelShed', { eventId: eventId ?? '' });
  const seconds = (performance.now() - start) / 1000;
  const started = await shed;
  const loop = await probe.read();
  await sleep(1000); // restores to gateways whose shed was answered after the cancel
  const fs = await fleet.status();
  const figures: MidCancelFigures = {
    seconds,
    httpStatus: cancel.status,
    states: started.result ? answerStates(started.result) : {},
    shedsExecuted: fs.commands.shed,
    restoresExecuted: fs.commands.restore,
    loopStallMaxMs: loop.maxMs,
    gcMaxMs: loop.gcMaxMs,
    gcMaxKind: loop.gcMaxKind,
  };
  log(
    `  cancel while going out: answered in ${fmt(seconds, 3)} s (HTTP ${cancel.status}); outcomes ${JSON.stringify(figures.states)}; ` +
      `the gateways executed ${figures.shedsExecuted} sheds and ${figures.restoresExecuted} restores; loop stall max ${fmt(loop.maxMs)} ms${gcNote(loop)}`,
  );
  if (cancel.status !== 200) log(`    ${cancel.text.slice(0, 300)}`);
  return figures;
}

// --- the benchmark -------------------------------------------------------------------------------------

export interface FleetShedReport {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  options: FleetShedOptions;
  runs: RunFigures[];
}

async function loadPki(gateways: number): Promise<BenchPki> {
  // 20,000 certificates take a minute: kept between runs of the benchmark in the temp directory.
  const cache = join(tmpdir(), `lmgw-bench-fleet-shed-pki.json`);
  if (existsSync(cache)) {
    const pki = JSON.parse(readFileSync(cache, 'utf8')) as BenchPki;
    if (pki.gateways.length >= gateways) return pki;
  }
  const t0 = performance.now();
  const pki = await makeBenchPki(gateways);
  writeFileSync(cache, JSON.stringify(pki), { mode: 0o600 });
  log(`${gateways} gateway certificates made in ${((performance.now() - t0) / 1000).toFixed(1)} s (kept in ${cache})`);
  return pki;
}

export async function runFleetShed(o: FleetShedOptions): Promise<FleetShedReport> {
  const max = Math.max(...o.gateways);
  const pki = await loadPki(max);
  const procs = new Processes(log);
  const pkiDir = procs.tempDir('lmgw-bench-fleet-shed-pki-');
  writeFileSync(join(pkiDir, 'ca.pem'), pki.caPem);
  writeFileSync(join(pkiDir, 'crl.pem'), pki.crlPem);
  const runs: RunFigures[] = [];
  try {
    for (const gateways of o.gateways) {
      for (let run = 1; run <= o.runs; run++) {
        log(`fleet shed: ${gateways} gateways, run ${run} of ${o.runs}`);
        const fl = await floor(pki, pkiDir, gateways, o);
        const hub = await hubRun(pki, pkiDir, gateways, o);
        runs.push({ run, floor: fl, floorRatio: hub.shed.allFinalSeconds / fl.seconds, ...hub });
      }
    }
  } finally {
    await procs.cleanup();
  }
  return { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, options: o, runs };
}

// --- the report ----------------------------------------------------------------------------------------

interface Row {
  figure: string;
  value: string;
  target: string;
  verdict: string;
}

export function summarise(r: FleetShedReport): { rows: Map<number, Row[]>; missed: string[] } {
  const rows = new Map<number, Row[]>();
  const missed: string[] = [];
  const byN = new Map<number, RunFigures[]>();
  for (const run of r.runs) byN.set(run.gateways, [...(byN.get(run.gateways) ?? []), run]);
  const med = (runs: RunFigures[], f: (x: RunFigures) => number): number => median(runs.map(f));
  const judge = (n: number, out: Row[], figure: string, value: number, digits: number, unit: string, target: number | undefined, extra = ''): void => {
    const ok = target === undefined ? undefined : Number.isFinite(value) && value <= target;
    if (ok === false) missed.push(`${n}: ${figure}`);
    out.push({ figure, value: `${fmt(value, digits)}${unit}${extra}`, target: target === undefined ? '—' : `≤ ${target}${unit}`, verdict: ok === undefined ? '—' : ok ? 'met' : '**missed**' });
  };
  const secondsAt = new Map<number, number>();
  for (const [n, runs] of [...byN].sort((a, b) => a[0] - b[0])) {
    const out: Row[] = [];
    const finalS = med(runs, (x) => x.shed.allFinalSeconds);
    secondsAt.set(n, finalS);
    const floorS = med(runs, (x) => x.floor.seconds);
    judge(n, out, 'shed: API call → all final', finalS, 3, ' s', n === 2000 ? TARGETS.seconds2000 : n >= LARGE ? TARGETS.seconds20000 : undefined, ` (runs: ${runs.map((x) => fmt(x.shed.allFinalSeconds, 2)).join(', ')})`);
    judge(n, out, 'floor: link server alone, same N commands', floorS, 3, ' s', undefined);
    judge(n, out, 'all final / floor', med(runs, (x) => x.floorRatio), 2, '×', TARGETS.floorRatio);
    judge(n, out, 'shed: API call → API answer', med(runs, (x) => x.shed.apiAnswerSeconds), 3, ' s', undefined);
    judge(n, out, 'shed: hub CPU per gateway', med(runs, (x) => x.shed.hubCpuUsPerGateway / 1000), 3, ' ms', undefined);
    judge(n, out, `shed / floor: cores of the machine busy (of ${cpus().length})`, med(runs, (x) => x.shed.machineCores ?? Number.NaN), 2, '', undefined, ` / ${fmt(med(runs, (x) => x.floor.machineCores ?? Number.NaN), 2)}`);
    judge(n, out, 'shed / floor: cores of the hub / of the link server', med(runs, (x) => x.shed.hubCores ?? Number.NaN), 2, '', undefined, ` / ${fmt(med(runs, (x) => x.floor.serverCores ?? Number.NaN), 2)}`);
    judge(n, out, 'shed / floor: cores of the simulated gateways', med(runs, (x) => x.shed.fleetCores ?? Number.NaN), 2, '', undefined, ` / ${fmt(med(runs, (x) => x.floor.fleetCores ?? Number.NaN), 2)}`);
    judge(n, out, 'shed: hub peak RSS / RSS before', med(runs, (x) => x.shed.rssPeakOverIdle), 2, '×', TARGETS.rssPeakOverIdle, ` (${fmt(med(runs, (x) => x.shed.rssIdleBytes / 1048576))} → ${fmt(med(runs, (x) => x.shed.rssPeakBytes / 1048576))} MiB)`);
    judge(n, out, 'shed: bytes written by the hub', med(runs, (x) => x.shed.writeBytes / 1048576), 2, ' MiB', undefined);
    judge(n, out, 'shed: event-stream bytes per gateway', med(runs, (x) => x.shed.eventBytesPerGateway), 0, ' B', TARGETS.eventBytesPerGateway);
    judge(n, out, 'shed: hub event-loop stall max', med(runs, (x) => x.shed.loopStallMaxMs), 1, ' ms', TARGETS.loopStallMaxMs);
    judge(n, out, 'shed: hub event-loop stall p99', med(runs, (x) => x.shed.loopStallP99Ms), 1, ' ms', undefined);
    judge(n, out, 'shed: longest GC pause of the hub', med(runs, (x) => x.shed.gcMaxMs), 1, ' ms', undefined);
    judge(n, out, 'shed: telemetry ack p50', med(runs, (x) => x.shed.ackP50Ms), 1, ' ms', undefined);
    judge(n, out, 'shed: telemetry ack p99', med(runs, (x) => x.shed.ackP99Ms), 1, ' ms', TARGETS.ackP99DuringMs);
    judge(n, out, 'shed: gateways disconnected (max of runs)', Math.max(...runs.map((x) => x.shed.disconnects)), 0, '', TARGETS.disconnected);
    judge(n, out, 'shed: commands timed out (max of runs)', Math.max(...runs.map((x) => x.shed.timedOut)), 0, '', TARGETS.timedOut);
    for (const op of OPERATIONS) {
      const ops = runs.map((x) => x.operations?.[op]).filter((x): x is OperationFigures => x !== undefined);
      if (ops.length === 0) continue;
      const states = ops[ops.length - 1]?.states ?? {};
      judge(n, out, `${op}: API call → answer${Object.keys(states).length > 0 ? ` (${Object.entries(states).map(([k, v]) => `${v} ${k}`).join(', ')})` : ''}`, median(ops.map((x) => (x.httpStatus === 200 ? x.seconds : Number.NaN))), 3, ' s', undefined);
      judge(n, out, `${op}: hub event-loop stall max`, median(ops.map((x) => x.loopStallMaxMs)), 1, ' ms', TARGETS.loopStallMaxMs);
      judge(n, out, `${op}: longest GC pause of the hub`, median(ops.map((x) => x.gcMaxMs)), 1, ' ms', undefined);
    }
    const mids = runs.map((x) => x.cancelMidShed).filter((x): x is MidCancelFigures => x !== undefined);
    if (mids.length > 0) {
      const last = mids[mids.length - 1];
      const states = last ? ` (last run: ${Object.entries(last.states).map(([k, v]) => `${v} ${k}`).join(', ')})` : '';
      judge(n, out, `cancel while going out: API call → answer${states}`, median(mids.map((x) => (x.httpStatus === 200 ? x.seconds : Number.NaN))), 3, ' s', undefined);
      judge(n, out, 'cancel while going out: sheds executed without their restore (max of runs)', Math.max(...mids.map((x) => x.shedsExecuted - x.restoresExecuted)), 0, '', 0);
      judge(n, out, 'cancel while going out: hub event-loop stall max', median(mids.map((x) => x.loopStallMaxMs)), 1, ' ms', TARGETS.loopStallMaxMs);
    }
    judge(n, out, 'steady: hub CPU per telemetry sample', med(runs, (x) => x.steady.hubCpuUsPerSample), 1, ' µs', n === 2000 ? TARGETS.cpuUsPerSample : undefined);
    judge(n, out, 'steady floor: link server alone, CPU per sample (acked, no store)', med(runs, (x) => x.floor.steadyCpuUsPerSample), 1, ' µs', undefined);
    judge(n, out, 'steady: hub ÷ floor, CPU per sample', med(runs, (x) => x.steady.hubCpuUsPerSample / x.floor.steadyCpuUsPerSample), 2, '×', undefined);
    judge(n, out, 'steady: disk writes / database growth', med(runs, (x) => x.steady.writesOverGrowth), 2, '×', n === 2000 ? TARGETS.writesOverGrowth : undefined);
    judge(n, out, 'steady: database growth per sample', med(runs, (x) => x.steady.bytesStoredPerSample), 1, ' B', TARGETS.bytesPerSample);
    judge(n, out, 'steady: telemetry ack p99', med(runs, (x) => x.steady.ackP99Ms), 1, ' ms', n === 2000 ? TARGETS.steadyAckP99Ms : undefined);
    judge(n, out, 'steady: event-stream bytes per second', med(runs, (x) => x.steady.eventBytesPerSecond / 1000), 2, ' KB/s', n >= LARGE ? TARGETS.eventBytesPerSecond / 1000 : undefined);
    rows.set(n, out);
  }
  const s2 = secondsAt.get(2000);
  const large = [...secondsAt.keys()].filter((n) => n >= LARGE).sort((a, b) => b - a)[0];
  const s20 = large === undefined ? undefined : secondsAt.get(large);
  if (large !== undefined && s2 !== undefined && s20 !== undefined) {
    const out = rows.get(large) ?? [];
    // Scaled to 20,000 when the fleet was capped below it (19,900): linear growth is what is judged.
    const growth = (s20 / s2) * (20_000 / large);
    judge(large, out, `growth 2,000 → 20,000 (all final${large !== 20_000 ? `, ${large.toLocaleString('en')} scaled linearly` : ''})`, growth, 2, '×', TARGETS.growth);
  }
  return { rows, missed };
}

export function formatReport(r: FleetShedReport): string {
  const { rows, missed } = summarise(r);
  const lines = [`Fleet-wide shed, ${r.date}, Node ${r.node}, ${r.cores} × ${r.cpu}; medians of ${r.options.runs} run(s)`, ''];
  for (const [n, out] of rows) {
    const runs = r.runs.filter((x) => x.gateways === n);
    lines.push(`### ${n.toLocaleString('en')} gateways (telemetry every ${runs[0]?.telemetry.batchSeconds ?? '?'} s; other load ${runs.map((x) => fmt(x.othersCores, 2)).join(', ')} cores)`, '');
    lines.push('| figure | median | target | verdict |', '|---|---:|---|---|');
    for (const row of out) lines.push(`| ${row.figure} | ${row.value} | ${row.target} | ${row.verdict} |`);
    lines.push('');
  }
  lines.push(missed.length === 0 ? 'Every target met.' : `Missed: ${missed.join('; ')}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      gateways: { type: 'string' },
      runs: { type: 'string' },
      'steady-seconds': { type: 'string' },
      'batch-from': { type: 'string' },
      'shed-timeout': { type: 'string' },
      'max-priority': { type: 'string' },
      quick: { type: 'boolean' },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
      turns: { type: 'string' },
      'hub-node-args': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      'npm run bench:fleet-shed [-- --gateways 500,2000,5000,20000 --runs 3 --steady-seconds 20 --batch-from 19000 --shed-timeout 600 --max-priority 2 --json FILE --cpu-prof DIR --turns FILE --hub-node-args="ARGS" | --quick]\n',
    );
    return;
  }
  const num = (v: string | undefined, d: number): number => (v === undefined ? d : Number(v));
  const o: FleetShedOptions = {
    gateways: (values.gateways ?? (values.quick ? '100' : '500,2000,5000,20000')).split(',').map(Number),
    runs: num(values.runs, values.quick ? 1 : 3),
    steadySeconds: num(values['steady-seconds'], values.quick ? 5 : 20),
    batchFrom: num(values['batch-from'], LARGE),
    shedTimeoutSeconds: num(values['shed-timeout'], 600),
    maxPriority: num(values['max-priority'], 2),
    ...(values['cpu-prof'] === undefined ? {} : { cpuProfDir: values['cpu-prof'] }),
    ...(values.turns === undefined ? {} : { turnsFile: values.turns }),
    ...(values['hub-node-args'] === undefined ? {} : { hubNodeArgs: values['hub-node-args'].split(/\s+/).filter(Boolean) }),
  };
  if (o.gateways.some((n) => !Number.isInteger(n) || n < 1) || !(o.runs >= 1)) throw new Error('--gateways takes whole numbers ≥ 1, --runs ≥ 1');
  // One process holds at most `ulimit -n` sockets: the hub cannot hold 20,000 gateways under a limit of 20,000.
  const fdLimit = openFileLimit();
  if (fdLimit !== undefined) {
    o.gateways = o.gateways.map((n) => {
      if (n <= fdLimit - HUB_FD_RESERVE) return n;
      log(`${n} gateways need more than the hub's open-file limit (${fdLimit}) allows: measuring ${fdLimit - HUB_FD_RESERVE}`);
      return fdLimit - HUB_FD_RESERVE;
    });
  }
  const report = await runFleetShed(o);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${formatReport(report)}\n`);
  if (values.json) process.stdout.write(`\nJSON: ${values.json}\n`);
  if (summarise(report).missed.length > 0) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:fleet-shed failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  });
}
