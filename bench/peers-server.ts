/**
 * The server side of the peers benchmark (bench/peers.ts) for the peers that bench/link-hub.ts does
 * not serve, run as a child process (forked with an IPC channel and --expose-gc) so that its CPU time
 * and RSS are its own. The hub and the bare echo stay in bench/link-hub.ts. Modes:
 *
 * - `ocpp`: OCPP-J RPC over WSS with `ocpp-rpc`: an `https` server with the hub's TLS context
 *   (client certificate required) hands upgrades to `RPCServer`; the gateway's identity in the URL
 *   must equal its certificate's CN. The server calls the gateway (CALL `Shed`), the gateway answers
 *   (CALLRESULT); strict mode validates both against our two JSON schemas (bench/peers-wire.ts).
 * - `mqtt`: the hub-side MQTT client (mqtt.js, QoS 0, its own client certificate) of a mosquitto the
 *   parent started: publishes each command to gw/<id>/cmd, subscribed to gw/+/res, finds the id in
 *   the result with indexOf. Reports mosquitto's CPU (/proc/PID/stat) and RSS (/proc/PID/status) too.
 * - `poll-short`, `poll-long`: HTTPS with the hub's TLS context (client certificate required) and
 *   keep-alive. GET /poll returns the gateway's pending commands (one frame per line) or 204; short
 *   polling answers at once, long polling holds the request until a command is due (or 30 s). Results
 *   come back in a POST /result. The gateway is the certificate's CN, looked up once per connection.
 *
 * The driver is link-hub.ts's: one command per gateway every 1/rate s, spread evenly over the period
 * (a 2 ms tick sends what is due, round-robin), round trip = performance.now() at the command's
 * creation → its result received here. Unlike link-hub.ts's, it keeps every command in flight (a
 * short poll may carry several), and a command created in the window that has no answer 2 s after the
 * window's end counts as lost.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { MqttClient } from 'mqtt';
import { RPCServer, createValidator } from 'ocpp-rpc';
import { hubTlsContext } from '../console/hub/link/server.js';
import { LINK_DEFAULTS, TLS_PROFILE } from '../shared/link.js';
import { encode } from '../shared/protocol/index.js';
import type { MemorySample, WindowReport } from './link-hub.js';
import {
  cutId,
  HELLO_PATH,
  LONG_POLL_HOLD_MS,
  MQTT_RESULT_FILTER,
  mqttCommandTopic,
  OCPP_METHOD,
  OCPP_SCHEMAS,
  OCPP_SUBPROTOCOL,
  ocppShedParams,
  POLL_PATH,
  RESULT_PATH,
} from './peers-wire.js';
import { serveParent } from './ipc-child.js';

export type PeerMode = 'ocpp' | 'mqtt' | 'poll-short' | 'poll-long';

export type ToPeer =
  | {
      type: 'start';
      mode: PeerMode;
      caPem: string;
      certPem: string;
      keyPem: string;
      crlPem: string;
      /** mqtt: the broker to use and the hub client's identity. */
      mqtt?: { port: number; pid: number; certPem: string; keyPem: string };
    }
  | { type: 'sample' }
  | { type: 'load'; rate: number; gatewayIds: string[] }
  | { type: 'window-start' }
  | { type: 'window-end' }
  | { type: 'stop' };

export interface PeerMemorySample extends MemorySample {
  /** mqtt: mosquitto's RSS (VmRSS). */
  brokerRss?: number;
}

export interface PeerWindowReport extends WindowReport {
  memory: PeerMemorySample;
  /** Commands created in the window with no answer 2 s after its end. */
  lost: number;
  /** mqtt: mosquitto's user and system CPU in the window (µs, from /proc at 100 Hz). */
  brokerCpuUserUs?: number;
  brokerCpuSystemUs?: number;
}

export type FromPeer =
  | { type: 'listening'; port: number; /** mqtt: the hub client's local port (to tell its socket from the gateways'). */ clientPort?: number }
  | { type: 'sample'; memory: PeerMemorySample }
  | { type: 'load-started'; peers: number }
  | { type: 'window-started' }
  | { type: 'window'; report: PeerWindowReport }
  | { type: 'stopped' }
  | { type: 'failed'; message: string };

const TICK_MS = 2;
const GRACE_MS = 2_000;

/** The hub's shed command, the same as link-hub.ts's `aCommand` (77 bytes). */
function commandFrame(id: string): string {
  return encode({ kind: 'command', id, op: 'shed', deadline: Date.now() + 30_000, selector: { channels: [1, 2] }, durationSeconds: 900 });
}
function commandId(n: number): string {
  return `c${n.toString(36).padStart(6, '0')}`;
}

// --- the driver ----------------------------------------------------------------------------------------

interface Gateway {
  id: string;
  inFlight: number;
  send(commandId: string): void;
}

interface Outstanding {
  sentAt: number;
  gateway: Gateway;
  inWindow: boolean;
}

const outstanding = new Map<string, Outstanding>();
let next = 0;
let recording = false;
let exchanges = 0;
let sent = 0;
let overruns = 0;
let strays = 0;
let rtts: number[] = [];

function dispatch(gateway: Gateway): void {
  const id = commandId(next++);
  if (recording) {
    sent += 1;
    if (gateway.inFlight > 0) overruns += 1;
  }
  gateway.inFlight += 1;
  outstanding.set(id, { sentAt: performance.now(), gateway, inWindow: recording });
  gateway.send(id);
}

function answered(id: string | undefined): void {
  const o = id === undefined ? undefined : outstanding.get(id);
  if (!o || id === undefined) {
    strays += 1;
    return;
  }
  outstanding.delete(id);
  o.gateway.inFlight -= 1;
  if (o.inWindow) {
    exchanges += 1;
    rtts.push(performance.now() - o.sentAt);
  }
}

function windowOutstanding(): number {
  let n = 0;
  for (const o of outstanding.values()) if (o.inWindow) n += 1;
  return n;
}

// --- the servers ---------------------------------------------------------------------------------------

interface Server {
  /** The gateway object the driver sends to, by id (undefined: not connected). */
  gateway(id: string): Gateway | undefined;
  connected(): number;
  memory?(): Partial<PeerMemorySample>;
  cpu?(): { user: number; system: number };
  close(): Promise<void>;
}

type Start = Extract<ToPeer, { type: 'start' }>;

function listen(server: ReturnType<typeof createServer>): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    }),
  );
}

/** Counts the server's open TLS connections (secure ones: past the handshake). */
function countConnections(server: ReturnType<typeof createServer>): () => number {
  let open = 0;
  server.on('secureConnection', (socket: TLSSocket) => {
    open += 1;
    socket.once('close', () => (open -= 1));
  });
  return () => open;
}

async function startOcpp(msg: Start): Promise<{ server: Server; port: number }> {
  const https = createServer({ ...hubTlsContext(msg, msg.crlPem), requestCert: true, rejectUnauthorized: true });
  const connected = countConnections(https);
  const rpc = new RPCServer({
    protocols: [OCPP_SUBPROTOCOL],
    strictMode: true,
    strictModeValidators: [createValidator(OCPP_SUBPROTOCOL, OCPP_SCHEMAS)],
    wssOptions: { maxPayload: LINK_DEFAULTS.maxPayloadBytes, perMessageDeflate: false },
  });
  // The gateway names itself in the URL; its certificate must say the same (as the hub checks hello).
  rpc.auth((accept, reject, handshake) => {
    const cn = (handshake.request.socket as TLSSocket).getPeerCertificate().subject?.CN;
    if (cn === handshake.identity) accept();
    else reject(403, 'identity mismatch');
  });
  https.on('upgrade', (req, socket, head: Buffer) => void rpc.handleUpgrade(req, socket as never, head));
  const byId = new Map<string, Gateway>();
  rpc.on('client', (client: { identity: string; call(method: string, params: unknown): Promise<unknown>; once(e: 'close', f: () => void): void }) => {
    const gateway: Gateway = {
      id: client.identity,
      inFlight: 0,
      send(commandId: string): void {
        client.call(OCPP_METHOD, ocppShedParams()).then(
          () => answered(commandId),
          () => undefined, // no answer: lost if it was in the window
        );
      },
    };
    byId.set(client.identity, gateway);
    client.once('close', () => {
      if (byId.get(client.identity) === gateway) byId.delete(client.identity);
    });
  });
  const port = await listen(https);
  return {
    server: {
      gateway: (id) => byId.get(id),
      connected,
      close: async () => {
        await rpc.close({ force: true });
        https.closeAllConnections();
        await new Promise<void>((resolve) => https.close(() => resolve()));
      },
    },
    port,
  };
}

/** user and system CPU time (µs) of a process, from /proc/PID/stat (Linux, USER_HZ 100). */
function processCpu(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command name start at 3 (state); utime is 14, stime 15.
  return { user: Number(fields[11]) * 10_000, system: Number(fields[12]) * 10_000 };
}

function processRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? Number.NaN) * 1024;
}

/** Established TCP connections whose local port is `port`, from `ss` (iproute2). */
function establishedOn(port: number): number {
  const out = execFileSync('ss', ['-tnH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim()).length;
}

async function startMqtt(msg: Start): Promise<{ server: Server; port: number; clientPort: number }> {
  const broker = msg.mqtt;
  if (!broker) throw new Error('mqtt: no broker given');
  let clientPort = 0;
  const client = new MqttClient(
    () => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: broker.port,
        ca: msg.caPem,
        cert: broker.certPem,
        key: broker.keyPem,
        minVersion: TLS_PROFILE.minVersion,
        maxVersion: TLS_PROFILE.maxVersion,
        ciphers: TLS_PROFILE.ciphers,
        ecdhCurve: TLS_PROFILE.ecdhCurve,
        sigalgs: TLS_PROFILE.sigalgs,
      });
      socket.setNoDelay(true);
      socket.once('connect', () => (clientPort = socket.localPort ?? 0));
      return socket;
    },
    { protocolVersion: 4, clean: true, keepalive: 60, reconnectPeriod: 0, connectTimeout: 30_000 },
  );
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(MQTT_RESULT_FILTER, { qos: 0 });
  client.on('message', (_topic, payload) => answered(cutId(payload.toString('latin1'))));
  const gateways = new Map<string, Gateway>();
  return {
    server: {
      gateway(id) {
        let g = gateways.get(id);
        if (!g) {
          const topic = mqttCommandTopic(id);
          g = { id, inFlight: 0, send: (commandId) => void client.publish(topic, commandFrame(commandId), { qos: 0 }) };
          gateways.set(id, g);
        }
        return g;
      },
      // Every connection to the broker but the hub client's own.
      connected: () => Math.max(0, establishedOn(broker.port) - 1),
      memory: () => ({ brokerRss: processRss(broker.pid) }),
      cpu: () => processCpu(broker.pid),
      close: () => client.endAsync(true),
    },
    port: broker.port,
    clientPort,
  };
}

interface PollGateway extends Gateway {
  queue: string[];
  parked: ServerResponse | undefined;
  holdTimer: NodeJS.Timeout | undefined;
}

async function startPoll(msg: Start, long: boolean): Promise<{ server: Server; port: number }> {
  const gateways = new Map<string, PollGateway>();
  const identities = new WeakMap<object, string>();
  const flush = (g: PollGateway, res: ServerResponse): void => {
    const body = g.queue.join('\n');
    g.queue.length = 0;
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body);
  };
  const unpark = (g: PollGateway): ServerResponse | undefined => {
    const res = g.parked;
    g.parked = undefined;
    clearTimeout(g.holdTimer);
    g.holdTimer = undefined;
    return res;
  };
  const gatewayFor = (id: string): PollGateway => {
    let g = gateways.get(id);
    if (!g) {
      const created: PollGateway = {
        id,
        inFlight: 0,
        queue: [],
        parked: undefined,
        holdTimer: undefined,
        send(commandId: string): void {
          created.queue.push(commandFrame(commandId));
          const res = unpark(created);
          if (res) flush(created, res);
        },
      };
      g = created;
      gateways.set(id, g);
    }
    return g;
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket as TLSSocket;
    let id = identities.get(socket);
    if (id === undefined) {
      id = String(socket.getPeerCertificate().subject?.CN ?? '');
      identities.set(socket, id);
    }
    const g = gatewayFor(id);
    if (req.method === 'GET' && req.url === POLL_PATH) {
      if (g.queue.length > 0 || !long) {
        if (g.queue.length > 0) flush(g, res);
        else res.writeHead(204).end();
        return;
      }
      unpark(g)?.writeHead(204).end();
      g.parked = res;
      g.holdTimer = setTimeout(() => unpark(g)?.writeHead(204).end(), LONG_POLL_HOLD_MS);
      res.once('close', () => {
        if (g.parked === res) unpark(g);
      });
      return;
    }
    if (req.method === 'POST' && req.url === RESULT_PATH) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        for (const line of Buffer.concat(chunks).toString('latin1').split('\n')) if (line) answered(cutId(line));
        res.writeHead(204).end();
      });
      return;
    }
    if (req.method === 'GET' && req.url === HELLO_PATH) return void res.writeHead(204).end();
    res.writeHead(404).end();
  };
  const https = createServer({ ...hubTlsContext(msg, msg.crlPem), requestCert: true, rejectUnauthorized: true }, handle);
  // Gateways keep their connection between polls (and idle while the fleet connects): the server must
  // not close it before they come back.
  https.keepAliveTimeout = 120_000;
  https.headersTimeout = 130_000;
  https.requestTimeout = 0;
  https.maxHeadersCount = 32;
  const connected = countConnections(https);
  const port = await listen(https);
  return {
    server: {
      gateway: (id) => gatewayFor(id),
      connected,
      close: async () => {
        for (const g of gateways.values()) unpark(g);
        https.closeAllConnections();
        await new Promise<void>((resolve) => https.close(() => resolve()));
      },
    },
    port,
  };
}

// --- the process ---------------------------------------------------------------------------------------

function memory(server: Server | undefined): PeerMemorySample {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    connected: server?.connected() ?? 0,
    ...server?.memory?.(),
  };
}

function summarise(values: number[]): WindowReport['rttMs'] {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
  const sum = values.reduce((a, b) => a + b, 0);
  return { p50: at(0.5), p90: at(0.9), p95: at(0.95), p99: at(0.99), max: at(1), mean: sum / Math.max(1, values.length) };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function main(): void {
  const reply = (m: FromPeer): void => void process.send?.(m);
  let server: Server | undefined;
  let loadTimer: NodeJS.Timeout | undefined;
  let window:
    | { started: number; cpu: NodeJS.CpuUsage; elu: ReturnType<typeof performance.eventLoopUtilization>; broker: { user: number; system: number } | undefined }
    | undefined;

  const handle = async (msg: ToPeer): Promise<void> => {
    switch (msg.type) {
      case 'start': {
        if (msg.mode === 'mqtt') {
          const started = await startMqtt(msg);
          server = started.server;
          return reply({ type: 'listening', port: started.port, clientPort: started.clientPort });
        }
        const started = msg.mode === 'ocpp' ? await startOcpp(msg) : await startPoll(msg, msg.mode === 'poll-long');
        server = started.server;
        return reply({ type: 'listening', port: started.port });
      }
      case 'sample':
        return reply({ type: 'sample', memory: memory(server) });
      case 'load': {
        const s = server;
        if (!s) throw new Error('load before start');
        const gateways = msg.gatewayIds.map((id) => s.gateway(id)).filter((g): g is Gateway => g !== undefined);
        const perMs = (gateways.length * msg.rate) / 1000;
        const t0 = performance.now();
        let due = 0;
        loadTimer = setInterval(() => {
          const target = Math.floor((performance.now() - t0) * perMs);
          for (; due < target; due++) {
            const g = gateways[due % gateways.length];
            if (g) dispatch(g);
          }
        }, TICK_MS);
        return reply({ type: 'load-started', peers: gateways.length });
      }
      case 'window-start':
        exchanges = 0;
        sent = 0;
        overruns = 0;
        strays = 0;
        rtts = [];
        recording = true;
        window = { started: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), broker: server?.cpu?.() };
        return reply({ type: 'window-started' });
      case 'window-end': {
        if (!window) throw new Error('window-end before window-start');
        const cpu = process.cpuUsage(window.cpu);
        const elu = performance.eventLoopUtilization(window.elu).utilization;
        const broker = server?.cpu?.();
        const seconds = (performance.now() - window.started) / 1000;
        recording = false;
        for (let waited = 0; waited < GRACE_MS && windowOutstanding() > 0; waited += 20) await sleep(20);
        const lost = windowOutstanding();
        for (const [id, o] of outstanding) if (o.inWindow) outstanding.delete(id);
        const report: PeerWindowReport = {
          seconds,
          cpuUserUs: cpu.user,
          cpuSystemUs: cpu.system,
          elu,
          exchanges,
          sent,
          overruns,
          strays,
          lost,
          rttMs: summarise(rtts),
          memory: memory(server),
          ...(broker && window.broker ? { brokerCpuUserUs: broker.user - window.broker.user, brokerCpuSystemUs: broker.system - window.broker.system } : {}),
        };
        rtts = [];
        return reply({ type: 'window', report });
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
  'bench/peers-server is the server half of the peers benchmark; run `npm run bench:peers` instead.';

main();
