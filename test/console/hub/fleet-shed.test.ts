/**
 * A fleet-wide shed through the front door: the real `lm-console --headless`, 200 simulated gateways
 * (real mTLS WebSockets with their own certificates, agent/sim/fleet.ts) and the operator API with
 * its event stream, as the UI uses it. What an operator and an auditor would check afterwards: every
 * gateway's outcome row, every command audited before and after, the event's counts — and that the
 * stream carried the shed in a few hundred bytes per gateway, not a record per command change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { SimulatedFleet } from '../../../agent/sim/fleet.js';
import type { BulkCommandResult, FleetSnapshot, OperatorEvent, ShedEventAnswer, ShedEventRecord, ShedEventSummary } from '../../../console/hub/operator/types.js';
import { aLinkPki } from '../../agent/fixtures/link.js';
import { startFaultConsole, startSimFleet, type FaultConsole } from '../../fault/fault-stack.js';
import { tempDir, waitFor } from '../../helpers/processes.js';

const N = 200;

describe('a fleet-wide shed over 200 simulated gateways', () => {
  const tmp = tempDir('lmgw-fleet-shed-');
  let hub: FaultConsole;
  let fleet: SimulatedFleet | undefined;

  beforeAll(async () => {
    const pki = await aLinkPki(tmp.dir);
    hub = await startFaultConsole(tmp.dir, pki);
    fleet = await startSimFleet(tmp.dir, hub, N, 'fs-', ['sim']);
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop();
    await hub?.stop();
    tmp.cleanup();
  });

  it('confirms every gateway, with its outcome row and audit records in place, and costs the event stream O(N) bytes', async () => {
    const token = hub.apiToken();
    const ws = new WebSocket(`ws://127.0.0.1:${hub.apiPort}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } });
    const seen: OperatorEvent[] = [];
    let bytes = 0;
    const byType: Record<string, number> = {};
    const patchedKeys: Record<string, number> = {};
    let counting = false;
    let lastPatchAt = Date.now();
    ws.on('message', (data: Buffer) => {
      const e = JSON.parse(data.toString('utf8')) as OperatorEvent;
      if (e.type === 'gateways') lastPatchAt = Date.now();
      if (counting) {
        bytes += data.length;
        byType[e.type] = (byType[e.type] ?? 0) + data.length;
        if (e.type === 'gateways') for (const p of e.patches) for (const k of Object.keys(p)) patchedKeys[k] = (patchedKeys[k] ?? 0) + 1;
      }
      seen.push(e);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      // Count the shed, not the fleet's arrival: every gateway has reported its profile and load,
      // and no gateway patch has gone out for a second (a loaded CI machine is still sending the
      // arrivals' patches when registration is done).
      await waitFor(async () => {
        const fleetNow = await hub.api<FleetSnapshot>('fleet');
        return fleetNow.gateways.length === N && fleetNow.gateways.every((g) => g.channelCount > 0 && g.lastTelemetryAt !== null);
      }, 60_000, 'every gateway to report its profile and load');
      await waitFor(() => Date.now() - lastPatchAt > 1_000, 30_000, 'the stream to settle');
      counting = true;
      const event = await hub.api<ShedEventAnswer>('startShed', { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 2 }, durationSeconds: 300 });
      // The answer comes once every command is final: the summary, with the outcomes not confirmed (none) — not N rows.
      expect(event).toMatchObject({ state: 'active', gatewayCount: N, counts: { confirmed: N }, skippedCount: 0, notConfirmed: [] });
      expect(event).not.toHaveProperty('outcomes');
      const summary = (): ShedEventSummary | undefined =>
        seen.flatMap((e) => (e.type === 'shed-event' && e.event.id === event.id ? [e.event] : [])).at(-1);
      await waitFor(() => summary()?.counts.confirmed === N, 10_000, 'the stream to show all confirmed');
      // Each gateway's shed held shows in its summary patch.
      await waitFor(() => seen.some((e) => e.type === 'gateways' && e.patches.some((p) => (p.shedChannelCount ?? 0) > 0)), 10_000, 'gateway patches');
      await new Promise((r) => setTimeout(r, 600));
      counting = false;
      // Start to all confirmed, heartbeats and the fleet's load included: a few hundred bytes per gateway at most.
      expect(bytes / N, `stream bytes by event type: ${JSON.stringify(byType)}; patched fields: ${JSON.stringify(patchedKeys)}`).toBeLessThan(300);
      // The commands of an event report through its summary, not one stream event per change.
      expect(seen.filter((e) => e.type === 'command')).toEqual([]);

      // What the store holds: one outcome row per gateway, agreeing with the commands table.
      const rows = hub.query<{ gateway_id: string; state: string; command_id: string }>('SELECT gateway_id, state, command_id FROM shed_outcomes WHERE event_id = ?', event.id);
      expect(rows).toHaveLength(N);
      expect(rows.every((r) => r.state === 'confirmed')).toBe(true);
      const commands = hub.query<{ id: string; state: string }>('SELECT id, state FROM commands WHERE event_id = ?', event.id);
      expect(commands.map((c) => c.id).sort()).toEqual(rows.map((r) => r.command_id).sort());
      expect(commands.every((c) => c.state === 'confirmed')).toBe(true);
      // Every command audited as requested and as confirmed; the event as requested and ok.
      const audit = hub.query<{ ref: string; outcome: string }>("SELECT ref, outcome FROM audit WHERE operation = 'command' AND ref IN (SELECT id FROM commands WHERE event_id = ?)", event.id);
      expect(audit.filter((a) => a.outcome === 'requested')).toHaveLength(N);
      expect(audit.filter((a) => a.outcome === 'confirmed')).toHaveLength(N);
      expect(hub.query<{ outcome: string }>("SELECT outcome FROM audit WHERE operation = 'shed-event' AND ref = ? ORDER BY id", event.id).map((a) => a.outcome)).toEqual(['requested', 'ok']);
      // Every simulated gateway executed one shed, none twice.
      const status = await fleet?.status();
      expect(status?.commands.shed).toBe(N);
      expect(status?.commands.repeated).toBe(0);
      // The detail view reads the same rows.
      const detail = await hub.api<ShedEventRecord>('shedEvent', { eventId: event.id });
      expect(detail.outcomes.map((o) => o.state)).toEqual(Array<string>(N).fill('confirmed'));
      expect(new Set(detail.outcomes.map((o) => o.gatewayId)).size).toBe(N);
    } finally {
      ws.close();
    }
  }, 120_000);

  it('a command to a label reaches every gateway that has it, each audited, the stream quiet about the single commands', async () => {
    const result = await hub.api<BulkCommandResult>('commandMany', { scope: { kind: 'label', label: 'sim' }, op: 'restore' });
    expect(result.gatewayCount).toBe(N);
    expect(result.counts).toEqual({ confirmed: N });
    expect(new Set(result.commands.map((c) => c.gatewayId)).size).toBe(N);
    expect(hub.query<{ outcome: string }>("SELECT outcome FROM audit WHERE operation = 'command-many' ORDER BY id").map((a) => a.outcome)).toEqual(['requested', 'ok']);
    const ids = result.commands.map((c) => c.id);
    const audited = hub.query<{ n: number }>(`SELECT count(*) AS n FROM audit WHERE operation = 'command' AND ref IN (${ids.map(() => '?').join(',')})`, ...ids);
    expect(audited[0]?.n).toBe(2 * N);
  }, 60_000);
});
