/**
 * The agent's link to the console: one outbound mutual-TLS WebSocket, kept up for as long as the
 * agent runs. It connects (tls-connect.ts does every trust decision before a byte of ours leaves),
 * says hello, counts itself connected only after a valid welcome, and reconnects with full-jitter
 * back-off (reconnect.ts). A maximum connection age forces a fresh full handshake now and then, so
 * a revocation of either side is re-checked; nothing is ever resumed.
 */
import type { IncomingMessage } from 'node:http';
import { pino, type Logger } from 'pino';
import WebSocket, { type RawData } from 'ws';
import type { BackoffPolicy } from '../../shared/backoff.js';
import { jittered } from '../../shared/backoff.js';
import { isErrorCode, LmgwError, type ErrorCode } from '../../shared/errors.js';
import { TypedEvents } from '../../shared/typed-events.js';
import { CLOSE_CODES, LINK_DEFAULTS, LINK_PATH, REFUSAL_HEADER } from '../../shared/link.js';
import {
  decode,
  encode,
  LIMITS,
  PROTOCOL_VERSION,
  ProtocolError,
  type EventMessage,
  type HelloMessage,
  type Message,
  type WelcomeMessage,
} from '../../shared/protocol/index.js';
import { parseRetryAfter, Reconnector } from './reconnect.js';
import { selectProxy } from './proxy.js';
import { connectTls, InterceptionError, type InterceptionReport, type TlsConnection } from './tls-connect.js';

export interface LinkClientOptions {
  /** `wss://host:port/lmgw/v1`; without a path, LINK_PATH is used. */
  url: string;
  /** This gateway's id: the welcome must echo it. */
  gatewayId: string;
  /** PEM of the LMGW CA, the only trust anchor. */
  caPem: string;
  /** This gateway's certificate and key (PEM). */
  certPem: string;
  keyPem: string;
  /** Name the console certificate must carry. Default: the URL's host. */
  servername?: string;
  /** Proxy URL; null = never a proxy; undefined (default) = HTTPS_PROXY / NO_PROXY from `env`. */
  proxy?: string | null;
  /** Environment for proxy selection. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Reconnect back-off. Default base 1 s, cap 60 s. */
  backoff?: BackoffPolicy;
  /** Re-handshake after this (±10 %). Default LINK_DEFAULTS.maxConnectionAgeMs (12 h). */
  maxConnectionAgeMs?: number;
  /** A connection up this long resets the back-off. Default LINK_DEFAULTS.stableAfterMs (60 s). */
  stableAfterMs?: number;
  /** TCP + proxy + TLS must finish within this. Default LINK_DEFAULTS.handshakeTimeoutMs (10 s). */
  handshakeTimeoutMs?: number;
  /** The welcome must arrive within this after the upgrade. Default LINK_DEFAULTS.helloTimeoutMs (10 s). */
  welcomeTimeoutMs?: number;
  /**
   * A frame from the console that did not decode (after the welcome): return the answer to send
   * instead of the usual `error` — e.g. a `result` CMD_MALFORMED when a command's id could be read
   * (docs/protocol.md) — or undefined to answer with the `error`.
   */
  onUndecodable?: (error: ProtocolError) => Message | undefined;
  /** Builds the hello for each connection (viaProxy is filled in by the client). */
  hello: () => HelloMessage;
  /** Default: a silent logger. */
  logger?: Logger;
  /** Log every frame in and out at debug level (LMGW_TRACE=1). Default false. */
  trace?: boolean;
  /** [0, 1), for back-off and jitter. Default Math.random. */
  random?: () => number;
}

/** The console answered the upgrade with an HTTP error (401/403 certificate problems, 503 overload). */
export class RefusedError extends LmgwError {
  override readonly name = 'RefusedError';
  constructor(
    readonly status: number,
    /** The reason code from the x-lmgw-refusal header, when the hub sent one. */
    readonly refusal: ErrorCode | undefined,
    /** The Retry-After hint, ms. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(
      'LINK_REFUSED',
      `the console refused the connection: HTTP ${status}${refusal ? ` ${refusal}` : ''}` +
        (retryAfterMs !== undefined ? `, retry after ${Math.ceil(retryAfterMs / 1000)} s` : ''),
    );
  }
}

export interface ConnectedInfo {
  welcome: WelcomeMessage;
  viaProxy: boolean;
  ocsp: TlsConnection['ocsp'];
}

export interface RetryInfo {
  /** Why the last attempt or session ended; absent after a planned re-handshake. */
  error?: LmgwError;
  /** Attempts failed since the last stable connection (this one included). */
  attempt: number;
  delayMs: number;
}

export type LinkClientEvents = {
  connecting: [info: { attempt: number; proxy: string | null }];
  connected: [info: ConnectedInfo];
  /** Every message after the welcome, already decoded and validated. */
  message: [message: Message];
  disconnected: [info: { code: number; reason: string; error?: LmgwError }];
  retry: [info: RetryInfo];
  interception: [report: InterceptionReport];
  stopped: [];
};

/** One WebSocket session, from the upgrade to its close. */
interface Session {
  ws: WebSocket;
  connection: TlsConnection;
  welcomed: boolean;
  /** Closed on purpose (maximum age): reconnect at once. */
  planned: boolean;
  /** Why it ended, as far as known. */
  error?: LmgwError;
  retryAfterMs?: number | undefined;
}

type State = 'idle' | 'connecting' | 'handshaking' | 'connected' | 'waiting' | 'stopped';

/** At most this many interception reports wait for a clean path (one per distinct chain). */
const MAX_PENDING_REPORTS = 16;

export class LinkClient {
  /** connecting, connected, message, disconnected, retry, interception, stopped. */
  readonly events: TypedEvents<LinkClientEvents>;
  private readonly url: URL;
  private readonly host: string;
  private readonly port: number;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly reconnector: Reconnector;
  private state: State = 'idle';
  private session: Session | undefined;
  private abort: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private sessionTimers: NodeJS.Timeout[] = [];
  private livenessTimer: NodeJS.Timeout | undefined;
  private pendingReports: InterceptionReport[] = [];

  constructor(private readonly options: LinkClientOptions) {
    this.url = linkUrl(options.url);
    this.host = this.url.hostname.startsWith('[') ? this.url.hostname.slice(1, -1) : this.url.hostname;
    this.port = this.url.port === '' ? 443 : Number(this.url.port);
    this.random = options.random ?? Math.random;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'link', gatewayId: options.gatewayId });
    // A throwing listener must not break the link's own state machine.
    this.events = new TypedEvents<LinkClientEvents>((err) => this.log.error({ err }, 'a link event listener threw'));
    this.reconnector = new Reconnector({
      ...(options.backoff ? { policy: options.backoff } : {}),
      stableAfterMs: options.stableAfterMs ?? LINK_DEFAULTS.stableAfterMs,
      random: this.random,
    });
  }

  /** True between a valid welcome and the end of that session. */
  get connected(): boolean {
    return this.state === 'connected';
  }

  /** A method, so TypeScript does not narrow the state across an await. */
  private stopped(): boolean {
    return this.state === 'stopped';
  }

  /** Interception reports not yet delivered to the hub. */
  get pendingInterceptionReports(): readonly InterceptionReport[] {
    return this.pendingReports;
  }

  /** Starts connecting (and keeps reconnecting until stop()). */
  start(): void {
    if (this.state !== 'idle') return;
    void this.connect();
  }

  /** Sends one message; false when the link is not connected (nothing is queued here). */
  send(message: Message): boolean {
    const ws = this.session?.ws;
    if (this.state !== 'connected' || !ws || ws.readyState !== WebSocket.OPEN) return false;
    this.write(ws, message);
    return true;
  }

  /** Closes the link cleanly (1000) and cancels every timer; resolves when the socket is closed. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasIdle = this.state === 'idle';
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    this.clearSessionTimers();
    this.abort?.abort();
    const ws = this.session?.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => ws.terminate(), 3_000);
        ws.once('close', () => {
          clearTimeout(force);
          resolve();
        });
        if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'agent stopping');
        else ws.terminate();
      });
    }
    this.session = undefined;
    if (!wasIdle) this.log.info('stopped');
    this.events.emit('stopped');
  }

  // --- one attempt -------------------------------------------------------------------------------

  private async connect(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const proxy = selectProxy({ host: this.host, port: this.port }, this.options.proxy, this.options.env ?? process.env);
    const abort = new AbortController();
    this.abort = abort;
    this.events.emit('connecting', { attempt: this.reconnector.attempts, proxy });
    this.log.debug({ url: this.url.href, attempt: this.reconnector.attempts, viaProxy: proxy !== null }, 'connecting');
    let connection: TlsConnection;
    try {
      connection = await connectTls({
        host: this.host,
        port: this.port,
        ...(this.options.servername !== undefined ? { servername: this.options.servername } : {}),
        caPem: this.options.caPem,
        certPem: this.options.certPem,
        keyPem: this.options.keyPem,
        proxy,
        timeoutMs: this.options.handshakeTimeoutMs ?? LINK_DEFAULTS.handshakeTimeoutMs,
        signal: abort.signal,
      });
    } catch (err) {
      if (this.stopped()) return;
      const error = asLinkError(err);
      if (error instanceof InterceptionError) this.recordInterception(error.report);
      this.scheduleRetry(error);
      return;
    }
    if (this.stopped()) {
      connection.socket.destroy();
      return;
    }
    this.openWebSocket(connection);
  }

  private openWebSocket(connection: TlsConnection): void {
    this.state = 'handshaking';
    const ws = new WebSocket(this.url, {
      // The socket is connected and checked already; ws only speaks HTTP and WebSocket over it.
      createConnection: () => connection.socket,
      maxPayload: LINK_DEFAULTS.maxPayloadBytes,
      perMessageDeflate: false,
      followRedirects: false,
      handshakeTimeout: this.options.welcomeTimeoutMs ?? LINK_DEFAULTS.helloTimeoutMs,
    });
    const session: Session = { ws, connection, welcomed: false, planned: false };
    this.session = session;

    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const header = res.headers[REFUSAL_HEADER];
      const code = typeof header === 'string' && isErrorCode(header.trim()) ? (header.trim() as ErrorCode) : undefined;
      const retryHeader = res.headers['retry-after'];
      session.retryAfterMs = res.statusCode === 503 ? parseRetryAfter(typeof retryHeader === 'string' ? retryHeader : undefined) : undefined;
      session.error = new RefusedError(res.statusCode ?? 0, code, session.retryAfterMs);
      res.resume();
      ws.terminate();
    });

    ws.on('open', () => {
      if (this.state === 'stopped') return;
      const hello: HelloMessage = { ...this.options.hello(), viaProxy: connection.viaProxy };
      this.write(ws, hello);
      this.sessionTimer(this.options.welcomeTimeoutMs ?? LINK_DEFAULTS.helloTimeoutMs, () => {
        if (session.welcomed) return;
        session.error = new LmgwError('LINK_CONNECT_FAILED', 'the console sent no welcome in time');
        ws.terminate();
      });
    });

    ws.on('message', (data: RawData, isBinary: boolean) => this.onFrame(session, data, isBinary));
    ws.on('ping', () => this.alive());
    ws.on('pong', () => this.alive());

    ws.on('error', (err: Error) => {
      session.error ??= new LmgwError('LINK_CONNECT_FAILED', `WebSocket: ${err.message}`, { cause: err });
    });

    ws.on('close', (code: number, reasonBuffer: Buffer) => this.onClose(session, code, reasonBuffer.toString('utf8')));
  }

  private onFrame(session: Session, data: RawData, isBinary: boolean): void {
    const ws = session.ws;
    this.alive();
    const text = isBinary ? undefined : rawText(data);
    if (this.options.trace) this.log.debug({ dir: 'in', frame: text ?? `<binary ${rawLength(data)} bytes>` }, 'frame');
    let message: Message;
    try {
      if (text === undefined) throw new ProtocolError('PROTO_NOT_XML', 'a frame must be a text frame');
      message = decode(text);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // A bad frame is answered and the session goes on (docs/protocol.md).
      this.log.warn({ code: err.code, path: err.path, ...(err.ref !== undefined ? { ref: err.ref } : {}) }, `bad frame from the console: ${err.message}`);
      if (ws.readyState !== WebSocket.OPEN) return;
      if (session.welcomed && this.options.onUndecodable) {
        try {
          const answer = this.options.onUndecodable(err);
          if (answer) {
            this.write(ws, answer);
            return;
          }
        } catch (hookError) {
          this.log.error({ err: hookError }, 'the answer to a bad frame failed; answering with an error');
        }
      }
      this.write(ws, err.toWire());
      return;
    }
    if (session.welcomed) {
      if (message.kind === 'welcome') {
        this.log.warn('a second welcome in one session; ignored');
        return;
      }
      if (message.kind === 'error') this.log.warn({ code: message.code, ref: message.ref }, `the console reports: ${message.message}`);
      this.events.emit('message', message);
      return;
    }
    if (message.kind === 'welcome') {
      const problem = this.checkWelcome(message);
      if (problem) {
        session.error = new LmgwError('LINK_PROTOCOL', problem);
        this.log.error({ code: 'LINK_PROTOCOL' }, problem);
        closeSoon(ws, CLOSE_CODES.LINK_PROTOCOL, 'LINK_PROTOCOL');
        return;
      }
      session.welcomed = true;
      this.onWelcome(session, message);
      return;
    }
    if (message.kind === 'error') {
      // The hub says why it refuses; the close that follows carries the same code.
      session.error = new LmgwError(message.code, `the console refused the session: ${message.message}`);
      this.log.error({ code: message.code }, `the console refused the session: ${message.message}`);
      return;
    }
    session.error = new LmgwError('LINK_PROTOCOL', `the console sent ${message.kind} before welcome`);
    this.log.error({ code: 'LINK_PROTOCOL' }, `the console sent ${message.kind} before welcome`);
    closeSoon(ws, CLOSE_CODES.LINK_PROTOCOL, 'LINK_PROTOCOL');
  }

  private onClose(session: Session, code: number, reason: string): void {
    this.clearSessionTimers();
    if (this.session === session) this.session = undefined;
    if (this.state === 'stopped') {
      if (session.welcomed) this.events.emit('disconnected', { code, reason });
      return;
    }
    const reasonCode = reason.trim();
    if (!session.error && code >= 4000 && isErrorCode(reasonCode)) {
      session.error = new LmgwError(reasonCode, `the console closed the link (${code} ${reasonCode})`);
    }
    const error = session.error;
    if (session.welcomed) {
      this.reconnector.disconnected();
      this.log.info({ code, reason, ...(error ? { error: error.code } : {}) }, 'disconnected');
      this.events.emit('disconnected', { code, reason, ...(error ? { error } : {}) });
    }
    if (session.planned) {
      // Maximum connection age: a fresh full handshake at once; not a failure.
      this.state = 'waiting';
      this.events.emit('retry', { attempt: this.reconnector.attempts, delayMs: 0 });
      this.retryTimer = setTimeout(() => void this.connect(), 0);
      return;
    }
    this.scheduleRetry(error ?? new LmgwError('LINK_CONNECT_FAILED', `the connection closed (${code}${reason ? ` ${reason}` : ''})`), session.retryAfterMs);
  }

  private checkWelcome(welcome: WelcomeMessage): string | undefined {
    if (welcome.gatewayId !== this.options.gatewayId) {
      return `the welcome names gateway "${welcome.gatewayId}", not "${this.options.gatewayId}"`;
    }
    const hello = this.options.hello();
    if (PROTOCOL_VERSION < hello.minVersion || PROTOCOL_VERSION > hello.maxVersion) {
      return `the console chose protocol version ${PROTOCOL_VERSION}, outside ${hello.minVersion}..${hello.maxVersion}`;
    }
    return undefined;
  }

  private onWelcome(session: Session, welcome: WelcomeMessage): void {
    const { ws, connection } = session;
    this.state = 'connected';
    this.reconnector.connected();
    this.livenessWindowMs = Math.round(LINK_DEFAULTS.agentSilenceIntervals * welcome.pingIntervalSeconds * 1000);
    this.alive();
    const ageMs = jittered(this.options.maxConnectionAgeMs ?? LINK_DEFAULTS.maxConnectionAgeMs, 0.1, this.random);
    this.sessionTimer(ageMs, () => {
      this.log.info({ ageMs }, 'maximum connection age reached; reconnecting with a fresh handshake');
      session.planned = true;
      closeSoon(ws, 1000, 'max connection age');
    });
    this.log.info(
      {
        viaProxy: connection.viaProxy,
        ...(connection.proxy ? { proxy: connection.proxy } : {}),
        ocsp: connection.ocsp,
        tls: connection.protocol,
        console: connection.subject,
        skewMs: welcome.serverTime - Date.now(),
      },
      'connected',
    );
    this.events.emit('connected', { welcome, viaProxy: connection.viaProxy, ocsp: connection.ocsp });
    this.flushReports(ws);
  }

  // --- liveness, timers ----------------------------------------------------------------------------

  private livenessWindowMs = 0;

  /**
   * The hub pings every pingInterval; silence for 2.5 intervals means a half-open link (a path that
   * black-holes traffic sends no FIN or RST, so only this timer ends it: 20 s at the default 8 s).
   */
  private alive(): void {
    if (this.state !== 'connected' || this.livenessWindowMs <= 0) return;
    clearTimeout(this.livenessTimer);
    const session = this.session;
    const windowMs = this.livenessWindowMs;
    this.livenessTimer = setTimeout(() => {
      if (!session || this.session !== session) return;
      this.log.warn({ silentMs: windowMs }, 'no ping or message from the console; dropping the link');
      session.error = new LmgwError('LINK_PONG_TIMEOUT', `no ping or message from the console for ${windowMs} ms`);
      session.ws.terminate();
    }, windowMs);
  }

  private sessionTimer(ms: number, fn: () => void): void {
    this.sessionTimers.push(setTimeout(fn, ms));
  }

  private clearSessionTimers(): void {
    for (const t of this.sessionTimers) clearTimeout(t);
    this.sessionTimers = [];
    clearTimeout(this.livenessTimer);
    this.livenessTimer = undefined;
    this.livenessWindowMs = 0;
  }

  private scheduleRetry(error: LmgwError, retryAfterMs?: number): void {
    if (this.state === 'stopped') return;
    this.state = 'waiting';
    const attempt = this.reconnector.attempts + 1;
    const delayMs = this.reconnector.nextDelay(retryAfterMs);
    const level = error.code === 'LINK_INTERCEPTION_SUSPECTED' ? 'error' : 'warn';
    this.log[level]({ code: error.code, attempt, delayMs }, `link down: ${error.message}; retrying in ${delayMs} ms`);
    this.events.emit('retry', { error, attempt, delayMs });
    this.retryTimer = setTimeout(() => void this.connect(), delayMs);
  }

  // --- interception reports -------------------------------------------------------------------

  private recordInterception(report: InterceptionReport): void {
    this.log.error({ code: 'LINK_INTERCEPTION_SUSPECTED', ...report }, 'interception suspected: the presented certificate is not from the LMGW CA; nothing was sent');
    const same = this.pendingReports.findIndex((r) => r.fingerprint256 === report.fingerprint256 && r.target === report.target && r.proxy === report.proxy);
    if (same !== -1) this.pendingReports.splice(same, 1);
    this.pendingReports.push(report);
    if (this.pendingReports.length > MAX_PENDING_REPORTS) this.pendingReports.shift();
    this.events.emit('interception', report);
  }

  /** Delivers what was seen on an intercepted path, now that the path is clean. */
  private flushReports(ws: WebSocket): void {
    while (this.pendingReports.length > 0 && ws.readyState === WebSocket.OPEN) {
      const report = this.pendingReports[0];
      if (!report) break;
      this.write(ws, interceptionEvent(report));
      this.pendingReports.shift();
      this.log.info({ fingerprint256: report.fingerprint256 }, 'interception report delivered to the console');
    }
  }

  private write(ws: WebSocket, message: Message): void {
    const frame = encode(message);
    if (this.options.trace) this.log.debug({ dir: 'out', frame }, 'frame');
    ws.send(frame);
  }
}

/** The `event` message that reports a suspected interception to the hub. */
export function interceptionEvent(report: InterceptionReport): EventMessage {
  const clip = (v: string): string => (v.length > LIMITS.maxDetailValueLength ? v.slice(0, LIMITS.maxDetailValueLength) : v);
  return {
    kind: 'event',
    type: 'interception-suspected',
    severity: 'alarm',
    time: report.time,
    details: [
      { key: 'subject', value: clip(report.subject) },
      { key: 'issuer', value: clip(report.issuer) },
      { key: 'fingerprint', value: report.fingerprint256 },
      { key: 'proxy', value: report.proxy ?? 'none' },
      { key: 'target', value: report.target },
      { key: 'verdict', value: clip(report.authorizationError) },
    ],
  };
}

/** The URL the agent dials: wss only; LINK_PATH when the URL has no path. */
export function linkUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new LmgwError('CONFIG_INVALID', `console.url: "${value}" is not a URL`);
  }
  if (url.protocol !== 'wss:') throw new LmgwError('CONFIG_INVALID', 'console.url: must be a wss:// URL');
  if (url.pathname === '/' || url.pathname === '') url.pathname = LINK_PATH;
  return url;
}

function asLinkError(err: unknown): LmgwError {
  if (err instanceof LmgwError) return err;
  return new LmgwError('LINK_CONNECT_FAILED', err instanceof Error ? err.message : String(err), { cause: err });
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

/** close() with a bound: a peer that never answers the close frame is cut after 5 s. */
function closeSoon(ws: WebSocket, code: number, reason: string): void {
  ws.close(code, reason);
  setTimeout(() => {
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  }, 5_000).unref();
}
