/**
 * HTTP CONNECT proxies: which one to use for the console (config, else HTTPS_PROXY with NO_PROXY),
 * and the tunnel itself. The tunnel carries our TLS end to end; a proxy that terminates TLS instead
 * (an intercepting one) is caught later by tls-connect.ts.
 */
import { request } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { LmgwError } from '../../shared/errors.js';

/** A parsed proxy URL. `auth` holds the decoded credentials for the Proxy-Authorization header. */
export interface ProxyEndpoint {
  host: string;
  port: number;
  auth?: { user: string; password: string };
  /** The URL with the password replaced by `***`, for logs and reports. */
  redacted: string;
}

/**
 * Parses `http://[user[:password]@]host[:port]` (default port 3128 is not assumed: the URL's own
 * default, 80, applies, as curl does). Only plain-HTTP proxies: the tunnel carries our own TLS.
 */
export function parseProxyUrl(value: string): ProxyEndpoint {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new LmgwError('CONFIG_INVALID', `proxy: "${redactProxyUrl(value)}" is not a URL (use http://[user:pass@]host:port)`);
  }
  if (url.protocol !== 'http:') {
    throw new LmgwError('CONFIG_INVALID', `proxy: must be an http:// URL (a CONNECT proxy), not ${url.protocol}//`);
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new LmgwError('CONFIG_INVALID', 'proxy: must be http://[user:pass@]host:port without a path');
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? 80 : Number(url.port);
  const endpoint: ProxyEndpoint = { host, port, redacted: redactProxyUrl(value) };
  if (url.username !== '' || url.password !== '') {
    endpoint.auth = { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  }
  return endpoint;
}

/** The proxy URL safe to log: the password (if any) becomes `***`. Works on malformed input too. */
export function redactProxyUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password !== '') url.password = '***';
    return url.href.replace(/\/$/, '');
  } catch {
    // Not a URL: hide anything between "://user:" and "@" the way a URL would have it.
    return value.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@');
  }
}

/**
 * The proxy for a connection to host:port. `configured` wins when given (a URL, or null for "no
 * proxy, whatever the environment says"); when undefined, HTTPS_PROXY / https_proxy apply unless
 * NO_PROXY / no_proxy matches the host. Returns the proxy URL or null for a direct connection.
 */
export function selectProxy(target: { host: string; port: number }, configured: string | null | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  if (configured !== undefined) return configured;
  const fromEnv = env.HTTPS_PROXY ?? env.https_proxy;
  if (fromEnv === undefined || fromEnv.trim() === '') return null;
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? '';
  return bypassesProxy(target.host, target.port, noProxy) ? null : fromEnv.trim();
}

/**
 * NO_PROXY as curl and most tools read it: a comma (or space) separated list; `*` matches every
 * host; an entry matches the host itself and its subdomains (`example.com` and `.example.com` both
 * match `a.example.com`); an entry with `:port` matches that port only. IP addresses match exactly.
 */
export function bypassesProxy(host: string, port: number, noProxy: string): boolean {
  const name = normaliseHost(host);
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let entryHost = entry;
    let entryPort: number | undefined;
    if (entry.startsWith('[')) {
      const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
      if (!bracket) continue;
      entryHost = bracket[1] ?? '';
      entryPort = bracket[2] === undefined ? undefined : Number(bracket[2]);
    } else if (entry.split(':').length === 2) {
      const [h, p] = entry.split(':');
      if (!/^\d+$/.test(p ?? '')) continue;
      entryHost = h ?? '';
      entryPort = Number(p);
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    entryHost = normaliseHost(entryHost.replace(/^\*?\./, ''));
    if (entryHost === '') continue;
    if (name === entryHost || (isIP(name) === 0 && name.endsWith(`.${entryHost}`))) return true;
  }
  return false;
}

function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

export interface TunnelOptions {
  proxy: ProxyEndpoint;
  /** The console's host and port, as the CONNECT request names them. */
  host: string;
  port: number;
  /** The proxy must answer the CONNECT within this. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Opens a CONNECT tunnel and resolves with the raw socket to the console (no byte of ours sent on
 * it yet). 407 → LINK_PROXY_AUTH (and 401, which some proxies, tinyproxy among them, send for
 * wrong credentials); any other answer than 2xx, an unreachable proxy or a timeout →
 * LINK_PROXY_REFUSED.
 */
export function openTunnel(options: TunnelOptions): Promise<Socket> {
  const { proxy, host, port, timeoutMs, signal } = options;
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.auth) {
    headers['proxy-authorization'] = `Basic ${Buffer.from(`${proxy.auth.user}:${proxy.auth.password}`).toString('base64')}`;
  }
  return new Promise<Socket>((resolve, reject) => {
    let settled = false;
    const req = request({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: authority,
      headers,
      // A fresh connection, never pooled: the socket becomes our tunnel.
      agent: false,
      setHost: false,
    });
    const onAbort = (): void => finish(new LmgwError('LINK_PROXY_REFUSED', `CONNECT through ${proxy.redacted} was cancelled`));
    const finish = (err: LmgwError | undefined, socket?: Socket): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        socket?.destroy();
        reject(err);
      } else if (socket) {
        resolve(socket);
      }
    };
    const timer = setTimeout(() => {
      finish(new LmgwError('LINK_PROXY_REFUSED', `the proxy ${proxy.redacted} did not answer CONNECT ${authority} within ${timeoutMs} ms`));
    }, timeoutMs);
    req.once('connect', (res, socket, head) => {
      const status = res.statusCode ?? 0;
      if (status === 407 || status === 401) {
        const how = proxy.auth ? 'refused the credentials given' : 'requires authentication; put user:password into the proxy URL';
        finish(new LmgwError('LINK_PROXY_AUTH', `the proxy ${proxy.redacted} ${how} (${status} ${res.statusMessage ?? ''})`.trimEnd()), socket);
        return;
      }
      if (status < 200 || status > 299) {
        finish(new LmgwError('LINK_PROXY_REFUSED', `the proxy ${proxy.redacted} refused CONNECT ${authority}: ${status} ${res.statusMessage ?? ''}`.trimEnd()), socket);
        return;
      }
      // The console never speaks first in TLS; bytes here mean something else answered.
      if (head.length > 0) {
        finish(new LmgwError('LINK_PROXY_REFUSED', `the proxy ${proxy.redacted} sent data before the TLS handshake`), socket);
        return;
      }
      finish(undefined, socket);
    });
    req.once('response', (res) => {
      // A CONNECT answered as a plain response: some proxies do so for errors.
      const status = res.statusCode ?? 0;
      res.resume();
      const code = status === 407 || status === 401 ? 'LINK_PROXY_AUTH' : 'LINK_PROXY_REFUSED';
      finish(new LmgwError(code, `the proxy ${proxy.redacted} refused CONNECT ${authority}: ${status} ${res.statusMessage ?? ''}`.trimEnd()));
    });
    req.once('error', (err) => {
      finish(new LmgwError('LINK_PROXY_REFUSED', `the proxy ${proxy.redacted} cannot be reached: ${err.message}`, { cause: err }));
    });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}
