/**
 * The health listener: /healthz, /readyz and /metrics only, on an address of their own — the hub's
 * optional metrics listener and the agent's loopback endpoint. What each path answers is
 * shared/health.ts's; this is the Node server around it, with every limit set explicitly.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pino, type Logger } from 'pino';
import { LmgwError } from '../errors.js';
import { answerHealth, type HealthSource } from '../health.js';

export interface HealthListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  source: HealthSource;
  logger?: Logger;
  /** Default 64. */
  maxConnections?: number;
}

export interface HealthListener {
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

/** Every limit of the listener, set explicitly. */
const LISTENER_LIMITS = { headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxHeaderBytes: 8 * 1024, maxConnections: 64 } as const;

/** Starts the listener; CONFIG_INVALID naming the address when it cannot listen. */
export async function startHealthListener(o: HealthListenerOptions): Promise<HealthListener> {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new LmgwError('CONFIG_INVALID', `metrics port: must be a whole number in 0..65535, not ${o.port}`);
  const log = (o.logger ?? pino({ level: 'silent' })).child({ component: 'health' });
  const server: Server = createServer({
    headersTimeout: LISTENER_LIMITS.headersTimeoutMs,
    requestTimeout: LISTENER_LIMITS.requestTimeoutMs,
    keepAliveTimeout: LISTENER_LIMITS.keepAliveTimeoutMs,
    maxHeaderSize: LISTENER_LIMITS.maxHeaderBytes,
  });
  server.maxConnections = o.maxConnections ?? LISTENER_LIMITS.maxConnections;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void answerHealth(req, res, o.source, (err) => log.error({ err }, 'health request failed'));
  });
  const host = o.host.replace(/^\[|\]$/g, '');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `metrics: cannot listen on ${host}:${o.port} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url }, 'health and metrics listener: /healthz /readyz /metrics');
  return {
    port,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
