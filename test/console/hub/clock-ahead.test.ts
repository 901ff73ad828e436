/**
 * A gateway whose clock runs ahead: its samples are stored and acknowledged, but kept out of the
 * live figures, and the operator sees a GATEWAY_CLOCK_AHEAD warning naming it. Once its clock is
 * right again, its live load follows its samples and the warning clears. (The hub fuzz test found
 * that a sample at the protocol's latest time crashed the console: test/security/hub-fuzz.test.ts.)
 * The hub runs in this process with a real link and store; the gateway is a real mTLS client.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../../console/hub/hub.js';
import { LIMITS } from '../../../shared/protocol/messages.js';
import { encode } from '../../../shared/protocol/index.js';
import { tempDir, waitFor } from '../../helpers/processes.js';
import { aLinkPki, type LinkPki } from '../../agent/fixtures/link.js';
import { GoodGateway } from '../../security/harness.js';

describe('a gateway whose clock runs ahead', () => {
  const tmp = tempDir('lmgw-clock-ahead-');
  let pki: LinkPki;
  let hub: Hub;

  beforeAll(async () => {
    pki = await aLinkPki(tmp.dir);
    hub = await startHub({
      link: { host: '127.0.0.1', port: 0, caPem: pki.caPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem, crlPath: join(tmp.dir, 'pki', 'crl.pem') },
      dataDir: join(tmp.dir, 'console'),
      timeZone: 'Europe/Zurich',
    });
  });
  afterAll(async () => {
    await hub.close();
    tmp.cleanup();
  });

  it('is stored and acknowledged, left out of the live load with a warning, and followed again once its clock is right', async () => {
    const creds = await pki.gateway('site-ahead');
    const gw = await GoodGateway.connect(hub.link.port, { caPem: pki.caPem, ...creds }, 'site-ahead');
    const acks: number[] = [];
    gw.ws.on('message', (data: Buffer) => {
      const m = /^<ack v="1" seq="(\d+)"/.exec(data.toString());
      if (m) acks.push(Number(m[1]));
    });
    const send = (seq: number, time: number, kw: number): void =>
      gw.ws.send(encode({ kind: 'telemetry', seq, samples: [{ time, kw, relays: [{ channel: 1, on: true }] }] }));

    // An hour ahead, then the protocol's latest time (beyond the last date JavaScript can show).
    send(1, Date.now() + 3_600_000, 40);
    send(2, LIMITS.maxTimeMs, 41);
    await waitFor(() => acks.includes(1) && acks.includes(2), 10_000, 'both batches acknowledged');
    const warning = (): ReturnType<Hub['service']['alarms']>[number] | undefined =>
      hub.service.alarms({ openOnly: true }).find((a) => a.code === 'GATEWAY_CLOCK_AHEAD' && a.gatewayId === 'site-ahead' && a.clearedAt === undefined);
    expect(warning()?.message).toMatch(/site-ahead sends samples stamped more than 60 s ahead/);
    expect(hub.service.gateway('site-ahead').load.currentKw, 'future samples are not the current power').toBeNull();
    // Stored all the same: nothing a gateway sends and the hub acknowledges is dropped.
    const db = new Database(join(tmp.dir, 'console', 'hub.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT time, kw FROM telemetry_raw WHERE gateway_id = ? ORDER BY time').all('site-ahead');
      expect(rows).toHaveLength(2);
      expect(rows.at(-1)).toMatchObject({ time: LIMITS.maxTimeMs, kw: 41 });
    } finally {
      db.close();
    }

    // The clock is fixed: the next samples count, and the warning clears.
    send(3, Date.now(), 12.5);
    await waitFor(() => hub.service.gateway('site-ahead').load.currentKw === 12.5, 10_000, 'the live load to follow a correct sample');
    expect(warning()).toBeUndefined();
    // The hub still serves the gateway normally.
    expect(await gw.roundTrip()).toBe(true);
    gw.ws.close();
  });
});
