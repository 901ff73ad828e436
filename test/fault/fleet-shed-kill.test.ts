/**
 * `kill -9` of the hub halfway through a fleet-wide shed of 2,000 simulated gateways. After the
 * restart every command the hub had recorded is final — confirmed, or failed with OP_HUB_RESTARTED
 * where the hub died before it heard the answer — none is lost, none was executed twice (the
 * simulated agents count repeats), and the event's outcome rows agree with the commands table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { SimulatedFleet } from '../../agent/sim/fleet.js';
import type { OperatorEvent } from '../../console/hub/operator/types.js';
import { aLinkPki } from '../agent/fixtures/link.js';
import { tempDir } from '../helpers/processes.js';
import { startFaultConsole, startSimFleet, type FaultConsole } from './fault-stack.js';

const N = 2000;
/**
 * The simulated load managers answer within this (uniformly spread), so the shed is in flight for a
 * while whatever the machine's speed: answered at once, a quiet machine finished 2,000 commands
 * inside one 250 ms coalescing window of the event stream, with no partial summary to kill at.
 */
const ANSWER_DELAY_MS = 1_500;

describe('kill -9 of the hub halfway through a 2,000-gateway shed', () => {
  const tmp = tempDir('lmgw-shed-kill-');
  let hub: FaultConsole;
  let fleet: SimulatedFleet | undefined;

  beforeAll(async () => {
    const pki = await aLinkPki(tmp.dir);
    hub = await startFaultConsole(tmp.dir, pki);
    fleet = await startSimFleet(tmp.dir, hub, N, 'fk-', [], { answerDelayMs: ANSWER_DELAY_MS });
  }, 300_000);

  afterAll(async () => {
    await fleet?.stop();
    await hub?.stop();
    tmp.cleanup();
  });

  it('leaves every command confirmed or closed as OP_HUB_RESTARTED, none lost, none executed twice', async () => {
    await fleet?.mark();
    const ws = new WebSocket(`ws://127.0.0.1:${hub.apiPort}/api/v1/events`, { headers: { authorization: `Bearer ${hub.apiToken()}` } });
    let halfway: (() => void) | undefined;
    const isHalfway = new Promise<void>((resolve) => (halfway = resolve));
    const summaries: string[] = [];
    ws.on('message', (data: Buffer) => {
      const e = JSON.parse(data.toString('utf8')) as OperatorEvent;
      if (e.type !== 'shed-event') return;
      summaries.push(JSON.stringify(e.event.counts));
      // The first summary with some but not all confirmed: the shed is on its way.
      if ((e.event.counts.confirmed ?? 0) > 0 && (e.event.counts.confirmed ?? 0) < e.event.gatewayCount) halfway?.();
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const shed = hub.api('startShed', { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 2 }, durationSeconds: 600 }).catch((err: unknown) => err);
    // Bounded, and saying what the stream showed instead (a hang here once cost the whole 300 s).
    let waited: NodeJS.Timeout | undefined;
    const tooLong = new Promise<never>((_, reject) => {
      waited = setTimeout(() => reject(new Error(`no partial shed summary within 60 s; the stream's summaries: ${summaries.join(' ') || 'none'}`)), 60_000);
    });
    await Promise.race([isHalfway, tooLong]).finally(() => clearTimeout(waited));
    await hub.kill9();
    ws.terminate();
    expect(await shed).toBeInstanceOf(Error); // the API died with the hub

    const [event] = hub.query<{ id: string }>('SELECT id FROM shed_events');
    if (!event) throw new Error('the event was not recorded before the kill');
    const before = hub.query<{ state: string; n: number }>('SELECT state, count(*) AS n FROM commands WHERE event_id = ? GROUP BY state', event.id);
    console.log(`the event's commands by state at the kill: ${JSON.stringify(before)}`);
    const inFlight = before.filter((r) => r.state === 'requested' || r.state === 'sent').reduce((n, r) => n + r.n, 0);
    expect(inFlight, `some commands in flight at the kill (${JSON.stringify(before)})`).toBeGreaterThan(0);

    await hub.restart();
    const commands = hub.query<{ id: string; gateway_id: string; state: string; record: string }>('SELECT id, gateway_id, state, record FROM commands WHERE event_id = ?', event.id);
    // Nothing left in flight; the ones that were are failed as OP_HUB_RESTARTED, never sent again.
    expect(commands.filter((c) => c.state !== 'confirmed' && c.state !== 'failed')).toEqual([]);
    const failed = commands.filter((c) => c.state === 'failed');
    expect(failed.every((c) => (JSON.parse(c.record) as { code?: string }).code === 'OP_HUB_RESTARTED')).toBe(true);
    expect(failed.length).toBe(inFlight);
    // One command per gateway; every one audited as requested and with its final state.
    expect(new Set(commands.map((c) => c.gateway_id)).size).toBe(commands.length);
    const audit = hub.query<{ ref: string; outcome: string }>("SELECT ref, outcome FROM audit WHERE operation = 'command' AND ref IN (SELECT id FROM commands WHERE event_id = ?)", event.id);
    const byRef = new Map<string, string[]>();
    for (const a of audit) byRef.set(a.ref, [...(byRef.get(a.ref) ?? []), a.outcome]);
    for (const c of commands) expect(byRef.get(c.id), c.id).toEqual(['requested', c.state]);
    // The event's outcome rows agree with the commands table, row for row; a gateway the hub had not
    // commanded yet has its row too, cancelled by the restart — one row for each gateway of the event.
    const rows = hub.query<{ command_id: string; gateway_id: string; state: string; code: string | null }>('SELECT command_id, gateway_id, state, code FROM shed_outcomes WHERE event_id = ?', event.id);
    const outcomes = rows.filter((r) => r.command_id !== '').map(({ command_id, gateway_id, state }) => ({ command_id, gateway_id, state }));
    const expected = commands.map((c) => ({ command_id: c.id, gateway_id: c.gateway_id, state: c.state }));
    const sort = (xs: typeof outcomes): typeof outcomes => [...xs].sort((a, b) => a.command_id.localeCompare(b.command_id));
    expect(sort(outcomes)).toEqual(sort(expected));
    expect(rows.filter((r) => r.command_id === '' && (r.state !== 'cancelled' || r.code !== 'OP_HUB_RESTARTED'))).toEqual([]);
    const [header] = hub.query<{ record: string }>('SELECT record FROM shed_events WHERE id = ?', event.id);
    expect(rows.length).toBe((JSON.parse(header?.record ?? '{}') as { gatewayCount?: number }).gatewayCount);
    // No gateway executed a command twice, and none executed more sheds than the hub recorded.
    await new Promise((r) => setTimeout(r, 2000));
    const status = await fleet?.status();
    expect(status?.commands.repeated).toBe(0);
    expect(status?.commands.shed).toBeLessThanOrEqual(commands.length);
    expect(status?.commands.shed).toBeGreaterThanOrEqual(commands.filter((c) => c.state === 'confirmed').length);
    // The restarted hub serves the event with those outcomes.
    const summary = await hub.api<{ counts: Record<string, number> }>('shedEvent', { eventId: event.id });
    expect(summary.counts.confirmed ?? 0).toBe(commands.filter((c) => c.state === 'confirmed').length);
  }, 300_000);
});
