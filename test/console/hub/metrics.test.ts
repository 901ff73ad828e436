/**
 * /metrics, /healthz and /readyz of the real `lm-console --headless`, scraped as Prometheus does (no
 * token) while three simulated gateways (real mTLS WebSockets, agent/sim/fleet.ts) connect, a shed
 * is confirmed and bad certificates — one from another CA, one revoked — are refused. The text is
 * read by the Prometheus Python client's parser and checked by promtool (test/helpers/prometheus.ts).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatedFleet } from '../../../agent/sim/fleet.js';
import type { ShedEventRecord } from '../../../console/hub/operator/types.js';
import { aLinkPki, freePort, type LinkPki } from '../../agent/fixtures/link.js';
import { eventually, startFaultConsole, startSimFleet, type FaultConsole } from '../../fault/fault-stack.js';
import { ROOT, tempDir } from '../../helpers/processes.js';
import { promtool, promtoolProblems, promtoolQueryProblems, scrape, type Scrape } from '../../helpers/prometheus.js';
import { dial } from './link/link-client.js';

const N = 3;
const PREFIX = 'mx-';

describe('the hub health and metrics endpoints', () => {
  const tmp = tempDir('lmgw-metrics-');
  let pki: LinkPki;
  let hub: FaultConsole;
  let fleet: SimulatedFleet | undefined;
  let metricsPort: number;
  const api = (path: string): string => `http://127.0.0.1:${hub.apiPort}${path}`;
  const metrics = (): Promise<Scrape> => scrape(api('/metrics'));

  beforeAll(async () => {
    pki = await aLinkPki(tmp.dir);
    metricsPort = await freePort();
    hub = await startFaultConsole(tmp.dir, pki, { metrics: { host: '127.0.0.1', port: metricsPort } });
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
    await hub?.stop();
    tmp.cleanup();
  });

  it('answers /healthz and /readyz without a token, and the API still wants one', async () => {
    const alive = await fetch(api('/healthz'));
    expect(alive.status).toBe(200);
    expect(await alive.json()).toEqual({ status: 'alive' });
    const ready = await fetch(api('/readyz'));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { store: { ok: true }, link: { ok: true }, crl: { ok: true } } });
    expect((await fetch(api('/api/v1/fleet'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
    // The metrics listener serves the same three paths and nothing else (no operator API there).
    const other = `http://127.0.0.1:${metricsPort}`;
    expect((await fetch(`${other}/readyz`)).status).toBe(200);
    expect((await scrape(`${other}/metrics`)).value('lmgw_hub_gateways_connected')).toBe(0);
    expect((await fetch(`${other}/api/v1/fleet`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${other}/`)).status).toBe(404);
  });

  it('counts gateways connecting, a confirmed shed, and refused certificates, in a text promtool accepts', async () => {
    const before = await metrics();
    expect(before.status).toBe(200);
    expect(before.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(before.value('lmgw_hub_gateways_connected')).toBe(0);
    expect(before.value('lmgw_hub_link_connections_total')).toBe(0);
    expect(before.value('lmgw_hub_commands_total', { op: 'shed', state: 'confirmed' })).toBe(0);
    expect(before.value('lmgw_hub_link_refusals_total', { code: 'LINK_UNKNOWN_CA' })).toBe(0);
    expect(before.value('lmgw_hub_link_refusals_total', { code: 'LINK_CERT_REVOKED' })).toBe(0);

    fleet = await startSimFleet(tmp.dir, hub, N, PREFIX);
    const connected = await metrics();
    expect(connected.value('lmgw_hub_gateways_connected')).toBe(N);
    expect(connected.value('lmgw_hub_gateways_known')).toBe(N);
    expect(connected.value('lmgw_hub_link_connections_total')).toBe(N);
    expect(connected.value('lmgw_hub_link_handshakes_total')).toBeGreaterThanOrEqual(N);

    const event = await hub.api<ShedEventRecord>('startShed', { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 2 }, durationSeconds: 300 });
    expect(event.counts).toEqual({ confirmed: N });
    // Each gateway sends a telemetry batch a second: stored, acknowledged, counted.
    await eventually(async () => ((await metrics()).value('lmgw_hub_telemetry_samples_total') ?? 0) >= N, 10_000, 'telemetry to be counted');
    const shed = await metrics();
    expect(shed.value('lmgw_hub_commands_requested_total', { op: 'shed' })).toBe(N);
    expect(shed.value('lmgw_hub_commands_total', { op: 'shed', state: 'confirmed' })).toBe(N);
    expect(shed.value('lmgw_hub_commands_total', { op: 'shed', state: 'timed-out' })).toBe(0);
    expect(shed.value('lmgw_hub_command_duration_seconds_count', { op: 'shed' })).toBe(N);
    expect(shed.value('lmgw_hub_command_duration_seconds_sum', { op: 'shed' })).toBeGreaterThan(0);
    // Every command was confirmed well within its 10 s deadline.
    expect(shed.value('lmgw_hub_command_duration_seconds_bucket', { op: 'shed', le: '10' })).toBe(N);
    expect(shed.value('lmgw_hub_telemetry_ack_lag_seconds_count')).toBeGreaterThan(0);
    expect(shed.value('lmgw_hub_telemetry_batches_total')).toBeGreaterThanOrEqual(N);

    // A certificate from another CA, then a revoked one of ours: each refused and counted by its code.
    const intruder = await aLinkPki(tmp.dir, 'intruder');
    const foreign = await intruder.gateway(`${PREFIX}intruder`);
    const refusedForeign = await dial(hub.linkPort, { caPem: pki.caPem, certPem: foreign.certPem, keyPem: foreign.keyPem });
    expect(refusedForeign).toMatchObject({ kind: 'refused', refusal: 'LINK_UNKNOWN_CA' });
    const stolen = await pki.gateway(`${PREFIX}stolen`);
    await pki.ca.revoke({ serial: stolen.serial }, 'keyCompromise');
    // The hub applies the new CRL within a second or two; until then the certificate still passes.
    let dials = 0;
    await eventually(
      async () => {
        dials++;
        const d = await dial(hub.linkPort, { caPem: pki.caPem, certPem: stolen.certPem, keyPem: stolen.keyPem });
        if (d.kind === 'open') d.ws.terminate();
        return d.kind === 'refused' && d.refusal === 'LINK_CERT_REVOKED';
      },
      10_000,
      'the revoked certificate to be refused',
    );
    const refused = await metrics();
    expect(refused.value('lmgw_hub_link_refusals_total', { code: 'LINK_UNKNOWN_CA' })).toBe(1);
    // The refused dial, and possibly the dial before it: a session still open when the new CRL takes
    // effect is cut and counted as revoked too (seen once in CI: 2).
    const revoked = refused.value('lmgw_hub_link_refusals_total', { code: 'LINK_CERT_REVOKED' }) ?? 0;
    expect(revoked).toBeGreaterThanOrEqual(1);
    expect(revoked).toBeLessThanOrEqual(Math.min(2, dials));
    expect(refused.value('lmgw_hub_gateways_connected')).toBe(N);

    // The documented series are there, with their types, and the process metrics beside them.
    for (const [name, type] of Object.entries({
      lmgw_hub_info: 'gauge',
      lmgw_hub_link_disconnections: 'counter',
      lmgw_hub_crl_next_update_timestamp_seconds: 'gauge',
      lmgw_hub_telemetry_queued_batches: 'gauge',
      lmgw_hub_store_errors: 'counter',
      lmgw_hub_command_duration_seconds: 'histogram',
      lmgw_hub_telemetry_ack_lag_seconds: 'histogram',
      nodejs_eventloop_lag_p99_seconds: 'gauge',
      process_resident_memory_bytes: 'gauge',
    })) {
      expect(refused.type(name), name).toBe(type);
    }
    // Counts only: no gateway id, address or certificate serial in any series.
    expect(refused.text).not.toContain(PREFIX);
    expect(refused.text).not.toContain(stolen.serial);
    expect(refused.text).not.toMatch(/127\.0\.0\.1/);
  }, 120_000);

  const bin = promtool();
  it.skipIf(bin === undefined)('promtool check metrics accepts the exposition (skipped without promtool: apt-get install prometheus)', async () => {
    expect(promtoolProblems(bin ?? 'promtool', (await metrics()).text)).toBe('');
  });

  describe('the Grafana dashboard (docs/grafana-lmgw-fleet.json)', () => {
    interface Panel {
      type: string;
      title: string;
      datasource?: { type: string; uid: string };
      targets?: { expr: string; datasource?: { uid: string } }[];
    }
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'docs', 'grafana-lmgw-fleet.json'), 'utf8')) as {
      schemaVersion: unknown;
      uid: string;
      templating: { list: { name: string; type: string; query: unknown }[] };
      panels: Panel[];
    };
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);

    it('is a dashboard Grafana imports: a schema version, a Prometheus data source variable every panel uses', () => {
      expect(typeof dashboard.schemaVersion).toBe('number');
      expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
      const graphs = dashboard.panels.filter((p) => p.type !== 'row');
      expect(graphs.length).toBeGreaterThanOrEqual(12);
      for (const p of graphs) {
        expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(p.targets?.length, p.title).toBeGreaterThan(0);
      }
    });

    it('queries only series the hub exports', async () => {
      const scraped = await metrics();
      const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(?:lmgw_hub|nodejs|process)_[a-z0-9_]+\b/g)].map((m) => m[0])));
      expect(used.size).toBeGreaterThanOrEqual(15);
      expect([...used].filter((name) => !scraped.declares(name))).toEqual([]);
    });

    const doc = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    const section = doc.slice(doc.indexOf('\n## Health and metrics'), doc.indexOf('\n## Fault suite'));

    it('docs/operations.md: the documented hub series exist', async () => {
      const hubSeries = new Set([...section.matchAll(/`((?:lmgw_hub|nodejs|process)_[a-z0-9_]+)`/g)].map((m) => m[1] ?? ''));
      expect(hubSeries.size).toBeGreaterThanOrEqual(20);
      const scraped = await metrics();
      expect([...hubSeries].filter((name) => !scraped.declares(name))).toEqual([]);
    });

    it.skipIf(bin === undefined)('docs/operations.md: its scrape config is one promtool accepts', () => {
      const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
      expect(yaml).toBeDefined();
      const file = join(tmp.dir, 'prometheus.yml');
      writeFileSync(file, yaml ?? '');
      const ran = spawnSync(bin ?? 'promtool', ['check', 'config', '--syntax-only', file], { encoding: 'utf8' });
      expect(`${ran.stdout}${ran.stderr}`).toMatch(/SUCCESS/);
      expect(ran.status).toBe(0);
    });

    it.skipIf(bin === undefined)('has queries promtool parses as PromQL', () => {
      const concrete = exprs.map((e) => e.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*'));
      expect(promtoolQueryProblems(bin ?? 'promtool', tmp.dir, concrete)).toBe('');
    });
  });
});
