import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { LINK_PATH, REFUSAL_HEADER } from '../../../../shared/link.js';
import { decode, encode, type HelloMessage, type Message } from '../../../../shared/protocol/index.js';

/** A bare test client of the hub (the real agent is in agent/): just enough to probe the hub's rules. */
export interface Credentials {
  caPem: string;
  certPem?: string;
  keyPem?: string;
}

export type Dialled =
  | { kind: 'open'; ws: WebSocket; messages: Message[]; closed: Promise<{ code: number; reason: string }>; session: () => Buffer | undefined; reused: boolean }
  | { kind: 'refused'; status: number; refusal: string | undefined; retryAfter: string | undefined };

export function aHello(gatewayId: string, over: Partial<HelloMessage> = {}): HelloMessage {
  return { kind: 'hello', gatewayId, minVersion: 1, maxVersion: 1, agentVersion: '0.1.0', labels: [], viaProxy: false, devices: [], ...over };
}

export function dial(port: number, creds: Credentials, options: { session?: Buffer; autoPong?: boolean } = {}): Promise<Dialled> {
  return new Promise((resolve, reject) => {
    let tlsSession: Buffer | undefined;
    const ws = new WebSocket(`wss://localhost:${port}${LINK_PATH}`, {
      ca: creds.caPem,
      ...(creds.certPem ? { cert: creds.certPem, key: creds.keyPem } : {}),
      ...(options.session ? { session: options.session } : {}),
      autoPong: options.autoPong ?? true,
      perMessageDeflate: false,
    });
    const messages: Message[] = [];
    ws.on('message', (data: Buffer) => messages.push(decode(data.toString())));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('upgrade', (res: IncomingMessage) => {
      const socket = res.socket as TLSSocket;
      socket.on('session', (s: Buffer) => (tlsSession = s));
    });
    ws.on('open', () => {
      const socket = (ws as unknown as { _socket: TLSSocket })._socket;
      resolve({ kind: 'open', ws, messages, closed, session: () => tlsSession ?? socket.getSession(), reused: socket.isSessionReused() });
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      resolve({ kind: 'refused', status: res.statusCode ?? 0, refusal: res.headers[REFUSAL_HEADER] as string | undefined, retryAfter: res.headers['retry-after'] });
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}

export function send(ws: WebSocket, message: Message): void {
  ws.send(encode(message));
}

export async function nextMessage(d: Extract<Dialled, { kind: 'open' }>, timeoutMs = 5000): Promise<Message> {
  const deadline = Date.now() + timeoutMs;
  const start = d.messages.length;
  while (d.messages.length === start) {
    if (Date.now() > deadline) throw new Error('no message from the hub');
    await new Promise((r) => setTimeout(r, 10));
  }
  const m = d.messages[start];
  if (!m) throw new Error('unreachable');
  return m;
}
