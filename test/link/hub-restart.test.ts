import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { LinkClient } from '../../agent/link/client.js';
import { startLinkServer, type LinkServer } from '../../console/hub/link/server.js';
import { aCa } from '../helpers/pki.js';
import { tempDir, waitFor } from '../helpers/processes.js';
import { aHello } from '../console/hub/link/link-client.js';

// Restart the hub under 200 connected agents: all come back, spread by the back-off's full jitter
// rather than in one stampede.

const AGENTS = 200;
const tmp = tempDir();
const clients: LinkClient[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  tmp.cleanup();
});

it(`after a hub restart all ${AGENTS} agents reconnect, spread over the back-off window`, async () => {
  const ca = await aCa(tmp.dir);
  const server = await ca.issueServer({ dnsNames: ['localhost'] });
  const hubOptions = {
    host: '127.0.0.1',
    caPem: ca.certificatePem,
    certPem: server.certPem,
    keyPem: server.keyPem ?? '',
    crlPath: join(ca.paths.dir, 'crl.pem'),
  };
  let hub: LinkServer = await startLinkServer({ ...hubOptions, port: 0 });
  const port = hub.port;

  for (let i = 0; i < AGENTS; i++) {
    const id = `fleet-${String(i).padStart(3, '0')}`;
    const g = await ca.issueCustom({ kind: 'gateway', commonName: id });
    const client = new LinkClient({
      url: `wss://localhost:${port}/lmgw/v1`,
      gatewayId: id,
      caPem: ca.certificatePem,
      certPem: g.certPem,
      keyPem: g.keyPem ?? '',
      proxy: null,
      hello: () => aHello(id),
    });
    clients.push(client);
    client.start();
  }
  await waitFor(() => hub.connected.length === AGENTS, 60_000, `${AGENTS} agents connected`);

  await hub.close();
  const restartedAt = Date.now();
  hub = await startLinkServer({ ...hubOptions, port });
  const reconnectedAfter: number[] = [];
  hub.on('connected', () => reconnectedAfter.push(Date.now() - restartedAt));
  try {
    await waitFor(() => hub.connected.length === AGENTS, 60_000, `${AGENTS} agents reconnected`);
    expect(reconnectedAfter).toHaveLength(AGENTS);
    // Full jitter over the first back-off window (1 s): no 100 ms slice holds a stampede.
    const buckets = new Map<number, number>();
    for (const t of reconnectedAfter) buckets.set(Math.floor(t / 100), (buckets.get(Math.floor(t / 100)) ?? 0) + 1);
    const busiest = Math.max(...buckets.values());
    expect(busiest).toBeLessThan(AGENTS * 0.3);
    expect(buckets.size).toBeGreaterThanOrEqual(6);
    expect(Math.max(...reconnectedAfter) - Math.min(...reconnectedAfter)).toBeGreaterThan(500);
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await hub.close();
  }
});
