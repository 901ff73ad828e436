/**
 * The agent's local health and metrics endpoint (config `metrics`), on the real `lmgw-agent run`
 * with an lm-sim and the real hub: /readyz follows the link and the load manager, /metrics (read by
 * the Prometheus Python client's parser, checked by promtool) counts commands and LM errors and
 * shows the link state and the telemetry backlog.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandRecord } from '../../console/hub/operator/types.js';
import { eventually, startFaultConsole, startFaultSite, type FaultConsole, type FaultSite } from '../fault/fault-stack.js';
import { ROOT, tempDir } from '../helpers/processes.js';
import { promtool, promtoolProblems, scrape } from '../helpers/prometheus.js';
import { aLinkPki, freePort } from './fixtures/link.js';

interface Readiness {
  status: string;
  failed?: string[];
  checks: Record<string, { ok: boolean; detail: string }>;
}

describe('the agent health and metrics endpoint', () => {
  const tmp = tempDir('lmgw-agent-health-');
  let hub: FaultConsole | undefined;
  let site: FaultSite | undefined;
  let base = '';
  const readiness = async (): Promise<{ status: number; body: Readiness }> => {
    const res = await fetch(`${base}/readyz`);
    return { status: res.status, body: (await res.json()) as Readiness };
  };

  beforeAll(async () => {
    const pki = await aLinkPki(tmp.dir);
    hub = await startFaultConsole(tmp.dir, pki);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    site = await startFaultSite({
      dir: tmp.dir,
      pki,
      id: 'health-site',
      url: `wss://127.0.0.1:${hub.linkPort}/lmgw/v1`,
      devices: [{ driver: { timeoutMs: 300, retries: 0 } }],
      agentConfig: { metrics: { port } },
    });
  }, 60_000);

  afterAll(async () => {
    await site?.stop();
    await hub?.stop();
    tmp.cleanup();
  });

  it('is ready with the link up and the LM answering, and counts a command', async () => {
    await eventually(async () => (await readiness().catch(() => undefined))?.status === 200, 30_000, 'the agent to be ready');
    expect((await readiness()).body).toMatchObject({ status: 'ready', checks: { link: { ok: true }, lm: { ok: true }, store: { ok: true } } });
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'alive' });

    const shed = await hub?.api<CommandRecord>('command', { gatewayId: 'health-site', op: 'shed', channels: [1] });
    expect(shed).toMatchObject({ state: 'confirmed' });
    const m = await scrape(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(m.value('lmgw_agent_link_up')).toBe(1);
    expect(m.value('lmgw_agent_link_connections_total')).toBe(1);
    expect(m.value('lmgw_agent_commands_total', { op: 'shed', status: 'ok' })).toBe(1);
    expect(m.value('lmgw_agent_commands_total', { op: 'shed', status: 'failed' })).toBe(0);
    expect(m.value('lmgw_agent_command_duration_seconds_count', { op: 'shed' })).toBe(1);
    expect(m.value('lmgw_agent_lm_health', { device: 'lm1', health: 'ok' })).toBe(1);
    expect(m.value('lmgw_agent_telemetry_backlog_batches')).toBeGreaterThanOrEqual(0);
    expect(m.type('process_resident_memory_bytes')).toBe('gauge');
    // Every agent series docs/operations.md names is exported.
    const doc = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    const section = doc.slice(doc.indexOf('\n## Health and metrics'), doc.indexOf('\n## Fault suite'));
    const documented = new Set([...section.matchAll(/`(lmgw_agent_[a-z0-9_]+)`/g)].map((x) => x[1] ?? ''));
    expect(documented.size).toBeGreaterThanOrEqual(8);
    expect([...documented].filter((name) => !m.declares(name))).toEqual([]);
    const bin = promtool();
    if (bin) expect(promtoolProblems(bin, m.text)).toBe('');
  }, 60_000);

  it('is not ready while the LM is silent (its errors counted), nor while the link is down', async () => {
    site?.setSimFaults('silence');
    await eventually(async () => (await readiness()).status === 503, 15_000, '/readyz to fail');
    const silent = await readiness();
    expect(silent.body).toMatchObject({ status: 'not ready', failed: ['lm'], checks: { lm: { ok: false, detail: expect.stringContaining('lm1') as unknown } } });
    const m = await scrape(`${base}/metrics`);
    expect(m.value('lmgw_agent_lm_errors_total', { device: 'lm1', code: 'MODBUS_TIMEOUT' })).toBeGreaterThan(0);
    expect(m.value('lmgw_agent_lm_health', { device: 'lm1', health: 'offline' })).toBe(1);
    site?.setSimFaults('none');
    await eventually(async () => (await readiness()).status === 200, 15_000, '/readyz to recover');

    await hub?.stop();
    await eventually(async () => (await readiness()).body.failed?.includes('link') === true, 15_000, 'the link check to fail');
    const down = await scrape(`${base}/metrics`);
    expect(down.value('lmgw_agent_link_up')).toBe(0);
    // Telemetry waits on disk for the hub.
    await eventually(async () => ((await scrape(`${base}/metrics`)).value('lmgw_agent_telemetry_backlog_samples') ?? 0) > 0, 10_000, 'a telemetry backlog');
  }, 60_000);
});
