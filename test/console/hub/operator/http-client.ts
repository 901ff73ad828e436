/**
 * Plain clients for the operator API tests: node:http (so Host, Origin and the raw path are exactly
 * what the test says; fetch would normalise them) and ws.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { WebSocket } from 'ws';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body when it is JSON, else undefined. */
  json: unknown;
}

export interface Ask {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body with Transfer-Encoding: chunked instead of a Content-Length. */
  chunked?: boolean;
}

export function ask(port: number, { method = 'GET', path, headers = {}, body, chunked = false }: Ask): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    // The server may answer (413) and close before it has read everything we send.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    if (body !== undefined) {
      if (!chunked) req.setHeader('content-length', Buffer.byteLength(body));
      req.end(body);
    } else req.end();
  });
}

/** A JSON POST to /api/v1/<method> with the bearer token. */
export function callApi(port: number, token: string, method: string, params: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return ask(port, {
    method: 'POST',
    path: `/api/v1/${method}`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(params),
  });
}

export type Dialled = { kind: 'open'; ws: WebSocket; messages: unknown[] } | { kind: 'refused'; status: number; body: unknown };

/** Opens the event stream with exactly these headers (ws adds Origin only when `origin` is given). */
export function dialEvents(port: number, options: { origin?: string; headers?: Record<string, string>; path?: string } = {}): Promise<Dialled> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${options.path ?? '/api/v1/events'}`, {
      headers: options.headers ?? {},
      ...(options.origin !== undefined ? { origin: options.origin } : {}),
      handshakeTimeout: 5000,
    });
    const messages: unknown[] = [];
    ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString('utf8'))));
    ws.once('open', () => resolve({ kind: 'open', ws, messages }));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        resolve({ kind: 'refused', status: res.statusCode ?? 0, body });
      });
    });
    ws.once('error', (err) => reject(err));
  });
}

export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
}
