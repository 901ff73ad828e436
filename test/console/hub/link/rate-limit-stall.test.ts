/**
 * The link's rate limit measures what a gateway sent, not how late the hub read it: the hub's event
 * loop is held (a busy-wait in this process, which hosts the link server) while gateways — in a
 * worker thread, whose own loop keeps running — send telemetry at an allowed rate; when the loop
 * frees up, every gateway's backlog is read at once, and nobody may be cut for it. A real flood is
 * still cut.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../../../certs/ca.js';
import { startLinkServer, type LinkServer, type SecurityEvent, type SessionInfo } from '../../../../console/hub/link/server.js';
import { LINK_PATH } from '../../../../shared/link.js';
import { encode } from '../../../../shared/protocol/index.js';
import { aCa } from '../../../helpers/pki.js';
import { tempDir, waitFor } from '../../../helpers/processes.js';
import { aHello } from './link-client.js';

const RATE = 4;
const BURST = 4;
const STEADY = 5;
const STALL_MS = 4_000;

/**
 * The gateways, in a worker thread (plain JS, evaluated): each connects, sends its hello, then a
 * telemetry frame every `everyMs`; the one named "flood" sends `flood` frames at once when told.
 * Reports 'open', 'closed <code> <reason>' per gateway.
 */
const CLIENTS = `
const { parentPort, workerData } = require('node:worker_threads');
const { WebSocket } = require('ws');
const { url, caPem, gateways, everyMs } = workerData;
const sockets = new Map();
for (const g of gateways) {
  const ws = new WebSocket(url, { ca: caPem, cert: g.certPem, key: g.keyPem, perMessageDeflate: false });
  sockets.set(g.id, ws);
  let seq = 0;
  let timer;
  ws.on('open', () => {
    ws.send(g.hello);
    parentPort.postMessage({ id: g.id, event: 'open' });
    if (g.steady) timer = setInterval(() => ws.send(g.telemetry.replace('SEQ', String(++seq))), everyMs);
  });
  ws.on('close', (code, reason) => {
    clearInterval(timer);
    parentPort.postMessage({ id: g.id, event: 'closed', code, reason: reason.toString() });
  });
  ws.on('error', () => undefined);
}
parentPort.on('message', (m) => {
  if (m.flood) for (let i = 0; i < m.flood; i++) sockets.get('flood').send(gateways.find((g) => g.id === 'flood').telemetry.replace('SEQ', String(i + 1)));
  if (m.stop) { for (const ws of sockets.values()) ws.terminate(); parentPort.close(); }
});
`;

const tmp = tempDir();
let ca: CertificateAuthority;
let hub: LinkServer;

beforeAll(async () => {
  ca = await aCa(tmp.dir, 'pki');
});
afterAll(async () => {
  await hub?.close();
  tmp.cleanup();
});

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the hub's loop is held: nothing is read
  }
}

describe('rate limit and a held event loop', () => {
  it(`after a ${STALL_MS / 1000} s stall, gateways sending at the allowed rate stay connected; a flood is still cut`, async () => {
    const server = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    hub = await startLinkServer({
      host: '127.0.0.1',
      port: 0,
      caPem: ca.certificatePem,
      certPem: server.certPem,
      keyPem: server.keyPem ?? '',
      crlPath: join(ca.paths.dir, 'crl.pem'),
      messagesPerSecond: RATE,
      messageBurst: BURST,
      pingIntervalMs: 60_000,
    });
    const security: SecurityEvent[] = [];
    hub.on('refused', (e) => security.push(e));
    const received = new Map<string, number>();
    hub.on('message', (s: SessionInfo) => received.set(s.gatewayId, (received.get(s.gatewayId) ?? 0) + 1));

    const ids = [...Array.from({ length: STEADY }, (_, i) => `steady-${i}`), 'flood'];
    const gateways = await Promise.all(
      ids.map(async (id) => {
        const g = await ca.issueGateway({ id });
        const telemetry = encode({ kind: 'telemetry', seq: 987_654_321, samples: [{ time: Date.now(), kw: 1, relays: [{ channel: 1, on: true }] }] }).replace('987654321', 'SEQ');
        return { id, certPem: g.certPem, keyPem: g.keyPem ?? '', hello: encode(aHello(id)), telemetry, steady: id !== 'flood' };
      }),
    );
    // Each steady gateway sends at 3/4 of the allowed rate: over the stall, 3 per second pile up —
    // 3 × 4 s = 12 frames read at once, three times the burst.
    const worker = new Worker(CLIENTS, {
      eval: true,
      workerData: { url: `wss://localhost:${hub.port}${LINK_PATH}`, caPem: ca.certificatePem, gateways, everyMs: Math.round(1000 / (RATE * 0.75)) },
    });
    const closed = new Map<string, string>();
    worker.on('message', (m: { id: string; event: string; code?: number; reason?: string }) => {
      if (m.event === 'closed') closed.set(m.id, m.reason ?? '');
    });
    try {
      await waitFor(() => hub.connected.length === ids.length, 10_000, 'every gateway connected');
      await waitFor(() => ids.filter((id) => id !== 'flood').every((id) => (received.get(id) ?? 0) >= 3), 10_000, 'telemetry flowing');

      busyWait(STALL_MS);
      const before = new Map(received);
      // The backlog is read now; then the steady gateways go on for another two seconds.
      await new Promise((r) => setTimeout(r, 2_000));
      for (let i = 0; i < STEADY; i++) {
        const id = `steady-${i}`;
        expect(closed.get(id), id).toBeUndefined();
        // More than the burst came in at once after the stall, and was accepted.
        expect((received.get(id) ?? 0) - (before.get(id) ?? 0), id).toBeGreaterThan(BURST + 4);
      }
      expect(security.map((e) => e.code)).not.toContain('LINK_RATE_LIMITED');
      expect(hub.connected).toHaveLength(ids.length);

      // A real flood — far more than the rate, without any stall — is still cut.
      worker.postMessage({ flood: 200 });
      await waitFor(() => closed.has('flood'), 10_000, 'the flooding gateway cut');
      expect(closed.get('flood')).toBe('LINK_RATE_LIMITED');
      expect(security.filter((e) => e.code === 'LINK_RATE_LIMITED').map((e) => e.gatewayId)).toEqual(['flood']);
      expect([...closed.keys()]).toEqual(['flood']);
    } finally {
      worker.postMessage({ stop: true });
      await worker.terminate();
    }
  }, 40_000);
});
