/**
 * The simulated gateway fleet (agent/sim/fleet.ts, `lm-sim fleet`) against a real hub in this
 * process (real link, store and operator API): 50 gateways in two worker processes, each with its
 * own certificate from the CA, connect and hello with their profile; a command through the operator
 * API is answered with the relays the gateway was told to set; their telemetry is stored and
 * acknowledged. The CLI issues certificates from a CA directory, says when all are connected and
 * stops cleanly on SIGTERM.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../../console/hub/hub.js';
import type { CommandRecord, FleetSnapshot, GatewayDetail } from '../../../console/hub/operator/types.js';
import { simGatewayIds } from '../../../agent/sim/fleet-credentials.js';
import { SimulatedFleet } from '../../../agent/sim/fleet.js';
import { aLinkPki, type LinkPki } from '../fixtures/link.js';
import { CA_ENV } from '../../helpers/pki.js';
import { ROOT, runBin, start, tempDir, waitFor } from '../../helpers/processes.js';

const GATEWAYS = 50;

describe('a simulated gateway fleet against a real hub', () => {
  const tmp = tempDir('lmgw-sim-fleet-');
  let pki: LinkPki;
  let hub: Hub;
  let fleet: SimulatedFleet | undefined;

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

  beforeAll(async () => {
    pki = await aLinkPki(tmp.dir);
    hub = await startHub({
      link: { host: '127.0.0.1', port: 0, caPem: pki.caPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem, crlPath: join(tmp.dir, 'pki', 'crl.pem') },
      dataDir: join(tmp.dir, 'console'),
      timeZone: 'UTC',
      operatorApi: { host: '127.0.0.1', port: 0, tokenName: 'test-operator' },
    });
  });
  afterAll(async () => {
    await fleet?.stop();
    await hub?.close();
    tmp.cleanup();
  });

  it('connects 50 gateways with their profiles, answers a command through the operator API and has its telemetry acknowledged', async () => {
    const ids = simGatewayIds('fleet-', GATEWAYS);
    const gateways = [];
    for (const id of ids) gateways.push({ id, ...(await pki.gateway(id)) });
    fleet = await SimulatedFleet.start({ url: `wss://127.0.0.1:${hub.link.port}/lmgw/v1`, caPem: pki.caPem, gateways, minWorkers: 2 });
    expect(fleet.pids).toHaveLength(2);

    // Every gateway connected, as the hub sees it, each with the simulated LM's four channels.
    await waitFor(() => hub.link.connected.length === GATEWAYS, 20_000, 'the hub to count every gateway');
    const snapshot = await api<FleetSnapshot>('fleet');
    expect(snapshot.gateways.filter((g) => g.state === 'connected')).toHaveLength(GATEWAYS);
    const detail = await api<GatewayDetail>('gateway', { gatewayId: 'fleet-00007' });
    expect(detail.devices[0]?.channels.map((c) => c.id)).toEqual([1, 2, 3, 4]);

    // A command through the operator API: confirmed, with the relays read back as commanded.
    const shed = await api<CommandRecord>('command', { gatewayId: 'fleet-00007', op: 'shed', channels: [1, 3], durationSeconds: 600 });
    expect(shed.state).toBe('confirmed');
    expect(shed.readBack).toEqual([
      { channel: 1, on: false },
      { channel: 2, on: true },
      { channel: 3, on: false },
      { channel: 4, on: true },
    ]);
    const refused = await api<CommandRecord>('command', { gatewayId: 'fleet-00007', op: 'shed', channels: [4], durationSeconds: 60 });
    expect(refused).toMatchObject({ state: 'rejected', code: 'CMD_NOT_SHEDDABLE' });
    const restore = await api<CommandRecord>('command', { gatewayId: 'fleet-00007', op: 'restore' });
    expect(restore.state).toBe('confirmed');
    expect(restore.readBack?.every((r) => r.on)).toBe(true);

    // The gateway counted what it answered (the refusal came from the simulated LM, not the hub).
    expect((await fleet.status()).commands).toMatchObject({ shed: 1, restore: 1, rejected: 1 });

    // Telemetry: every gateway's batches acknowledged by the hub (send → ack measured by the fleet).
    await fleet.mark();
    await new Promise((r) => setTimeout(r, 3000));
    const status = await fleet.status();
    expect(status.connected).toBe(GATEWAYS);
    expect(status.disconnects).toBe(0);
    expect(status.batchesSent).toBeGreaterThanOrEqual(GATEWAYS * 2);
    // Acks of the last second may still be on their way.
    expect(status.acked).toBeGreaterThanOrEqual(status.batchesSent - GATEWAYS);
    expect(status.ackLatency.p99).toBeLessThan(2000);
    expect(hub.service.gateway('fleet-00007').load.currentKw).toBeGreaterThan(0);
  });

  it('lm-sim fleet: issues the certificates from the CA, says when all are connected, and stops on SIGTERM', async () => {
    const help = await runBin('lm-sim', ['fleet', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/lm-sim fleet --gateways N --console URL/);
    const bad = await runBin('lm-sim', ['fleet', '--gateways', '5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/CLI_USAGE: --console URL is required/);

    const certs = join(tmp.dir, 'sim-certs');
    const sim = start(
      process.execPath,
      [join(ROOT, 'bin', 'lm-sim.js'), 'fleet', '--gateways', '5', '--prefix', 'cli-', '--console', `wss://127.0.0.1:${hub.link.port}/lmgw/v1`, '--pki', join(tmp.dir, 'pki'), '--certs', certs, '--status', '0'],
      CA_ENV,
    );
    try {
      await waitFor(() => /all 5 gateways connected/.test(sim.output()), 30_000, 'lm-sim fleet to connect');
      await waitFor(() => hub.link.connected.filter((s) => s.gatewayId.startsWith('cli-')).length === 5, 10_000, 'the hub to count the CLI gateways');
    } finally {
      await sim.stop();
    }
    expect(sim.child.exitCode).toBe(0);
    expect(sim.output()).toMatch(/lm-sim fleet: stopped/);
    // Progress is for the terminal (stderr); stdout is the gateways' JSON log, silent by default.
    expect(sim.stderr()).toMatch(/all 5 gateways connected/);
    expect(sim.stdout()).toBe('');
    await waitFor(() => hub.link.connected.every((s) => !s.gatewayId.startsWith('cli-')), 10_000, 'the CLI gateways to leave');
    // A second start reads the certificates it issued instead of issuing again.
    const again = start(
      process.execPath,
      [join(ROOT, 'bin', 'lm-sim.js'), 'fleet', '--gateways', '5', '--prefix', 'cli-', '--console', `wss://127.0.0.1:${hub.link.port}/lmgw/v1`, '--certs', certs, '--status', '0'],
      { LMGW_SIM_LOG_LEVEL: 'info' },
    );
    try {
      await waitFor(() => /all 5 gateways connected/.test(again.output()), 30_000, 'lm-sim fleet to connect again');
    } finally {
      await again.stop();
    }
    expect(again.output()).not.toMatch(/issued/);
    // LMGW_SIM_LOG_LEVEL=info: the workers' log, in the format of every LMGW log.
    const logged = again.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.filter((l) => l.msg === 'connected')).toHaveLength(5);
    expect(logged.every((l) => l.name === 'lm-sim-fleet' && typeof l.level === 'string' && typeof l.time === 'string')).toBe(true);
  });
});
