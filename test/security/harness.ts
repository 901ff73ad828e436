/**
 * What the security suite shares: a PKI made with our certs/ code, the real hub in a child process
 * (hub-child.mjs: the `lm-console --headless` start path, compiled code from dist/), well-behaved
 * gateways that measure their round trips while an attacker works, and raw TLS/WebSocket sockets
 * for the attacks `ws` would refuse to make.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import type { CertificateAuthority } from '../../certs/ca.js';
import { LINK_PATH } from '../../shared/link.js';
import { decode, encode, type Message } from '../../shared/protocol/index.js';
import { aHello, dial, type Credentials } from '../console/hub/link/link-client.js';
import { aCa } from '../helpers/pki.js';
import { ROOT } from '../helpers/processes.js';

export interface Pki {
  ca: CertificateAuthority;
  caPath: string;
  certPath: string;
  keyPath: string;
  crlPath: string;
  /** A gateway certificate from our CA, as PEM and as files (for the scanners). */
  gateway(id: string): Promise<Credentials & { certPath: string; keyPath: string }>;
}

/** A CA in `<parent>/<name>` (certs/ code), the hub's certificate and key, and gateways on demand, as files in `<parent>/<name>-files`. */
export async function aPki(parent: string, name = 'pki'): Promise<Pki> {
  const ca = await aCa(parent, name);
  const dir = join(parent, `${name}-files`);
  mkdirSync(dir, { mode: 0o700 });
  const server = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const caPath = join(dir, 'ca.pem');
  const certPath = join(dir, 'hub.pem');
  const keyPath = join(dir, 'hub.key');
  writeFileSync(caPath, ca.certificatePem);
  writeFileSync(certPath, server.certPem);
  writeFileSync(keyPath, server.keyPem ?? '', { mode: 0o600 });
  return {
    ca,
    caPath,
    certPath,
    keyPath,
    crlPath: join(ca.paths.dir, 'crl.pem'),
    async gateway(id) {
      const g = await ca.issueGateway({ id });
      const gCert = join(dir, `${id}.pem`);
      const gKey = join(dir, `${id}.key`);
      writeFileSync(gCert, g.certPem);
      writeFileSync(gKey, g.keyPem ?? '', { mode: 0o600 });
      return { caPem: ca.certificatePem, certPem: g.certPem, keyPem: g.keyPem ?? '', certPath: gCert, keyPath: gKey };
    },
  };
}

/** What hub-child.mjs reports about itself. */
export interface HubSample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  uncaught: string[];
  prototypeAtStart: string[];
  prototypeNow: string[];
  pollutedProbes: string[];
  connected: string[];
  refusals: Record<string, number>;
  messages: Record<string, number>;
  disconnects: Record<string, number>;
}

export interface HubProcess {
  pid: number;
  port: number;
  child: ChildProcess;
  /** Asks the hub's process about itself (over IPC). */
  sample(): Promise<HubSample>;
  /** The hub's resident set size as the kernel counts it (/proc/PID/status VmRSS), in bytes. */
  rss(): number;
  /** Whether the process is still running. */
  alive(): boolean;
  output(): string;
  stop(): Promise<void>;
}

/** The hub child runs the compiled code: refuse to test a dist/ older than the link server's source. */
function checkBuilt(): void {
  const built = join(ROOT, 'dist', 'console', 'hub', 'hub.js');
  const builtLink = join(ROOT, 'dist', 'console', 'hub', 'link', 'server.js');
  const source = join(ROOT, 'console', 'hub', 'link', 'server.ts');
  if (!existsSync(built) || !existsSync(builtLink)) {
    throw new Error(`the security tests run the hub from dist/, which is not built: run \`npx tsc -p tsconfig.json\` (npm test builds first)`);
  }
  if (statSync(builtLink).mtimeMs < statSync(source).mtimeMs) {
    throw new Error(`dist/ is older than console/hub/link/server.ts: run \`npx tsc -p tsconfig.json\` so the hub under test is the current code`);
  }
}

/**
 * Starts the real hub in a child process with the given `link` section of the hub config (limits
 * as a user would set them in the config file), and optionally link options beyond the config
 * schema's ranges (`linkOverrides`, LinkServerOptions fields).
 */
export async function startHubProcess(dir: string, pki: Pki, link: Record<string, number> = {}, linkOverrides?: Record<string, number>): Promise<HubProcess> {
  checkBuilt();
  const configPath = join(dir, `hub-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(
    configPath,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      tls: { ca: pki.caPath, cert: pki.certPath, key: pki.keyPath, crl: pki.crlPath },
      dataDir: join(dir, `data-${randomBytes(4).toString('hex')}`),
      timeZone: 'UTC',
      operatorApi: { enabled: false },
      link,
    }),
  );
  // execArgv: [] so the test runner's own flags (loaders, inspector) do not leak into the hub.
  const args = linkOverrides ? [configPath, JSON.stringify(linkOverrides)] : [configPath];
  const child = fork(join(ROOT, 'test', 'security', 'hub-child.mjs'), args, { cwd: ROOT, execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const pending: ((s: HubSample) => void)[] = [];
  const { port, pid } = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the hub did not start within 30 s:\n${output}`)), 30_000);
    child.on('message', (m: { type: string; port?: number; pid?: number; sample?: HubSample }) => {
      if (m.type === 'listening' && m.port && m.pid) {
        clearTimeout(timer);
        resolve({ port: m.port, pid: m.pid });
      }
      if (m.type === 'sample' && m.sample) pending.shift()?.(m.sample);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the hub exited (${code ?? signal}) while starting:\n${output}`));
    });
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    pid,
    port,
    child,
    alive,
    output: () => output,
    sample: () =>
      new Promise<HubSample>((resolve, reject) => {
        if (!alive()) return reject(new Error(`the hub process is gone (exit ${child.exitCode ?? child.signalCode}):\n${output}`));
        const timer = setTimeout(() => reject(new Error('the hub did not answer a sample within 10 s')), 10_000);
        pending.push((s) => {
          clearTimeout(timer);
          resolve(s);
        });
        child.send({ type: 'sample' });
      }),
    rss: () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
      if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
      return Number(kb) * 1024;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (!alive()) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.send({ type: 'stop' });
      }),
  };
}

// --- well-behaved gateways ------------------------------------------------------------------------

/** A percentile of `values` (ms), nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * A gateway that behaves: hello, then one telemetry batch at a time, each answered by the hub's
 * ack after it is stored — a round trip through the hub's whole message path (TLS, ws, decode, the
 * fleet logic, SQLite, encode). Round trips are timed from send to ack.
 */
export class GoodGateway {
  readonly rtts: number[] = [];
  /** Batches that got no ack within their timeout. */
  lost = 0;
  closedWith: { code: number; reason: string } | undefined;
  private seq = 0;
  private waiting: { seq: number; resolve: () => void } | undefined;
  private running = false;
  private loop: Promise<void> | undefined;

  private constructor(
    readonly id: string,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (data: Buffer) => {
      const m = decode(data.toString());
      if (m.kind === 'ack' && this.waiting?.seq === m.seq) this.waiting.resolve();
    });
    ws.on('close', (code, reason) => (this.closedWith = { code, reason: reason.toString() }));
  }

  static async connect(port: number, creds: Credentials, id: string): Promise<GoodGateway> {
    const d = await dial(port, creds);
    if (d.kind !== 'open') throw new Error(`good gateway ${id} refused: ${d.status} ${d.refusal ?? ''}`);
    const welcome = new Promise<Message>((resolve) => d.ws.once('message', (data: Buffer) => resolve(decode(data.toString()))));
    d.ws.send(encode(aHello(id)));
    const m = await welcome;
    if (m.kind !== 'welcome') throw new Error(`good gateway ${id}: expected welcome, got ${m.kind}`);
    return new GoodGateway(id, d.ws);
  }

  /** One telemetry → ack round trip; false when the ack did not come within `timeoutMs`. */
  async roundTrip(timeoutMs = 10_000): Promise<boolean> {
    const seq = ++this.seq;
    const t0 = performance.now();
    const acked = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiting = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
    });
    this.ws.send(encode({ kind: 'telemetry', seq, samples: [{ time: Date.now(), kw: 12.5, relays: [{ channel: 1, on: true }] }] }));
    const ok = await acked;
    this.waiting = undefined;
    if (ok) this.rtts.push(performance.now() - t0);
    else this.lost += 1;
    return ok;
  }

  /** Round trips one after another, `everyMs` apart, until stop(). */
  start(everyMs = 100): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running && this.closedWith === undefined) {
        await this.roundTrip();
        await new Promise((r) => setTimeout(r, everyMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  reset(): void {
    this.rtts.length = 0;
    this.lost = 0;
  }
}

// --- raw sockets ---------------------------------------------------------------------------------

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/**
 * One client frame (masked, as RFC 6455 §5.3 requires of a client). `length` overrides the length
 * field, to announce more than is sent.
 */
export function clientFrame(opcode: number, payload: Buffer, fin = true, length = payload.length): Buffer {
  const mask = randomBytes(4);
  const head = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (length < 126) head[1] = 0x80 | length;
  else if (length < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(length, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return Buffer.concat([head, mask, body]);
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/**
 * A raw WebSocket client on a TLS socket: we write the bytes, and read the server's frames
 * ourselves. `closed` resolves when the hub ends the TCP connection, with the close frame's code if
 * one came first.
 */
export interface RawLink {
  socket: TLSSocket;
  frames: ServerFrame[];
  /** When the TCP connection ended (performance.now()), with the close code the hub sent, if any. */
  closed: Promise<{ at: number; closeCode: number | undefined }>;
  /** When the hub's close frame arrived (performance.now()), if it did. */
  closeFrameAt(): number | undefined;
}

/** Parses the (unmasked) frames the server sends; keeps the remainder. */
function readFrames(buffer: Buffer, out: ServerFrame[]): Buffer {
  let b = buffer;
  for (;;) {
    if (b.length < 2) return b;
    let len = (b[1] ?? 0) & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return b;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return b;
      len = Number(b.readBigUInt64BE(2));
      off = 10;
    }
    if (b.length < off + len) return b;
    out.push({ opcode: (b[0] ?? 0) & 0x0f, payload: b.subarray(off, off + len) });
    b = b.subarray(off + len);
  }
}

/** TLS with a gateway certificate, the upgrade by hand, then hello as one frame and the welcome read. */
export async function rawGateway(port: number, creds: Credentials, id: string): Promise<RawLink> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: creds.caPem, cert: creds.certPem, key: creds.keyPem });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined); // a reset by the hub shows as `closed`
  const key = randomBytes(16).toString('base64');
  socket.write(
    `GET ${LINK_PATH} HTTP/1.1\r\nHost: localhost:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const frames: ServerFrame[] = [];
  let rest: Buffer = Buffer.alloc(0);
  let upgraded = false;
  let closeFrameAt: number | undefined;
  const closed = new Promise<{ at: number; closeCode: number | undefined }>((resolve) => {
    socket.once('close', () => {
      const close = frames.find((f) => f.opcode === OPCODE.close);
      resolve({ at: performance.now(), closeCode: close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined });
    });
  });
  const welcome = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      rest = Buffer.concat([rest, chunk]);
      if (!upgraded) {
        const end = rest.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = rest.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${head.split('\r\n')[0] ?? ''}`));
        upgraded = true;
        rest = rest.subarray(end + 4);
      }
      rest = readFrames(rest, frames);
      if (closeFrameAt === undefined && frames.some((f) => f.opcode === OPCODE.close)) closeFrameAt = performance.now();
      if (frames.some((f) => f.opcode === OPCODE.text && f.payload.toString().startsWith('<welcome'))) resolve();
    });
    void closed.then(() => reject(new Error('closed before the welcome')));
  });
  socket.write(clientFrame(OPCODE.text, Buffer.from(encode(aHello(id)))));
  await welcome;
  return { socket, frames, closed, closeFrameAt: () => closeFrameAt };
}

/** Writes `data` respecting backpressure (so the attacker's own memory stays flat); stops when the socket is gone. */
export async function writeAll(socket: TLSSocket, data: Buffer): Promise<void> {
  if (socket.destroyed) return;
  if (socket.write(data)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}
