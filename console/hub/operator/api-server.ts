/**
 * Browser mode's operator API: the OperatorService over HTTP (one POST per call) and a WebSocket
 * (the event stream), on loopback, for the React UI in a browser and for a utility's scripts. The
 * contract for clients is docs/operator-api.md.
 *
 * Security, in the order a request meets it:
 * 1. Host must be this API's own address (DNS rebinding: a hostile page whose name resolves to
 *    127.0.0.1 still sends its own name as Host) → 403 OP_FORBIDDEN_ORIGIN.
 * 2. Origin, when present, must be this API's own origin (a cross-site request) → 403. The
 *    WebSocket upgrade needs a matching Origin or a bearer header (browsers always send Origin).
 * 3. /healthz, /readyz and /metrics need no token (probes and Prometheus carry none; they answer
 *    states and counts, nothing secret, no gateway id: console/hub/health.ts).
 *    /api and the event stream need the token: `Authorization: Bearer …`, or the HttpOnly
 *    SameSite=Strict cookie /login sets → 401 OP_UNAUTHORIZED. The token is 256 random bits made at
 *    every start, written 0600 to the token file, compared in constant time, never logged.
 * 4. Calls must be JSON (415), at most 64 KiB (413), and pass validateCall (400) before the service
 *    sees them. An unexpected exception answers a generic 500; its message stays in the log.
 * Every response carries a strict CSP, nosniff, no-referrer and DENY framing; no response ever
 * carries CORS headers.
 */
import { randomBytes } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { LmgwError, type ErrorCode } from '../../../shared/errors.js';
import { answerHealth, isHealthPath, isLoopbackHost, type HealthSource } from '../../../shared/health.js';
import { invokeOperatorCall } from './dispatch.js';
import { isOperatorMethod, OPERATOR_METHODS, validateCall } from './schemas.js';
import { jsonSliced } from '../slices.js';
import { lookupStatic, NOT_BUILT_PAGE } from './static-files.js';
import { createToken, removeTokenFile, tokenMatches, writeTokenFile } from './token.js';
import { MAX_WATCHED_GATEWAYS, type LoadFigures, type OperatorContext, type OperatorEvent, type OperatorService } from './types.js';

export interface OperatorApiOptions {
  service: OperatorService;
  /** Address to bind. Default 127.0.0.1. Anything not loopback is logged as a warning: put a TLS reverse proxy in front. */
  host?: string;
  /** Default 8480; 0 picks a free port (see OperatorApi.port). */
  port?: number;
  /** Where the token is written (mode 0600, directory 0700 when created), e.g. `<dataDir>/operator-token`. */
  tokenFile: string;
  /** The operator identity operations are audited under. Default 'operator'. */
  tokenName?: string;
  /** The built renderer. When absent, missing or without index.html, GET / answers a page saying the UI is not built. */
  staticDir?: string;
  /** Serves GET /healthz, /readyz and /metrics, without the token (shared/health.ts). */
  health?: HealthSource;
  logger?: Logger;
}

export interface OperatorApi {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  /** `url` with the token (`…/login?token=…`): print it once for the operator, never log it. */
  readonly loginUrl: string;
  readonly port: number;
  readonly token: string;
  /** Closes the event streams (1001), stops listening and removes the token file. */
  close(): Promise<void>;
}

/** Every limit of the API, set explicitly (no library default decides one). */
export const OPERATOR_API_LIMITS = {
  defaultHost: '127.0.0.1',
  defaultPort: 8480,
  defaultTokenName: 'operator',
  /** Request body of a call. */
  maxBodyBytes: 64 * 1024,
  /** Inbound WebSocket frames: control frames and the client's `watch` list (MAX_WATCHED_GATEWAYS ids). */
  maxInboundFrameBytes: 64 * 1024,
  /**
   * An event stream whose unsent backlog exceeds this gets no more events until it has read most of
   * it; then it gets a `resync` marker (fetch the snapshots again) and the events from there on. The
   * hub's memory per slow subscriber stays bounded by this.
   */
  maxEventBacklogBytes: 2 * 1024 * 1024,
  /** A stream marked for resync gets its marker once its backlog is below this. */
  resumeEventBacklogBytes: 256 * 1024,
  pingIntervalMs: 30_000,
  /** A stream being closed that does not finish the close handshake is cut after this. */
  closeGraceMs: 5_000,
  /** Sockets at once, the event streams included. */
  maxConnections: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16 * 1024,
} as const;

export const API_PREFIX = '/api/v1/';
export const EVENTS_PATH = '/api/v1/events';
export const LOGIN_PATH = '/login';

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** HTTP status of the error codes an operator call can end with; any other code is a 500. */
export const STATUS_OF_CODE: Readonly<Partial<Record<ErrorCode, number>>> = {
  OP_BAD_REQUEST: 400,
  OP_UNAUTHORIZED: 401,
  OP_FORBIDDEN_ORIGIN: 403,
  OP_NOT_FOUND: 404,
  OP_GATEWAY_OFFLINE: 409,
  OP_EVENT_ENDED: 409,
  OP_NO_CA: 409,
  CA_UNKNOWN_ID: 404,
  CA_ALREADY_REVOKED: 409,
  CA_LOCKED: 503,
  STORE_UNAVAILABLE: 503,
  STORE_NEWER_SCHEMA: 503,
};

export function statusOfCode(code: ErrorCode): number {
  return STATUS_OF_CODE[code] ?? 500;
}

/** The error body of every refusal: `{ error: { code, message } }`. */
export interface ApiErrorBody {
  error: { code: ErrorCode; message: string };
}

/** A refusal decided by the HTTP layer itself, with its status. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

/** `host:port` as a browser writes it in Host (IPv6 in brackets, lower case). */
function hostPort(host: string, port: number): string {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return `${isIP(bare) === 6 ? `[${bare}]` : bare}:${port}`;
}

/**
 * The Host values this API answers to: the bound address; the loopback names when bound to
 * loopback; every local interface address when bound to a wildcard address.
 */
function allowedHosts(configured: string, bound: string, port: number): Set<string> {
  const names = new Set<string>([configured, bound].filter((h) => !isWildcard(h)));
  if ([configured, bound].some((h) => isLoopbackHost(h) || isWildcard(h))) for (const h of ['localhost', '127.0.0.1', '::1']) names.add(h);
  if (isWildcard(configured) || isWildcard(bound)) {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address);
  }
  const hosts = new Set<string>();
  for (const name of names) {
    hosts.add(hostPort(name, port));
    // A browser leaves the default port out of Host.
    if (port === 80) hosts.add(hostPort(name, port).replace(/:80$/, ''));
  }
  return hosts;
}

function contentSecurityPolicy(host: string | undefined): string {
  // 'self' covers same-origin ws: in CSP Level 3 browsers; the explicit ws://HOST (an allow-listed
  // Host, never arbitrary input) keeps the event stream working in browsers that predate that.
  const connect = host === undefined ? "'self'" : `'self' ws://${host}`;
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

function securityHeaders(host: string | undefined): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(host),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
}

function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

function remoteOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? 'unknown'}:${req.socket.remotePort ?? ''}`;
}

/** A path safe to put in a log line or a message: bounded, printable ASCII only. */
function shownPath(path: string): string {
  const cut = path.length > 120 ? `${path.slice(0, 120)}…` : path;
  return cut.replace(/[^\x21-\x7e]/g, '?');
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}

interface EventClient {
  ws: WebSocket;
  unsubscribe: () => void;
  alive: boolean;
  closing: boolean;
  /** Events were dropped for it: it gets a resync marker once its backlog has drained. */
  behind: boolean;
  /** Gateways whose load figures it wants (the visible rows). */
  watched: ReadonlySet<string>;
  log: Logger;
}

const WatchMessage = z.strictObject({
  type: z.literal('watch'),
  gateways: z.array(z.string().min(1).max(64)).max(MAX_WATCHED_GATEWAYS),
});

/** The event as JSON, made once for all streams (the load event differs per stream: see deliver). */
const serialized = new WeakMap<OperatorEvent, string>();
function jsonOf(event: OperatorEvent): string {
  let text = serialized.get(event);
  if (text === undefined) serialized.set(event, (text = JSON.stringify(event)));
  return text;
}

/** Starts the operator API; resolves once it listens and the token file is written. */
export async function startOperatorApi(options: OperatorApiOptions): Promise<OperatorApi> {
  const host = options.host ?? OPERATOR_API_LIMITS.defaultHost;
  const port = options.port ?? OPERATOR_API_LIMITS.defaultPort;
  const tokenName = options.tokenName ?? OPERATOR_API_LIMITS.defaultTokenName;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new LmgwError('CONFIG_INVALID', `operator API port: must be a whole number in 0..65535, not ${port}`);
  if (!TOKEN_NAME.test(tokenName)) throw new LmgwError('CONFIG_INVALID', `operator API tokenName: must be 1-64 of A-Z, a-z, 0-9, ".", "_", "@", "-"`);
  if (!options.tokenFile) throw new LmgwError('CONFIG_INVALID', 'operator API tokenFile: is required');
  // The token, the login URL and the Authorization and Cookie headers are redacted by the logger
  // factory (shared/node/log.ts) whatever logs them; nothing here logs them anyway.
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'operator-api' });

  const token = createToken();
  writeTokenFile(options.tokenFile, token);
  const server = createServer({
    headersTimeout: OPERATOR_API_LIMITS.headersTimeoutMs,
    requestTimeout: OPERATOR_API_LIMITS.requestTimeoutMs,
    keepAliveTimeout: OPERATOR_API_LIMITS.keepAliveTimeoutMs,
    maxHeaderSize: OPERATOR_API_LIMITS.maxHeaderBytes,
  });
  server.maxConnections = OPERATOR_API_LIMITS.maxConnections;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host.replace(/^\[|\]$/g, ''), () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    removeTokenFile(options.tokenFile, token);
    throw err;
  }
  const api = new OperatorApiServer(server, options.service, token, host, options.tokenFile, tokenName, options.staticDir, options.health, log);
  if (!isLoopbackHost(host)) {
    log.warn(
      { host, port: api.port },
      `the operator API is bound to ${host}, not loopback: anyone who can reach it and steal the token can shed loads, and its traffic is not encrypted — put a TLS reverse proxy in front`,
    );
  }
  log.info({ url: api.url, tokenFile: options.tokenFile, staticDir: options.staticDir ?? null }, 'operator API listening');
  return api;
}

class OperatorApiServer implements OperatorApi {
  readonly #token: string;
  readonly url: string;
  readonly port: number;
  private readonly hosts: Set<string>;
  private readonly cookieName: string;
  private readonly ctx: OperatorContext;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<EventClient>();
  private readonly pingTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly server: Server,
    private readonly service: OperatorService,
    token: string,
    configuredHost: string,
    private readonly tokenFile: string,
    tokenName: string,
    private readonly staticDir: string | undefined,
    private readonly health: HealthSource | undefined,
    private readonly log: Logger,
  ) {
    this.#token = token;
    const address = server.address();
    const bound = typeof address === 'object' && address ? address.address : configuredHost;
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.hosts = allowedHosts(configuredHost, bound, this.port);
    const shown = isWildcard(configuredHost) ? '127.0.0.1' : configuredHost;
    this.url = `http://${hostPort(shown, this.port)}/`;
    // Cookies are not isolated by port: the port in the name keeps two hubs on one machine apart.
    this.cookieName = `lmgw_operator_${this.port}`;
    this.ctx = Object.freeze({ operator: tokenName });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: OPERATOR_API_LIMITS.maxInboundFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.onRequest(req, res).catch((err: unknown) => this.internalError(res, err, 'request'));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      this.log.debug({ err: err.code ?? err.message }, 'malformed HTTP request');
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      else socket.destroy();
    });
    this.pingTimer = setInterval(() => this.heartbeat(), OPERATOR_API_LIMITS.pingIntervalMs);
    this.pingTimer.unref();
  }

  get token(): string {
    return this.#token;
  }

  get loginUrl(): string {
    return `${this.url.replace(/\/$/, '')}${LOGIN_PATH}?token=${this.#token}`;
  }

  /** Never the token, whatever logs or serialises this object. */
  toJSON(): { url: string; port: number } {
    return { url: this.url, port: this.port };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    for (const c of this.clients) this.closeClient(c, 1001, 'the hub is shutting down');
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    this.server.closeAllConnections();
    for (const c of this.clients) c.ws.terminate();
    await closing;
    removeTokenFile(this.tokenFile, this.#token);
    this.log.info('operator API closed');
  }

  // --- checks shared by requests and upgrades --------------------------------------------------

  /** The request's Host when it is one of ours (lower case), else undefined. */
  private ownHost(req: IncomingMessage): string | undefined {
    const host = req.headers.host?.toLowerCase();
    return host !== undefined && this.hosts.has(host) ? host : undefined;
  }

  private hasBearer(req: IncomingMessage): boolean {
    return req.headers.authorization !== undefined;
  }

  /** The token from `Authorization: Bearer` (which decides alone when present) or from our cookie. */
  private authenticated(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = BEARER.exec(header);
      return m?.[1] !== undefined && tokenMatches(m[1], this.#token);
    }
    let ok = false;
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq === -1 || part.slice(0, eq).trim() !== this.cookieName) continue;
      // Every cookie of that name is checked (another local site may have planted one): any match will do.
      if (tokenMatches(part.slice(eq + 1).trim(), this.#token)) ok = true;
    }
    return ok;
  }

  // --- HTTP ----------------------------------------------------------------------------------

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(securityHeaders(undefined))) res.setHeader(k, v);
    const { path, query } = splitUrl(req.url ?? '');
    const host = this.ownHost(req);
    if (host === undefined) {
      this.log.warn({ remote: remoteOf(req), host: shownPath(req.headers.host ?? '(none)') }, 'refused a request for another Host (DNS rebinding?)');
      return this.sendError(req, res, new Refusal(403, 'OP_FORBIDDEN_ORIGIN', 'the Host header does not name this API; open it through the address lm-console printed'));
    }
    res.setHeader('content-security-policy', contentSecurityPolicy(host));
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) {
      this.log.warn({ remote: remoteOf(req), origin: shownPath(origin), path: shownPath(path) }, 'refused a cross-origin request');
      return this.sendError(req, res, new Refusal(403, 'OP_FORBIDDEN_ORIGIN', 'requests from another origin are not allowed'));
    }
    if (!path.startsWith('/')) return this.sendError(req, res, new Refusal(400, 'OP_BAD_REQUEST', 'the request target must be a path'));
    if (path === LOGIN_PATH) return this.login(req, res, query);
    // No token: probes and scrapers carry none, and these answer states and counts only.
    if (this.health && isHealthPath(path)) return answerHealth(req, res, this.health, (err) => this.log.error({ err }, 'health request failed'));
    if (path === '/api' || path.startsWith('/api/')) return this.apiCall(req, res, path);
    return this.staticFile(req, res, path);
  }

  private login(req: IncomingMessage, res: ServerResponse, query: string): void {
    res.setHeader('cache-control', 'no-store');
    if (req.method !== 'GET') return this.sendError(req, res, new Refusal(405, 'OP_BAD_REQUEST', `${LOGIN_PATH} takes GET`, { allow: 'GET' }));
    const presented = new URLSearchParams(query).get('token') ?? '';
    if (!tokenMatches(presented, this.#token)) {
      this.log.warn({ remote: remoteOf(req) }, 'login with a missing or wrong token');
      return this.sendError(req, res, new Refusal(401, 'OP_UNAUTHORIZED', 'wrong or missing token; use the login URL lm-console printed at its latest start'));
    }
    this.log.info({ remote: remoteOf(req) }, 'browser logged in');
    // Session cookie (no Max-Age): the token changes at every start anyway. 303 to / takes the token
    // out of the address bar; Referrer-Policy no-referrer keeps it out of any Referer.
    res.writeHead(303, {
      location: '/',
      'set-cookie': `${this.cookieName}=${this.#token}; HttpOnly; SameSite=Strict; Path=/`,
      'content-length': '0',
    });
    res.end();
  }

  private async apiCall(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    res.setHeader('cache-control', 'no-store');
    if (!this.authenticated(req)) {
      this.log.warn({ remote: remoteOf(req), path: shownPath(path) }, 'API request without a valid token');
      return this.sendError(
        req,
        res,
        new Refusal(401, 'OP_UNAUTHORIZED', 'a valid token is required (Authorization: Bearer <token from the token file>, or log in through the printed URL)', {
          'www-authenticate': 'Bearer realm="lmgw-operator"',
        }),
      );
    }
    if (path === EVENTS_PATH) {
      return this.sendError(req, res, new Refusal(426, 'OP_BAD_REQUEST', `${EVENTS_PATH} is a WebSocket; connect with a WebSocket client`, { upgrade: 'websocket' }));
    }
    if (req.method !== 'POST') return this.sendError(req, res, new Refusal(405, 'OP_BAD_REQUEST', 'operator calls take POST', { allow: 'POST' }));
    const name = path.startsWith(API_PREFIX) ? path.slice(API_PREFIX.length) : '';
    if (!isOperatorMethod(name)) {
      return this.sendError(req, res, new Refusal(404, 'OP_BAD_REQUEST', `no operator method at ${shownPath(path)} (known: ${Object.keys(OPERATOR_METHODS).join(', ')})`));
    }
    const type = (req.headers['content-type'] ?? '').toLowerCase().split(';').map((p) => p.trim());
    if (type[0] !== 'application/json' || type.slice(1).some((p) => p !== '' && p.replace(/\s/g, '') !== 'charset=utf-8')) {
      return this.sendError(req, res, new Refusal(415, 'OP_BAD_REQUEST', `${name}: the body must be JSON (Content-Type: application/json)`));
    }
    let result: unknown;
    try {
      const body = await readBody(req, OPERATOR_API_LIMITS.maxBodyBytes, name);
      const call = validateCall(name, parseJson(body, name));
      const kind = OPERATOR_METHODS[name].kind;
      if (kind === 'operation') this.log.info({ method: name, operator: this.ctx.operator, remote: remoteOf(req) }, `operation ${name}`);
      else this.log.debug({ method: name }, `query ${name}`);
      result = await invokeOperatorCall(this.service, this.ctx, call);
      // Its audit rows and whatever else it wrote are on disk before the operator hears "done".
      if (kind === 'operation') await this.service.durable?.();
    } catch (err) {
      if (err instanceof Refusal) return this.sendError(req, res, err);
      if (err instanceof LmgwError) {
        this.log.info({ method: name, code: err.code }, `${name} refused: ${err.message}`);
        return this.sendError(req, res, new Refusal(statusOfCode(err.code), err.code, err.message));
      }
      return this.internalError(res, err, name);
    }
    // A large answer (the fleet snapshot, a 20,000-gateway shed event) is serialised in slices.
    let chunks: Buffer[];
    try {
      chunks = await jsonSliced({ result: result ?? null });
    } catch (err) {
      return this.internalError(res, err, name);
    }
    this.sendJsonChunks(req, res, 200, chunks);
  }

  private async staticFile(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return this.sendError(req, res, new Refusal(405, 'OP_BAD_REQUEST', 'only GET and HEAD outside /api', { allow: 'GET, HEAD' }));
    }
    const found = await lookupStatic(this.staticDir, path);
    if (found.kind === 'not-found') {
      this.log.debug({ path: shownPath(path), reason: found.reason }, 'static file not found');
      return this.sendError(req, res, new Refusal(404, 'OP_NOT_FOUND', `no such file: ${shownPath(path)}`));
    }
    if (found.kind === 'not-built') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(NOT_BUILT_PAGE)) });
      res.end(req.method === 'HEAD' ? undefined : NOT_BUILT_PAGE);
      return;
    }
    const { file, stats, contentType, isIndex } = found.found;
    try {
      res.writeHead(200, {
        'content-type': contentType,
        'content-length': String(stats.size),
        // index.html names the current bundle: always fetch it fresh.
        'cache-control': isIndex ? 'no-store' : 'no-cache',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      await pipeline(file.createReadStream({ autoClose: false }), res);
    } catch (err) {
      // The client went away mid-transfer (or the file could not be read after its headers left).
      this.log.debug({ err: (err as Error).message, path: shownPath(path) }, 'static transfer aborted');
      res.destroy();
    } finally {
      await file.close();
    }
  }

  private sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.sendJsonChunks(req, res, status, [Buffer.from(JSON.stringify(body), 'utf8')], headers);
  }

  private sendJsonChunks(req: IncomingMessage, res: ServerResponse, status: number, chunks: Buffer[], headers: Record<string, string> = {}): void {
    // A refusal before the body was read: do not keep reading an unwanted body on a kept-alive socket.
    const hasBody = (req.headers['content-length'] ?? '0') !== '0' || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !req.complete) headers = { ...headers, connection: 'close' };
    let length = 0;
    for (const c of chunks) length += c.length;
    res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(length) });
    if (req.method !== 'HEAD') for (const c of chunks) res.write(c);
    res.end();
  }

  private sendError(req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
    const body: ApiErrorBody = { error: { code: refusal.code, message: refusal.message } };
    this.sendJson(req, res, refusal.status, body, refusal.headers);
  }

  /** An exception nobody expected: its message and stack go to the log, never to the client. */
  private internalError(res: ServerResponse, err: unknown, where: string): void {
    const ref = randomBytes(6).toString('hex');
    this.log.error({ err, ref, where }, `internal error in ${where} (ref ${ref})`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body: ApiErrorBody = { error: { code: 'OP_INTERNAL', message: `internal error (ref ${ref}); the hub log has the details` } };
    const text = JSON.stringify(body);
    res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), connection: 'close' });
    res.end(text);
  }

  // --- the event stream ------------------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'upgrade socket error'));
    const { path } = splitUrl(req.url ?? '');
    const refuse = (status: number, code: ErrorCode, message: string): void => {
      this.log.warn({ remote: remoteOf(req), status, code, path: shownPath(path) }, `refused an event stream: ${message}`);
      const text = JSON.stringify({ error: { code, message } } satisfies ApiErrorBody);
      const headers: Record<string, string> = {
        ...securityHeaders(undefined),
        'cache-control': 'no-store',
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(text)),
        connection: 'close',
      };
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${text}`);
    };
    if (this.closed) {
      socket.destroy();
      return;
    }
    const host = this.ownHost(req);
    if (host === undefined) return refuse(403, 'OP_FORBIDDEN_ORIGIN', 'the Host header does not name this API');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) return refuse(403, 'OP_FORBIDDEN_ORIGIN', 'connections from another origin are not allowed');
    // A browser always sends Origin; a client without one must prove itself with the bearer header,
    // not with a cookie a browser might attach on its own.
    if (origin === undefined && !this.hasBearer(req)) {
      return refuse(403, 'OP_FORBIDDEN_ORIGIN', 'a WebSocket client must send this API\'s Origin or an Authorization: Bearer header');
    }
    if (!this.authenticated(req)) return refuse(401, 'OP_UNAUTHORIZED', 'a valid token is required');
    if (path !== EVENTS_PATH) return refuse(404, 'OP_BAD_REQUEST', `no WebSocket at ${shownPath(path)}; the event stream is ${EVENTS_PATH}`);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.acceptEvents(ws, remoteOf(req)));
  }

  private acceptEvents(ws: WebSocket, remote: string): void {
    const client: EventClient = { ws, unsubscribe: () => undefined, alive: true, closing: false, behind: false, watched: new Set(), log: this.log.child({ stream: remote }) };
    this.clients.add(client);
    client.unsubscribe = once(this.service.subscribe((event) => this.deliver(client, event)));
    this.service.watch?.(client, client.watched);
    client.log.info('event stream opened');
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onClientMessage(client, data, isBinary));
    ws.on('close', (code: number) => {
      client.unsubscribe();
      this.service.watch?.(client, undefined);
      this.clients.delete(client);
      client.log.info({ code }, 'event stream closed');
    });
    ws.on('error', (err) => client.log.debug({ err: err.message }, 'event stream error'));
  }

  /** The one thing a client may say: which gateways' load figures it wants. */
  private onClientMessage(client: EventClient, data: Buffer, isBinary: boolean): void {
    let parsed: unknown;
    try {
      parsed = isBinary ? undefined : JSON.parse(data.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const watch = WatchMessage.safeParse(parsed);
    if (!watch.success) {
      this.closeClient(client, 1008, `clients send only {"type":"watch","gateways":[at most ${MAX_WATCHED_GATEWAYS} ids]}`);
      return;
    }
    client.watched = new Set(watch.data.gateways);
    this.service.watch?.(client, client.watched);
  }

  private deliver(client: EventClient, event: OperatorEvent): void {
    const ws = client.ws;
    if (client.closing || ws.readyState !== WebSocket.OPEN) return;
    if (client.behind) {
      if (ws.bufferedAmount > OPERATOR_API_LIMITS.resumeEventBacklogBytes) return;
      client.behind = false;
      client.log.info('event stream caught up; sending a resync marker');
      this.send(client, JSON.stringify({ type: 'resync', reason: 'events were dropped while this stream was not read; fetch the snapshots again' } satisfies OperatorEvent), 'resync');
    } else if (ws.bufferedAmount > OPERATOR_API_LIMITS.maxEventBacklogBytes) {
      client.behind = true;
      client.log.warn({ backlog: ws.bufferedAmount }, 'event stream not read fast enough; dropping events until it catches up');
      return;
    }
    this.send(client, event.type === 'load' ? this.loadFor(client, event) : jsonOf(event), event.type);
  }

  /** The load event with the fleet and the gateways this client watches. */
  private loadFor(client: EventClient, event: Extract<OperatorEvent, { type: 'load' }>): string {
    const gateways: Record<string, LoadFigures> = {};
    for (const id of client.watched) {
      const f = event.gateways[id];
      if (f) gateways[id] = f;
    }
    return JSON.stringify({ type: 'load', time: event.time, fleet: event.fleet, gateways } satisfies OperatorEvent);
  }

  private send(client: EventClient, text: string, type: string): void {
    try {
      client.ws.send(text);
    } catch (err) {
      // Never let one stream's problem reach the service's emitter.
      client.log.error({ err, type }, 'cannot send an event');
    }
  }

  private closeClient(client: EventClient, code: number, reason: string): void {
    if (client.closing) return;
    client.closing = true;
    client.unsubscribe();
    client.ws.close(code, reason);
    setTimeout(() => client.ws.terminate(), OPERATOR_API_LIMITS.closeGraceMs).unref();
  }

  /** Ping every stream; one that did not answer the previous ping is dead and cut. */
  private heartbeat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        c.log.info('no pong; terminating the event stream');
        c.unsubscribe();
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }
}

/** Reads a request body up to `limit` bytes; a larger one is a 413 refusal. */
function readBody(req: IncomingMessage, limit: number, method: string): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) return Promise.reject(new Refusal(413, 'OP_BAD_REQUEST', `${method}: the body is larger than ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        // Stop receiving; the response says Connection: close.
        req.pause();
        reject(new Refusal(413, 'OP_BAD_REQUEST', `${method}: the body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The params of a call: an empty body is `{}`; anything else must be JSON. */
function parseJson(body: Buffer, method: string): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(UTF8.decode(body)) as unknown;
  } catch {
    throw new Refusal(400, 'OP_BAD_REQUEST', `${method}: the body is not valid JSON (UTF-8)`);
  }
}
