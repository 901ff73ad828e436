/**
 * A share of the fleet benchmark's simulated gateways in a process of its own (forked by
 * bench/fleet.ts): one process may hold at most `ulimit -n` sockets, and the largest scenarios need
 * more than that on the client side. Each gateway is link.ts's: a real TLS + WebSocket client with its
 * own certificate that answers commands from a template. With `reconnect`, a gateway whose session
 * drops comes back the way the agent does: the agent's own Reconnector (exponential back-off with full
 * jitter, base 1 s, cap 60 s), a fresh TLS handshake each time (no session resumption).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Reconnector } from '../agent/link/reconnect.js';
import { closeFleet, connectFleet, connectOne, newFleet, type Fleet } from './link.js';
import type { HubMode } from './link-hub.js';
import type { BenchGateway, BenchPki } from './link-pki.js';
import { serveParent } from './ipc-child.js';

export type ToWorker =
  | { type: 'connect'; port: number; mode: HubMode; pkiFile: string; from: number; to: number; reconnect: boolean }
  /** Forget the reconnection times logged so far. */
  | { type: 'mark' }
  | { type: 'status' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'connected'; gateways: number; seconds: number }
  /** `backAt`: ms (performance.now() of this process, relative to the last mark) at which each dropped gateway was welcomed again. */
  | { type: 'status'; connected: number; backAt: number[]; attempts: number; cpuUs: number }
  | { type: 'stopped' }
  | { type: 'failed'; message: string };

function main(): void {
  const reply = (m: FromWorker): void => void process.send?.(m);
  let fleet: Fleet | undefined;
  let markedAt = performance.now();
  let backAt: number[] = [];
  let attempts = 0;

  const handle = async (msg: ToWorker): Promise<void> => {
    switch (msg.type) {
      case 'connect': {
        const pki = JSON.parse(readFileSync(msg.pkiFile, 'utf8')) as BenchPki;
        const gateways = pki.gateways.slice(msg.from, msg.to);
        const f = newFleet();
        fleet = f;
        if (msg.reconnect) {
          const reconnectors = new Map<string, Reconnector>();
          const retry = (gw: BenchGateway, r: Reconnector): void => {
            setTimeout(() => {
              if (f.closing) return;
              attempts += 1;
              connectOne(f, msg.port, pki, gw, msg.mode).then(
                () => {
                  r.connected();
                  backAt.push(performance.now() - markedAt);
                },
                () => retry(gw, r),
              );
            }, r.nextDelay());
          };
          f.onDrop = (gw): void => {
            let r = reconnectors.get(gw.id);
            if (!r) reconnectors.set(gw.id, (r = new Reconnector()));
            r.disconnected();
            retry(gw, r);
          };
        }
        const t0 = performance.now();
        await connectFleet(f, msg.port, pki, gateways, msg.mode);
        return reply({ type: 'connected', gateways: gateways.length, seconds: (performance.now() - t0) / 1000 });
      }
      case 'mark':
        markedAt = performance.now();
        backAt = [];
        attempts = 0;
        return;
      case 'status': {
        const cpu = process.cpuUsage();
        return reply({ type: 'status', connected: fleet?.clients.length ?? 0, backAt, attempts, cpuUs: cpu.user + cpu.system });
      }
      case 'stop':
        if (fleet) await closeFleet(fleet);
        // Exit rather than wait for the reconnection timers still pending (up to a minute of back-off).
        process.send?.({ type: 'stopped' } satisfies FromWorker, () => process.exit(0));
        return;
    }
  };

  serveParent(handle, USAGE);
}

const USAGE =
  'bench/fleet-worker holds simulated gateways for the fleet benchmark; run `npm run bench:fleet` instead.';

main();
