/**
 * Benchmark of the secure link: N simulated gateways in this process, each a real TLS + WebSocket
 * client with its own certificate, exchange `rate` command/result pairs per second with a server in
 * a child process (bench/link-hub.ts), so that the server's CPU and RSS are its own. Two servers in
 * the same run, both connected at once, each with its own fleet of the same clients, taking turns
 * under the same workload (`slices` windows each, alternating), so both meet the same machine:
 *
 * - hub: the real hub (`startLinkServer`), which sends an XML shed command; the gateway answers a
 *   result with the same id; the hub decodes and validates it.
 * - bare (the floor): `https` + `ws` with the same TLS setup, sending a fixed frame of the same size
 *   and taking any frame back as the answer.
 *
 * The simulated gateway is the same for both: it cuts the id out of the command with indexOf (no XML
 * parser) and answers an 85-byte result frame built from a template.
 *
 * Run: npm run bench:link [-- --gateways 2000 --seconds 30 --rate 4 --warmup 5 --runs 5 --slices 3]
 *      (or: npx tsc -p tsconfig.json && node dist/bench/link.js …)
 *      --json FILE writes every run's figures as JSON.
 *      Diagnosis (not for the figures): --hub-prof DIR writes a V8 CPU profile of each server process;
 *      --hub-node-arg FLAG (repeatable) passes a Node flag to the server processes (--perf-basic-prof for
 *      `perf record -g -p PID`); --ping-ms MS changes the hub's ping interval.
 * Memory is sampled in the server after a full GC (--expose-gc): before the first connection, again
 * after a warm-up round (64 gateways connect and leave; the same for both servers), with N/2 and N
 * gateways connected and idle, and at the end of the measured window under load.
 * Targets (secure-link issue): 2,000 gateways × 4/s with p99 ≤ 25 ms; hub CPU per exchange ≤ 1.3× the
 * bare server's; hub RSS per connection ≤ 1.15× the bare server's.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket, type RawData } from 'ws';
import { LINK_PATH, TLS_PROFILE } from '../shared/link.js';
import { encode } from '../shared/protocol/index.js';
import type { FromHub, HubMode, MemorySample, ToHub, WindowReport } from './link-hub.js';
import { IpcChild } from './ipc-child.js';
import { makeBenchPki, type BenchGateway, type BenchPki } from './link-pki.js';
export { openFileLimit } from '../agent/sim/fleet.js';
import { openFileLimit } from '../agent/sim/fleet.js';

export interface LinkBenchOptions {
  gateways?: number;
  /** Measured seconds per server, after the warm-up. Default 30. */
  seconds?: number;
  /** Exchanges per second per gateway. Default 4. */
  rate?: number;
  /** Seconds of load before the measured window. Default 5. */
  warmup?: number;
  /**
   * Repetitions of the hub/bare pair (alternating which goes first), each with fresh server
   * processes. Default 5: the same server code measures up to 20 % apart from one process to the
   * next on this shared machine, so the median needs a few of them.
   */
  runs?: number;
  /**
   * Each run's measured seconds are split into this many windows per server, the two servers taking
   * turns (both stay connected), so both meet the same machine. Default 3.
   */
  slices?: number;
  /** Diagnosis only: the hub's ping interval (default: the hub's own, LINK_DEFAULTS.pingIntervalMs). */
  pingIntervalMs?: number;
  /** Write a V8 CPU profile of every server process here. */
  hubProfileDir?: string;
  /** Diagnosis only: extra Node flags for the server processes (e.g. --perf-basic-prof, --single-threaded-gc). */
  hubNodeArgs?: readonly string[];
  /** Progress lines (to stderr). */
  log?: (line: string) => void;
}

/** What one server measured with N gateways connected. */
export interface PeerResult {
  mode: HubMode;
  gateways: number;
  connectSeconds: number;
  /** Answers per second in the window. */
  exchangesPerSecond: number;
  rttMs: WindowReport['rttMs'];
  /** Server user+system CPU in the window / answers in the window. */
  cpuUsPerExchange: number;
  /** Server event-loop utilisation in the window. */
  elu: number;
  /** (RSS with N connected and idle − RSS before the first connection) / N, each after a full GC. */
  rssBytesPerConnection: number;
  /**
   * The same, but "before" is taken after a warm-up round (WARM_UP_CONNECTIONS gateways connect and
   * leave again), so one-off costs of the first connections (code compiled, heap and allocator
   * growth) are not charged per connection. Identical for both servers.
   */
  rssBytesPerConnectionWarm: number;
  heapBytesPerConnection: number;
  /** (RSS with N connected − RSS with N/2 connected) / (N − N/2): the cost of one more connection, without one-off costs. */
  rssBytesPerConnectionMarginal: number;
  /** The same with N connected at the end of the measured window, under load. */
  rssBytesPerConnectionLoaded: number;
  heapBytesPerConnectionLoaded: number;
  cpuUserUsPerExchange: number;
  cpuSystemUsPerExchange: number;
  /** WebSocket frames both ways (payload + header) per exchange. */
  frameBytesPerExchange: number;
  /** TCP payload both ways (TLS records: frames + TLS overhead + pings) per exchange, from the clients' sockets. */
  wireBytesPerExchange: number;
  /** TCP segments both ways per exchange (data and pure ACKs, pings included), from the machine's counters; undefined off Linux. */
  tcpSegmentsPerExchange: number | undefined;
  /** wireBytesPerExchange + TCP/IP headers of those segments: what a link would carry, Ethernet framing aside. */
  ipBytesPerExchange: number | undefined;
  /** This (client) process's CPU in the window / exchanges. */
  clientCpuUsPerExchange: number;
  overruns: number;
  strays: number;
  unexpectedFrames: number;
  closedEarly: number;
  tls: string;
  /**
   * CPU used by everything else on the machine during the window, in cores (Linux: /proc/stat busy
   * time minus this process's and the server's); undefined where /proc/stat is missing. A run with
   * more than a few percent is disturbed by other work.
   */
  othersCores: number | undefined;
}

export interface RunResult {
  run: number;
  hub: PeerResult;
  bare: PeerResult;
  cpuRatio: number;
  rssRatio: number;
  /** The same after the warm-up round (rssBytesPerConnectionWarm). */
  rssRatioWarm: number;
}

export const TARGETS = { p99Ms: 25, cpuRatio: 1.3, rssRatio: 1.15 } as const;

const HUB_SCRIPT = fileURLToPath(new URL('./link-hub.js', import.meta.url));
/** TLS handshakes in flight while connecting the fleet. */
const CONNECT_CONCURRENCY = 64;
/** Gateways that connect and leave before the second "before" sample (see rssBytesPerConnectionWarm). */
const WARM_UP_CONNECTIONS = 64;
/** WebSocket header bytes: server → client unmasked (payload < 126), client → server masked. */
const WS_HEADER_DOWN = 2;
const WS_HEADER_UP = 6;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// --- the server process ----------------------------------------------------------------------------

/** The server process of one measurement (bench/link-hub.ts). */
export type HubProcess = IpcChild<ToHub, FromHub>;
export const HubProcess = {
  start(profileDir: string | undefined, nodeArgs: readonly string[] = []): HubProcess {
    const execArgv = ['--expose-gc', ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), ...nodeArgs];
    return IpcChild.start<ToHub, FromHub>(HUB_SCRIPT, 'server process', execArgv);
  },
};

// --- the simulated gateways --------------------------------------------------------------------------

export interface Counters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  unexpected: number;
  closedEarly: number;
}

export interface Fleet {
  /** `raw` is the TCP socket under the TLS socket: its byte counts are what went over the wire. */
  clients: { ws: WebSocket; socket: TLSSocket; raw: Socket }[];
  counters: Counters;
  closing: boolean;
  /** Called when an established session closes while the fleet is not closing (the fleet benchmark's reconnecting gateways). */
  onDrop?: (gw: BenchGateway) => void;
}

/**
 * The gateway's answer: the command's id cut out with indexOf, a result frame from a template (the
 * shape `encode` writes for an ok result with measured power and three relays; the hub decodes it).
 */
function answer(fleet: Fleet, ws: WebSocket, data: RawData): void {
  const c = fleet.counters;
  const text = (data as Buffer).toString('latin1');
  c.rxFrames += 1;
  c.rxBytes += text.length;
  const at = text.indexOf(' id="');
  if (!text.startsWith('<command') || at < 0) {
    c.unexpected += 1;
    return;
  }
  const id = text.slice(at + 5, text.indexOf('"', at + 5));
  const frame = `<result v="1" id="${id}" st="ok" t="${Date.now()}" kw="12.5" relays="1:0 2:0 3:1"/>`;
  ws.send(frame);
  c.txFrames += 1;
  c.txBytes += frame.length;
}

/**
 * Each simulated gateway's TLS context (its key, certificate, our CA, TLS_PROFILE), made on its first
 * connection and kept: parsing the PEMs again for every reconnection would make this one process —
 * thousands of agents at once — the bottleneck of a reconnect storm, where each real agent pays that
 * cost once, on its own machine. The handshake itself is still full every time (no resumption).
 */
const secureContexts = new WeakMap<BenchGateway, SecureContext>();
function secureContextOf(gw: BenchGateway, opts: ConnectionOptions): SecureContext {
  let context = secureContexts.get(gw);
  if (!context) {
    context = createSecureContext(opts);
    secureContexts.set(gw, context);
  }
  return context;
}

export function connectOne(fleet: Fleet, port: number, pki: BenchPki, gw: BenchGateway, mode: HubMode): Promise<void> {
  return new Promise((resolve, reject) => {
    let raw: Socket | undefined;
    // ws's own tlsConnect, but over a TCP socket we keep: a TLSSocket counts cleartext bytes, the
    // TCP socket under it counts TLS records.
    const createConnection = (opts: ConnectionOptions & { host: string; port: number }): TLSSocket => {
      raw = netConnect(opts.port, opts.host);
      return tlsConnect({ ...opts, secureContext: secureContextOf(gw, opts), servername: isIP(opts.host) ? '' : opts.host, socket: raw });
    };
    const ws = new WebSocket(`wss://127.0.0.1:${port}${LINK_PATH}`, {
      ca: pki.caPem,
      cert: gw.certPem,
      key: gw.keyPem,
      minVersion: TLS_PROFILE.minVersion,
      maxVersion: TLS_PROFILE.maxVersion,
      ciphers: TLS_PROFILE.ciphers,
      ecdhCurve: TLS_PROFILE.ecdhCurve,
      sigalgs: TLS_PROFILE.sigalgs,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
      createConnection: createConnection as unknown as typeof netConnect,
    });
    let socket: TLSSocket | undefined;
    let ready = false;
    const done = (): void => {
      if (!socket || !raw) return reject(new Error(`${gw.id}: no socket`));
      ready = true;
      fleet.clients.push({ ws, socket, raw });
      ws.removeAllListeners('message');
      ws.on('message', (data) => answer(fleet, ws, data));
      resolve();
    };
    ws.on('upgrade', (res) => (socket = res.socket as TLSSocket));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`${gw.id}: refused with HTTP ${res.statusCode ?? '?'} ${String(res.headers['x-lmgw-refusal'] ?? '')}`)));
    ws.on('error', (err) => (ready ? undefined : reject(new Error(`${gw.id}: ${err.message}`))));
    ws.on('close', (code) => {
      if (!ready) reject(new Error(`${gw.id}: closed (${code}) before the session started`));
      else if (!fleet.closing) {
        fleet.counters.closedEarly += 1;
        const i = fleet.clients.findIndex((c) => c.ws === ws);
        if (i >= 0) fleet.clients.splice(i, 1);
        fleet.onDrop?.(gw);
      }
    });
    ws.on('open', () => {
      if (mode === 'bare') return done();
      ws.on('message', (data: RawData) => {
        const text = (data as Buffer).toString('utf8');
        if (text.startsWith('<welcome')) done();
        else reject(new Error(`${gw.id}: expected welcome, got ${text.slice(0, 80)}`));
      });
      ws.send(encode({ kind: 'hello', gatewayId: gw.id, minVersion: 1, maxVersion: 1, agentVersion: '0.1.0', labels: [], viaProxy: false, devices: [] }));
    });
  });
}

export function newFleet(): Fleet {
  return { clients: [], counters: { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, unexpected: 0, closedEarly: 0 }, closing: false };
}

/** Connects `gateways` into `fleet`, CONNECT_CONCURRENCY at a time. */
export async function connectFleet(fleet: Fleet, port: number, pki: BenchPki, gateways: readonly BenchGateway[], mode: HubMode): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < gateways.length) {
      const gw = gateways[next++];
      if (gw) await connectOne(fleet, port, pki, gw, mode);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
}

export async function closeFleet(fleet: Fleet): Promise<void> {
  fleet.closing = true;
  for (const c of fleet.clients) c.ws.terminate();
  await sleep(200);
}

export interface ClientSnapshot {
  counters: Counters;
  /** TCP segments the machine sent so far (both ends are on loopback, so both directions); undefined off Linux. */
  tcpSegments: number | undefined;
  bytesRead: number;
  bytesWritten: number;
  cpu: NodeJS.CpuUsage;
}

export function snapshot(fleet: Fleet): ClientSnapshot {
  let bytesRead = 0;
  let bytesWritten = 0;
  for (const c of fleet.clients) {
    bytesRead += c.raw.bytesRead;
    bytesWritten += c.raw.bytesWritten;
  }
  return { counters: { ...fleet.counters }, tcpSegments: tcpOutSegments(), bytesRead, bytesWritten, cpu: process.cpuUsage() };
}

// --- one server, one run ---------------------------------------------------------------------------

type PeerOptions = Required<Omit<LinkBenchOptions, 'hubProfileDir' | 'pingIntervalMs' | 'hubNodeArgs' | 'slices'>> & LinkBenchOptions;

/** A server with its fleet connected and idle, and its memory samples so far. */
export interface ConnectedPeer {
  mode: HubMode;
  hub: HubProcess;
  fleet: Fleet;
  gateways: number;
  connectSeconds: number;
  tls: string;
  before: MemorySample;
  warm: MemorySample;
  mid: MemorySample;
  half: number;
  idle: MemorySample;
  /** What the client side counted over the measured windows so far. */
  tally: Tally;
  /** The server's report over the measured windows so far (it adds them up). */
  report: WindowReport | undefined;
}

/** Client-side counts summed over measured windows. */
interface Tally {
  answers: number;
  frameBytes: number;
  wireBytes: number;
  segments: number | undefined;
  clientCpuUs: number;
  machineUs: number | undefined;
}

/**
 * Starts the server process, takes the memory samples (before, after a warm-up round, with half and
 * all the gateways connected and idle) and leaves the fleet connected for measureWindow.
 */
export async function connectPeer(mode: HubMode, pki: BenchPki, crlPath: string, o: PeerOptions): Promise<ConnectedPeer> {
  const hub = HubProcess.start(o.hubProfileDir, o.hubNodeArgs);
  let fleet: Fleet | undefined;
  try {
    const { port } = await hub.call(
      { type: 'start', mode, caPem: pki.caPem, certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, crlPath, crlPem: pki.crlPem, ...(o.pingIntervalMs ? { pingIntervalMs: o.pingIntervalMs } : {}) },
      'listening',
    );
    const before: MemorySample = (await hub.call({ type: 'sample' }, 'sample')).memory;
    // The warm-up round: the same for both servers. Its sockets are closed and gone from the server
    // before the second "before" sample; what the allocator keeps of them is reused by the fleet.
    const warmUp = newFleet();
    await connectFleet(warmUp, port, pki, pki.gateways.slice(0, Math.min(WARM_UP_CONNECTIONS, o.gateways)), mode);
    await closeFleet(warmUp);
    let warm: MemorySample = (await hub.call({ type: 'sample' }, 'sample')).memory;
    for (let waited = 0; warm.connected > 0; waited += 100) {
      if (waited > 10_000) throw new Error(`${mode}: ${warm.connected} warm-up connections still open after 10 s`);
      await sleep(100);
      warm = (await hub.call({ type: 'sample' }, 'sample')).memory;
    }
    const t0 = performance.now();
    fleet = newFleet();
    const half = Math.floor(o.gateways / 2);
    await connectFleet(fleet, port, pki, pki.gateways.slice(0, half), mode);
    const mid: MemorySample = (await hub.call({ type: 'sample' }, 'sample')).memory;
    await connectFleet(fleet, port, pki, pki.gateways.slice(half, o.gateways), mode);
    const connectSeconds = (performance.now() - t0) / 1000;
    const first = fleet.clients[0]?.socket;
    const tls = first ? `${first.getProtocol() ?? '?'} ${first.getCipher().name}` : '?';
    o.log(`  ${mode}: ${fleet.clients.length} gateways connected in ${connectSeconds.toFixed(1)} s (${tls})`);
    const idle: MemorySample = (await hub.call({ type: 'sample' }, 'sample')).memory;
    const tally: Tally = { answers: 0, frameBytes: 0, wireBytes: 0, segments: 0, clientCpuUs: 0, machineUs: 0 };
    return { mode, hub, fleet, gateways: o.gateways, connectSeconds, tls, before, warm, mid, half, idle, tally, report: undefined };
  } catch (err) {
    if (fleet) await closeFleet(fleet);
    await hub.stop();
    throw err;
  }
}

/**
 * One measured window: the load starts, runs `warmupSeconds` unmeasured and `seconds` measured, and
 * stops. The server and the client side add each window to what earlier ones counted.
 */
export async function measureWindow(p: ConnectedPeer, rate: number, warmupSeconds: number, seconds: number): Promise<void> {
  const { peers } = await p.hub.call({ type: 'load', rate }, 'load-started');
  if (peers !== p.gateways) throw new Error(`${p.mode}: the server sees ${peers} peers, expected ${p.gateways}`);
  await sleep(warmupSeconds * 1000);
  const machineA = machineBusyUs();
  const a = snapshot(p.fleet);
  await p.hub.call({ type: 'window-start', resume: p.report !== undefined }, 'window-started');
  await sleep(seconds * 1000);
  const { report } = await p.hub.call({ type: 'window-end' }, 'window');
  const b = snapshot(p.fleet);
  const machineB = machineBusyUs();
  await p.hub.call({ type: 'load', rate: 0 }, 'load-started');
  if (report.memory.connected !== p.gateways) throw new Error(`${p.mode}: ${report.memory.connected} of ${p.gateways} still connected at the end`);
  const t = p.tally;
  const answers = b.counters.txFrames - a.counters.txFrames;
  t.answers += answers;
  t.frameBytes +=
    b.counters.rxBytes - a.counters.rxBytes + WS_HEADER_DOWN * (b.counters.rxFrames - a.counters.rxFrames) + (b.counters.txBytes - a.counters.txBytes) + WS_HEADER_UP * answers;
  t.wireBytes += b.bytesRead - a.bytesRead + (b.bytesWritten - a.bytesWritten);
  t.segments = t.segments === undefined || a.tcpSegments === undefined || b.tcpSegments === undefined ? undefined : t.segments + (b.tcpSegments - a.tcpSegments);
  const clientCpu = b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
  t.clientCpuUs += clientCpu;
  const previous = p.report;
  const serverCpu = report.cpuUserUs + report.cpuSystemUs - (previous ? previous.cpuUserUs + previous.cpuSystemUs : 0);
  t.machineUs = t.machineUs === undefined || machineA === undefined || machineB === undefined ? undefined : t.machineUs + Math.max(0, machineB - machineA - clientCpu - serverCpu);
  p.report = report;
}

/** The figures of a server over all its measured windows. */
export function peerResult(p: ConnectedPeer): PeerResult {
  const { report, tally: t, before, warm, mid, idle, half } = p;
  if (!report) throw new Error(`${p.mode}: no measured window`);
  return {
    mode: p.mode,
    gateways: p.gateways,
    connectSeconds: p.connectSeconds,
    exchangesPerSecond: report.exchanges / report.seconds,
    rttMs: report.rttMs,
    cpuUsPerExchange: (report.cpuUserUs + report.cpuSystemUs) / report.exchanges,
    elu: report.elu,
    cpuUserUsPerExchange: report.cpuUserUs / report.exchanges,
    cpuSystemUsPerExchange: report.cpuSystemUs / report.exchanges,
    rssBytesPerConnection: (idle.rss - before.rss) / p.gateways,
    rssBytesPerConnectionWarm: (idle.rss - warm.rss) / p.gateways,
    heapBytesPerConnection: (idle.heapUsed - before.heapUsed) / p.gateways,
    rssBytesPerConnectionMarginal: (idle.rss - mid.rss) / (p.gateways - half),
    rssBytesPerConnectionLoaded: (report.memory.rss - before.rss) / p.gateways,
    heapBytesPerConnectionLoaded: (report.memory.heapUsed - before.heapUsed) / p.gateways,
    frameBytesPerExchange: t.frameBytes / t.answers,
    wireBytesPerExchange: t.wireBytes / t.answers,
    tcpSegmentsPerExchange: t.segments === undefined ? undefined : t.segments / t.answers,
    ipBytesPerExchange: t.segments === undefined ? undefined : (t.wireBytes + TCP_IP_HEADER_BYTES * t.segments) / t.answers,
    clientCpuUsPerExchange: t.clientCpuUs / t.answers,
    overruns: report.overruns,
    strays: report.strays,
    unexpectedFrames: p.fleet.counters.unexpected,
    closedEarly: p.fleet.counters.closedEarly,
    tls: p.tls,
    othersCores: t.machineUs === undefined ? undefined : t.machineUs / 1e6 / report.seconds,
  };
}

/** Two progress lines: the server's memory samples, then its figures. */
export function logPeerResult(log: (line: string) => void, p: ConnectedPeer, result: PeerResult): void {
  const mb = (m: MemorySample): string =>
    `rss ${(m.rss / 1048576).toFixed(1)} heapUsed ${(m.heapUsed / 1048576).toFixed(1)} heapTotal ${(m.heapTotal / 1048576).toFixed(1)} external ${(m.external / 1048576).toFixed(1)} MiB`;
  log(
    `  ${p.mode} memory: before ${mb(p.before)}; after the warm-up round ${mb(p.warm)}; ${p.half} connected ${mb(p.mid)}; ` +
      `${p.gateways} connected ${mb(p.idle)}${p.report ? `; after the load ${mb(p.report.memory)}` : ''}`,
  );
  log(
    `  ${result.mode}: ${Math.round(result.exchangesPerSecond)} exchanges/s, p50 ${result.rttMs.p50.toFixed(2)} ms, p99 ${result.rttMs.p99.toFixed(2)} ms, ` +
      `${result.cpuUsPerExchange.toFixed(1)} µs CPU/exchange (user ${result.cpuUserUsPerExchange.toFixed(1)}, sys ${result.cpuSystemUsPerExchange.toFixed(1)}), ` +
      `RSS/connection ${(result.rssBytesPerConnection / 1024).toFixed(1)} KiB idle (${(result.rssBytesPerConnectionWarm / 1024).toFixed(1)} after the warm-up round), ` +
      `${(result.rssBytesPerConnectionLoaded / 1024).toFixed(1)} KiB under load, ` +
      `${(result.rssBytesPerConnectionMarginal / 1024).toFixed(1)} KiB marginal; ` +
      `heap/connection ${(result.heapBytesPerConnection / 1024).toFixed(1)} KiB idle, ${(result.heapBytesPerConnectionLoaded / 1024).toFixed(1)} KiB under load; ` +
      `other load on the machine ${result.othersCores === undefined ? '?' : result.othersCores.toFixed(2)} cores`,
  );
}

export async function disconnectPeer(p: ConnectedPeer): Promise<void> {
  await closeFleet(p.fleet);
  await p.hub.stop();
}

/** One server on its own: connect, one window of o.seconds after o.warmup s, disconnect (bench/fleet.ts). */
export async function measurePeer(mode: HubMode, pki: BenchPki, crlPath: string, o: PeerOptions): Promise<PeerResult> {
  const p = await connectPeer(mode, pki, crlPath, o);
  try {
    await measureWindow(p, o.rate, o.warmup, o.seconds);
    const result = peerResult(p);
    logPeerResult(o.log, p, result);
    return result;
  } finally {
    await disconnectPeer(p);
  }
}

/**
 * TCP segments sent by this machine since boot (/proc/net/snmp, Tcp OutSegs; Linux). On loopback both
 * ends of every connection are here, so the difference over a window counts the segments of both
 * directions — plus those of anything else using TCP meanwhile (see othersCores).
 */
export function tcpOutSegments(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Tcp:'));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const value = Number(values[names.indexOf('OutSegs')]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** IPv4 (20) + TCP (20) + the timestamp option Linux puts on every segment (12): bytes per segment beyond its payload. */
export const TCP_IP_HEADER_BYTES = 52;

/** CPU time (µs) all CPUs of the machine spent busy since boot, from /proc/stat (Linux). */
export function machineBusyUs(): number | undefined {
  try {
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    return ((user + nice + system + irq + softirq + steal) * 1e6) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}


export async function runLinkBench(options: LinkBenchOptions = {}): Promise<RunResult[]> {
  const o = {
    gateways: options.gateways ?? 2000,
    seconds: options.seconds ?? 30,
    rate: options.rate ?? 4,
    warmup: options.warmup ?? 5,
    runs: options.runs ?? 5,
    slices: options.slices ?? 3,
    log: options.log ?? ((line: string) => process.stderr.write(`${line}\n`)),
    ...(options.hubProfileDir ? { hubProfileDir: options.hubProfileDir } : {}),
    ...(options.pingIntervalMs ? { pingIntervalMs: options.pingIntervalMs } : {}),
    ...(options.hubNodeArgs ? { hubNodeArgs: options.hubNodeArgs } : {}),
  };
  const limit = openFileLimit();
  if (limit !== undefined && limit < 2 * o.gateways + 256) {
    throw new Error(
      `the open-file limit is ${limit}, too low for ${o.gateways} gateways (each is a socket in this process for each of the two servers, and one in its server's); ` +
        `raise it with \`ulimit -n ${2 * o.gateways + 1024}\` (npm run bench does) or pass --gateways`,
    );
  }
  const t0 = performance.now();
  const pki = await makeBenchPki(o.gateways);
  o.log(`PKI: CA, server and ${o.gateways} gateway certificates made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const dir = mkdtempSync(join(tmpdir(), 'lmgw-bench-link-'));
  const crlPath = join(dir, 'crl.pem');
  writeFileSync(crlPath, pki.crlPem);
  const results: RunResult[] = [];
  try {
    for (let run = 1; run <= o.runs; run++) {
      // Alternate which server goes first, so neither always meets a warmer or cooler machine.
      const order: HubMode[] = run % 2 === 1 ? ['hub', 'bare'] : ['bare', 'hub'];
      o.log(`run ${run}/${o.runs}: both servers connected (${order.join(' first, then ')}), then ${o.slices} windows of ${f(o.seconds / o.slices)} s each, taking turns`);
      const connected: ConnectedPeer[] = [];
      try {
        for (const mode of order) connected.push(await connectPeer(mode, pki, crlPath, o));
        // Turns of o.seconds / o.slices each, so that both servers meet the same machine: on a
        // shared machine the speed of everything drifts by 10–20 % from one minute to the next.
        for (let slice = 0; slice < o.slices; slice++) {
          const turn = slice % 2 === 0 ? connected : [...connected].reverse();
          for (const p of turn) await measureWindow(p, o.rate, slice === 0 ? o.warmup : Math.min(o.warmup, 2), o.seconds / o.slices);
        }
      } finally {
        for (const p of connected) await disconnectPeer(p);
      }
      const [hub, bare] = (['hub', 'bare'] as const).map((mode) => {
        const p = connected.find((c) => c.mode === mode);
        if (!p) throw new Error('unreachable');
        const result = peerResult(p);
        logPeerResult(o.log, p, result);
        return result;
      });
      if (!hub || !bare) throw new Error('unreachable');
      results.push({
        run,
        hub,
        bare,
        cpuRatio: hub.cpuUsPerExchange / bare.cpuUsPerExchange,
        rssRatio: hub.rssBytesPerConnection / bare.rssBytesPerConnection,
        rssRatioWarm: hub.rssBytesPerConnectionWarm / bare.rssBytesPerConnectionWarm,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

// --- reporting -------------------------------------------------------------------------------------

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The run whose hub p99 is the median one (the run reported; the others give the spread). */
export function medianRun(results: readonly RunResult[]): RunResult | undefined {
  return [...results].sort((a, b) => a.hub.rttMs.p99 - b.hub.rttMs.p99)[Math.floor(results.length / 2)];
}

const f = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const kib = (bytes: number): string => f(bytes / 1024, 1);

/** One markdown row per server per run. */
export function formatRunsTable(results: readonly RunResult[]): string {
  const lines = [
    '| run | server | exchanges/s | p50 ms | p99 ms | max ms | server CPU µs/exchange (user+sys) | server loop busy | RSS KiB/connection (idle / after warm-up / loaded / marginal) | heap KiB/connection | frame bytes/exchange | wire bytes/exchange | client CPU µs/exchange | other load (cores) |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    for (const p of [r.hub, r.bare]) {
      lines.push(
        `| ${r.run} | ${p.mode} | ${Math.round(p.exchangesPerSecond).toLocaleString('en-US')} | ${f(p.rttMs.p50, 2)} | ${f(p.rttMs.p99, 2)} | ${f(p.rttMs.max, 1)} | ` +
          `${f(p.cpuUsPerExchange)} (${f(p.cpuUserUsPerExchange)}+${f(p.cpuSystemUsPerExchange)}) | ${f(p.elu * 100, 0)} % | ` +
          `${kib(p.rssBytesPerConnection)} / ${kib(p.rssBytesPerConnectionWarm)} / ${kib(p.rssBytesPerConnectionLoaded)} / ${kib(p.rssBytesPerConnectionMarginal)} | ${kib(p.heapBytesPerConnection)} | ${f(p.frameBytesPerExchange, 0)} | ${f(p.wireBytesPerExchange, 0)} | ${f(p.clientCpuUsPerExchange)} | ${p.othersCores === undefined ? '?' : f(p.othersCores, 2)} |`,
      );
    }
  }
  return lines.join('\n');
}

/** Medians over the runs with their range, the ratios, and each target's verdict. */
export function formatSummary(results: readonly RunResult[]): { text: string; met: boolean } {
  const range = (pick: (r: RunResult) => number, digits = 1): string => {
    const v = results.map(pick);
    return `${f(median(v), digits)} (${f(Math.min(...v), digits)}–${f(Math.max(...v), digits)})`;
  };
  const p99 = median(results.map((r) => r.hub.rttMs.p99));
  const cpuRatio = median(results.map((r) => r.cpuRatio));
  const rssRatio = median(results.map((r) => r.rssRatio));
  const wire = median(results.map((r) => r.hub.wireBytesPerExchange));
  const ips = results.map((r) => r.hub.ipBytesPerExchange).filter((v): v is number => v !== undefined);
  const ip = ips.length > 0 ? median(ips) : undefined;
  const segs = results.map((r) => r.hub.tcpSegmentsPerExchange).filter((v): v is number => v !== undefined);
  const segments = segs.length > 0 ? median(segs) : undefined;
  const rate = results[0]?.hub.exchangesPerSecond ?? 0;
  const gateways = results[0]?.hub.gateways ?? 1;
  const perGatewayRate = rate / gateways;
  const checks = [
    { name: `hub p99 round trip ≤ ${TARGETS.p99Ms} ms`, ok: p99 <= TARGETS.p99Ms, value: `${f(p99, 2)} ms` },
    { name: `hub CPU per exchange ≤ ${TARGETS.cpuRatio}× bare`, ok: cpuRatio <= TARGETS.cpuRatio, value: `${f(cpuRatio, 2)}×` },
    { name: `hub RSS per connection ≤ ${TARGETS.rssRatio}× bare`, ok: rssRatio <= TARGETS.rssRatio, value: `${f(rssRatio, 2)}×` },
  ];
  const mid = medianRun(results);
  const lines = [
    `median over ${results.length} run(s) (min–max); the median run by hub p99 is run ${mid?.run ?? '?'}:`,
    `  hub  p50 ${range((r) => r.hub.rttMs.p50, 2)} ms, p99 ${range((r) => r.hub.rttMs.p99, 2)} ms; CPU ${range((r) => r.hub.cpuUsPerExchange)} µs/exchange; RSS ${range((r) => r.hub.rssBytesPerConnection / 1024)} KiB/connection`,
    `  bare p50 ${range((r) => r.bare.rttMs.p50, 2)} ms, p99 ${range((r) => r.bare.rttMs.p99, 2)} ms; CPU ${range((r) => r.bare.cpuUsPerExchange)} µs/exchange; RSS ${range((r) => r.bare.rssBytesPerConnection / 1024)} KiB/connection`,
    `  ratios hub/bare: CPU per exchange ${range((r) => r.cpuRatio, 2)}×, RSS per connection ${range((r) => r.rssRatio, 2)}× ` +
      `(after the warm-up round ${range((r) => r.rssRatioWarm, 2)}×, loaded ${range((r) => r.hub.rssBytesPerConnectionLoaded / r.bare.rssBytesPerConnectionLoaded, 2)}×, marginal ${range((r) => r.hub.rssBytesPerConnectionMarginal / r.bare.rssBytesPerConnectionMarginal, 2)}×)`,
    `  on the wire: ${f(wire, 0)} bytes of TCP payload per exchange (TLS records both ways) = ${f((wire * perGatewayRate * 8) / 1000, 2)} kbit/s per gateway at ${f(perGatewayRate, 2)} exchanges/s` +
      (ip === undefined ? '' : `; with TCP/IP headers (${f(segments ?? Number.NaN, 2)} segments per exchange) ${f(ip, 0)} bytes = ${f((ip * perGatewayRate * 8) / 1000, 2)} kbit/s`) +
      ` (paper's prototype: 43.39 kbit/s)`,
    ...checks.map((c) => `target: ${c.name} — ${c.value} — ${c.ok ? 'met' : 'NOT met'}`),
  ];
  return { text: lines.join('\n'), met: checks.every((c) => c.ok) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      gateways: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string' },
      warmup: { type: 'string' },
      runs: { type: 'string' },
      slices: { type: 'string' },
      'hub-prof': { type: 'string' },
      'ping-ms': { type: 'string' },
      'hub-node-arg': { type: 'string', multiple: true },
      json: { type: 'string' },
    },
  });
  const num = (name: string, value: string | undefined, min: number): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, not "${value}"`);
    return n;
  };
  const options: LinkBenchOptions = {
    ...(values.gateways === undefined ? {} : { gateways: num('gateways', values.gateways, 1) }),
    ...(values.seconds === undefined ? {} : { seconds: num('seconds', values.seconds, 1) }),
    ...(values.rate === undefined ? {} : { rate: num('rate', values.rate, 0.1) }),
    ...(values.warmup === undefined ? {} : { warmup: num('warmup', values.warmup, 0) }),
    ...(values.runs === undefined ? {} : { runs: num('runs', values.runs, 1) }),
    ...(values.slices === undefined ? {} : { slices: num('slices', values.slices, 1) }),
    ...(values['hub-prof'] === undefined ? {} : { hubProfileDir: values['hub-prof'] }),
    ...(values['ping-ms'] === undefined ? {} : { pingIntervalMs: num('ping-ms', values['ping-ms'], 1000) }),
    ...(values['hub-node-arg'] === undefined ? {} : { hubNodeArgs: values['hub-node-arg'] }),
  };
  const results = await runLinkBench(options);
  const first = results[0]?.hub;
  console.log(
    `link benchmark — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${new Date().toISOString().slice(0, 10)}; ` +
      `${first?.gateways ?? '?'} gateways × ${options.rate ?? 4}/s, ${options.seconds ?? 30} s measured per server and run in ${options.slices ?? 3} turns (${options.warmup ?? 5} s warm-up before the first), ${first?.tls ?? ''}\n`,
  );
  console.log(formatRunsTable(results));
  const summary = formatSummary(results);
  console.log(`\n${summary.text}`);
  const odd = results.flatMap((r) => [r.hub, r.bare]).filter((p) => p.overruns || p.strays || p.unexpectedFrames || p.closedEarly);
  for (const p of odd) console.log(`note: ${p.mode}: ${p.overruns} overruns, ${p.strays} stray answers, ${p.unexpectedFrames} unexpected frames, ${p.closedEarly} closed early`);
  if (values.json !== undefined) {
    writeFileSync(values.json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown CPU', cores: cpus().length, options, runs: results }, null, 2)}\n`);
  }
  if (!summary.met) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main().catch((err: unknown) => {
    console.error(`link benchmark: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  });
}
