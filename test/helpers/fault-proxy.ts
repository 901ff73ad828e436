/**
 * A TCP relay for fault tests: it sits between an agent and the hub and passes, delays or
 * black-holes the bytes of every connection — without ever closing a socket on its own, so a
 * black-holed link looks exactly like a dead path to both ends (no FIN, no RST; only their own
 * timers can tell). Loopback or an address of a namespace the test made; never anything else.
 *
 *   pass        bytes and closes go through at once
 *   delay MS    bytes and closes go through MS later, in order (each direction)
 *   blackhole   bytes are read and dropped; a close from either end is swallowed
 *
 * setFault(fault) applies to the open connections and to those accepted later;
 * setFault(fault, 'new') only to those accepted later (the open ones keep theirs), e.g. a flow that
 * died in a NAT while new flows get through.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export type Fault = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' };

export const PASS: Fault = Object.freeze({ kind: 'pass' });
export const BLACKHOLE: Fault = Object.freeze({ kind: 'blackhole' });
export const delay = (ms: number): Fault => ({ kind: 'delay', ms });

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far (each agent dial through the proxy is one). */
  readonly accepted: number;
  /** Connections whose both sockets are still open. */
  readonly open: number;
  setFault(fault: Fault, scope?: 'all' | 'new'): void;
  /** Destroys every socket and stops listening. */
  close(): Promise<void>;
}

type Item = { at: number; chunk: Buffer } | { at: number; end: true } | { at: number; destroy: true };

/** One direction of one connection: an ordered queue that releases each item when its time comes. */
class Direction {
  private readonly queue: Item[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastAt = 0;

  constructor(
    private readonly to: Socket,
    private readonly fault: () => Fault,
  ) {}

  push(item: { chunk: Buffer } | { end: true } | { destroy: true }): void {
    const f = this.fault();
    if (f.kind === 'blackhole') return;
    const at = Math.max(Date.now() + (f.kind === 'delay' ? f.ms : 0), this.lastAt); // never overtake
    this.lastAt = at;
    this.queue.push({ ...item, at });
    this.pump();
  }

  private pump(): void {
    if (this.timer) return;
    const now = Date.now();
    while (this.queue.length > 0 && (this.queue[0]?.at ?? 0) <= now) {
      const item = this.queue.shift() as Item;
      if (this.to.destroyed) continue;
      if ('chunk' in item) this.to.write(item.chunk);
      else if ('end' in item) this.to.end();
      else this.to.destroy();
    }
    const next = this.queue[0];
    if (next) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, next.at - now);
    }
  }

  clear(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

export async function startFaultProxy(o: { host?: string; port?: number; targetHost: string; targetPort: number }): Promise<FaultProxy> {
  let current: Fault = PASS;
  let accepted = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined; fault: Fault; dirs: Direction[] }>();

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    accepted += 1;
    const pair: { client: Socket; upstream: Socket | undefined; fault: Fault; dirs: Direction[] } = { client, upstream: undefined, fault: current, dirs: [] };
    pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      if (pair.upstream === undefined || pair.upstream.destroyed) pairs.delete(pair);
    });
    if (pair.fault.kind === 'blackhole') {
      // A path that is dead when the connection is made: the dial "succeeds" (the proxy accepted it)
      // and nothing ever comes back — the TLS handshake must time out.
      client.on('data', () => undefined);
      return;
    }
    const upstream = connect({ host: o.targetHost, port: o.targetPort, allowHalfOpen: true });
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => {
      if (client.destroyed) pairs.delete(pair);
    });
    const fault = (): Fault => pair.fault;
    const up = new Direction(upstream, fault);
    const down = new Direction(client, fault);
    pair.dirs = [up, down];
    client.on('data', (chunk: Buffer) => up.push({ chunk }));
    upstream.on('data', (chunk: Buffer) => down.push({ chunk }));
    client.on('end', () => up.push({ end: true }));
    upstream.on('end', () => down.push({ end: true }));
    // A reset (or our own destroy) on one side reaches the other as a reset — unless black-holed.
    client.on('close', (hadError) => hadError && up.push({ destroy: true }));
    upstream.on('close', (hadError) => hadError && down.push({ destroy: true }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  return {
    host: address.address,
    port: address.port,
    get accepted() {
      return accepted;
    },
    get open() {
      return [...pairs].filter((p) => !p.client.destroyed && p.upstream !== undefined && !p.upstream.destroyed).length;
    },
    setFault(fault, scope = 'all') {
      current = fault;
      if (scope === 'all') for (const p of pairs) p.fault = fault;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const p of pairs) {
        for (const d of p.dirs) d.clear();
        p.client.destroy();
        p.upstream?.destroy();
      }
      pairs.clear();
      await closed;
    },
  };
}
