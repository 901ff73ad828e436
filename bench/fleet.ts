/**
 * The fleet benchmark (issue "Proof"): link.ts's simulated gateways — each a real TLS + WebSocket
 * client with its own certificate, answering commands like an agent with an instant LM — against the
 * real hub and, in the same run, the bare `https` + `ws` echo with the same TLS (the floor), in
 * four scenarios:
 *
 * - steady: 4 command/result exchanges per second per gateway at 500, 2,000 and 5,000 gateways
 *   (link.ts's measurePeer: p50/p95/p99, server CPU per exchange, RSS per connection, bytes);
 * - max-rate: one fleet per server at 4/s per gateway, grown until a step loses answers or its p99
 *   passes 100 ms; the highest clean step is the sustainable rate;
 * - idle: a large fleet connected and idle, the server's RSS per connection (each after a full GC);
 * - storm: the hub is killed (SIGKILL) under a connected fleet and started again on the same port;
 *   the gateways come back with the agent's own back-off (full jitter) and a full handshake each
 *   (no TLS resumption); reported: the time until all are back, and how the returns spread.
 *
 * The simulated gateways of idle and storm live in worker processes (fleet-worker.ts): a process
 * may hold only `ulimit -n` sockets (20,000 here, and not raisable in this container).
 *
 * Run: npm run bench:fleet [-- --scenarios steady,max-rate,idle,storm --steady 500,2000,5000
 *        --rate-fleets 2000,4000,…,14000 --idle 19900 --storm 10000 --seconds 20 --json FILE]
 * Targets (issue "Proof"): p99 ≤ 25 ms at 2,000 × 4/s; hub CPU per exchange ≤ 1.3× the echo;
 * sustainable rate ≥ 0.9× the echo's; 20,000 held at ≤ 1.15× the echo's RSS per connection;
 * 10,000 back within 30 s of a hub restart.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { closeFleet, connectFleet, HubProcess, machineBusyUs, measurePeer, newFleet, openFileLimit, sleep, type PeerResult } from './link.js';
import type { HubMode, MemorySample, WindowReport } from './link-hub.js';
import type { FromWorker, ToWorker } from './fleet-worker.js';
import { IpcChild } from './ipc-child.js';
import { makeBenchPki, type BenchPki } from './link-pki.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./fleet-worker.js', import.meta.url));
const MODES: readonly HubMode[] = ['hub', 'bare'];
const log = (line: string): void => void process.stderr.write(`${line}\n`);
/** Sockets a process needs besides the gateways' (stdio, IPC, epoll, listeners, files). */
const FD_RESERVE = 64;

export interface SteadyResult {
  gateways: number;
  hub: PeerResult;
  bare: PeerResult;
}

export interface RateStep {
  gateways: number;
  ratePerGateway: number;
  target: number;
  exchangesPerSecond: number;
  rttMs: WindowReport['rttMs'];
  cpuUsPerExchange: number;
  lost: number;
  clean: boolean;
}

export interface MaxRateResult {
  mode: HubMode;
  steps: RateStep[];
  /** Exchanges/s of the highest clean step (0 when none was clean). */
  sustainable: number;
}

export interface IdleResult {
  mode: HubMode;
  gateways: number;
  connectSeconds: number;
  rssBytesPerConnection: number;
  heapBytesPerConnection: number;
  memory: { before: MemorySample; idle: MemorySample };
}

export interface StormResult {
  gateways: number;
  /** The first connection of the whole fleet, 64 handshakes at a time: the hub's handshake rate without a storm. */
  connectSeconds: number;
  /** From the kill until every gateway had a session again. */
  allBackSeconds: number;
  /** From the new hub listening until every gateway was back. */
  afterListeningSeconds: number;
  restartSeconds: number;
  /** Seconds (from the kill) at which 50 %, 90 %, 99 % were back. */
  backAt: { p50: number; p90: number; p99: number };
  /** Gateways back in each second after the kill: the spread that full jitter gives. */
  perSecond: number[];
  /** Connection attempts (refused ones included) during the storm. */
  attempts: number;
  /** The new hub's CPU from its start until all were back, per gateway: what one reconnection costs the hub. */
  hubCpuMsPerReconnect: number;
  /** The gateway workers' CPU over the same time, per gateway (the simulated agents' side of the handshakes and the refused attempts). */
  clientCpuMsPerReconnect: number;
}

/** A share of the simulated gateways in a process of its own (fleet-worker.ts). */
type WorkerProcess = IpcChild<ToWorker, FromWorker>;
function startWorker(): WorkerProcess {
  // LMGW_BENCH_WORKER_NODE_ARGS: Node flags for the gateway workers, for diagnosis (e.g. --cpu-prof).
  const execArgv = (process.env.LMGW_BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  return IpcChild.start<ToWorker, FromWorker>(WORKER_SCRIPT, 'gateway worker', execArgv);
}

function startMessage(mode: HubMode, pki: BenchPki, crlPath: string, extra: { port?: number; maxConnections?: number } = {}) {
  return { type: 'start' as const, mode, caPem: pki.caPem, certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, crlPath, crlPem: pki.crlPem, ...extra };
}

/**
 * Splits `gateways` over worker processes: as many as the open-file limit needs, and at least two, so
 * the client side of thousands of TLS handshakes (each gateway signs its CertificateVerify) can use
 * both cores while the server waits on it.
 */
function shares(gateways: number): { from: number; to: number }[] {
  const perWorker = Math.max(1, (openFileLimit() ?? 20_000) - FD_RESERVE);
  const count = Math.min(gateways, Math.max(2, Math.ceil(gateways / perWorker)));
  const size = Math.ceil(gateways / count);
  return Array.from({ length: count }, (_, i) => ({ from: i * size, to: Math.min(gateways, (i + 1) * size) }));
}

// --- scenarios ------------------------------------------------------------------------------------

async function steady(pki: BenchPki, crlPath: string, sizes: readonly number[], seconds: number, warmup: number): Promise<SteadyResult[]> {
  const out: SteadyResult[] = [];
  for (const gateways of sizes) {
    log(`steady: ${gateways} gateways × 4/s`);
    const measured = new Map<HubMode, PeerResult>();
    for (const mode of MODES) measured.set(mode, await measurePeer(mode, pki, crlPath, { gateways, seconds, rate: 4, warmup, runs: 1, log }));
    const hub = measured.get('hub');
    const bare = measured.get('bare');
    if (hub && bare) out.push({ gateways, hub, bare });
  }
  return out;
}

/**
 * One fleet per server, grown step by step (each gateway at 4 exchanges/s, as in the field) until a
 * step loses answers, falls behind its rate or passes p99 100 ms. Growing the fleet rather than each
 * gateway's rate keeps every gateway within the hub's per-connection message limit and keeps a
 * gateway's next command from overtaking its previous answer.
 */
async function maxRate(pki: BenchPki, crlPath: string, sizes: readonly number[], seconds: number): Promise<MaxRateResult[]> {
  const out: MaxRateResult[] = [];
  const rate = 4;
  for (const mode of MODES) {
    log(`max-rate: ${mode}, fleets of ${sizes.join(', ')} gateways × ${rate}/s`);
    const server = HubProcess.start(undefined);
    const fleet = newFleet();
    const steps: RateStep[] = [];
    try {
      const { port } = await server.call(startMessage(mode, pki, crlPath, { maxConnections: Math.max(...sizes) + 100 }), 'listening');
      let connected = 0;
      for (const gateways of sizes) {
        await server.call({ type: 'load', rate: 0 }, 'load-started');
        await connectFleet(fleet, port, pki, pki.gateways.slice(connected, gateways), mode);
        connected = gateways;
        await server.call({ type: 'load', rate }, 'load-started');
        await sleep(3000);
        await server.call({ type: 'window-start' }, 'window-started');
        await sleep(seconds * 1000);
        const { report } = await server.call({ type: 'window-end' }, 'window');
        const target = gateways * rate;
        const exchangesPerSecond = report.exchanges / report.seconds;
        // Commands sent in the window and never answered, less those still in flight at its end.
        const lost = Math.max(0, report.sent - report.exchanges - Math.ceil((target * report.rttMs.max) / 1000));
        const clean = lost === 0 && report.strays === 0 && report.rttMs.p99 <= 100 && exchangesPerSecond >= 0.97 * target && fleet.counters.closedEarly === 0;
        const cpu = (report.cpuUserUs + report.cpuSystemUs) / Math.max(1, report.exchanges);
        steps.push({ gateways, ratePerGateway: rate, target, exchangesPerSecond, rttMs: report.rttMs, cpuUsPerExchange: cpu, lost, clean });
        log(`  ${mode} ${gateways} × ${rate}/s: ${Math.round(exchangesPerSecond)} of ${target} exchanges/s, p99 ${report.rttMs.p99.toFixed(1)} ms, ${cpu.toFixed(1)} µs CPU/exchange, lost ${lost} — ${clean ? 'clean' : 'NOT sustained'}`);
        if (!clean) break;
      }
    } finally {
      await server.call({ type: 'load', rate: 0 }, 'load-started').catch(() => undefined);
      await closeFleet(fleet);
      await server.stop();
    }
    const best = steps.filter((s) => s.clean).at(-1);
    out.push({ mode, steps, sustainable: best?.exchangesPerSecond ?? 0 });
  }
  return out;
}

async function idle(pki: BenchPki, pkiFile: string, crlPath: string, gateways: number): Promise<IdleResult[]> {
  const out: IdleResult[] = [];
  for (const mode of MODES) {
    log(`idle: ${mode}, ${gateways} gateways connected and idle`);
    const server = HubProcess.start(undefined);
    const workers = shares(gateways).map((share) => ({ share, worker: startWorker() }));
    try {
      const { port } = await server.call(startMessage(mode, pki, crlPath, { maxConnections: gateways + 100 }), 'listening');
      const before = (await server.call({ type: 'sample' }, 'sample')).memory;
      const t0 = performance.now();
      await Promise.all(workers.map(({ share, worker }) => worker.call({ type: 'connect', port, mode, pkiFile, from: share.from, to: share.to, reconnect: false }, 'connected')));
      const connectSeconds = (performance.now() - t0) / 1000;
      await sleep(2000);
      const idleMemory = (await server.call({ type: 'sample' }, 'sample')).memory;
      if (idleMemory.connected !== gateways) throw new Error(`${mode}: ${idleMemory.connected} of ${gateways} connected`);
      const result: IdleResult = {
        mode,
        gateways,
        connectSeconds,
        rssBytesPerConnection: (idleMemory.rss - before.rss) / gateways,
        heapBytesPerConnection: (idleMemory.heapUsed - before.heapUsed) / gateways,
        memory: { before, idle: idleMemory },
      };
      log(`  ${mode}: connected in ${connectSeconds.toFixed(1)} s; RSS ${(before.rss / 1048576).toFixed(1)} → ${(idleMemory.rss / 1048576).toFixed(1)} MiB = ${(result.rssBytesPerConnection / 1024).toFixed(1)} KiB/connection`);
      out.push(result);
    } finally {
      await Promise.all(workers.map(({ worker }) => worker.stop()));
      await server.stop();
    }
  }
  return out;
}

async function storm(pki: BenchPki, pkiFile: string, crlPath: string, gateways: number, limitSeconds: number): Promise<StormResult> {
  log(`storm: ${gateways} gateways, the hub killed and restarted`);
  let server = HubProcess.start(undefined);
  const workers = shares(gateways).map((share) => ({ share, worker: startWorker() }));
  try {
    const { port } = await server.call(startMessage('hub', pki, crlPath, { maxConnections: gateways + 100 }), 'listening');
    const t0 = performance.now();
    await Promise.all(workers.map(({ share, worker }) => worker.call({ type: 'connect', port, mode: 'hub', pkiFile, from: share.from, to: share.to, reconnect: true }, 'connected')));
    const connectSeconds = (performance.now() - t0) / 1000;
    log(`  all ${gateways} connected in ${connectSeconds.toFixed(1)} s (64 handshakes at a time); killing the hub`);
    const atKill = await Promise.all(workers.map(({ worker }) => worker.call({ type: 'status' }, 'status')));
    const clientCpuAtKill = atKill.reduce((sum, s) => sum + s.cpuUs, 0);
    for (const { worker } of workers) worker.tell({ type: 'mark' });
    const killedAt = performance.now();
    await server.kill();
    server = HubProcess.start(undefined);
    await server.call(startMessage('hub', pki, crlPath, { port, maxConnections: gateways + 100 }), 'listening');
    const listeningAt = performance.now();
    log(`  the new hub listens after ${((listeningAt - killedAt) / 1000).toFixed(2)} s`);
    let back = 0;
    let hubCpuUs = 0;
    while (back < gateways) {
      if (performance.now() - killedAt > limitSeconds * 1000) throw new Error(`only ${back} of ${gateways} back after ${limitSeconds} s`);
      await sleep(200);
      ({ connected: back, cpuUs: hubCpuUs } = await server.call({ type: 'count' }, 'count'));
    }
    const allBackAt = performance.now();
    const statuses = await Promise.all(workers.map(({ worker }) => worker.call({ type: 'status' }, 'status')));
    const clientCpuUs = statuses.reduce((sum, s) => sum + s.cpuUs, 0) - clientCpuAtKill;
    // Worker clocks are relative to their own mark, sent with the kill (within a millisecond of it).
    const times = statuses.flatMap((s) => s.backAt).map((ms) => ms / 1000).sort((a, b) => a - b);
    const at = (p: number): number => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)] ?? Number.NaN;
    const perSecond: number[] = [];
    for (const t of times) perSecond[Math.floor(t)] = (perSecond[Math.floor(t)] ?? 0) + 1;
    const result: StormResult = {
      gateways,
      connectSeconds,
      allBackSeconds: (allBackAt - killedAt) / 1000,
      afterListeningSeconds: (allBackAt - listeningAt) / 1000,
      restartSeconds: (listeningAt - killedAt) / 1000,
      backAt: { p50: at(0.5), p90: at(0.9), p99: at(0.99) },
      perSecond: Array.from(perSecond, (n) => n ?? 0),
      attempts: statuses.reduce((sum, s) => sum + s.attempts, 0),
      hubCpuMsPerReconnect: hubCpuUs / 1000 / gateways,
      clientCpuMsPerReconnect: clientCpuUs / 1000 / gateways,
    };
    log(`  all back ${result.allBackSeconds.toFixed(1)} s after the kill (${result.afterListeningSeconds.toFixed(1)} s after the new hub listened); ${result.attempts} attempts; per second: ${result.perSecond.join(' ')}`);
    return result;
  } finally {
    await Promise.all(workers.map(({ worker }) => worker.stop()));
    await server.stop();
  }
}

// --- report ---------------------------------------------------------------------------------------

export interface FleetReport {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  steady?: SteadyResult[];
  maxRate?: MaxRateResult[];
  idle?: IdleResult[];
  storm?: StormResult;
}

const f = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const kib = (bytes: number): string => f(bytes / 1024, 1);

export function formatFleetReport(r: FleetReport): string {
  const lines: string[] = [`fleet benchmark — Node ${r.node}, ${r.cores} × ${r.cpu}, ${r.date}`];
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  if (r.steady?.length) {
    lines.push(
      '',
      '### Steady, 4 exchanges/s per gateway',
      '',
      '| gateways | server | exchanges/s | p50 ms | p95 ms | p99 ms | server CPU µs/exchange | RSS KiB/connection | TCP payload B/exchange | with TCP/IP headers B/exchange | other load (cores) |',
      '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const s of r.steady) {
      for (const p of [s.hub, s.bare]) {
        lines.push(
          `| ${s.gateways.toLocaleString('en-US')} | ${p.mode} | ${Math.round(p.exchangesPerSecond).toLocaleString('en-US')} | ${f(p.rttMs.p50, 2)} | ${f(p.rttMs.p95, 2)} | ${f(p.rttMs.p99, 2)} | ` +
            `${f(p.cpuUsPerExchange)} | ${kib(p.rssBytesPerConnection)} | ${f(p.wireBytesPerExchange, 0)} | ${p.ipBytesPerExchange === undefined ? '?' : f(p.ipBytesPerExchange, 0)} | ${p.othersCores === undefined ? '?' : f(p.othersCores, 2)} |`,
        );
      }
    }
    lines.push('');
    for (const s of r.steady) {
      lines.push(`- ${s.gateways} gateways: hub/echo CPU per exchange ${f(s.hub.cpuUsPerExchange / s.bare.cpuUsPerExchange, 2)}×, RSS per connection ${f(s.hub.rssBytesPerConnection / s.bare.rssBytesPerConnection, 2)}×`);
    }
    const at2000 = r.steady.find((s) => s.gateways === 2000);
    if (at2000) {
      lines.push(`- target p99 ≤ 25 ms at 2,000 × 4/s: ${f(at2000.hub.rttMs.p99, 2)} ms — ${verdict(at2000.hub.rttMs.p99 <= 25)}`);
      const ratio = at2000.hub.cpuUsPerExchange / at2000.bare.cpuUsPerExchange;
      lines.push(`- target hub CPU per exchange ≤ 1.3× the echo (2,000 gateways): ${f(ratio, 2)}× — ${verdict(ratio <= 1.3)}`);
      const bytes = at2000.hub.wireBytesPerExchange;
      lines.push(`- target ≤ 270 bytes of TCP payload per exchange: ${f(bytes, 0)} — ${verdict(bytes <= 270)}`);
      const ip = at2000.hub.ipBytesPerExchange;
      if (ip !== undefined) {
        const kbps = (ip * 4 * 8) / 1000;
        lines.push(`- target ≤ 13 kbit/s per gateway at 4/s with TCP/IP headers: ${f(kbps, 2)} kbit/s (${f(43.39 / kbps, 1)}× below the paper's 43.39) — ${verdict(kbps <= 13)}`);
      }
    }
  }
  if (r.maxRate?.length) {
    lines.push('', '### Highest sustainable rate (no loss, p99 ≤ 100 ms)', '', '| server | gateways | per-gateway rate /s | target exchanges/s | achieved | p99 ms | CPU µs/exchange | clean |', '|---|---:|---:|---:|---:|---:|---:|---|');
    for (const m of r.maxRate) {
      for (const s of m.steps) {
        lines.push(`| ${m.mode} | ${s.gateways.toLocaleString('en-US')} | ${s.ratePerGateway} | ${s.target.toLocaleString('en-US')} | ${Math.round(s.exchangesPerSecond).toLocaleString('en-US')} | ${f(s.rttMs.p99, 1)} | ${f(s.cpuUsPerExchange)} | ${s.clean ? 'yes' : 'no'} |`);
      }
    }
    const hub = r.maxRate.find((m) => m.mode === 'hub');
    const bare = r.maxRate.find((m) => m.mode === 'bare');
    if (hub && bare) {
      const ratio = hub.sustainable / bare.sustainable;
      lines.push('', `- sustainable: hub ${Math.round(hub.sustainable).toLocaleString('en-US')}/s, echo ${Math.round(bare.sustainable).toLocaleString('en-US')}/s = ${f(ratio, 2)}× — target ≥ 0.9× ${verdict(ratio >= 0.9)}`);
    }
  }
  if (r.idle?.length) {
    lines.push('', '### Idle connections held', '', '| server | gateways | connected in s | RSS KiB/connection | heap KiB/connection |', '|---|---:|---:|---:|---:|');
    for (const i of r.idle) lines.push(`| ${i.mode} | ${i.gateways.toLocaleString('en-US')} | ${f(i.connectSeconds)} | ${kib(i.rssBytesPerConnection)} | ${kib(i.heapBytesPerConnection)} |`);
    const hub = r.idle.find((i) => i.mode === 'hub');
    const bare = r.idle.find((i) => i.mode === 'bare');
    if (hub && bare) {
      const ratio = hub.rssBytesPerConnection / bare.rssBytesPerConnection;
      lines.push('', `- hub/echo RSS per connection at ${hub.gateways.toLocaleString('en-US')}: ${f(ratio, 2)}× — target ≤ 1.15× ${verdict(ratio <= 1.15)}`);
    }
  }
  if (r.storm) {
    const s = r.storm;
    lines.push(
      '',
      '### Reconnect storm after a hub restart (kill -9, full handshakes)',
      '',
      `- ${s.gateways.toLocaleString('en-US')} gateways: all back ${f(s.allBackSeconds)} s after the kill (the new hub listened after ${f(s.restartSeconds, 2)} s; ${f(s.afterListeningSeconds)} s after that); ` +
        `50 % back at ${f(s.backAt.p50)} s, 90 % at ${f(s.backAt.p90)} s, 99 % at ${f(s.backAt.p99)} s; ${s.attempts.toLocaleString('en-US')} connection attempts`,
      `- back per second after the kill: ${s.perSecond.join(' ')}`,
      `- for comparison, the fleet's first connection (64 handshakes at a time, no storm): ${f(s.connectSeconds)} s`,
      `- CPU per gateway brought back: the hub ${f(s.hubCpuMsPerReconnect, 2)} ms (${f((s.hubCpuMsPerReconnect * s.gateways) / 1000)} s in all), the simulated agents ${f(s.clientCpuMsPerReconnect, 2)} ms (${f((s.clientCpuMsPerReconnect * s.gateways) / 1000)} s in all, refused attempts included) — on this machine both share the same cores`,
      `- target all back within 30 s: ${verdict(s.allBackSeconds <= 30)}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string', default: 'steady,max-rate,idle,storm' },
      steady: { type: 'string', default: '500,2000,5000' },
      'rate-fleets': { type: 'string', default: '2000,4000,6000,8000,10000,12000,14000' },
      idle: { type: 'string', default: '19900' },
      storm: { type: 'string', default: '10000' },
      seconds: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '5' },
      json: { type: 'string' },
    },
  });
  const list = (name: string, text: string): number[] =>
    text.split(',').map((t) => {
      const n = Number(t);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: "${t}" is not a positive whole number`);
      return n;
    });
  const scenarios = new Set(values.scenarios.split(','));
  for (const s of scenarios) if (!['steady', 'max-rate', 'idle', 'storm'].includes(s)) throw new Error(`--scenarios: unknown scenario "${s}" (steady, max-rate, idle, storm)`);
  const steadySizes = list('steady', values.steady);
  const rateFleets = list('rate-fleets', values['rate-fleets']);
  const rateGateways = Math.max(...rateFleets);
  const [idleGateways = 19_900] = list('idle', values.idle);
  const [stormGateways = 10_000] = list('storm', values.storm);
  const [seconds = 20] = list('seconds', values.seconds);
  const warmup = Number(values.warmup);
  const limit = openFileLimit();
  const inProcess = Math.max(scenarios.has('steady') ? Math.max(...steadySizes) : 0, scenarios.has('max-rate') ? rateGateways : 0);
  if (limit !== undefined && inProcess + FD_RESERVE > limit) throw new Error(`the open-file limit is ${limit}: too low for ${inProcess} gateways in one process (raise it with ulimit -n, or lower --steady / --rate-fleets)`);
  if (limit !== undefined && scenarios.has('idle') && idleGateways + FD_RESERVE > limit) {
    throw new Error(`--idle ${idleGateways}: the server holds every connection in one process, and the open-file limit is ${limit}`);
  }

  const needed = Math.max(
    scenarios.has('steady') ? Math.max(...steadySizes) : 0,
    scenarios.has('max-rate') ? rateGateways : 0,
    scenarios.has('idle') ? idleGateways : 0,
    scenarios.has('storm') ? stormGateways : 0,
  );
  const t0 = performance.now();
  const pki = await makeBenchPki(needed);
  log(`PKI: CA, server and ${needed} gateway certificates made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const dir = mkdtempSync(join(tmpdir(), 'lmgw-bench-fleet-'));
  const crlPath = join(dir, 'crl.pem');
  const pkiFile = join(dir, 'pki.json');
  writeFileSync(crlPath, pki.crlPem);
  writeFileSync(pkiFile, JSON.stringify(pki), { mode: 0o600 });
  const report: FleetReport = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown CPU', cores: cpus().length };
  const busy0 = machineBusyUs();
  try {
    if (scenarios.has('steady')) report.steady = await steady(pki, crlPath, steadySizes, seconds, warmup);
    if (scenarios.has('max-rate')) report.maxRate = await maxRate(pki, crlPath, rateFleets, Math.max(5, Math.round(seconds / 2)));
    if (scenarios.has('idle')) report.idle = await idle(pki, pkiFile, crlPath, idleGateways);
    if (scenarios.has('storm')) report.storm = await storm(pki, pkiFile, crlPath, stormGateways, 120);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const busy1 = machineBusyUs();
  console.log(formatFleetReport(report));
  if (busy0 !== undefined && busy1 !== undefined) console.log(`\n(the machine was busy ${f((busy1 - busy0) / 1e6, 0)} CPU-seconds over the whole run)`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
}


if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main().catch((err: unknown) => {
    console.error(`fleet benchmark: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  });
}
