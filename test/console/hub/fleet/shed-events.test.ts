/**
 * Shed events with a real store, registry and dispatcher: planning over the live fleet, the outcomes
 * per gateway, what was skipped and why, and the auto-restore bookkeeping across a hub restart. The
 * gateways are scripted peers that answer each command as an agent would.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CommandDispatcher } from '../../../../console/hub/fleet/dispatcher.js';
import { createDomainBus, type DomainBus } from '../../../../console/hub/fleet/domain-bus.js';
import { FleetRegistry } from '../../../../console/hub/fleet/registry.js';
import { ShedEvents } from '../../../../console/hub/fleet/shed-events.js';
import type { ShedEventSummary } from '../../../../console/hub/operator/types.js';
import { HubStore } from '../../../../console/hub/store/index.js';
import type { CommandMessage, ResultMessage } from '../../../../shared/protocol/messages.js';
import { aChannel, aSession } from './sessions-fixture.js';
import { tempDir } from '../../../helpers/processes.js';

const ctx = { operator: 'alice' };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));



describe('ShedEvents', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: HubStore;
  let registry: FleetRegistry;
  let dispatcher: CommandDispatcher;
  let events: ShedEvents;
  let answer: (gatewayId: string, m: CommandMessage) => Omit<ResultMessage, 'kind' | 'commandId' | 'time'>;
  let wire: Array<{ gatewayId: string; message: CommandMessage }>;
  let changes: ShedEventSummary[];
  let bus: DomainBus;
  /** The scripted gateways take the commands and never answer. */
  let silent: boolean;

  const build = (): void => {
    bus = createDomainBus(pino({ level: 'silent' }));
    bus.on('shed-event', (e) => changes.push(e));
    registry = new FleetRegistry(store, {});
    dispatcher = new CommandDispatcher({
      store,
      send: (gatewayId, message) => {
        if (!registry.get(gatewayId)?.session) return false;
        wire.push({ gatewayId, message });
        if (silent) return true;
        queueMicrotask(() => dispatcher.handleResult(gatewayId, { kind: 'result', commandId: message.id, time: Date.now(), ...answer(gatewayId, message) } as ResultMessage));
        return true;
      },
      onChange: (c, bulk) => bus.emit('command', c, bulk),
      deadlineMs: 500,
    });
    events = new ShedEvents({ store, dispatcher, registry, bus });
  };

  beforeEach(() => {
    tmp = tempDir('lmgw-shed-');
    store = HubStore.open(tmp.dir);
    wire = [];
    changes = [];
    silent = false;
    answer = () => ({ status: 'ok' });
    build();
    registry.connected(aSession('gw-a', [aChannel(1), aChannel(2, { priority: 2, ratedKw: 8 }), aChannel(3, { sheddable: false })], ['north']));
    registry.connected(aSession('gw-b', [aChannel(1, { ratedKw: 3 }), aChannel(2, { on: false })], ['south']));
  });
  afterEach(() => {
    events.close();
    dispatcher.close();
    store.close();
    tmp.cleanup();
  });

  it('sheds by priority across the fleet: one command per gateway, outcomes confirmed, skipped loads listed with their reason', async () => {
    const e = await events.start(ctx, { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 2 }, durationSeconds: 60 });
    expect(e.state).toBe('active');
    expect(wire.map((w) => [w.gatewayId, w.message])).toEqual([
      ['gw-a', expect.objectContaining({ op: 'shed', selector: { channels: [1, 2] }, durationSeconds: 60 })],
      ['gw-b', expect.objectContaining({ op: 'shed', selector: { channels: [1] }, durationSeconds: 60 })],
    ]);
    // The answer: the summary, nothing left unconfirmed to name; the record has every row.
    expect(e.notConfirmed).toEqual([]);
    const record = events.get(e.id);
    expect(record.outcomes.map((o) => [o.gatewayId, o.state, o.expectedKw])).toEqual([
      ['gw-a', 'confirmed', 13],
      ['gw-b', 'confirmed', 3],
    ]);
    expect(e.plannedKw).toBe(16);
    expect(record.skipped.map((s) => [s.gatewayId, s.channel, s.reason]).sort()).toEqual([
      ['gw-a', 3, 'not-sheddable'],
      ['gw-b', 2, 'already-off'],
    ]);
    expect([...events.heldChannels('gw-a').keys()]).toEqual([1, 2]);
    expect(e).toMatchObject({ gatewayCount: 2, counts: { confirmed: 2 }, confirmedKw: 16, skippedCount: 2, skippedByReason: { 'not-sheddable': 1, 'already-off': 1 } });
    // What the store holds is what the live event showed.
    events.close();
    dispatcher.close();
    build();
    expect(events.get(e.id)).toEqual(record);
  });

  it('a target in kW takes the lowest priority first, then the largest load, and reports a shortfall', async () => {
    const e = await events.start(ctx, { scope: { kind: 'fleet' }, selector: { kind: 'targetKw', kw: 100 }, durationSeconds: 60 });
    expect(e.targetKw).toBe(100);
    expect(e.shortfallKw).toBe(84);
    const small = await events.start(ctx, { scope: { kind: 'label', label: 'north' }, selector: { kind: 'targetKw', kw: 4 }, durationSeconds: 60 });
    expect(events.get(small.id).outcomes.map((o) => [o.gatewayId, o.channels])).toEqual([['gw-a', [1]]]);
  });

  it('an event where nothing can be shed is failed, sends nothing and says why', async () => {
    const e = await events.start(ctx, { scope: { kind: 'gateway', gatewayId: 'gw-b' }, selector: { kind: 'channels', channels: [2, 9] }, durationSeconds: 60 });
    expect(e.state).toBe('failed');
    expect(wire).toHaveLength(0);
    expect(events.get(e.id).skipped.map((s) => s.reason).sort()).toEqual(['already-off', 'unknown-channel']);
  });

  it('an event whose every command is refused by the agents is failed, with the agents\' reasons', async () => {
    answer = () => ({ status: 'rejected', code: 'CMD_MIN_ON_TIME', message: 'on for 10 s of 300' });
    const e = await events.start(ctx, { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 60 });
    expect(e.state).toBe('failed');
    // The answer names what did not confirm, with the agents' reasons.
    expect(e.notConfirmed.map((o) => [o.gatewayId, o.state, o.code])).toEqual([
      ['gw-a', 'rejected', 'CMD_MIN_ON_TIME'],
      ['gw-b', 'rejected', 'CMD_MIN_ON_TIME'],
    ]);
    expect(store.queryAudit({ operation: 'shed-event' }).map((r) => r.outcome)).toEqual(['failed', 'requested']);
  });

  it('auto-restore bookkeeping: the event ends at endsAt, audited by the hub, and its channels are no longer held', async () => {
    const e = await events.start(ctx, { scope: { kind: 'gateway', gatewayId: 'gw-a' }, selector: { kind: 'channels', channels: [1] }, durationSeconds: 1 });
    expect(e.endsAt - e.createdAt).toBe(1000);
    await sleep(1200);
    expect(store.getShedEventHeader(e.id)?.state).toBe('ended');
    expect(events.heldChannels('gw-a').size).toBe(0);
    expect(store.queryAudit({ operation: 'event-ended' })).toEqual([expect.objectContaining({ ref: e.id, operator: 'lmgw-hub', outcome: 'ok' })]);
    expect(changes.at(-1)).toMatchObject({ id: e.id, state: 'ended' });
  });

  it('after a hub restart an active event keeps its end time; one whose end passed while the hub was down ends at once', async () => {
    const long = await events.start(ctx, { scope: { kind: 'gateway', gatewayId: 'gw-a' }, selector: { kind: 'channels', channels: [1] }, durationSeconds: 3600 });
    const short = await events.start(ctx, { scope: { kind: 'gateway', gatewayId: 'gw-b' }, selector: { kind: 'channels', channels: [1] }, durationSeconds: 1 });
    events.close();
    dispatcher.close();
    await sleep(1100); // the hub is down while `short` ends
    build();
    expect(dispatcher.recover(events.recoverOutcome)).toEqual([]);
    events.recover();
    await sleep(50);
    expect(store.getShedEventHeader(short.id)?.state).toBe('ended');
    expect(events.list().map((x) => [x.id, x.endsAt])).toEqual([[long.id, long.endsAt]]);
    expect(events.heldChannels('gw-a').get(1)).toEqual({ eventId: long.id, restoreAt: long.endsAt });
    // Both dispatches had finished: their audit outcomes are the ones start() wrote, none added.
    expect(store.queryAudit({ operation: 'shed-event' }).filter((r) => r.outcome !== 'requested')).toHaveLength(2);
  });

  it('a hub stopped with every command of an event sent and unanswered: the commands end OP_HUB_RESTARTED and the event\'s audit gets its outcome at restart', async () => {
    silent = true;
    void events.start(ctx, { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 600 }).catch(() => undefined);
    while (wire.length < 2) await sleep(1);
    const [eventId = ''] = events.list().map((e) => e.id);
    events.close();
    dispatcher.close();
    store.close();

    store = HubStore.open(tmp.dir);
    build();
    expect(dispatcher.recover(events.recoverOutcome).map((c) => [c.gatewayId, c.state, c.code])).toEqual([
      ['gw-a', 'failed', 'OP_HUB_RESTARTED'],
      ['gw-b', 'failed', 'OP_HUB_RESTARTED'],
    ]);
    events.recover();
    expect(events.get(eventId).counts).toEqual({ failed: 2 });
    const outcomes = store.queryAudit({ operation: 'shed-event' }).filter((r) => r.outcome !== 'requested');
    expect(outcomes).toEqual([expect.objectContaining({ ref: eventId, operator: 'alice', outcome: 'failed', parameters: { confirmed: 0, commands: 2, code: 'OP_HUB_RESTARTED' } })]);
    // A second restart adds nothing.
    events.close();
    dispatcher.close();
    build();
    events.recover();
    expect(store.queryAudit({ operation: 'shed-event' }).filter((r) => r.outcome !== 'requested')).toHaveLength(1);
  });

  it('counts the channels held on a gateway once, however many active events hold them', async () => {
    expect(events.heldChannelCount('gw-a')).toBe(0);
    const both = await events.start(ctx, { scope: { kind: 'gateway', gatewayId: 'gw-a' }, selector: { kind: 'channels', channels: [1, 2] }, durationSeconds: 600 });
    const one = await events.start(ctx, { scope: { kind: 'gateway', gatewayId: 'gw-a' }, selector: { kind: 'channels', channels: [2] }, durationSeconds: 600 });
    expect([both.counts.confirmed, one.counts.confirmed]).toEqual([1, 1]);
    expect(events.heldChannelCount('gw-a')).toBe(2);
    expect(events.heldChannelCount('gw-a')).toBe(events.heldChannels('gw-a').size);
    await events.cancel(ctx, both.id);
    expect(events.heldChannelCount('gw-a')).toBe(1);
    await events.cancel(ctx, one.id);
    expect(events.heldChannelCount('gw-a')).toBe(0);
    expect(events.heldChannelCount('gw-b')).toBe(0);
  });

  it('cancel restores the event\'s channels and ends it; a second cancel is OP_EVENT_ENDED', async () => {
    const e = await events.start(ctx, { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 600 });
    wire = [];
    const c = await events.cancel({ operator: 'bob' }, e.id);
    expect(c).toMatchObject({ state: 'cancelled', cancelledBy: 'bob' });
    expect(wire.map((w) => [w.gatewayId, w.message.op, 'selector' in w.message ? w.message.selector : undefined])).toEqual([
      ['gw-a', 'restore', { channels: [1] }],
      ['gw-b', 'restore', { channels: [1] }],
    ]);
    await expect(events.cancel(ctx, e.id)).rejects.toMatchObject({ code: 'OP_EVENT_ENDED' });
    await expect(events.cancel(ctx, 'e-nope')).rejects.toMatchObject({ code: 'OP_NOT_FOUND' });
  });

  it('cancel while a large event is still going out: nothing more is shed after it, every gateway shed gets its restore, the rest are cancelled unsent', async () => {
    const ids = Array.from({ length: 448 }, (_, i) => `gw-${String(i).padStart(3, '0')}`);
    for (const id of ids) registry.connected(aSession(id, [aChannel(1)]));
    const all = [...ids, 'gw-a', 'gw-b'];
    const started = events.start(ctx, { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 600 });
    // Cancel as soon as the first slice is on the wire (the other slices are still to go).
    while (!wire.some((w) => w.message.op === 'shed')) await sleep(1);
    const [eventId] = events.list().map((e) => e.id);
    const cancelled = await events.cancel({ operator: 'bob' }, eventId ?? '');
    const e = await started; // every slice that goes out has gone: start() resolves once all its commands are final

    const shed = wire.filter((w) => w.message.op === 'shed').map((w) => w.gatewayId);
    expect(shed.length).toBeGreaterThan(0);
    expect(shed.length).toBeLessThan(all.length);
    // Every shed on the wire is followed by a restore of the same gateway; no gateway gets a restore it was not shed for.
    const restoredAfter = new Set<string>();
    const shedSoFar = new Set<string>();
    for (const w of wire) {
      if (w.message.op === 'shed') shedSoFar.add(w.gatewayId);
      else if (w.message.op === 'restore' && shedSoFar.has(w.gatewayId)) restoredAfter.add(w.gatewayId);
    }
    expect(shed.filter((g) => !restoredAfter.has(g))).toEqual([]);
    expect(wire.filter((w) => w.message.op === 'restore').length).toBe(shed.length);
    // The outcomes account for every gateway: shed (and confirmed), or cancelled before it was sent.
    const record = events.get(e.id);
    expect(record.state).toBe('cancelled');
    expect(record.outcomes).toHaveLength(all.length);
    const unsent = record.outcomes.filter((o) => o.state === 'cancelled');
    expect(unsent.map((o) => o.gatewayId).sort()).toEqual(all.filter((g) => !shed.includes(g)).sort());
    expect(unsent.every((o) => o.code === 'OP_EVENT_ENDED')).toBe(true);
    expect(record.counts).toEqual({ confirmed: shed.length, cancelled: all.length - shed.length });
    expect(cancelled.state).toBe('cancelled');
    // The store agrees with memory, and no command is left requested.
    expect(store.shedOutcomeCounts(e.id).counts).toEqual(record.counts);
    expect(store.queryCommands({ eventId: e.id, limit: 10_000 }).filter((c) => c.op === 'shed' && c.state !== 'confirmed' && c.state !== 'cancelled')).toEqual([]);
  });

  it('a hub stopped while a large event is going out: after restart every planned gateway has its outcome, those never commanded cancelled with OP_HUB_RESTARTED', async () => {
    const ids = Array.from({ length: 448 }, (_, i) => `gw-${String(i).padStart(3, '0')}`);
    for (const id of ids) registry.connected(aSession(id, [aChannel(1)]));
    const all = [...ids, 'gw-a', 'gw-b'].sort();
    // Its answer never comes: the hub stops (a slice journaled, the next ones still to come) before start() resolves.
    void events.start(ctx, { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 600 }).catch(() => undefined);
    const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
    let eventId = '';
    while (eventId === '' || store.queryCommands({ eventId, limit: 1 }).length === 0) {
      await turn();
      eventId = events.list()[0]?.id ?? '';
    }
    events.close();
    dispatcher.close();
    store.close();

    store = HubStore.open(tmp.dir);
    build();
    const lost = dispatcher.recover(events.recoverOutcome);
    events.recover();
    const commands = store.queryCommands({ eventId, limit: 10_000 });
    const record = events.get(eventId);
    expect(record.outcomes.map((o) => o.gatewayId).sort()).toEqual(all);
    const never = record.outcomes.filter((o) => o.commandId === '');
    expect(never.length).toBeGreaterThan(0);
    expect(never.length + commands.length).toBe(all.length);
    expect(never.every((o) => o.state === 'cancelled' && o.code === 'OP_HUB_RESTARTED')).toBe(true);
    // Whoever was commanded is confirmed or closed by the restart, as the commands table says.
    const byCommand = new Map(commands.map((c) => [c.id, c.state]));
    for (const o of record.outcomes.filter((x) => x.commandId !== '')) expect(o.state).toBe(byCommand.get(o.commandId));
    expect(lost.every((c) => c.code === 'OP_HUB_RESTARTED')).toBe(true);
    expect(store.shedOutcomeCounts(eventId).counts).toEqual(record.counts);
    expect(store.queryAudit({ operation: 'shed-event' }).find((r) => r.outcome !== 'requested')?.parameters).toMatchObject({ notSent: never.length, code: 'OP_HUB_RESTARTED' });
    // Nothing went to a gateway without a command on record.
    const commanded = new Set(commands.map((c) => c.gatewayId));
    expect(wire.filter((w) => !commanded.has(w.gatewayId))).toEqual([]);
  });

  it('a hub stopped while an event is still being planned (some planned rows written, no command): after restart it is failed, nothing sent, its audit counting every planned gateway as not sent', async () => {
    const ids = Array.from({ length: 1_500 }, (_, i) => `gw-${String(i).padStart(4, '0')}`);
    for (const id of ids) registry.connected(aSession(id, [aChannel(1)]));
    const total = ids.length + 2;
    void events.start(ctx, { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 600 }).catch(() => undefined);
    // The planned rows go in slices of 1,000, a turn each: stop after the first.
    let eventId = '';
    let rows = 0;
    while (rows === 0) {
      await new Promise((r) => setImmediate(r));
      eventId = store.queryShedEventHeaders({ limit: 1 })[0]?.id ?? '';
      rows = eventId === '' ? 0 : store.shedOutcomes(eventId).length;
    }
    expect(rows).toBeLessThan(total);
    expect(store.queryCommands({ eventId, limit: 1 })).toEqual([]);
    events.close();
    dispatcher.close();
    store.close();

    store = HubStore.open(tmp.dir);
    build();
    dispatcher.recover(events.recoverOutcome);
    events.recover();
    expect(events.list()).toEqual([]); // not active: nothing of it is held off
    expect(store.queryShedEventHeaders({ limit: 1 })[0]).toMatchObject({ id: eventId, state: 'failed', gatewayCount: total });
    expect(store.shedOutcomes(eventId).every((o) => o.state === 'cancelled' && o.code === 'OP_HUB_RESTARTED')).toBe(true);
    expect(store.queryAudit({ operation: 'shed-event' }).find((r) => r.outcome !== 'requested')).toMatchObject({
      outcome: 'failed',
      parameters: { confirmed: 0, commands: 0, notSent: total, code: 'OP_HUB_RESTARTED' },
    });
    expect(wire).toEqual([]);
  });

  it('scopes name known gateways and labels only', () => {
    expect(() => events.scopeIds({ kind: 'gateway', gatewayId: 'gw-z' })).toThrow(expect.objectContaining({ code: 'OP_NOT_FOUND' }));
    expect(() => events.scopeIds({ kind: 'label', label: 'west' })).toThrow(expect.objectContaining({ code: 'OP_NOT_FOUND' }));
    expect(events.scopeIds({ kind: 'label', label: 'south' })).toEqual(['gw-b']);
    expect(events.scopeIds({ kind: 'gateways', gatewayIds: ['gw-b', 'gw-a', 'gw-b'] })).toEqual(['gw-b', 'gw-a']);
  });
});
