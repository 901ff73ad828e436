/**
 * The link against its peers, in the same run, with the same exchange, on the same machine (issue
 * #7). N simulated gateways in this process, each a real TLS client with its own certificate from the
 * same PKI (bench/link-pki.ts), exchange `rate` command/result pairs per second with one server at a
 * time, the server side in its own process(es) so that its CPU and RSS are its own:
 *
 * - hub: the real hub (bench/link-hub.ts `hub` mode) — mTLS WebSocket, XML decoded and validated.
 * - bare (the floor): bench/link-hub.ts `bare` mode — `https` + `ws`, same TLS, no XML, no checks.
 * - ocpp: OCPP-J RPC over WSS with client certificates (`ocpp-rpc`): the server CALLs `Shed`, the
 *   gateway answers a CALLRESULT; the server validates both with JSON schemas (strict mode).
 * - mqtt: request/response through Mosquitto (TLS listener, client certificates, the CN as user name,
 *   an ACL per gateway, persistence off, TCP_NODELAY), QoS 0, `mqtt` (mqtt.js) clients: the hub side
 *   is one client (in the server process) publishing to gw/<id>/cmd, subscribed to gw/+/res.
 * - poll-short: HTTPS (mTLS, keep-alive) short polling, the paper's baseline: every gateway GETs
 *   /poll every --poll-ms (default 80 ms; see below) and POSTs the results of what it got.
 * - poll-long: HTTPS long polling: the gateway keeps a GET /poll open, the server answers it when a
 *   command is due (or after 30 s with 204); the gateway POSTs the result, then polls again, all on
 *   one keep-alive connection.
 *
 * The exchange is the link benchmark's: the hub side creates a 77-byte XML shed command, the gateway
 * cuts the id out with indexOf (never an XML parser) and answers the 85-byte result with that id.
 * MQTT and polling carry exactly these frames; OCPP-J carries the same content as JSON (the OCPP-J
 * message id is a 36-character UUID, so its frames are longer: the table shows the bytes measured).
 * Round trip = command created at the server → result received at the server (performance.now()).
 *
 * Figures per peer: exchanges/s; p50/p95/p99/max round trip; server CPU per exchange (user + system
 * of the server process; mqtt: mosquitto's from /proc/PID/stat plus the hub client's process); RSS
 * per connection ((RSS with N connected and idle − RSS before the first connection) / N after a full
 * GC, and the same after a warm-up round of 64 connections, as bench/link.ts; mqtt: mosquitto's
 * VmRSS); bytes per exchange: cleartext above TLS (WebSocket/MQTT/HTTP framing and headers included),
 * TLS records (the TCP sockets under the gateways' TLS sockets), TCP segments both ways (the server
 * sockets' tcpi_segs_in + tcpi_segs_out from `ss -ti`; mqtt: the gateway ↔ broker leg only) and an
 * estimate on the wire with 52 bytes of IPv4 + TCP header (with timestamps) per segment; and the
 * highest sustainable rate per gateway: a ramp at --ramp-gateways (default 100) over the --ramp-rates
 * steps, each step a fresh server, stopping at the first that fails; a step passes with nothing lost,
 * p99 ≤ 100 ms and ≥ 97 % of the offered exchanges/s. Hub and bare run link-hub.ts's driver, which
 * keeps one command in flight per gateway: a command due while the last is unanswered replaces it (an
 * overrun) and its round trip is measured from the replacement, so a step with more than 1 % overruns
 * fails as not measurable. The hub closes a connection that sends more than
 * LINK_DEFAULTS.messagesPerSecond (50) results per second after a burst, so a hub step above 50/s
 * fails by policy even when its short window ends before the burst allowance does. Every figure is
 * printed as a ratio to the bare echo too.
 *
 * Short polling's interval: a command waits up to one interval for the next poll, so p99 ≈ 0.99 ×
 * interval + the round trips of the poll and the POST + timer jitter. The ramp asks every peer for
 * p99 ≤ 100 ms; 80 ms leaves 20 ms of that for the round trips and jitter (90 ms already failed it on
 * a busy machine). At 4 commands/s that costs 3.1 polls per command. `--poll-ms 250` (= 1/rate) gives
 * one poll per command and a p99 near 250 ms; the interval stays fixed while the ramp raises the rate.
 *
 * Run: npm run bench:peers [-- --gateways 2000 --seconds 30 --rate 4 --warmup 5 --peers hub,bare,ocpp,mqtt,poll-short,poll-long
 *        --ramp-gateways 100 --ramp-rates 1,2,4,8,16,32,64,128 --ramp-seconds 5 --poll-ms 90 --json FILE]
 *      (or: npx tsc -p tsconfig.json && node dist/bench/peers.js …); --ramp-gateways 0 skips the ramp.
 * Needs: mosquitto (Debian package `mosquitto`) on the PATH or in /usr/sbin for the mqtt peer; `ss`
 * (iproute2) for segment counts (without it they are left out); an open-file limit above the number of
 * gateways. Progress goes to stderr, the Markdown table to stdout.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest, type AgentOptions } from 'node:https';
import { connect as netConnect, createServer as createNetServer, isIP, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { MqttClient } from 'mqtt';
import { RPCClient } from 'ocpp-rpc';
import { WebSocket, type RawData } from 'ws';
import { LINK_DEFAULTS, LINK_PATH, TLS_PROFILE } from '../shared/link.js';
import { encode } from '../shared/protocol/index.js';
import { IpcChild } from './ipc-child.js';
import type { FromHub, HubMode, ToHub, WindowReport } from './link-hub.js';
import { makeBenchPki, type BenchGateway, type BenchPki } from './link-pki.js';
import type { FromPeer, PeerMemorySample, PeerMode, PeerWindowReport, ToPeer } from './peers-server.js';
import { openFileLimit } from '../agent/sim/fleet.js';
import {
  cutId,
  HELLO_PATH,
  MQTT_RESULT_FILTER,
  mqttCommandTopic,
  mqttResultTopic,
  OCPP_METHOD,
  OCPP_PATH,
  OCPP_SUBPROTOCOL,
  ocppShedResult,
  POLL_PATH,
  RESULT_PATH,
  resultFrame,
} from './peers-wire.js';

export type Peer = HubMode | PeerMode;
export const PEERS: readonly Peer[] = ['hub', 'bare', 'ocpp', 'mqtt', 'poll-short', 'poll-long'];

function isHubMode(peer: Peer): peer is HubMode {
  return peer === 'hub' || peer === 'bare';
}

export interface PeersBenchOptions {
  /** Gateways for the main measurement. Default 2000. */
  gateways?: number;
  /** Measured seconds per peer, after the warm-up. Default 30. */
  seconds?: number;
  /** Exchanges per second per gateway. Default 4. */
  rate?: number;
  /** Seconds of load before the measured window. Default 5. */
  warmup?: number;
  /** Which peers, in this order. Default PEERS. */
  peers?: readonly Peer[];
  /** Short polling's interval (ms). Default 80. */
  pollMs?: number;
  /** Gateways for the ramp (0: no ramp). Default 100. */
  rampGateways?: number;
  /** The ramp's rates per gateway, ascending. Default 1, 2, 4, …, 128. */
  rampRates?: readonly number[];
  /** Measured seconds per ramp step (after a 2 s warm-up). Default 5. */
  rampSeconds?: number;
  log?: (line: string) => void;
}

/** What one peer measured with N gateways at one rate. */
export interface PeerFigures {
  peer: Peer;
  gateways: number;
  rate: number;
  connectSeconds: number;
  windowSeconds: number;
  exchangesPerSecond: number;
  rttMs: PeerWindowReport['rttMs'];
  /** Commands created in the window with no answer 2 s after it (hub/bare: see `overruns`). */
  lost: number;
  /** Commands due while the gateway's last one was unanswered. */
  overruns: number;
  strays: number;
  /** Server-side CPU (user + system) in the window / exchanges; mqtt: mosquitto + the hub client. */
  cpuUsPerExchange: number;
  /** mqtt: mosquitto's share of cpuUsPerExchange. */
  brokerCpuUsPerExchange?: number;
  /** The server process's event-loop utilisation (mqtt: the hub client's). */
  elu: number;
  /** (RSS with N connected, idle − RSS before the first connection) / N; mqtt: mosquitto's. Undefined in ramp steps. */
  rssBytesPerConnection?: number;
  /** The same after a warm-up round of 64 connections (see bench/link.ts). */
  rssBytesPerConnectionWarm?: number;
  /** The same with N connected at the end of the window, under load. */
  rssBytesPerConnectionLoaded?: number;
  /** Above TLS, both ways (WebSocket, MQTT or HTTP framing and headers included) per exchange. */
  cleartextBytesPerExchange: number;
  /** TLS records both ways (TCP payload) per exchange, from the gateways' TCP sockets. */
  tlsBytesPerExchange: number;
  /** TCP segments both ways per exchange (the server's sockets, `ss -ti`); undefined without ss. */
  segmentsPerExchange: number | undefined;
  /** tlsBytesPerExchange + 52 bytes per segment (IPv4 20 + TCP 20 + timestamps 12). */
  ipBytesPerExchange: number | undefined;
  /** This (gateway) process's CPU per exchange. */
  clientCpuUsPerExchange: number;
  /** This (gateway) process's CPU in the window, in cores: near 1, the load generator is the limit. */
  clientCores: number;
  closedEarly: number;
  tls: string;
  /** CPU used by everything else on the machine in the window, in cores (/proc/stat). */
  othersCores: number | undefined;
}

export interface RampStep {
  rate: number;
  passed: boolean;
  why: string;
  figures: PeerFigures | undefined;
}

export interface PeerRamp {
  peer: Peer;
  gateways: number;
  /** Highest passing rate per gateway (0: none passed); `capped` when the last step passed too. */
  sustainableRate: number;
  capped: boolean;
  steps: RampStep[];
}

export interface PeersBenchResult {
  node: string;
  cpu: string;
  date: string;
  options: Required<Omit<PeersBenchOptions, 'log'>>;
  results: PeerFigures[];
  ramps: PeerRamp[];
}

const LINK_HUB_SCRIPT = fileURLToPath(new URL('./link-hub.js', import.meta.url));
const PEERS_SERVER_SCRIPT = fileURLToPath(new URL('./peers-server.js', import.meta.url));
const CONNECT_CONCURRENCY = 64;
const WARM_UP_CONNECTIONS = 64;
/** IPv4 (20) + TCP (20) + the timestamp option (12) that Linux puts on every segment. */
const TCP_IP_HEADER_BYTES = 52;
export const RAMP_P99_MS = 100;
/** Above this, the (single-threaded) gateway process is close to saturated. */
const CLIENT_BOUND_CORES = 0.8;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// --- server processes ----------------------------------------------------------------------------------

type FromServer = FromHub | FromPeer;
type ToServer = ToHub | ToPeer;

/** A forked server process (link-hub.js or peers-server.js) spoken to over IPC. */
type ServerProcess = IpcChild<ToServer, FromServer>;
const ServerProcess = {
  start: (script: string): ServerProcess => IpcChild.start<ToServer, FromServer>(script, 'server process', ['--expose-gc']),
};

// --- mosquitto ----------------------------------------------------------------------------------------

function mosquittoPath(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    const candidate = join(dir, 'mosquitto');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error('mosquitto not found (Debian: apt-get install mosquitto); leave mqtt out with --peers');
}

/** A free loopback port: bind port 0, read it, close. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

interface Broker {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Our own mosquitto on a free loopback port: TLS only, client certificate required from our CA (and
 * checked against the same CRL as the hub's), the CN as user name, TLS 1.2+ with the hub's suites, an
 * ACL that lets a gateway read only its own commands and write only its own results, no persistence,
 * TCP_NODELAY like every Node peer here.
 */
async function startBroker(dir: string, pki: BenchPki, hubId: string, log: (line: string) => void): Promise<Broker> {
  const port = await freePort();
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const tls12 = TLS_PROFILE.ciphers.split(':').filter((c) => !c.startsWith('TLS_'));
  const tls13 = TLS_PROFILE.ciphers.split(':').filter((c) => c.startsWith('TLS_'));
  const acl = file(
    'mosquitto.acl',
    [`user ${hubId}`, `topic write ${mqttCommandTopic('+')}`, `topic read ${MQTT_RESULT_FILTER}`, '', `pattern read ${mqttCommandTopic('%u')}`, `pattern write ${mqttResultTopic('%u')}`, ''].join('\n'),
  );
  const conf = file(
    'mosquitto.conf',
    [
      'per_listener_settings false',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'set_tcp_nodelay true',
      // Running as root it would switch to the user `mosquitto`, which cannot read our temporary directory.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      `acl_file ${acl}`,
      `listener ${port} 127.0.0.1`,
      `cafile ${file('ca.pem', pki.caPem)}`,
      `certfile ${file('server.pem', pki.serverCertPem)}`,
      `keyfile ${file('server.key', pki.serverKeyPem)}`,
      `crlfile ${file('crl.pem', pki.crlPem)}`,
      'require_certificate true',
      'use_identity_as_username true',
      'tls_version tlsv1.2',
      `ciphers ${tls12.join(':')}`,
      `ciphers_tls1.3 ${tls13.join(':')}`,
      '',
    ].join('\n'),
  );
  const child = spawn(mosquittoPath(), ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let waited = 0; ; waited += 50) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited: ${stderr.trim()}`);
    if (waited > 10_000) throw new Error(`mosquitto did not listen on ${port} within 10 s: ${stderr.trim()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) break;
    await sleep(50);
  }
  const pid = child.pid ?? 0;
  log(`  mqtt: mosquitto ${pid} listening on 127.0.0.1:${port}`);
  return {
    port,
    pid,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      // Our gateways leave by closing their sockets (as link.ts's do), which mosquitto logs as an
      // "unexpected eof" per connection; and it warns when run as root: neither is worth showing.
      const said = stderr.split('\n').filter((l) => l.trim() && !l.includes('unexpected eof') && !l.includes('should not be run as root'));
      if (said.length > 0) log(`  mqtt: mosquitto said: ${said.slice(-3).join(' | ')}`);
    },
  };
}

// --- the simulated gateways -----------------------------------------------------------------------------

interface Fleet {
  /** Every TLS socket the fleet opened, with the TCP socket under it (TLS records are counted there). */
  sockets: { tls: TLSSocket; raw: Socket }[];
  closers: (() => void)[];
  answers: number;
  unexpected: number;
  closedEarly: number;
  closing: boolean;
}

function newFleet(): Fleet {
  return { sockets: [], closers: [], answers: 0, unexpected: 0, closedEarly: 0, closing: false };
}

const TLS_CLIENT = {
  minVersion: TLS_PROFILE.minVersion,
  maxVersion: TLS_PROFILE.maxVersion,
  ciphers: TLS_PROFILE.ciphers,
  ecdhCurve: TLS_PROFILE.ecdhCurve,
  sigalgs: TLS_PROFILE.sigalgs,
} as const;

/** A TLS connection over a TCP socket we keep: a TLSSocket counts cleartext bytes, the TCP socket TLS records. */
function countedTls(fleet: Fleet, opts: ConnectionOptions & { host?: string; port?: number }): TLSSocket {
  const host = opts.host ?? '127.0.0.1';
  const raw = netConnect({ port: opts.port ?? 0, host, noDelay: true });
  const tls = tlsConnect({ ...opts, servername: isIP(host) ? '' : host, socket: raw });
  fleet.sockets.push({ tls, raw });
  return tls;
}

interface Target {
  peer: Peer;
  port: number;
  pki: BenchPki;
}

/** The answer of link.ts's gateway: the id cut out with indexOf, the result from a template. */
function answerFrame(fleet: Fleet, text: string): string | undefined {
  const id = text.startsWith('<command') ? cutId(text) : undefined;
  if (id === undefined) {
    fleet.unexpected += 1;
    return undefined;
  }
  fleet.answers += 1;
  return resultFrame(id);
}

function connectWs(fleet: Fleet, t: Target, gw: BenchGateway): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${t.port}${LINK_PATH}`, {
      ca: t.pki.caPem,
      cert: gw.certPem,
      key: gw.keyPem,
      ...TLS_CLIENT,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
      createConnection: ((opts: ConnectionOptions & { host: string; port: number }) => countedTls(fleet, opts)) as unknown as typeof netConnect,
    });
    let ready = false;
    const done = (): void => {
      ready = true;
      fleet.closers.push(() => ws.terminate());
      ws.removeAllListeners('message');
      ws.on('message', (data: RawData) => {
        const frame = answerFrame(fleet, (data as Buffer).toString('latin1'));
        if (frame) ws.send(frame);
      });
      resolve();
    };
    ws.on('unexpected-response', (_req, res) => reject(new Error(`${gw.id}: refused with HTTP ${res.statusCode ?? '?'}`)));
    ws.on('error', (err) => (ready ? undefined : reject(new Error(`${gw.id}: ${err.message}`))));
    ws.on('close', (code) => {
      if (!ready) reject(new Error(`${gw.id}: closed (${code}) before the session started`));
      else if (!fleet.closing) fleet.closedEarly += 1;
    });
    ws.on('open', () => {
      if (t.peer === 'bare') return done();
      ws.on('message', (data: RawData) => {
        const text = (data as Buffer).toString('utf8');
        if (text.startsWith('<welcome')) done();
        else reject(new Error(`${gw.id}: expected welcome, got ${text.slice(0, 80)}`));
      });
      ws.send(encode({ kind: 'hello', gatewayId: gw.id, minVersion: 1, maxVersion: 1, agentVersion: '0.1.0', labels: [], viaProxy: false, devices: [] }));
    });
  });
}

async function connectOcpp(fleet: Fleet, t: Target, gw: BenchGateway): Promise<void> {
  const options = {
    identity: gw.id,
    endpoint: `wss://127.0.0.1:${t.port}${OCPP_PATH}`,
    protocols: [OCPP_SUBPROTOCOL],
    reconnect: false,
    strictMode: false,
    wsOpts: {
      ca: t.pki.caPem,
      cert: gw.certPem,
      key: gw.keyPem,
      ...TLS_CLIENT,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
      createConnection: (opts: ConnectionOptions & { host: string; port: number }) => countedTls(fleet, opts),
    },
  };
  const client = new RPCClient(options as unknown as ConstructorParameters<typeof RPCClient>[0]);
  client.handle(OCPP_METHOD, () => {
    fleet.answers += 1;
    return Promise.resolve(ocppShedResult());
  });
  await client.connect();
  (client as unknown as EventEmitter).on('close', () => {
    if (!fleet.closing) fleet.closedEarly += 1;
  });
  fleet.closers.push(() => void client.close({ force: true }));
}

async function connectMqtt(fleet: Fleet, t: Target, gw: BenchGateway): Promise<void> {
  const client = new MqttClient(
    () => countedTls(fleet, { host: '127.0.0.1', port: t.port, ca: t.pki.caPem, cert: gw.certPem, key: gw.keyPem, ...TLS_CLIENT }),
    { clientId: gw.id, protocolVersion: 4, clean: true, keepalive: 60, reconnectPeriod: 0, connectTimeout: 30_000 },
  );
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (err) => reject(new Error(`${gw.id}: ${err.message}`)));
  });
  const granted = await client.subscribeAsync(mqttCommandTopic(gw.id), { qos: 0 });
  if (granted[0]?.qos !== 0) throw new Error(`${gw.id}: subscription to its commands refused (${JSON.stringify(granted)})`);
  const resultTopic = mqttResultTopic(gw.id);
  client.on('message', (_topic, payload) => {
    const frame = answerFrame(fleet, payload.toString('latin1'));
    if (frame) client.publish(resultTopic, frame, { qos: 0 });
  });
  client.on('close', () => {
    if (!fleet.closing) fleet.closedEarly += 1;
  });
  fleet.closers.push(() => void client.end(true));
}

interface PollGateway {
  get(path: string): Promise<{ status: number; body: string }>;
  post(path: string, body: string): Promise<number>;
}

/** An HTTPS client with one keep-alive connection (a gateway does not need more). */
function pollGateway(fleet: Fleet, t: Target, gw: BenchGateway): PollGateway {
  const agentOptions: AgentOptions = { keepAlive: true, maxSockets: 1, maxFreeSockets: 1, maxCachedSessions: 0, ca: t.pki.caPem, cert: gw.certPem, key: gw.keyPem, ...TLS_CLIENT };
  const agent = new HttpsAgent(agentOptions);
  (agent as unknown as { createConnection: (o: ConnectionOptions) => TLSSocket }).createConnection = (o) => countedTls(fleet, o);
  fleet.closers.push(() => agent.destroy());
  const send = (method: string, path: string, body?: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: t.port, method, path, agent, ...(body === undefined ? {} : { headers: { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) } }) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return { get: (path) => send('GET', path), post: async (path, body) => (await send('POST', path, body)).status };
}

/** Answers what a poll brought: one result per command, all in one POST. */
async function answerPoll(fleet: Fleet, g: PollGateway, body: string): Promise<void> {
  const results = body
    .split('\n')
    .map((line) => answerFrame(fleet, line))
    .filter((r): r is string => r !== undefined);
  if (results.length > 0 && (await g.post(RESULT_PATH, results.join('\n'))) !== 204) throw new Error('result refused');
}

interface PollFleet extends Fleet {
  polls: Map<string, PollGateway>;
}

async function connectPoll(fleet: PollFleet, t: Target, gw: BenchGateway): Promise<void> {
  const g = pollGateway(fleet, t, gw);
  const { status } = await g.get(HELLO_PATH);
  if (status !== 204) throw new Error(`${gw.id}: hello answered ${status}`);
  fleet.polls.set(gw.id, g);
}

/** Starts the gateways' polling loops (the server's load drives nothing over HTTP by itself). */
function startPolling(fleet: PollFleet, peer: 'poll-short' | 'poll-long', pollMs: number): void {
  const failed = (): void => {
    if (!fleet.closing) fleet.closedEarly += 1;
  };
  for (const g of fleet.polls.values()) {
    if (peer === 'poll-long') {
      const loop = async (): Promise<void> => {
        while (!fleet.closing) {
          const r = await g.get(POLL_PATH);
          if (r.status === 200) await answerPoll(fleet, g, r.body);
        }
      };
      loop().catch(failed);
      continue;
    }
    // Every pollMs, in phase with a random offset; a poll still in flight skips a beat.
    let busy = false;
    let timer: NodeJS.Timeout | undefined;
    const poll = (): void => {
      if (busy || fleet.closing) return;
      busy = true;
      g.get(POLL_PATH)
        .then((r) => (r.status === 200 ? answerPoll(fleet, g, r.body) : undefined))
        .then(
          () => (busy = false),
          () => (clearInterval(timer), failed()),
        );
    };
    const start = setTimeout(() => {
      timer = setInterval(poll, pollMs);
      poll();
    }, Math.random() * pollMs);
    fleet.closers.push(() => (clearTimeout(start), clearInterval(timer)));
  }
}

async function connectFleet(fleet: Fleet, t: Target, gateways: readonly BenchGateway[]): Promise<void> {
  const one = (gw: BenchGateway): Promise<void> => {
    switch (t.peer) {
      case 'hub':
      case 'bare':
        return connectWs(fleet, t, gw);
      case 'ocpp':
        return connectOcpp(fleet, t, gw);
      case 'mqtt':
        return connectMqtt(fleet, t, gw);
      case 'poll-short':
      case 'poll-long':
        return connectPoll(fleet as PollFleet, t, gw);
    }
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < gateways.length) {
      const gw = gateways[next++];
      if (gw) await one(gw);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
}

async function closeFleet(fleet: Fleet): Promise<void> {
  fleet.closing = true;
  for (const close of fleet.closers) close();
  for (const s of fleet.sockets) s.raw.destroy();
  await sleep(200);
}

interface ClientSnapshot {
  answers: number;
  cleartext: number;
  tls: number;
  cpu: NodeJS.CpuUsage;
  segments: number | undefined;
  machine: number | undefined;
}

/** TCP segments both ways on the server's established sockets on `port` (tcpi_segs_in + tcpi_segs_out). */
function serverSegments(port: number, excludePeerPort: number | undefined): number | undefined {
  let out: string;
  try {
    out = execFileSync('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  } catch {
    return undefined;
  }
  let total = 0;
  // One entry per socket: the address line, then the info (on the next line, or the same one).
  for (const entry of out.split(/\n(?=\S)/)) {
    const peerPort = /\S+:(\d+)\s+\S+:(\d+)/.exec(entry)?.[2];
    if (excludePeerPort !== undefined && Number(peerPort) === excludePeerPort) continue;
    total += Number(/segs_out:(\d+)/.exec(entry)?.[1] ?? 0) + Number(/segs_in:(\d+)/.exec(entry)?.[1] ?? 0);
  }
  return total;
}

function snapshot(fleet: Fleet, port: number, excludePeerPort: number | undefined): ClientSnapshot {
  let cleartext = 0;
  let tls = 0;
  for (const s of fleet.sockets) {
    cleartext += s.tls.bytesRead + s.tls.bytesWritten;
    tls += s.raw.bytesRead + s.raw.bytesWritten;
  }
  const segments = serverSegments(port, excludePeerPort);
  return { answers: fleet.answers, cleartext, tls, cpu: process.cpuUsage(), segments, machine: machineBusyUs() };
}

/** CPU time (µs) all CPUs of the machine spent busy since boot, from /proc/stat (Linux). */
function machineBusyUs(): number | undefined {
  try {
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    return ((user + nice + system + irq + softirq + steal) * 1e6) / 100;
  } catch {
    return undefined;
  }
}

// --- one peer, one rate --------------------------------------------------------------------------------

interface Measure {
  peer: Peer;
  gateways: number;
  rate: number;
  seconds: number;
  warmup: number;
  pollMs: number;
  /** Memory samples and the warm-up round (the main measurement); ramp steps leave them out. */
  memory: boolean;
  pki: BenchPki;
  /** The identity of the MQTT hub client (not one of the gateways). */
  hubIdentity: BenchGateway;
  dir: string;
  crlPath: string;
  log: (line: string) => void;
}

async function measure(m: Measure): Promise<PeerFigures> {
  const hubMode = isHubMode(m.peer) ? m.peer : undefined;
  const viaLinkHub = hubMode !== undefined;
  const server = ServerProcess.start(viaLinkHub ? LINK_HUB_SCRIPT : PEERS_SERVER_SCRIPT);
  const broker = m.peer === 'mqtt' ? await startBroker(m.dir, m.pki, m.hubIdentity.id, m.log) : undefined;
  let fleet: Fleet | undefined;
  try {
    const common = { caPem: m.pki.caPem, certPem: m.pki.serverCertPem, keyPem: m.pki.serverKeyPem, crlPem: m.pki.crlPem };
    const started: { port: number; clientPort?: number } = hubMode
      ? await server.call({ type: 'start', mode: hubMode, crlPath: m.crlPath, ...common }, 'listening')
      : await server.call(
          {
            type: 'start',
            mode: m.peer as PeerMode,
            ...common,
            ...(broker ? { mqtt: { port: broker.port, pid: broker.pid, certPem: m.hubIdentity.certPem, keyPem: m.hubIdentity.keyPem } } : {}),
          },
          'listening',
        );
    const clientPort = started.clientPort;
    const target: Target = { peer: m.peer, port: started.port, pki: m.pki };
    const sample = async (): Promise<PeerMemorySample> => (await server.call({ type: 'sample' }, 'sample')).memory;
    /** RSS of what holds the connections: the server process, or mosquitto. */
    const rss = (s: PeerMemorySample): number => s.brokerRss ?? s.rss;
    const fresh = (): Fleet => {
      if (m.peer !== 'poll-short' && m.peer !== 'poll-long') return newFleet();
      const polling: PollFleet = { ...newFleet(), polls: new Map() };
      return polling;
    };
    let before: PeerMemorySample | undefined;
    let warm: PeerMemorySample | undefined;
    if (m.memory) {
      before = await sample();
      const warmUp = fresh();
      await connectFleet(warmUp, target, m.pki.gateways.slice(0, Math.min(WARM_UP_CONNECTIONS, m.gateways)));
      await closeFleet(warmUp);
      warm = await sample();
      for (let waited = 0; warm.connected > 0; waited += 100) {
        if (waited > 10_000) throw new Error(`${m.peer}: ${warm.connected} warm-up connections still open after 10 s`);
        await sleep(100);
        warm = await sample();
      }
    }
    const t0 = performance.now();
    fleet = fresh();
    const gateways = m.pki.gateways.slice(0, m.gateways);
    await connectFleet(fleet, target, gateways);
    const connectSeconds = (performance.now() - t0) / 1000;
    const first = fleet.sockets[0]?.tls;
    const tls = first ? `${first.getProtocol() ?? '?'} ${first.getCipher().name}` : '?';
    const idle = m.memory ? await sample() : undefined;
    if (idle && idle.connected !== m.gateways) throw new Error(`${m.peer}: the server counts ${idle.connected} connections, expected ${m.gateways}`);
    const load = viaLinkHub ? ({ type: 'load', rate: m.rate } as const) : ({ type: 'load', rate: m.rate, gatewayIds: gateways.map((g) => g.id) } as const);
    const { peers } = await server.call(load, 'load-started');
    if (peers !== m.gateways) throw new Error(`${m.peer}: the server drives ${peers} gateways, expected ${m.gateways}`);
    if (m.peer === 'poll-short' || m.peer === 'poll-long') startPolling(fleet as PollFleet, m.peer, m.pollMs);
    m.log(`  ${m.peer}: ${m.gateways} gateways connected in ${connectSeconds.toFixed(1)} s (${tls}); ${m.rate}/s each; warming up ${m.warmup} s`);
    await sleep(m.warmup * 1000);
    const a = snapshot(fleet, target.port, clientPort);
    await server.call({ type: 'window-start' }, 'window-started');
    await sleep(m.seconds * 1000);
    const { report } = (await server.call({ type: 'window-end' }, 'window')) as { report: WindowReport & Partial<PeerWindowReport> };
    const b = snapshot(fleet, target.port, clientPort);
    const answers = b.answers - a.answers;
    const clientCpu = b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
    const brokerCpu = (report.brokerCpuUserUs ?? 0) + (report.brokerCpuSystemUs ?? 0);
    const serverCpu = report.cpuUserUs + report.cpuSystemUs + brokerCpu;
    const segmentsPerExchange = a.segments === undefined || b.segments === undefined ? undefined : (b.segments - a.segments) / answers;
    const tlsBytesPerExchange = (b.tls - a.tls) / answers;
    // link-hub.ts's driver counts answers received in the window, one command in flight per gateway:
    // a command due while the last is unanswered replaces it (an overrun), and the late answer to the
    // replaced one comes back as a stray. Lost is what is missing beyond that and beyond one command
    // per gateway in flight at either edge of the window.
    const lost = report.lost ?? Math.max(0, report.sent - report.exchanges - report.strays - m.gateways);
    const figures: PeerFigures = {
      peer: m.peer,
      gateways: m.gateways,
      rate: m.rate,
      connectSeconds,
      windowSeconds: report.seconds,
      exchangesPerSecond: report.exchanges / report.seconds,
      rttMs: report.rttMs,
      lost,
      overruns: report.overruns,
      strays: report.strays,
      cpuUsPerExchange: serverCpu / report.exchanges,
      ...(report.brokerCpuUserUs === undefined ? {} : { brokerCpuUsPerExchange: brokerCpu / report.exchanges }),
      elu: report.elu,
      ...(before && warm && idle
        ? {
            rssBytesPerConnection: (rss(idle) - rss(before)) / m.gateways,
            rssBytesPerConnectionWarm: (rss(idle) - rss(warm)) / m.gateways,
            rssBytesPerConnectionLoaded: (rss(report.memory) - rss(before)) / m.gateways,
          }
        : {}),
      cleartextBytesPerExchange: (b.cleartext - a.cleartext) / answers,
      tlsBytesPerExchange,
      segmentsPerExchange,
      ipBytesPerExchange: segmentsPerExchange === undefined ? undefined : tlsBytesPerExchange + TCP_IP_HEADER_BYTES * segmentsPerExchange,
      clientCpuUsPerExchange: clientCpu / answers,
      clientCores: clientCpu / 1e6 / report.seconds,
      closedEarly: fleet.closedEarly,
      tls,
      othersCores: a.machine === undefined || b.machine === undefined ? undefined : Math.max(0, b.machine - a.machine - clientCpu - serverCpu) / 1e6 / report.seconds,
    };
    m.log(
      `  ${m.peer}: ${Math.round(figures.exchangesPerSecond)} exchanges/s, p50 ${f(figures.rttMs.p50, 2)} p95 ${f(figures.rttMs.p95, 2)} p99 ${f(figures.rttMs.p99, 2)} ms, ` +
        `${f(figures.cpuUsPerExchange)} µs server CPU/exchange${figures.brokerCpuUsPerExchange === undefined ? '' : ` (mosquitto ${f(figures.brokerCpuUsPerExchange)})`}, ` +
        `${figures.rssBytesPerConnection === undefined ? '' : `RSS/connection ${kib(figures.rssBytesPerConnection)} KiB, `}` +
        `${f(figures.tlsBytesPerExchange, 0)} TLS bytes/exchange, ${f(figures.segmentsPerExchange ?? Number.NaN, 2)} segments/exchange, ` +
        `lost ${figures.lost}, overruns ${figures.overruns}, closed early ${figures.closedEarly}; other load ${figures.othersCores === undefined ? '?' : f(figures.othersCores, 2)} cores`,
    );
    return figures;
  } finally {
    if (fleet) await closeFleet(fleet);
    await server.stop();
    await broker?.stop();
  }
}

/** Why a ramp step fails ('' when it passes). */
function verdict(p: PeerFigures): string {
  const why: string[] = [];
  if (p.lost > 0) why.push(`${p.lost} lost`);
  // link-hub.ts's driver measures an overrun command's round trip from the command that replaced it:
  // beyond 1 % of them its p99 is no longer a faithful figure.
  const sent = p.exchangesPerSecond * p.windowSeconds;
  if (isHubMode(p.peer) && p.overruns > 0.01 * sent) why.push(`${p.overruns} overruns (> 1 %: p99 not measurable with one command in flight)`);
  if (p.closedEarly > 0) why.push(`${p.closedEarly} closed`);
  if (!(p.rttMs.p99 <= RAMP_P99_MS)) why.push(`p99 ${f(p.rttMs.p99, 1)} ms`);
  if (p.peer === 'hub' && p.rate > LINK_DEFAULTS.messagesPerSecond) why.push(`above the hub's rate limit of ${LINK_DEFAULTS.messagesPerSecond} messages/s per connection`);
  const expected = p.gateways * p.rate;
  if (p.exchangesPerSecond < 0.97 * expected) why.push(`${Math.round(p.exchangesPerSecond)} of ${Math.round(expected)} exchanges/s`);
  return why.join(', ');
}

export async function runPeersBench(options: PeersBenchOptions = {}): Promise<PeersBenchResult> {
  const o = {
    gateways: options.gateways ?? 2000,
    seconds: options.seconds ?? 30,
    rate: options.rate ?? 4,
    warmup: options.warmup ?? 5,
    peers: options.peers ?? PEERS,
    pollMs: options.pollMs ?? 80,
    rampGateways: options.rampGateways ?? 100,
    rampRates: options.rampRates ?? [1, 2, 4, 8, 16, 32, 64, 128],
    rampSeconds: options.rampSeconds ?? 5,
  };
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const limit = openFileLimit();
  const most = Math.max(o.gateways, o.rampGateways);
  if (limit !== undefined && limit < most + 256) {
    throw new Error(`the open-file limit is ${limit}, too low for ${most} gateways; raise it with \`ulimit -n ${most + 1024}\` or pass --gateways`);
  }
  if (o.peers.includes('mqtt')) mosquittoPath();
  const t0 = performance.now();
  const pki = await makeBenchPki(most + 1);
  const hubIdentity = pki.gateways.pop();
  if (!hubIdentity) throw new Error('unreachable');
  log(`PKI: CA, server and ${most + 1} client certificates made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const dir = mkdtempSync(join(tmpdir(), 'lmgw-bench-peers-'));
  const crlPath = join(dir, 'crl.pem');
  writeFileSync(crlPath, pki.crlPem);
  const base = { pki, hubIdentity, dir, crlPath, log, pollMs: o.pollMs };
  const results: PeerFigures[] = [];
  const ramps: PeerRamp[] = [];
  try {
    for (const peer of o.peers) {
      log(`${peer}: ${o.gateways} gateways × ${o.rate}/s, ${o.seconds} s after ${o.warmup} s`);
      results.push(await measure({ ...base, peer, gateways: o.gateways, rate: o.rate, seconds: o.seconds, warmup: o.warmup, memory: true }));
    }
    if (o.rampGateways > 0) {
      for (const peer of o.peers) {
        log(`${peer}: ramp at ${o.rampGateways} gateways over ${o.rampRates.join(', ')}/s`);
        const steps: RampStep[] = [];
        for (const rate of o.rampRates) {
          let figures: PeerFigures | undefined;
          let why: string;
          try {
            figures = await measure({ ...base, peer, gateways: o.rampGateways, rate, seconds: o.rampSeconds, warmup: 2, memory: false });
            why = verdict(figures);
          } catch (err) {
            why = err instanceof Error ? err.message : String(err);
          }
          steps.push({ rate, passed: why === '', why, figures });
          log(`  ${peer} at ${rate}/s: ${why === '' ? 'passed' : `failed (${why})`}`);
          if (why !== '') break;
        }
        const passed = steps.filter((s) => s.passed);
        ramps.push({ peer, gateways: o.rampGateways, sustainableRate: passed.at(-1)?.rate ?? 0, capped: steps.length === o.rampRates.length && steps.every((s) => s.passed), steps });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { node: process.version, cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`, date: new Date().toISOString(), options: o, results, ramps };
}


// --- reporting -------------------------------------------------------------------------------------------

function f(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}
function kib(bytes: number): string {
  return f(bytes / 1024, 1);
}
function ratio(value: number | undefined, floor: number | undefined): string {
  return value === undefined || floor === undefined || !Number.isFinite(value / floor) ? '' : ` (${f(value / floor, 2)}×)`;
}

/** One Markdown row per peer; (n×) is the ratio to the bare echo. */
export function formatTable(r: PeersBenchResult): string {
  const bare = r.results.find((p) => p.peer === 'bare');
  const ramp = new Map(r.ramps.map((x) => [x.peer, x]));
  const lines = [
    '| peer | exchanges/s | p50 ms | p95 ms | p99 ms | max ms | server CPU µs/exchange | RSS KiB/connection (idle / after warm-up / loaded) | cleartext bytes/exchange | TLS bytes/exchange | segments/exchange | est. IP bytes/exchange | client CPU µs/exchange | lost | highest rate/gateway (p99 ≤ 100 ms) | other load (cores) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const p of r.results) {
    const x = ramp.get(p.peer);
    const cpu = `${f(p.cpuUsPerExchange)}${p.brokerCpuUsPerExchange === undefined ? '' : ` (mosquitto ${f(p.brokerCpuUsPerExchange)})`}${ratio(p.cpuUsPerExchange, bare?.cpuUsPerExchange)}`;
    const mem =
      p.rssBytesPerConnection === undefined
        ? '–'
        : `${kib(p.rssBytesPerConnection)}${ratio(p.rssBytesPerConnection, bare?.rssBytesPerConnection)} / ${kib(p.rssBytesPerConnectionWarm ?? Number.NaN)} / ${kib(p.rssBytesPerConnectionLoaded ?? Number.NaN)}`;
    lines.push(
      `| ${p.peer} | ${Math.round(p.exchangesPerSecond).toLocaleString('en-US')} | ${f(p.rttMs.p50, 2)} | ${f(p.rttMs.p95, 2)} | ${f(p.rttMs.p99, 2)}${ratio(p.rttMs.p99, bare?.rttMs.p99)} | ${f(p.rttMs.max, 1)} | ` +
        `${cpu} | ${mem} | ${f(p.cleartextBytesPerExchange, 0)}${ratio(p.cleartextBytesPerExchange, bare?.cleartextBytesPerExchange)} | ` +
        `${f(p.tlsBytesPerExchange, 0)}${ratio(p.tlsBytesPerExchange, bare?.tlsBytesPerExchange)} | ${f(p.segmentsPerExchange ?? Number.NaN, 2)} | ` +
        `${f(p.ipBytesPerExchange ?? Number.NaN, 0)}${ratio(p.ipBytesPerExchange, bare?.ipBytesPerExchange)} | ${f(p.clientCpuUsPerExchange)} | ${p.lost} | ` +
        `${x ? `${x.capped ? '≥ ' : ''}${x.sustainableRate}/s${ratio(x.sustainableRate || undefined, ramp.get('bare')?.sustainableRate || undefined)}` : '–'} | ${p.othersCores === undefined ? '?' : f(p.othersCores, 2)} |`,
    );
  }
  return lines.join('\n');
}

export function formatRamps(r: PeersBenchResult): string {
  if (r.ramps.length === 0) return '';
  const lines = [
    `Ramp at ${r.options.rampGateways} gateways, ${r.options.rampSeconds} s per step (after 2 s), a fresh server per step, stopping at the first failure; a step passes with nothing lost, p99 ≤ ${RAMP_P99_MS} ms and ≥ 97 % of the offered exchanges/s (hub, bare: ≤ 1 % overruns; hub: ≤ ${LINK_DEFAULTS.messagesPerSecond}/s, its rate limit):`,
    '',
    '| peer | rate/gateway | exchanges/s | p50 ms | p99 ms | server CPU µs/exchange | lost | overruns | other load (cores) | verdict |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const x of r.ramps) {
    for (const s of x.steps) {
      const p = s.figures;
      lines.push(
        `| ${x.peer} | ${s.rate} | ${p ? Math.round(p.exchangesPerSecond).toLocaleString('en-US') : '–'} | ${p ? f(p.rttMs.p50, 2) : '–'} | ${p ? f(p.rttMs.p99, 2) : '–'} | ${p ? f(p.cpuUsPerExchange) : '–'} | ${p?.lost ?? '–'} | ${p?.overruns ?? '–'} | ${p?.othersCores === undefined ? '?' : f(p.othersCores, 2)} | ${s.passed ? 'pass' : `fail: ${s.why}`} |`,
      );
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      gateways: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string' },
      warmup: { type: 'string' },
      peers: { type: 'string' },
      'poll-ms': { type: 'string' },
      'ramp-gateways': { type: 'string' },
      'ramp-rates': { type: 'string' },
      'ramp-seconds': { type: 'string' },
      json: { type: 'string' },
    },
  });
  const num = (name: string, value: string | undefined, min: number): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, not "${value}"`);
    return n;
  };
  const peers = values.peers?.split(',').map((p) => p.trim());
  const unknown = peers?.filter((p) => !(PEERS as readonly string[]).includes(p));
  if (unknown?.length) throw new Error(`--peers: unknown ${unknown.join(', ')} (known: ${PEERS.join(', ')})`);
  const rampRates = values['ramp-rates']?.split(',').map((r) => num('ramp-rates', r, 0.1) ?? 0);
  if (rampRates?.some((r, i) => i > 0 && r <= (rampRates[i - 1] ?? 0))) throw new Error('--ramp-rates must be ascending');
  const options: PeersBenchOptions = {
    ...(values.gateways === undefined ? {} : { gateways: num('gateways', values.gateways, 1) }),
    ...(values.seconds === undefined ? {} : { seconds: num('seconds', values.seconds, 1) }),
    ...(values.rate === undefined ? {} : { rate: num('rate', values.rate, 0.1) }),
    ...(values.warmup === undefined ? {} : { warmup: num('warmup', values.warmup, 0) }),
    ...(peers === undefined ? {} : { peers: peers as Peer[] }),
    ...(values['poll-ms'] === undefined ? {} : { pollMs: num('poll-ms', values['poll-ms'], 1) }),
    ...(values['ramp-gateways'] === undefined ? {} : { rampGateways: num('ramp-gateways', values['ramp-gateways'], 0) }),
    ...(rampRates === undefined ? {} : { rampRates }),
    ...(values['ramp-seconds'] === undefined ? {} : { rampSeconds: num('ramp-seconds', values['ramp-seconds'], 1) }),
  };
  const r = await runPeersBench(options);
  const first = r.results[0];
  console.log(
    `peers benchmark — Node ${r.node}, ${r.cpu}, ${r.date.slice(0, 10)}; ${r.options.gateways} gateways × ${r.options.rate}/s, ` +
      `${r.options.seconds} s measured after ${r.options.warmup} s warm-up, short polling every ${r.options.pollMs} ms, ${first?.tls ?? ''}; (n×) = ratio to bare\n`,
  );
  console.log(formatTable(r));
  const ramps = formatRamps(r);
  if (ramps) console.log(`\n${ramps}`);
  const odd = r.results.filter((p) => p.lost || p.strays || p.closedEarly || p.overruns);
  for (const p of odd) console.log(`note: ${p.peer}: ${p.lost} lost, ${p.overruns} overruns, ${p.strays} stray answers, ${p.closedEarly} closed early`);
  // The gateways share one Node process: an HTTP client costs several times a WebSocket's per exchange.
  for (const p of r.results.filter((x) => x.clientCores > CLIENT_BOUND_CORES)) {
    console.log(`note: ${p.peer}: the gateways' process used ${f(p.clientCores, 2)} cores; the load generator, not the server, may be what limits this row (try fewer --gateways)`);
  }
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(r, null, 2)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main().catch((err: unknown) => {
    console.error(`peers benchmark: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  });
}
