import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamState, Transport } from '../../../console/renderer/api/carrier.js';
import { MAX_WATCHED_GATEWAYS, OperatorClient } from '../../../console/renderer/api/operator-client.js';
import { OperatorError } from '../../../console/renderer/api/operator-error.js';
import { FleetStore, summaryOf } from '../../../console/renderer/state/fleet-store.js';
import type { FleetSnapshot, OperatorEvent, ShedEventAnswer, ShedEventRecord, ShedEventSummary } from '../../../console/hub/operator/types.js';
import { aGateway, someLoad } from './builders.js';

/** A transport that records calls, answers from a table and lets the test push events and stream states. */
function fakeTransport(answers: Record<string, unknown> = {}) {
  const calls: Array<{ method: string; params: unknown }> = [];
  let push: ((e: unknown) => void) | undefined;
  let state: ((s: StreamState) => void) | undefined;
  const transport: Transport = {
    kind: 'browser',
    call(method, params) {
      calls.push({ method, params });
      const a = answers[method];
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
    start(onEvent, onState) {
      push = onEvent;
      state = onState;
      return () => {
        push = undefined;
      };
    },
  };
  return { transport, calls, emit: (e: unknown) => push?.(e), setState: (s: StreamState) => state?.(s) };
}

function snapshot(o: Partial<FleetSnapshot> = {}): FleetSnapshot {
  const gateways = [aGateway({ gatewayId: 'b' }), aGateway({ gatewayId: 'a', state: 'offline' })];
  return { time: Date.now(), timeZone: 'Europe/Zurich', gateways, counts: { total: 2, connected: 1, offline: 1, shedding: 0, alarms: 0 }, load: someLoad(), ...o };
}

describe('OperatorClient', () => {
  it('sends each method with its params as one object, ids wrapped as the API wants', async () => {
    const t = fakeTransport({ cancelShed: { id: 'e1' }, gateway: { gatewayId: 'a' }, acknowledgeAlarm: {}, restoreAll: [], setTarget: null });
    const client = new OperatorClient(t.transport);
    await client.cancelShed('e1');
    await client.gateway('a');
    await client.acknowledgeAlarm('al-1');
    await client.restoreAll();
    await client.setTarget({ targetKw: null });
    await client.command({ gatewayId: 'a', op: 'shed', channels: [3], durationSeconds: 60 });
    expect(t.calls).toEqual([
      { method: 'cancelShed', params: { eventId: 'e1' } },
      { method: 'gateway', params: { gatewayId: 'a' } },
      { method: 'acknowledgeAlarm', params: { alarmId: 'al-1' } },
      { method: 'restoreAll', params: {} },
      { method: 'setTarget', params: { targetKw: null } },
      { method: 'command', params: { gatewayId: 'a', op: 'shed', channels: [3], durationSeconds: 60 } },
    ]);
  });

  it('rejects with the hub code and message, also for an Error with a code from the bridge', async () => {
    const bridgeError = Object.assign(new Error('the gateway is not connected'), { code: 'OP_GATEWAY_OFFLINE' });
    const client = new OperatorClient(fakeTransport({ command: bridgeError, fleet: new Error('boom') }).transport);
    const err = await client.command({ gatewayId: 'a', op: 'read' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperatorError);
    expect(err).toMatchObject({ code: 'OP_GATEWAY_OFFLINE', message: 'the gateway is not connected' });
    await expect(client.fleet()).rejects.toMatchObject({ code: 'UI_ERROR', message: 'boom' });
  });

  it('passes on operator events only, starting the stream with the first subscriber', () => {
    const t = fakeTransport();
    const client = new OperatorClient(t.transport);
    const seen: string[] = [];
    client.subscribe((e) => seen.push(e.type));
    t.emit({ type: 'alarm', alarm: {} });
    t.emit({ type: 'nonsense' });
    t.emit('text');
    t.emit(null);
    expect(seen).toEqual(['alarm']);
  });
});

describe('OperatorClient watch', () => {
  afterEach(() => vi.useRealTimers());

  it('sends the union of what the views watch, once after a burst of changes, and again only on a change', () => {
    vi.useFakeTimers();
    const t = fakeTransport();
    const sent: string[][] = [];
    t.transport.watch = (ids) => sent.push([...ids]);
    const client = new OperatorClient(t.transport);
    // Scrolling: many changes within a moment go out as one.
    for (let i = 0; i < 20; i++) client.watch('table', [`gw-${i}`, `gw-${i + 1}`]);
    client.watch('gateway-view', ['gw-x']);
    vi.advanceTimersByTime(200);
    expect(sent).toEqual([['gw-x', 'gw-19', 'gw-20']]);
    client.watch('table', ['gw-19', 'gw-20']);
    vi.advanceTimersByTime(200);
    expect(sent).toHaveLength(1);
    client.watch('gateway-view', []);
    vi.advanceTimersByTime(200);
    expect(sent.at(-1)).toEqual(['gw-19', 'gw-20']);
  });

  it('asks for at most MAX_WATCHED_GATEWAYS, single gateways first', () => {
    const client = new OperatorClient(fakeTransport().transport);
    client.watch('table', Array.from({ length: 600 }, (_, i) => `gw-${i}`));
    client.watch('gateway-view', ['gw-open']);
    expect(client.watched).toHaveLength(MAX_WATCHED_GATEWAYS);
    expect(client.watched[0]).toBe('gw-open');
    client.close();
  });

  it('reads one event with its rows by id', async () => {
    const t = fakeTransport({ shedEvent: { id: 'e1', outcomes: [] } });
    await new OperatorClient(t.transport).shedEvent('e1');
    expect(t.calls).toEqual([{ method: 'shedEvent', params: { eventId: 'e1' } }]);
  });
});

describe('FleetStore', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  async function started(fleet = snapshot()) {
    const t = fakeTransport({ info: { caConfigured: false }, fleet, shedEvents: [], alarms: [], loadHistory: [{ time: fleet.time - 2000, kw: 5 }] });
    const store = new FleetStore(new OperatorClient(t.transport));
    store.start();
    await store.refresh(true);
    return { t, store };
  }
  /** Past the store's notification window, so what was emitted is in the state. */
  const settle = (): void => {
    vi.advanceTimersByTime(300);
  };
  const ids = (store: FleetStore): string[] => store.getState().fleet.list().map((g) => g.gatewayId);

  it('reads the fleet, sorted by gateway id, with the hub time zone', async () => {
    const { store } = await started();
    const s = store.getState();
    expect(s.status).toBe('ready');
    expect(s.timeZone).toBe('Europe/Zurich');
    expect(ids(store)).toEqual(['a', 'b']);
    expect(store.fleetSeries.length).toBe(1);
  });

  it('folds load events into the figures and appends to the fleet curve, leaving the summaries alone', async () => {
    const { t, store } = await started();
    const before = store.getState().fleet;
    const version = store.getState().loadVersion;
    t.emit({ type: 'load', time: Date.now(), fleet: someLoad({ currentKw: 77 }), gateways: { b: someLoad({ currentKw: 55 }) } } satisfies OperatorEvent);
    settle();
    const s = store.getState();
    expect(s.fleetLoad?.currentKw).toBe(77);
    expect(s.loads.get('b')?.currentKw).toBe(55);
    expect(s.loadVersion).toBe(version + 1);
    // Rows that show summaries need not re-render for a load event.
    expect(s.fleet).toBe(before);
    expect(store.fleetSeries.latest()).toBe(77);
  });

  it('applies a patch to the one gateway it names: only the changed fields, counts kept', async () => {
    const { t, store } = await started();
    const b = store.getState().fleet.get('b');
    t.emit({ type: 'gateways', patches: [{ gatewayId: 'a', state: 'connected', shedChannelCount: 2, openAlarmCount: 1 }] } satisfies OperatorEvent);
    settle();
    const s = store.getState();
    expect(s.fleet.get('a')).toMatchObject({ state: 'connected', shedChannelCount: 2, siteName: 'Site A', channelCount: 4 });
    // The other gateway's summary is the same object: its row does not re-render.
    expect(s.fleet.get('b')).toBe(b);
    expect(s.counts).toEqual({ total: 2, connected: 2, offline: 0, shedding: 1, alarms: 1 });
  });

  it('adds a gateway that connects after the page loaded, in id order; ignores a partial patch of an unknown one', async () => {
    const { t, store } = await started();
    const { load: _load, ...whole } = aGateway({ gatewayId: 'aa' });
    t.emit({ type: 'gateways', patches: [whole, { gatewayId: 'zz', rttMs: 5 }] } satisfies OperatorEvent);
    settle();
    expect(ids(store)).toEqual(['a', 'aa', 'b']);
    expect(store.getState().counts).toMatchObject({ total: 3, connected: 2, offline: 1 });
  });

  it('a patch that arrives while the fleet snapshot is on its way wins over the older snapshot', async () => {
    let answerFleet: (f: FleetSnapshot) => void = () => undefined;
    const t = fakeTransport({ info: { caConfigured: false }, shedEvents: [], alarms: [] });
    const call = t.transport.call.bind(t.transport);
    t.transport.call = (method, params) => (method === 'fleet' ? new Promise((r) => (answerFleet = r as (f: FleetSnapshot) => void)) : call(method, params));
    const store = new FleetStore(new OperatorClient(t.transport));
    // Its first refresh asks for the fleet.
    store.start();
    // The snapshot was taken with 'a' offline; 'a' reconnects before the answer arrives.
    t.emit({ type: 'gateways', patches: [{ gatewayId: 'a', state: 'connected' }] } satisfies OperatorEvent);
    answerFleet(snapshot());
    await vi.advanceTimersByTimeAsync(0);
    const s = store.getState();
    expect(s.fleet.get('a')?.state).toBe('connected');
    expect(s.counts.connected).toBe(2);
    store.stop();
  });

  it('tells React at most four times a second however many events arrive', async () => {
    const gateways = Array.from({ length: 2000 }, (_, i) => aGateway({ gatewayId: `gw-${String(i).padStart(4, '0')}` }));
    const { t, store } = await started(snapshot({ gateways }));
    let renders = 0;
    store.subscribe(() => renders++);
    // A fleet shed as the stream carries it: patches, load and heartbeats, for two seconds.
    for (let ms = 0; ms < 2000; ms += 10) {
      t.emit({ type: 'gateways', patches: [{ gatewayId: `gw-${String(ms / 10).padStart(4, '0')}`, shedChannelCount: 1 }] } satisfies OperatorEvent);
      if (ms % 1000 === 0) t.emit({ type: 'heartbeat', time: Date.now() } satisfies OperatorEvent);
      vi.advanceTimersByTime(10);
    }
    settle();
    expect(renders).toBeLessThanOrEqual(9);
    expect(store.getState().counts.shedding).toBe(200);
  });

  it('turns stale within 3 s of the stream going silent, and live again with the next heartbeat', async () => {
    const { t, store } = await started();
    t.setState('open');
    t.emit({ type: 'heartbeat', time: Date.now() } satisfies OperatorEvent);
    vi.advanceTimersByTime(1000);
    expect(store.getState().health).toBe('live');
    // Silence: no heartbeat, no event of any kind.
    vi.advanceTimersByTime(2600);
    expect(store.getState().health).toBe('stale');
    t.emit({ type: 'heartbeat', time: Date.now() } satisfies OperatorEvent);
    expect(store.getState().health).toBe('live');
    t.setState('reconnecting');
    expect(store.getState().health).toBe('reconnecting');
    store.stop();
  });

  it('keeps the active events as summaries (an answer with 20,000 outcome rows is not kept) and the open alarms current', async () => {
    const { t, store } = await started();
    const event = { id: 'e1', state: 'active', createdAt: 1, gatewayCount: 1, counts: { sent: 1 }, outcomes: [{ gatewayId: 'a' }], skipped: [] } as unknown as ShedEventRecord;
    store.upsertEvent(event);
    settle();
    expect(store.getState().activeEvents.map((e) => e.id)).toEqual(['e1']);
    expect(store.getState().activeEvents[0]).not.toHaveProperty('outcomes');
    // startShed's answer: its outcomes not confirmed are not kept either.
    const answer = { id: 'e2', state: 'active', createdAt: 2, gatewayCount: 1, counts: { failed: 1 }, notConfirmed: [{ gatewayId: 'a', state: 'failed' }] } as unknown as ShedEventAnswer;
    store.upsertEvent(answer);
    settle();
    expect(store.getState().activeEvents.find((e) => e.id === 'e2')).not.toHaveProperty('notConfirmed');
    expect(store.getState().activeEvents.find((e) => e.id === 'e2')?.counts).toEqual({ failed: 1 });
    t.emit({ type: 'shed-event', event: { ...summaryOf(answer), state: 'cancelled' } });
    t.emit({ type: 'shed-event', event: { ...event, state: 'cancelled' } });
    settle();
    expect(store.getState().activeEvents).toEqual([]);
    const alarm = { id: 'al1', code: 'GATEWAY_OFFLINE', severity: 'alarm', message: 'x', raisedAt: 1 } as const;
    t.emit({ type: 'alarm', alarm });
    settle();
    expect(store.getState().alarms.map((a) => a.id)).toEqual(['al1']);
    t.emit({ type: 'alarm', alarm: { ...alarm, acknowledgedAt: 2, acknowledgedBy: 'bob' } });
    settle();
    expect(store.getState().alarms).toEqual([]);
  });

  it('keeps every event and alarm told within one notification window, not only the last one told', async () => {
    const { t, store } = await started();
    settle();
    const e1 = { id: 'e1', state: 'active', createdAt: 1, gatewayCount: 1, counts: { sent: 1 }, confirmedKw: 0 } as unknown as ShedEventSummary;
    const e2 = { ...e1, id: 'e2', createdAt: 2 };
    // e1 goes out at once (a quiet spell before it); e2 and e1's next summary within the window.
    t.emit({ type: 'shed-event', event: e1 } satisfies OperatorEvent);
    t.emit({ type: 'shed-event', event: e2 } satisfies OperatorEvent);
    t.emit({ type: 'shed-event', event: { ...e1, counts: { confirmed: 1 } } } satisfies OperatorEvent);
    settle();
    expect(store.getState().activeEvents.map((e) => [e.id, e.counts])).toEqual([
      ['e2', { sent: 1 }],
      ['e1', { confirmed: 1 }],
    ]);
    const alarm = { id: 'al1', code: 'GATEWAY_OFFLINE', severity: 'alarm', message: 'x', raisedAt: 1 } as const;
    settle();
    t.emit({ type: 'alarm', alarm });
    t.emit({ type: 'alarm', alarm: { ...alarm, id: 'al2', raisedAt: 2 } });
    t.emit({ type: 'alarm', alarm: { ...alarm, message: 'y' } });
    settle();
    expect(store.getState().alarms.map((a) => [a.id, a.message])).toEqual([
      ['al2', 'x'],
      ['al1', 'y'],
    ]);
  });

  it('reads the snapshots again on a resync marker', async () => {
    const { t } = await started();
    const calls = (method: string): number => t.calls.filter((c) => c.method === method).length;
    const before = { fleet: calls('fleet'), events: calls('shedEvents'), alarms: calls('alarms') };
    t.emit({ type: 'resync', reason: 'slow subscriber' } satisfies OperatorEvent);
    await vi.advanceTimersByTimeAsync(0);
    expect({ fleet: calls('fleet'), events: calls('shedEvents'), alarms: calls('alarms') }).toEqual({ fleet: before.fleet + 1, events: before.events + 1, alarms: before.alarms + 1 });
  });

  it('asks the hub why while the stream is down, and reads everything again when it is back', async () => {
    const { t } = await started();
    t.setState('open');
    const calls = (method: string): number => t.calls.filter((c) => c.method === method).length;
    const before = calls('fleet');
    t.setState('reconnecting');
    await vi.advanceTimersByTimeAsync(0);
    expect(calls('fleet')).toBe(before + 1);
    const history = calls('loadHistory');
    t.setState('open');
    await vi.advanceTimersByTimeAsync(0);
    expect(calls('fleet')).toBe(before + 2);
    // The curve is refilled too: the stream has no replay of the gap.
    expect(calls('loadHistory')).toBe(history + 1);
  });

  it('keeps the last figures but holds the error when the hub stops answering', async () => {
    const answers: Record<string, unknown> = { info: {}, fleet: snapshot(), shedEvents: [], alarms: [] };
    const store = new FleetStore(new OperatorClient(fakeTransport(answers).transport));
    await store.refresh();
    answers['fleet'] = new OperatorError('OP_UNAUTHORIZED', 'no token', 401);
    await store.refresh();
    const s = store.getState();
    expect(s.status).toBe('ready');
    expect(s.fleet.size).toBe(2);
    expect(s.error?.code).toBe('OP_UNAUTHORIZED');
    answers['fleet'] = snapshot();
    await store.refresh();
    expect(store.getState().error).toBeNull();
  });

  describe('while the snapshots are on their way', () => {
    /** A store whose answers come from `answers` (changeable), with `fleet` answers held until released. */
    async function heldFleet(answers: Record<string, unknown>) {
      const t = fakeTransport(answers);
      const held: Array<() => void> = [];
      const call = t.transport.call.bind(t.transport);
      let hold = false;
      t.transport.call = (method, params) => {
        if (method !== 'fleet' || !hold) return call(method, params);
        // The hub answers with what it held when it was asked, however late the answer arrives.
        const answer = call(method, params);
        return new Promise((resolve) => held.push(() => resolve(answer)));
      };
      const store = new FleetStore(new OperatorClient(t.transport));
      store.start();
      await store.refresh(true);
      t.setState('open');
      settle();
      hold = true;
      const release = async (): Promise<void> => {
        for (const r of held.splice(0)) r();
        await vi.advanceTimersByTimeAsync(0);
      };
      return { t, store, release };
    }
    const anEvent = (o: Partial<ShedEventSummary> = {}): ShedEventSummary =>
      ({ id: 'e1', state: 'active', createdAt: 1, gatewayCount: 3, counts: { confirmed: 3 }, confirmedKw: 12, ...o }) as unknown as ShedEventSummary;
    const activeIds = (store: FleetStore): string[] => store.getState().activeEvents.map((e) => e.id);

    it('an event that starts after its shed events were read stays listed when the older snapshot lands', async () => {
      const answers: Record<string, unknown> = { info: {}, fleet: snapshot(), shedEvents: [], alarms: [], loadHistory: [] };
      const { t, store, release } = await heldFleet(answers);
      // A resync: shedEvents is answered at once (no event yet), the fleet answer is slow.
      t.emit({ type: 'resync', reason: 'slow subscriber' } satisfies OperatorEvent);
      await vi.advanceTimersByTimeAsync(0);
      // The operator's fleet-wide shed starts meanwhile: the stream and startShed's answer tell of it.
      t.emit({ type: 'shed-event', event: anEvent() } satisfies OperatorEvent);
      store.upsertEvent(anEvent());
      settle();
      expect(activeIds(store)).toEqual(['e1']);
      await release();
      settle();
      expect(activeIds(store)).toEqual(['e1']);
      store.stop();
    });

    it('an event that ends after the snapshot was read is not listed again by it; an alarm acknowledged meanwhile neither', async () => {
      const alarm = { id: 'al1', code: 'GATEWAY_OFFLINE', severity: 'alarm', message: 'x', raisedAt: 1 } as const;
      const answers: Record<string, unknown> = { info: {}, fleet: snapshot(), shedEvents: [anEvent()], alarms: [alarm], loadHistory: [] };
      const { t, store, release } = await heldFleet(answers);
      expect(activeIds(store)).toEqual(['e1']);
      t.emit({ type: 'resync', reason: 'slow subscriber' } satisfies OperatorEvent);
      await vi.advanceTimersByTimeAsync(0);
      t.emit({ type: 'shed-event', event: anEvent({ state: 'ended' }) } satisfies OperatorEvent);
      t.emit({ type: 'alarm', alarm: { ...alarm, acknowledgedAt: 2, acknowledgedBy: 'bob' } } satisfies OperatorEvent);
      // And one raised meanwhile stays.
      t.emit({ type: 'alarm', alarm: { ...alarm, id: 'al2', raisedAt: 3 } } satisfies OperatorEvent);
      await release();
      settle();
      expect(activeIds(store)).toEqual([]);
      expect(store.getState().alarms.map((a) => a.id)).toEqual(['al2']);
      store.stop();
    });

    it('a refresh asked for while another is on its way reads again after it: the stream back open is not answered by reads from before', async () => {
      const answers: Record<string, unknown> = { info: {}, fleet: snapshot(), shedEvents: [], alarms: [], loadHistory: [] };
      const { t, store, release } = await heldFleet(answers);
      // The stream drops: the store asks the hub (no event yet) and the fleet answer is slow.
      t.setState('reconnecting');
      await vi.advanceTimersByTimeAsync(0);
      // An event starts while the stream is down: its announcement never reaches this page.
      answers['shedEvents'] = [anEvent()];
      t.setState('open');
      await release();
      await release();
      settle();
      expect(activeIds(store)).toEqual(['e1']);
      store.stop();
    });
  });

  it('shows the error with its code when the fleet cannot be read', async () => {
    const unauthorized = new OperatorError('OP_UNAUTHORIZED', 'no token', 401);
    const t = fakeTransport({ fleet: unauthorized, info: {}, shedEvents: [], alarms: [] });
    const store = new FleetStore(new OperatorClient(t.transport));
    await store.refresh();
    expect(store.getState().status).toBe('error');
    expect(store.getState().error?.code).toBe('OP_UNAUTHORIZED');
  });
});
