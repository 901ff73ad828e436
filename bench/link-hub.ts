/**
 * The server side of the link benchmark, run as a child process of bench/link.ts (forked with an IPC
 * channel and --expose-gc) so that its CPU time and RSS are the server's alone. Two modes:
 *
 * - `hub`: the real hub, `startLinkServer` from console/hub/link, with its defaults (mutual TLS, CRL,
 *   hello/welcome, XML decode and validation of every frame, rate limit, pings every 15 s).
 * - `bare`: the floor — `https.createServer` + `ws` with the same TLS setup (certificates, CA,
 *   TLS_PROFILE, requestCert, no session tickets, the same CRL) that sends a fixed command frame and
 *   takes any frame back as the answer: no XML, no checks, no pings.
 *
 * In both modes the same driver sends one command per peer every 1/rate s, spread evenly over the
 * period, and measures each round trip (send → answer) with performance.now().
 */
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';
import { hubTlsContext, startLinkServer, type LinkServer } from '../console/hub/link/server.js';
import { LINK_DEFAULTS } from '../shared/link.js';
import { encode, type CommandMessage } from '../shared/protocol/index.js';
import { serveParent } from './ipc-child.js';

export type HubMode = 'hub' | 'bare';

export type ToHub =
  | {
      type: 'start';
      mode: HubMode;
      caPem: string;
      certPem: string;
      keyPem: string;
      crlPath: string;
      crlPem: string;
      pingIntervalMs?: number;
      port?: number;
      maxConnections?: number;
    }
  /** hub mode: ack every telemetry batch at once, as the hub does after storing it (the fleet-shed floor's steady window), or stop. */
  | { type: 'ack-telemetry'; on: boolean }
  | { type: 'sample' }
  /** Peers connected now, without the full GC of 'sample' (cheap enough to poll during a reconnect storm). */
  | { type: 'count' }
  /** Commands per second per peer; 0 stops the load. */
  | { type: 'load'; rate: number }
  /** `resume`: add the coming window to the previous ones (counts, CPU, round trips) instead of starting afresh. */
  | { type: 'window-start'; resume?: boolean }
  | { type: 'window-end' }
  /** One command to every peer at once (the fleet-shed benchmark's floor); answered when all are answered or after timeoutMs. */
  | { type: 'burst'; timeoutMs: number }
  | { type: 'stop' };

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Peers the server counts as connected (after hello for the hub). */
  connected: number;
}

export interface WindowReport {
  seconds: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Event-loop utilisation over the window, 0..1. */
  elu: number;
  /** Answers received in the window. */
  exchanges: number;
  sent: number;
  /** Commands sent to a peer whose previous command was still unanswered. */
  overruns: number;
  /** Answers that matched no outstanding command. */
  strays: number;
  /** Telemetry samples received (and acked, with ackTelemetry) in the window; the hub mode only. */
  telemetrySamples?: number;
  rttMs: { p50: number; p90: number; p95: number; p99: number; max: number; mean: number };
  memory: MemorySample;
}

export type FromHub =
  | { type: 'listening'; port: number }
  | { type: 'sample'; memory: MemorySample }
  | { type: 'count'; connected: number; cpuUs: number }
  | { type: 'load-started'; peers: number }
  | { type: 'window-started' }
  | { type: 'window'; report: WindowReport }
  | { type: 'ack-telemetry'; on: boolean }
  /** `ms`: from the first command sent until the last answer (or the timeout); `cpuUs`: this process's CPU over it. */
  | { type: 'burst-done'; peers: number; answered: number; ms: number; cpuUs: number }
  | { type: 'stopped' }
  | { type: 'failed'; message: string };

/** One command per peer every 1/rate s; the driver ticks this often and sends what is due. */
const TICK_MS = 2;
/** A shed command as the dispatcher sends them (75–80 bytes on the wire). */
function aCommand(id: string): CommandMessage {
  return { kind: 'command', id, op: 'shed', deadline: Date.now() + 30_000, selector: { channels: [1, 2] }, durationSeconds: 900 };
}
/**
 * Command ids of one width, so every frame has the same size: `c`, the peer's slot (4 base-36
 * digits), then a sequence (2 digits). In the hub the answer's id leads straight back to its peer, as
 * the bare server's per-socket listener does, so neither server pays a lookup of its own harness per
 * answer. (The bare server sends one fixed frame.)
 */
const SLOTS = 36 ** 4;
function slotCommandId(slot: number, seq: number): string {
  return `c${slot.toString(36).padStart(4, '0')}${(seq % 1296).toString(36).padStart(2, '0')}`;
}
function slotOf(id: string): number {
  let slot = 0;
  for (let i = 1; i < 5; i++) {
    const c = id.charCodeAt(i);
    slot = slot * 36 + (c <= 0x39 ? c - 0x30 : c - 0x57);
  }
  return slot;
}

interface Peer {
  send(): void;
  pending: boolean;
  sentAt: number;
}

interface Server {
  peers: () => Peer[];
  connected: () => number;
  close: () => Promise<void>;
}

let recording = false;
let exchanges = 0;
let sent = 0;
let overruns = 0;
let strays = 0;
let telemetrySamples = 0;
let ackTelemetry = false;
let rtts: number[] = [];
/** Answers still awaited by the burst in progress, and what to call when none are. */
let burst: { outstanding: number; done: () => void } | undefined;

function answered(peer: Peer | undefined): void {
  if (!peer?.pending) {
    strays += 1;
    return;
  }
  peer.pending = false;
  if (burst && --burst.outstanding === 0) burst.done();
  if (recording) {
    exchanges += 1;
    rtts.push(performance.now() - peer.sentAt);
  }
}

function dispatch(peer: Peer): void {
  if (peer.pending) overruns += 1;
  peer.pending = true;
  peer.sentAt = performance.now();
  peer.send();
  sent += 1;
}

async function startHub(msg: Extract<ToHub, { type: 'start' }>): Promise<{ server: Server; port: number }> {
  const link: LinkServer = await startLinkServer({ host: '127.0.0.1', port: msg.port ?? 0, caPem: msg.caPem, certPem: msg.certPem, keyPem: msg.keyPem, crlPath: msg.crlPath, ...(msg.pingIntervalMs ? { pingIntervalMs: msg.pingIntervalMs } : {}), ...(msg.maxConnections ? { maxConnections: msg.maxConnections } : {}) });
  const peers: Peer[] = [];
  type HubPeer = Peer & { id: string; sessionId: string; commandId: string; seq: number; slot: number };
  const byId = new Map<string, HubPeer>();
  const bySlot: (HubPeer | undefined)[] = [];
  let nextSlot = 0;
  link.on('connected', (info) => {
    const slot = nextSlot++ % SLOTS;
    const peer: HubPeer = {
      id: info.gatewayId,
      sessionId: info.sessionId,
      commandId: '',
      seq: 0,
      slot,
      pending: false,
      sentAt: 0,
      send(): void {
        this.commandId = slotCommandId(this.slot, this.seq++);
        link.send(this.id, aCommand(this.commandId));
      },
    };
    peers.push(peer);
    byId.set(info.gatewayId, peer);
    bySlot[slot] = peer;
  });
  // The warm-up round's gateways leave before the load starts.
  link.on('disconnected', (info) => {
    const peer = byId.get(info.gatewayId);
    if (peer?.sessionId !== info.sessionId) return;
    peers.splice(peers.indexOf(peer), 1);
    byId.delete(info.gatewayId);
    bySlot[peer.slot] = undefined;
  });
  link.on('message', (info, message) => {
    if (message.kind === 'telemetry' && ackTelemetry) {
      if (recording) telemetrySamples += message.samples.length;
      link.send(info.gatewayId, { kind: 'ack', seq: message.seq });
      return;
    }
    if (message.kind !== 'result') return void (strays += 1);
    const peer = bySlot[slotOf(message.commandId)];
    answered(peer && peer.commandId === message.commandId && peer.id === info.gatewayId ? peer : undefined);
  });
  return { server: { peers: () => peers, connected: () => link.connected.length, close: () => link.close() }, port: link.port };
}

async function startBare(msg: Extract<ToHub, { type: 'start' }>): Promise<{ server: Server; port: number }> {
  const server = createServer({
    // The hub's own TLS context, so the floor differs from the hub only above TLS.
    ...hubTlsContext(msg, msg.crlPem),
    requestCert: true,
    rejectUnauthorized: true,
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: LINK_DEFAULTS.maxPayloadBytes, perMessageDeflate: false, clientTracking: false });
  const frame = Buffer.from(encode(aCommand(slotCommandId(0, 0))));
  const peers: Peer[] = [];
  const sockets = new Set<WebSocket>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const peer: Peer = {
        pending: false,
        sentAt: 0,
        send: () => ws.send(frame, { binary: false }),
      };
      peers.push(peer);
      sockets.add(ws);
      ws.on('message', () => answered(peer));
      ws.on('close', () => {
        sockets.delete(ws);
        peers.splice(peers.indexOf(peer), 1);
      });
      ws.on('error', () => undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(msg.port ?? 0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    server: {
      peers: () => peers,
      connected: () => sockets.size,
      close: () =>
        new Promise<void>((resolve) => {
          for (const ws of sockets) ws.terminate();
          server.close(() => resolve());
        }),
    },
    port,
  };
}

function memory(server: Server | undefined): MemorySample {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, connected: server?.connected() ?? 0 };
}

function summarise(values: number[]): WindowReport['rttMs'] {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
  const sum = values.reduce((a, b) => a + b, 0);
  return { p50: at(0.5), p90: at(0.9), p95: at(0.95), p99: at(0.99), max: at(1), mean: sum / Math.max(1, values.length) };
}

function main(): void {
  const reply = (m: FromHub): void => void process.send?.(m);
  let server: Server | undefined;
  let loadTimer: NodeJS.Timeout | undefined;
  let window: { started: number; cpu: NodeJS.CpuUsage; elu: ReturnType<typeof performance.eventLoopUtilization> } | undefined;
  /** The earlier windows since the last fresh start: seconds, CPU and event-loop time. */
  let earlier = { seconds: 0, user: 0, system: 0, active: 0, idle: 0 };

  const handle = async (msg: ToHub): Promise<void> => {
    switch (msg.type) {
      case 'start': {
        const started = msg.mode === 'hub' ? await startHub(msg) : await startBare(msg);
        server = started.server;
        return reply({ type: 'listening', port: started.port });
      }
      case 'sample':
        return reply({ type: 'sample', memory: memory(server) });
      case 'ack-telemetry':
        ackTelemetry = msg.on;
        return reply({ type: 'ack-telemetry', on: msg.on });
      case 'count':
        return reply({ type: 'count', connected: server?.connected() ?? 0, cpuUs: ((c) => c.user + c.system)(process.cpuUsage()) });
      case 'load': {
        // A new rate replaces the old one (the fleet benchmark steps the rate up on one fleet).
        clearInterval(loadTimer);
        const peers = server?.peers() ?? [];
        if (msg.rate <= 0) return reply({ type: 'load-started', peers: peers.length });
        const perMs = (peers.length * msg.rate) / 1000;
        const t0 = performance.now();
        let due = 0;
        loadTimer = setInterval(() => {
          const target = Math.floor((performance.now() - t0) * perMs);
          for (; due < target; due++) {
            const peer = peers[due % peers.length];
            if (peer) dispatch(peer);
          }
        }, TICK_MS);
        return reply({ type: 'load-started', peers: peers.length });
      }
      case 'window-start':
        if (msg.resume !== true) {
          exchanges = 0;
          sent = 0;
          overruns = 0;
          strays = 0;
          telemetrySamples = 0;
          rtts = [];
          earlier = { seconds: 0, user: 0, system: 0, active: 0, idle: 0 };
        }
        recording = true;
        window = { started: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
        return reply({ type: 'window-started' });
      case 'window-end': {
        if (!window) throw new Error('window-end before window-start');
        const cpu = process.cpuUsage(window.cpu);
        const elu = performance.eventLoopUtilization(window.elu);
        earlier = {
          seconds: earlier.seconds + (performance.now() - window.started) / 1000,
          user: earlier.user + cpu.user,
          system: earlier.system + cpu.system,
          active: earlier.active + elu.active,
          idle: earlier.idle + elu.idle,
        };
        recording = false;
        const report: WindowReport = {
          seconds: earlier.seconds,
          cpuUserUs: earlier.user,
          cpuSystemUs: earlier.system,
          elu: earlier.active / Math.max(1e-9, earlier.active + earlier.idle),
          exchanges,
          sent,
          overruns,
          strays,
          telemetrySamples,
          rttMs: summarise(rtts),
          memory: memory(server),
        };
        return reply({ type: 'window', report });
      }
      case 'burst': {
        const peers = [...(server?.peers() ?? [])];
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, msg.timeoutMs);
          burst = {
            outstanding: peers.length,
            done: () => {
              clearTimeout(timer);
              resolve();
            },
          };
          if (peers.length === 0) burst.done();
          for (const peer of peers) dispatch(peer);
        });
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const answeredCount = peers.length - (burst?.outstanding ?? 0);
        burst = undefined;
        return reply({ type: 'burst-done', peers: peers.length, answered: answeredCount, ms, cpuUs: cpu.user + cpu.system });
      }
      case 'stop':
        clearInterval(loadTimer);
        await server?.close();
        reply({ type: 'stopped' });
        process.disconnect();
        return;
    }
  };

  serveParent(handle, USAGE);
}

const USAGE =
  'bench/link-hub is the server half of the link benchmark; run `npm run bench:link` instead.';

main();
