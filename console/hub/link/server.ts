import { randomBytes, constants as cryptoConstants } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { LmgwError, type ErrorCode } from '../../../shared/errors.js';
import { CLOSE_CODES, LINK_DEFAULTS, LINK_PATH, REFUSAL_HEADER, TLS_PROFILE } from '../../../shared/link.js';
import { decode, encode, ProtocolError, PROTOCOL_VERSIONS, type HelloMessage, type Message } from '../../../shared/protocol/index.js';
import { TypedEvents } from '../../../shared/typed-events.js';
import { loadCrl, watchCrl, type LoadedCrl } from './crl-watch.js';
import { judgePeer, type AcceptedPeer, type PeerIdentity } from './peer-certificate.js';
import { StallClock, takeToken, type TokenState } from './rate-limit.js';

export interface LinkServerOptions {
  /** Default 0.0.0.0. */
  host?: string;
  /** Default 8443; 0 picks a free port (see `LinkServer.port`). */
  port?: number;
  /** PEM of the LMGW CA: the only trust anchor for client certificates. */
  caPem: string;
  /** The hub's server certificate and key (PEM). */
  certPem: string;
  keyPem: string;
  /** The CA's CRL file; watched, applied live. Without one, revocation is not checked (tests only). */
  crlPath?: string;
  /** A DER OCSP response for the hub's certificate (from `lmgw-ca staple`), watched and stapled. */
  ocspStaplePath?: string;
  pingIntervalMs?: number;
  handshakeTimeoutMs?: number;
  helloTimeoutMs?: number;
  maxConnections?: number;
  /** TLS handshakes in progress at once (LINK_DEFAULTS.maxPendingHandshakes); more are closed on accept. */
  maxPendingHandshakes?: number;
  messagesPerSecond?: number;
  messageBurst?: number;
  overloadRetryAfterSeconds?: number;
  crlPollMs?: number;
  crlWarningMs?: number;
  /** Sent in welcome. Default 1. */
  telemetryIntervalSeconds?: number;
  logger?: Logger;
}

/** A gateway's live session, as the fleet logic sees it (the same object from connected to disconnected). */
export interface SessionInfo {
  readonly gatewayId: string;
  readonly sessionId: string;
  readonly peer: Readonly<AcceptedPeer>;
  readonly remoteAddress: string;
  readonly connectedAt: number;
  readonly version: number;
  readonly hello: HelloMessage;
}

export interface SecurityEvent {
  code: ErrorCode;
  time: number;
  remoteAddress: string;
  detail: string;
  peer: PeerIdentity;
  gatewayId?: string;
}

export interface Alarm {
  code: ErrorCode;
  message: string;
  time: number;
}

export interface LinkServerEvents extends Record<string, unknown[]> {
  connected: [SessionInfo];
  disconnected: [SessionInfo, { code: ErrorCode | 'NORMAL'; closeCode: number; reason: string }];
  refused: [SecurityEvent];
  message: [SessionInfo, Message];
  upgradeRequest: [{ remoteAddress: string; url: string }];
  alarm: [Alarm];
}

/**
 * One connection, from the upgrade to the close. A class, so thousands of them share one shape; it
 * holds only what the link needs: its listeners are the server's (shared by all sessions but the
 * message listener), its rate limit is two numbers, it has no logger of its own (see sessionLog), and
 * the hello timer is dropped once the hello is in. After a valid hello it is `live` and is itself the
 * SessionInfo the events hand out (no second object per session); listeners see only that interface.
 */
class Session implements SessionInfo, TokenState {
  /** Between a valid hello and the close: the fleet logic knows this session. */
  live = false;
  sessionId = '';
  connectedAt = 0;
  version = 0;
  /** Set with `live`; read only when live. */
  hello!: HelloMessage;
  /** Heartbeat visits in a row that found nothing heard from the peer (see heartbeat()). */
  silentIntervals = 0;
  /** A frame or a pong arrived since the last heartbeat visit. */
  heard = false;
  /** A frame went to the peer since the last heartbeat visit. */
  spoke = false;
  /** Pending until the hello arrives or the session closes. */
  helloTimer: NodeJS.Timeout | undefined = undefined;
  closing = false;
  tokens: number;
  tokensAt: number;
  /** The hub's total loop stall (StallClock) when this session's bucket was last counted. */
  stalledAt: number;

  constructor(
    readonly ws: WebSocket,
    readonly gatewayId: string,
    readonly peer: AcceptedPeer,
    readonly remoteAddress: string,
    /** Which heartbeat slice pings this session (see heartbeat()). */
    readonly phase: number,
    burst: number,
    stalledAt: number,
  ) {
    this.tokens = burst;
    this.tokensAt = Date.now();
    this.stalledAt = stalledAt;
  }

  stopHelloTimer(): void {
    if (this.helloTimer === undefined) return;
    clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
  }
}

/** ws hands over a Buffer (binaryType 'nodebuffer'); the other shapes are handled for completeness. */
function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function remoteOf(socket: Duplex | TLSSocket): string {
  const s = socket as TLSSocket;
  // Joined rather than concatenated: one flat string, not a rope of three, for each session's lifetime.
  return s.remoteAddress ? [s.remoteAddress, ':', s.remotePort ?? ''].join('') : 'unknown';
}

/**
 * The hub's end of the link: an HTTPS server that accepts only WebSocket upgrades on LINK_PATH from
 * gateways with a valid certificate from our CA. Every refusal is a security event with its exact
 * reason and an HTTP status before any upgrade; no application data reaches a refused peer.
 */
export class LinkServer {
  readonly events = new TypedEvents<LinkServerEvents>();
  private readonly sessions = new Map<WebSocket, Session>();
  private readonly byGateway = new Map<string, Session>();
  private readonly wss: WebSocketServer;
  private readonly log: Logger;
  private crl: LoadedCrl | undefined;
  private staple: Buffer | undefined;
  private stopCrlWatch: (() => void) | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private heartbeatTick = 0;
  private readonly lastAlarms = new Map<ErrorCode, Alarm>();
  private nextPhase = 0;
  private alarmTimer: NodeJS.Timeout | undefined;
  private pendingUpgrades = 0;
  private closed = false;
  private readonly o: Required<Omit<LinkServerOptions, 'crlPath' | 'ocspStaplePath' | 'logger'>> & Pick<LinkServerOptions, 'crlPath' | 'ocspStaplePath'>;
  /** The rare WebSocket events' listeners, one set for all sessions (`this` is the socket). */
  private readonly onWsPong: (this: WebSocket) => void;
  private readonly onWsClose: (this: WebSocket, code: number, reason: Buffer) => void;
  private readonly onWsError: (this: WebSocket, err: Error) => void;
  private readonly onHelloTimeout: (s: Session) => void;
  /** How long the event loop has been held: the rate limit's credit for frames read late. */
  private readonly stalls = new StallClock();

  private constructor(
    private readonly server: Server,
    options: LinkServerOptions,
  ) {
    this.o = {
      host: options.host ?? '0.0.0.0',
      port: options.port ?? 8443,
      caPem: options.caPem,
      certPem: options.certPem,
      keyPem: options.keyPem,
      crlPath: options.crlPath,
      ocspStaplePath: options.ocspStaplePath,
      pingIntervalMs: options.pingIntervalMs ?? LINK_DEFAULTS.pingIntervalMs,
      handshakeTimeoutMs: Math.min(options.handshakeTimeoutMs ?? LINK_DEFAULTS.handshakeTimeoutMs, 10_000),
      helloTimeoutMs: options.helloTimeoutMs ?? LINK_DEFAULTS.helloTimeoutMs,
      maxConnections: options.maxConnections ?? LINK_DEFAULTS.maxConnections,
      maxPendingHandshakes: options.maxPendingHandshakes ?? LINK_DEFAULTS.maxPendingHandshakes,
      messagesPerSecond: options.messagesPerSecond ?? LINK_DEFAULTS.messagesPerSecond,
      messageBurst: options.messageBurst ?? LINK_DEFAULTS.messageBurst,
      overloadRetryAfterSeconds: options.overloadRetryAfterSeconds ?? LINK_DEFAULTS.overloadRetryAfterSeconds,
      crlPollMs: options.crlPollMs ?? 1000,
      crlWarningMs: options.crlWarningMs ?? LINK_DEFAULTS.crlWarningMs,
      telemetryIntervalSeconds: options.telemetryIntervalSeconds ?? 1,
    };
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'link' });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: LINK_DEFAULTS.maxPayloadBytes,
      // Our peers send each XML document as one frame; nothing legitimate fragments a message of at
      // most 64 KiB into more than a few frames. ws's default (16,384 fragments) let one gateway pin
      // ~5 MB of one-byte fragments and stall the hub's event loop for the others (1008 on excess).
      maxFragments: 64,
      // ws's default, set explicitly (STYLE.md): raw chunks queued before parsing. (ws's other
      // limit here, maxPendingAutoPongs = 60, is not in @types/ws; its default cuts a peer that
      // pings without reading, as test/security/abuse.test.ts checks.)
      maxBufferedChunks: 256 * 1024,
      perMessageDeflate: false,
      clientTracking: false,
    });
    const sessions = this.sessions;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the listeners' `this` is the socket
    const link = this;
    this.onWsPong = function onWsPong(this: WebSocket): void {
      const s = sessions.get(this);
      if (s) s.heard = true;
    };
    this.onWsClose = function onWsClose(this: WebSocket, code: number, reason: Buffer): void {
      const s = sessions.get(this);
      if (s) link.onClose(s, code, reason.toString());
    };
    this.onWsError = function onWsError(this: WebSocket, err: Error): void {
      const s = sessions.get(this);
      if (s) link.sessionLog(s, 'debug', { err: err.message }, 'websocket error');
    };
    this.onHelloTimeout = (s: Session): void => {
      s.helloTimer = undefined;
      this.security('LINK_HELLO_TIMEOUT', s.remoteAddress, `no hello within ${this.o.helloTimeoutMs} ms`, s.peer, s.gatewayId);
      this.closeSession(s, 'LINK_HELLO_TIMEOUT', 'no hello');
    };
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(options: LinkServerOptions): Promise<LinkServer> {
    const crl = options.crlPath ? await loadCrl(options.crlPath, options.caPem) : undefined;
    const handshakeTimeout = Math.min(options.handshakeTimeoutMs ?? LINK_DEFAULTS.handshakeTimeoutMs, 10_000);
    const server = createServer({
      ...hubTlsContext(options, crl?.pem),
      requestCert: true,
      // Judged in the upgrade handler so each refusal gets its reason and an HTTP answer.
      rejectUnauthorized: false,
      handshakeTimeout,
      // After the TLS handshake (which needs no certificate: that is judged at the upgrade) the
      // upgrade request must be complete within the same time. Node's defaults (60 s for the
      // headers, checked every 30 s) let anyone hold a connection for up to 90 s by dripping header
      // bytes (test/security/abuse.test.ts). Upgraded sockets leave the HTTP server's list, so these
      // limits never touch a session.
      headersTimeout: handshakeTimeout,
      requestTimeout: handshakeTimeout,
      connectionsCheckingInterval: 1000,
    });
    // headersTimeout starts with the first byte of a request; a peer that sends nothing at all after
    // the handshake was held forever (no idle timeout by default). ws clears this on upgrade
    // (setSocket → setTimeout(0)), so it only ever cuts connections that never became sessions.
    server.setTimeout(handshakeTimeout);
    const link = new LinkServer(server, options);
    link.crl = crl;
    link.install();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(link.o.port, link.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    link.log.info({ port: link.port, host: link.o.host, crl: options.crlPath ?? null }, 'link listening');
    return link;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : this.o.port;
  }

  /** Live sessions (after a valid hello). */
  /**
   * The latest alarm of each kind, including those raised while starting (before anyone could
   * listen). A CRL alarm is withdrawn once a fresh CRL is applied.
   */
  get alarms(): Alarm[] {
    return [...this.lastAlarms.values()];
  }

  get connected(): SessionInfo[] {
    return [...this.byGateway.values()].filter((s) => s.live);
  }

  /** Live sessions, counted without building a list (a metrics scrape reads it at 20,000 gateways). */
  get connectedCount(): number {
    return this.byGateway.size;
  }

  /** Accepting connections: bound, and not closed. */
  get listening(): boolean {
    return this.server.listening && !this.closed;
  }

  /** The CRL in force: whether one is configured, and its nextUpdate (undefined: none given in it). */
  get crlState(): { configured: boolean; nextUpdate: Date | undefined } {
    return { configured: this.crl !== undefined, nextUpdate: this.crl?.nextUpdate };
  }

  on<K extends keyof LinkServerEvents>(event: K, listener: (...args: LinkServerEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Sends one message to a connected gateway; false when it is not connected. */
  send(gatewayId: string, message: Message): boolean {
    const s = this.byGateway.get(gatewayId);
    if (!s?.live || s.ws.readyState !== WebSocket.OPEN) return false;
    this.write(s, message);
    return true;
  }

  /** Stops accepting, closes every session with LINK_SHUTDOWN, and releases the port. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    clearInterval(this.alarmTimer);
    this.stalls.stop();
    this.stopCrlWatch?.();
    if (this.o.ocspStaplePath) unwatchFile(this.o.ocspStaplePath);
    for (const s of this.sessions.values()) this.closeSession(s, 'LINK_SHUTDOWN', 'the hub is shutting down');
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Sessions get a moment to receive their close frame; then whatever is left is cut.
    await new Promise((r) => setTimeout(r, 50));
    this.server.closeAllConnections();
    for (const s of this.sessions.values()) s.ws.terminate();
    await closing;
  }

  private install(): void {
    this.server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('LMGW link: WebSocket only\n');
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.admitHandshakes();
    this.server.on('tlsClientError', (err, socket) => {
      this.log.debug({ remote: remoteOf(socket), err: err.message }, 'TLS handshake failed');
      // Node leaves the socket open after some of these (ERR_TLS_HANDSHAKE_TIMEOUT among them): a
      // connection that failed its handshake is closed here, not when the idle timeout finds it.
      socket.destroy();
    });
    if (this.o.ocspStaplePath) {
      const path = this.o.ocspStaplePath;
      const reload = (): void => {
        try {
          this.staple = readFileSync(path);
        } catch (err) {
          this.alarm('LINK_OCSP_STAPLE', `cannot read the OCSP staple ${path}: ${(err as Error).message}`);
        }
      };
      reload();
      watchFile(path, { interval: 5000, persistent: false }, reload);
      this.server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, done: (err: Error | null, resp?: Buffer) => void) => {
        done(null, this.staple);
      });
    }
    if (this.o.crlPath && this.crl) {
      const crlPath = this.o.crlPath;
      this.stopCrlWatch = watchCrl(
        crlPath,
        this.o.caPem,
        this.crl,
        (crl) => this.applyCrl(crl),
        (err) => this.alarm(err.code, err.message),
        this.o.crlPollMs,
      );
      this.checkCrlAge();
      this.alarmTimer = setInterval(() => this.checkCrlAge(), 60_000);
      this.alarmTimer.unref();
    }
    this.pingTimer = setInterval(() => this.heartbeat(), this.o.pingIntervalMs / HEARTBEAT_SLICES);
    this.pingTimer.unref();
  }

  /**
   * At most maxPendingHandshakes TLS handshakes at a time. A TCP connection beyond that is closed the
   * moment it is accepted — before its ClientHello is read, so it costs no cryptography — and its
   * agent comes back after its jittered back-off. Without this, a hub restarted under 10,000 agents
   * starts thousands of handshakes at once, finishes few of them inside the handshake timeout and
   * spends its CPU on handshakes that are thrown away (bench/fleet.ts, storm). So that silent
   * connections cannot hold every slot for the whole handshake timeout, a handshake still pending
   * after STALE_HANDSHAKE_MS gives its slot to a newcomer when all slots are taken: locking agents
   * out then takes a steady stream of new connections, which is what a firewall's rate limit stops.
   */
  private admitHandshakes(): void {
    // In progress, oldest first, by the peer's address and port (unique among open connections).
    const pending = new Map<string, { socket: Socket; since: number; onClose: () => void }>();
    let shed = 0;
    let shedReport: NodeJS.Timeout | undefined;
    const report = (): void => {
      shed += 1;
      // One line per second at most, however many are shed.
      shedReport ??= setTimeout(() => {
        this.log.warn({ closed: shed, limit: this.o.maxPendingHandshakes }, 'connections closed on accept: TLS handshakes at the limit');
        shed = 0;
        shedReport = undefined;
      }, 1000).unref();
    };
    this.server.on('connection', (socket: Socket) => {
      if (socket.remoteAddress === undefined) return;
      const key = [socket.remoteAddress, ':', socket.remotePort ?? ''].join('');
      const now = Date.now();
      if (pending.size >= this.o.maxPendingHandshakes) {
        const [oldestKey, oldest] = pending.entries().next().value ?? [];
        if (oldestKey === undefined || oldest === undefined || now - oldest.since < STALE_HANDSHAKE_MS) {
          socket.destroy();
          return report();
        }
        pending.delete(oldestKey);
        oldest.socket.destroy();
        report();
      }
      const onClose = (): void => {
        if (pending.get(key)?.socket === socket) pending.delete(key);
      };
      pending.set(key, { socket, since: now, onClose });
      socket.once('close', onClose);
    });
    this.server.on('secureConnection', (tls: TLSSocket) => {
      const key = [tls.remoteAddress ?? '', ':', tls.remotePort ?? ''].join('');
      const done = pending.get(key);
      if (!done) return;
      pending.delete(key);
      // Not left on the socket for the session's lifetime (≈ 0.25 KiB each: the once wrapper, the
      // closure and its key).
      done.socket.off('close', done.onClose);
    });
  }

  /** A new CRL: new TLS context (fresh session-ticket keys), and revoked sessions closed at once. */
  private applyCrl(crl: LoadedCrl): void {
    this.crl = crl;
    this.server.setSecureContext(hubTlsContext(this.o, crl.pem));
    this.server.setTicketKeys(randomBytes(48));
    this.log.info({ revoked: crl.revoked.size, nextUpdate: crl.nextUpdate?.toISOString() }, 'CRL applied');
    for (const s of this.sessions.values()) {
      if (crl.revoked.has(s.peer.serial)) {
        this.security('LINK_CERT_REVOKED', s.remoteAddress, 'revoked while connected; session closed', s.peer, s.gatewayId);
        this.closeSession(s, 'LINK_CERT_REVOKED', 'certificate revoked');
      }
    }
    this.checkCrlAge();
  }

  private checkCrlAge(): void {
    this.lastAlarms.delete('LINK_CRL_EXPIRING');
    this.lastAlarms.delete('LINK_CRL_EXPIRED');
    const next = this.crl?.nextUpdate;
    if (!next) return;
    const left = next.getTime() - Date.now();
    if (left <= 0) this.alarm('LINK_CRL_EXPIRED', `the CRL expired at ${next.toISOString()}; every gateway is refused until \`lmgw-ca crl\` renews it`);
    else if (left < this.o.crlWarningMs) this.alarm('LINK_CRL_EXPIRING', `the CRL expires at ${next.toISOString()}; renew it with \`lmgw-ca crl\``);
  }

  private alarm(code: ErrorCode, message: string): void {
    const alarm: Alarm = { code, message, time: Date.now() };
    this.lastAlarms.set(code, alarm);
    this.log.warn({ code }, message);
    this.events.emit('alarm', alarm);
  }

  private security(code: ErrorCode, remoteAddress: string, detail: string, peer: PeerIdentity, gatewayId?: string): void {
    const event: SecurityEvent = { code, time: Date.now(), remoteAddress, detail, peer, ...(gatewayId ? { gatewayId } : {}) };
    this.log.warn({ security: true, code, remote: remoteAddress, subject: peer.subject, serial: peer.serial, issuer: peer.issuer, gatewayId }, detail);
    this.events.emit('refused', event);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tls = req.socket as TLSSocket;
    const remoteAddress = remoteOf(tls);
    this.events.emit('upgradeRequest', { remoteAddress, url: req.url ?? '' });
    const refuse = (status: number, code: ErrorCode, detail: string, peer: PeerIdentity, extra: Record<string, string> = {}): void => {
      this.security(code, remoteAddress, detail, peer);
      const headers = { 'content-type': 'text/plain', connection: 'close', [REFUSAL_HEADER]: code, ...extra };
      const text = `${code}: ${detail}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 503 ? 'Service Unavailable' : status === 404 ? 'Not Found' : 'Forbidden'}\r\n` +
          Object.entries({ ...headers, 'content-length': String(Buffer.byteLength(text)) }).map(([k, v]) => `${k}: ${v}`).join('\r\n') +
          `\r\n\r\n${text}`,
      );
    };
    if (this.closed) return refuse(503, 'LINK_SHUTDOWN', 'the hub is shutting down', {}, { 'retry-after': '5' });
    const verdict = judgePeer(tls);
    if (!verdict.ok) return refuse(verdict.status, verdict.code, verdict.detail, verdict.peer);
    if ((req.url ?? '').split('?')[0] !== LINK_PATH) return refuse(404, 'LINK_PROTOCOL', `no LMGW endpoint at ${req.url ?? ''}`, verdict.peer);
    if (this.sessions.size + this.pendingUpgrades >= this.o.maxConnections) {
      return refuse(503, 'LINK_OVERLOADED', `at the connection limit (${this.o.maxConnections})`, verdict.peer, {
        'retry-after': String(this.o.overloadRetryAfterSeconds),
      });
    }
    this.pendingUpgrades += 1;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.pendingUpgrades -= 1;
      this.accept(ws, verdict.gatewayId, verdict.peer, remoteAddress);
    });
  }

  private accept(ws: WebSocket, gatewayId: string, peer: AcceptedPeer, remoteAddress: string): void {
    const phase = this.nextPhase++ % HEARTBEAT_SLICES;
    const session = new Session(ws, gatewayId, peer, remoteAddress, phase, this.o.messageBurst, this.stalls.stalledMs());
    this.sessions.set(ws, session);
    // A certificate revoked between the handshake and now (CRL applied meanwhile) is refused too.
    if (this.crl?.revoked.has(peer.serial)) {
      this.security('LINK_CERT_REVOKED', remoteAddress, 'revoked', peer, gatewayId);
      return this.closeSession(session, 'LINK_CERT_REVOKED', 'certificate revoked');
    }
    session.helloTimer = setTimeout(this.onHelloTimeout, this.o.helloTimeoutMs, session);
    ws.on('pong', this.onWsPong);
    // The one listener of its own per session: frames are the hot path, and a closure saves the
    // lookup of the session for every one of them.
    ws.on('message', (data: RawData, isBinary: boolean) => this.onFrame(session, data, isBinary));
    ws.on('close', this.onWsClose);
    ws.on('error', this.onWsError);
  }

  private onFrame(s: Session, data: RawData, isBinary: boolean): void {
    if (s.closing) return;
    s.heard = true;
    // The bucket is credited for the time the hub's loop was held since this session's last frame:
    // what the gateway sent then waited in the kernel and is read now in one go (issue 13: a 30 s
    // stall cut every 1 Hz gateway as LINK_RATE_LIMITED).
    const stalled = this.stalls.stalledMs();
    const credit = stalled - s.stalledAt;
    s.stalledAt = stalled;
    if (!takeToken(s, this.o.messagesPerSecond, this.o.messageBurst, Date.now(), credit)) {
      this.security('LINK_RATE_LIMITED', s.remoteAddress, `more than ${this.o.messagesPerSecond} messages/s`, s.peer, s.gatewayId);
      return this.closeSession(s, 'LINK_RATE_LIMITED', 'message rate limit exceeded');
    }
    if (isBinary) return this.protocolError(s, new ProtocolError('PROTO_NOT_XML', 'binary frames are not part of the protocol'));
    let message: Message;
    try {
      message = decode(textOf(data));
    } catch (err) {
      if (err instanceof ProtocolError) return this.protocolError(s, err);
      throw err;
    }
    if (!s.live) return this.onHello(s, message);
    switch (message.kind) {
      case 'result':
      case 'telemetry':
      case 'event':
      case 'error':
        this.events.emit('message', s, message);
        return;
      case 'hello':
      case 'welcome':
      case 'command':
      case 'ack':
        this.security('LINK_PROTOCOL', s.remoteAddress, `a gateway may not send ${message.kind} now`, s.peer, s.gatewayId);
        this.write(s, { kind: 'error', code: 'LINK_PROTOCOL', message: `unexpected ${message.kind}` });
        return;
    }
  }

  private onHello(s: Session, message: Message): void {
    s.stopHelloTimer();
    if (message.kind !== 'hello') {
      this.security('LINK_PROTOCOL', s.remoteAddress, `first message was ${message.kind}, not hello`, s.peer, s.gatewayId);
      this.write(s, { kind: 'error', code: 'LINK_PROTOCOL', message: 'the first message must be hello' });
      return this.closeSession(s, 'LINK_PROTOCOL', 'hello expected');
    }
    if (message.gatewayId !== s.gatewayId) {
      this.security('LINK_IDENTITY_MISMATCH', s.remoteAddress, `hello says "${message.gatewayId}", the certificate says "${s.gatewayId}"`, s.peer, s.gatewayId);
      this.write(s, { kind: 'error', code: 'LINK_IDENTITY_MISMATCH', message: `hello id "${message.gatewayId}" is not the certificate's "${s.gatewayId}"` });
      return this.closeSession(s, 'LINK_IDENTITY_MISMATCH', 'identity mismatch');
    }
    const version = [...PROTOCOL_VERSIONS].reverse().find((v) => v >= message.minVersion && v <= message.maxVersion);
    if (version === undefined) {
      this.write(s, { kind: 'error', code: 'LINK_VERSION_MISMATCH', message: `hub speaks ${PROTOCOL_VERSIONS.join(', ')}; hello offers ${message.minVersion}..${message.maxVersion}` });
      return this.closeSession(s, 'LINK_VERSION_MISMATCH', 'no common version');
    }
    const previous = this.byGateway.get(s.gatewayId);
    if (previous && previous !== s) this.closeSession(previous, 'LINK_REPLACED', 'a newer session of this gateway connected');
    s.sessionId = randomBytes(8).toString('hex');
    s.connectedAt = Date.now();
    s.version = version;
    s.hello = message;
    s.live = true;
    this.byGateway.set(s.gatewayId, s);
    this.write(s, {
      kind: 'welcome',
      gatewayId: s.gatewayId,
      serverTime: Date.now(),
      pingIntervalSeconds: Math.max(1, Math.round(this.o.pingIntervalMs / 1000)),
      telemetryIntervalSeconds: this.o.telemetryIntervalSeconds,
    });
    this.sessionLog(s, 'info', { version, agent: message.agentVersion, viaProxy: message.viaProxy }, 'gateway connected');
    this.events.emit('connected', s);
  }

  /**
   * Logs about one session, with its gateway id and remote address as a child logger would bind them.
   * Not a child per session: pino's child objects and their serialised bindings cost ≈ 0.5 KiB each,
   * for every connection, to save a spread on the few lines a session logs.
   */
  private sessionLog(s: Session, level: 'debug' | 'info' | 'warn', fields: Record<string, unknown>, message: string): void {
    if (this.log.isLevelEnabled(level)) this.log[level]({ gatewayId: s.gatewayId, remote: s.remoteAddress, ...fields }, message);
  }

  private protocolError(s: Session, err: ProtocolError): void {
    this.sessionLog(s, 'warn', { code: err.code, path: err.path }, err.message);
    this.write(s, err.toWire());
    if (!s.live) this.closeSession(s, 'LINK_PROTOCOL', 'invalid hello');
  }

  private write(s: Session, message: Message): void {
    // As a Buffer: ws would otherwise measure the string's UTF-8 length and then convert it, two passes.
    if (s.ws.readyState !== WebSocket.OPEN) return;
    s.ws.send(Buffer.from(encode(message)), TEXT_FRAME);
    s.spoke = true;
  }

  private closeSession(s: Session, code: keyof typeof CLOSE_CODES, reason: string): void {
    if (s.closing) return;
    s.closing = true;
    s.stopHelloTimer();
    this.sessionLog(s, 'info', { code }, `closing session: ${reason}`);
    s.ws.close(CLOSE_CODES[code], code);
    // A peer that does not answer the close handshake is cut after a grace period.
    setTimeout(() => s.ws.terminate(), 2000).unref();
  }

  private onClose(s: Session, closeCode: number, reason: string): void {
    s.stopHelloTimer();
    this.sessions.delete(s.ws);
    if (this.byGateway.get(s.gatewayId) === s) this.byGateway.delete(s.gatewayId);
    if (s.live) {
      s.live = false;
      const known = Object.entries(CLOSE_CODES).find(([, c]) => c === closeCode)?.[0] as ErrorCode | undefined;
      this.events.emit('disconnected', s, { code: known ?? 'NORMAL', closeCode, reason });
    }
  }

  /**
   * One timer for all sessions. Each tick serves one of HEARTBEAT_SLICES slices, so every session is
   * visited once per ping interval but 2,000 pings and their pongs do not all land in the same
   * millisecond (that burst was half the hub's p99 in bench:link). A visit:
   * - cuts the peer if nothing (frame or pong) came from it in the last two intervals — a half-open
   *   link is cut 2–3 intervals after the peer's last word;
   * - pings unless the link carried traffic both ways since the last visit. Traffic already proves
   *   the peer alive to us, and feeds the agent's own silence timer (it drops a link silent for 2.5
   *   intervals); a ping would only add a frame each way, 500 of them a second at 2,000 gateways. A
   *   quiet session — or one whose frames go only one way — is pinged as before. (MQTT's keep-alive
   *   works the same way: PINGREQ only when nothing else was sent.)
   */
  private heartbeat(): void {
    const slice = this.heartbeatTick++ % HEARTBEAT_SLICES;
    for (const s of this.sessions.values()) {
      if (s.closing || s.phase !== slice) continue;
      s.silentIntervals = s.heard ? 0 : s.silentIntervals + 1;
      if (s.silentIntervals >= 2) {
        this.sessionLog(s, 'warn', {}, 'nothing heard for two ping intervals; terminating');
        s.closing = true;
        s.stopHelloTimer();
        s.ws.terminate();
        this.sessions.delete(s.ws);
        if (this.byGateway.get(s.gatewayId) === s) this.byGateway.delete(s.gatewayId);
        if (s.live) {
          s.live = false;
          this.events.emit('disconnected', s, { code: 'LINK_PONG_TIMEOUT', closeCode: 1006, reason: 'LINK_PONG_TIMEOUT' });
        }
        continue;
      }
      if (!(s.heard && s.spoke)) s.ws.ping();
      s.heard = false;
      s.spoke = false;
    }
  }
}

/** ws.send options for an encoded message handed over as a Buffer. */
const TEXT_FRAME = Object.freeze({ binary: false });

/** A TLS handshake pending longer than this may lose its slot to a newcomer (see admitHandshakes). */
const STALE_HANDSHAKE_MS = 5000;

/** Slices of the ping interval; sessions are spread over them round-robin. */
const HEARTBEAT_SLICES = 16;

/**
 * The hub's TLS context: our CA only, the CRL if any, the TLS profile, and no session tickets.
 * Exported so bench:link's bare floor runs with exactly the same TLS setup.
 */
export function hubTlsContext(o: Pick<LinkServerOptions, 'caPem' | 'certPem' | 'keyPem'>, crlPem: string | undefined): SecureContextOptions {
  return {
    key: o.keyPem,
    cert: o.certPem,
    ca: [o.caPem],
    ...(crlPem ? { crl: crlPem } : {}),
    minVersion: TLS_PROFILE.minVersion,
    maxVersion: TLS_PROFILE.maxVersion,
    ciphers: TLS_PROFILE.ciphers,
    ecdhCurve: TLS_PROFILE.ecdhCurve,
    sigalgs: TLS_PROFILE.sigalgs,
    honorCipherOrder: true,
    // No resumption: a resumed session skips the client-certificate check, which would let a
    // gateway revoked since its last full handshake back in.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET | cryptoConstants.SSL_OP_NO_COMPRESSION,
    sessionTimeout: 0,
  };
}

/** Starts a link server (see LinkServerOptions). */
export function startLinkServer(options: LinkServerOptions): Promise<LinkServer> {
  return LinkServer.start(options);
}

export { LmgwError };
