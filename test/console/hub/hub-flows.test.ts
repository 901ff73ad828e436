/**
 * The hub domain's flows with every part real: the hub (startHub: link, store, fleet, operator API)
 * in this process, three `lmgw-agent run` processes, three `lm-sim` processes, and mbpoll — Debian's
 * Modbus client — as the witness of what the relays really are. Operations go through the operator
 * API over HTTP with the bearer token, as a utility's script would call them.
 *
 *   shed by priority across three gateways → relays off as mbpoll sees them → confirmed in the audit
 *   log → auto-restore at the end of the duration → restore all → the hub restarted mid-event keeps
 *   the audit, the history and the event's state → telemetry roll-ups match the raw samples.
 */
import Database from 'better-sqlite3';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startHub, type Hub } from '../../../console/hub/hub.js';
import type { AlarmRecord, AuditRecord, CertificateRecord, CommandRecord, FleetSnapshot, LoadPoint, OperatorEvent, SecurityEventRecord, ShedEventAnswer, ShedEventRecord } from '../../../console/hub/operator/types.js';
import { TEST_PASSPHRASE } from '../../helpers/pki.js';
import { ROOT, run, start, tempDir, waitFor } from '../../helpers/processes.js';
import { aFastProfile } from '../../agent/fixtures/lm.js';
import { aLinkPki, freePort, type LinkPki } from '../../agent/fixtures/link.js';

const SITES = ['site-a', 'site-b', 'site-c'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function relayCoils(port: number): Promise<string[]> {
  const ran = await run('mbpoll', ['-m', 'tcp', '-p', String(port), '-0', '-1', '-a', '1', '-t', '0', '-r', '0', '-c', '4', '127.0.0.1']);
  expect(ran.code, ran.stderr).toBe(0);
  return [...ran.stdout.matchAll(/^\[\d+\]:\s+(\S+)/gm)].map((m) => m[1] ?? '');
}

describe('the hub domain with real agents and lm-sim (issue 5 flows)', () => {
  const tmp = tempDir('lmgw-hub-flows-');
  const procs: ReturnType<typeof start>[] = [];
  const simPorts = new Map<string, number>();
  let pki: LinkPki;
  let hub: Hub;
  let linkPort: number;
  const dataDir = join(tmp.dir, 'console');

  const startTheHub = async (): Promise<Hub> =>
    startHub({
      link: { host: '127.0.0.1', port: linkPort, caPem: pki.caPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem, crlPath: join(tmp.dir, 'pki', 'crl.pem') },
      dataDir,
      timeZone: 'Europe/Zurich',
      ca: { dir: join(tmp.dir, 'pki'), passphrase: TEST_PASSPHRASE },
      sites: { 'site-a': { name: 'Bakery A', labels: ['bakeries'] } },
      operatorApi: { host: '127.0.0.1', port: 0, tokenName: 'test-operator' },
    });

  async function api<T>(method: string, params: unknown = {}): Promise<T> {
    const res = await fetch(new URL(`api/v1/${method}`, hub.api?.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${hub.api?.token ?? ''}`, 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    const body = (await res.json()) as { result?: T; error?: { code: string; message: string } };
    if (!res.ok) throw new Error(`${method} → ${res.status} ${body.error?.code}: ${body.error?.message}`);
    return body.result as T;
  }
  const fleet = (): Promise<FleetSnapshot> => api<FleetSnapshot>('fleet');

  beforeAll(async () => {
    pki = await aLinkPki(tmp.dir);
    linkPort = await freePort();
    hub = await startTheHub();
    for (const [i, id] of SITES.entries()) {
      const dir = join(tmp.dir, id);
      mkdirSync(dir);
      const profileFile = join(dir, 'lm4-fast.json');
      writeFileSync(profileFile, JSON.stringify(aFastProfile()));
      const sim = start(process.execPath, [join(ROOT, 'bin', 'lm-sim.js'), '--port', '0', '--profile', profileFile, '--seed', String(20 + i), '--quiet']);
      procs.push(sim);
      await waitFor(() => /listening on Modbus TCP 127\.0\.0\.1:\d+/.test(sim.output()), 10_000, 'lm-sim to listen');
      const simPort = Number(/127\.0\.0\.1:(\d+)/.exec(sim.output())?.[1]);
      simPorts.set(id, simPort);
      const gw = await pki.gateway(id);
      writeFileSync(join(dir, 'ca.pem'), pki.caPem);
      writeFileSync(join(dir, 'gateway.pem'), gw.certPem);
      writeFileSync(join(dir, 'gateway.key'), gw.keyPem, { mode: 0o600 });
      writeFileSync(
        join(dir, 'agent.json'),
        JSON.stringify({
          gatewayId: id,
          console: { url: `wss://127.0.0.1:${linkPort}/lmgw/v1` },
          tls: { ca: 'ca.pem', cert: 'gateway.pem', key: 'gateway.key' },
          proxy: null,
          site: { name: `Site ${id}`, labels: ['test'] },
          link: { backoffBaseMs: 200, backoffCapMs: 1000 },
          devices: [{ id: 'lm1', profile: 'lm4-fast.json', connection: { type: 'tcp', host: '127.0.0.1', port: simPort, unitId: 1 } }],
          dataDir: 'data',
          linkLoss: { mode: 'hold' },
        }),
      );
      procs.push(start(process.execPath, [join(ROOT, 'bin', 'lmgw-agent.js'), 'run', '--config', join(dir, 'agent.json')], { HTTPS_PROXY: '', https_proxy: '' }));
    }
    await waitFor(async () => (await hub.service.fleet()).counts.connected === SITES.length, 30_000, 'three gateways to connect');
    await waitFor(async () => (await hub.service.fleet()).gateways.every((g) => g.load.currentKw !== null), 15_000, 'telemetry from every gateway');
  }, 90_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await hub.close();
    tmp.cleanup();
  });

  it('lists the fleet with site names from config or hello, channels, load and certificate', async () => {
    const f = await fleet();
    expect(f.counts).toMatchObject({ total: 3, connected: 3, offline: 0, shedding: 0 });
    const a = f.gateways.find((g) => g.gatewayId === 'site-a');
    expect(a).toMatchObject({ siteName: 'Bakery A', labels: ['bakeries'], state: 'connected', agentVersion: expect.any(String), viaProxy: false, lmHealth: 'ok', channelCount: 4 });
    expect(a?.certificate?.notAfter).toBeGreaterThan(Date.now());
    expect(f.gateways.find((g) => g.gatewayId === 'site-b')?.siteName).toBe('Site site-b');
    expect(f.load.currentKw).toBeCloseTo(f.gateways.reduce((s, g) => s + (g.load.currentKw ?? 0), 0), 6);
  });

  it('sheds priority ≤ 1 across three gateways: relays off at every lm-sim, confirmed in the audit log, auto-restored on time', async () => {
    for (const port of simPorts.values()) expect(await relayCoils(port)).toEqual(['1', '1', '1', '1']);
    const preview = await api<{ loadCount: number; gatewayCount: number }>('previewShed', { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 6 });
    expect(preview).toMatchObject({ loadCount: 6, gatewayCount: 3 });

    const answer = await api<ShedEventAnswer>('startShed', { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 6, note: 'flow test' });
    expect(answer).toMatchObject({ state: 'active', gatewayCount: 3, counts: { confirmed: 3 }, notConfirmed: [] });
    const event = await api<ShedEventRecord>('shedEvent', { eventId: answer.id });
    expect(event.outcomes.map((o) => [o.gatewayId, o.channels, o.state]).sort()).toEqual(SITES.map((id) => [id, [1, 2], 'confirmed']));
    for (const port of simPorts.values()) expect(await relayCoils(port)).toEqual(['0', '0', '1', '1']);

    const audit = await api<AuditRecord[]>('audit', { operator: 'test-operator', limit: 100 });
    expect(audit.filter((r) => r.ref === event.id).map((r) => r.outcome).sort()).toEqual(['ok', 'requested']);
    for (const o of event.outcomes) {
      const rows = audit.filter((r) => r.ref === o.commandId);
      expect(rows.map((r) => r.outcome).sort()).toEqual(['confirmed', 'requested']);
      // The 'requested' row was written first (append-only log, ascending ids).
      expect(rows.find((r) => r.outcome === 'requested')?.id).toBeLessThan(rows.find((r) => r.outcome === 'confirmed')?.id ?? 0);
    }
    const detail = hub.service.gateway('site-b');
    expect(detail.devices[0]?.channels.filter((c) => c.shedEventId === event.id).map((c) => c.id)).toEqual([1, 2]);
    expect((await fleet()).counts.shedding).toBe(3);

    // The agents restore on their own at endsAt; the hub closes the event's books.
    await waitFor(() => Date.now() > event.endsAt + 1500, 10_000, 'the end of the event');
    for (const port of simPorts.values()) expect(await relayCoils(port)).toEqual(['1', '1', '1', '1']);
    await waitFor(() => hub.service.shedEvents({ activeOnly: true }).length === 0, 5000, 'the event to end');
    expect(hub.service.shedEvents({ limit: 1 })[0]).toMatchObject({ id: event.id, state: 'ended' });
    expect((await api<AuditRecord[]>('audit', { operation: 'event-ended' })).some((r) => r.ref === event.id)).toBe(true);
  }, 60_000);

  it('restore all brings back channels shed by single commands and ends the active events', async () => {
    const one = await api<CommandRecord>('command', { gatewayId: 'site-a', op: 'shed', channels: [3] });
    expect(one).toMatchObject({ state: 'confirmed', readBack: expect.arrayContaining([{ channel: 3, on: false }]) });
    const answer = await api<ShedEventAnswer>('startShed', { scope: { kind: 'label', label: 'test' }, selector: { kind: 'channels', channels: [2] }, durationSeconds: 600 });
    const event = await api<ShedEventRecord>('shedEvent', { eventId: answer.id });
    // site-a's labels come from config (bakeries), so label 'test' is site-b and site-c only.
    expect(event.outcomes.map((o) => o.gatewayId).sort()).toEqual(['site-b', 'site-c']);
    expect(await relayCoils(simPorts.get('site-a') ?? 0)).toEqual(['1', '1', '0', '1']);
    expect(await relayCoils(simPorts.get('site-b') ?? 0)).toEqual(['1', '0', '1', '1']);

    const restores = await api<CommandRecord[]>('restoreAll');
    expect(restores.map((r) => r.state)).toEqual(['confirmed', 'confirmed', 'confirmed']);
    for (const port of simPorts.values()) expect(await relayCoils(port)).toEqual(['1', '1', '1', '1']);
    expect(hub.service.shedEvents({ limit: 5 }).find((e) => e.id === event.id)).toMatchObject({ state: 'cancelled', cancelledBy: 'test-operator' });
  }, 60_000);

  it('a hub restarted mid-event keeps the audit, the connection history and the event; cancel then restores', async () => {
    const event = await api<ShedEventAnswer>('startShed', { scope: { kind: 'gateway', gatewayId: 'site-c' }, selector: { kind: 'targetKw', kw: 5 }, durationSeconds: 120 });
    expect(event).toMatchObject({ gatewayCount: 1, counts: { confirmed: 1 }, notConfirmed: [] });
    const auditBefore = await api<AuditRecord[]>('audit', { limit: 10_000 });
    const connectionsBefore = hub.service.connections({ limit: 1000 });

    await hub.close();
    hub = await startTheHub();
    await waitFor(async () => (await hub.service.fleet()).counts.connected === SITES.length, 30_000, 'the fleet to come back');

    const auditAfter = await api<AuditRecord[]>('audit', { limit: 10_000 });
    expect(auditAfter.slice(-auditBefore.length)).toEqual(auditBefore);
    const active = await api<ShedEventRecord[]>('shedEvents', { activeOnly: true });
    expect(active.map((e) => [e.id, e.state, e.endsAt])).toEqual([[event.id, 'active', event.endsAt]]);
    // Every session before the restart is closed in the history, and each gateway has a new one.
    const history = hub.service.connections({ limit: 1000 });
    for (const c of connectionsBefore) expect(history.find((h) => h.sessionId === c.sessionId)?.disconnectedAt).toBeDefined();
    expect(history.filter((h) => h.disconnectedAt === undefined)).toHaveLength(SITES.length);

    const cancelled = await api<ShedEventRecord>('cancelShed', { eventId: event.id });
    expect(cancelled).toMatchObject({ state: 'cancelled', cancelledBy: 'test-operator' });
    expect(await relayCoils(simPorts.get('site-c') ?? 0)).toEqual(['1', '1', '1', '1']);
    await expect(api('cancelShed', { eventId: event.id })).rejects.toThrow(/409 OP_EVENT_ENDED/);
  }, 90_000);

  it('the event stream carries live load every second and each command\'s progress to its outcome', async () => {
    const url = new URL('api/v1/events', hub.api?.url);
    url.protocol = 'ws:';
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${hub.api?.token ?? ''}` } });
    const seen: OperatorEvent[] = [];
    ws.on('message', (data: Buffer) => seen.push(JSON.parse(data.toString('utf8')) as OperatorEvent));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      await waitFor(() => seen.filter((e) => e.type === 'load').length >= 2, 5000, 'two load events');
      const load = seen.find((e) => e.type === 'load');
      // The fleet every second; no gateway's figures until the client says which it shows.
      expect(load?.type === 'load' && load.fleet.currentKw).toBeGreaterThan(0);
      expect(load?.type === 'load' && Object.keys(load.gateways)).toEqual([]);
      expect(seen.some((e) => e.type === 'heartbeat')).toBe(true);
      ws.send(JSON.stringify({ type: 'watch', gateways: ['site-b', 'site-c'] }));
      const from = seen.length;
      await waitFor(() => seen.slice(from).some((e) => e.type === 'load' && Object.keys(e.gateways).length > 0), 5000, 'a load event with the watched gateways');
      const watched = seen.slice(from).find((e) => e.type === 'load' && Object.keys(e.gateways).length > 0);
      expect(watched?.type === 'load' && Object.keys(watched.gateways).sort()).toEqual(['site-b', 'site-c']);
      const cmd = await api<CommandRecord>('command', { gatewayId: 'site-b', op: 'read' });
      await waitFor(() => seen.some((e) => e.type === 'command' && e.command.id === cmd.id && e.command.state === 'confirmed'), 5000, 'the command outcome event');
      expect(seen.filter((e) => e.type === 'command' && e.command.id === cmd.id).map((e) => e.type === 'command' && e.command.state)).toEqual(['requested', 'sent', 'confirmed']);
    } finally {
      ws.close();
    }
  });

  it('telemetry roll-ups match the raw samples, and the quarter-hour figures follow them', async () => {
    await sleep(2500);
    // The raw samples straight from the database file (a second, read-only connection), not through
    // the code under test.
    const db = new Database(hub.store.path, { readonly: true });
    try {
      for (const id of SITES) {
        for (const [resolution, size] of [['1m', 60_000], ['15m', 900_000]] as const) {
          const bucket = Math.floor((Date.now() - 1000) / size) * size;
          const rawNow = (): { kw: number }[] =>
            db.prepare('SELECT kw FROM telemetry_raw WHERE gateway_id = ? AND time >= ? AND time < ?').all(id, bucket, bucket + size) as { kw: number }[];
          // Telemetry keeps arriving (1 Hz per site): compare only when no sample came in between
          // reading the raw rows and asking for the roll-up.
          let raw: { kw: number }[] = [];
          let rolled: LoadPoint[] = [];
          for (let attempt = 0; attempt < 10; attempt++) {
            raw = rawNow();
            rolled = await api<LoadPoint[]>('loadHistory', { gatewayId: id, from: bucket, to: bucket + size, resolution });
            if (rawNow().length === raw.length) break;
          }
          expect(raw.length, `${id} has samples in the ${resolution} bucket`).toBeGreaterThan(0);
          expect(rolled.map((p) => p.time)).toEqual([bucket]);
          expect(rolled[0]?.kw).toBeCloseTo(raw.reduce((sum, r) => sum + r.kw, 0) / raw.length, 9);
        }
      }
    } finally {
      db.close();
    }
    const f = await fleet();
    expect(f.load.averageKw).not.toBeNull();
    expect(f.load.projectedKw).not.toBeNull();
    expect(f.load.intervalEnd - f.load.intervalStart).toBe(900_000);
    expect(f.load.intervalStart % 900_000).toBe(0);
  }, 30_000);
  // Last: it takes site-c out of the fleet for good.
  it('revoking a gateway\'s certificate from the console drops it offline within seconds, with a security event and an alarm', async () => {
    const certs = await api<CertificateRecord[]>('certificates');
    const cert = certs.find((c) => c.gatewayId === 'site-c' && c.inUse);
    expect(cert).toMatchObject({ status: 'valid', inUse: true });
    const revokedAt = Date.now();
    const revoked = await api<CertificateRecord>('revokeCertificate', { serial: cert?.serial, reason: 'keyCompromise' });
    expect(revoked).toMatchObject({ serial: cert?.serial, status: 'revoked', reason: 'keyCompromise' });
    await waitFor(async () => (await hub.service.fleet()).gateways.find((g) => g.gatewayId === 'site-c')?.state === 'offline', 5000, 'site-c to drop offline');
    expect(Date.now() - revokedAt).toBeLessThan(5000);
    const security = await api<SecurityEventRecord[]>('securityEvents', { since: revokedAt });
    expect(security.some((e) => e.code === 'LINK_CERT_REVOKED' && e.gatewayId === 'site-c')).toBe(true);
    const alarms = await api<AlarmRecord[]>('alarms', { openOnly: true });
    expect(alarms.some((a) => a.code === 'LINK_CERT_REVOKED' && a.gatewayId === 'site-c')).toBe(true);
    await expect(api('revokeCertificate', { serial: cert?.serial, reason: 'keyCompromise' })).rejects.toThrow(/409 CA_ALREADY_REVOKED/);
    expect((await api<AuditRecord[]>('audit', { operation: 'revoke-certificate' })).map((r) => r.outcome)).toEqual(['failed', 'requested', 'ok', 'requested']); // newest first
    // The other gateways stay connected.
    expect((await fleet()).counts.connected).toBe(2);
  }, 30_000);
});
