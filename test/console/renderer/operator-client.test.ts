import { describe, expect, it } from 'vitest';
import type { StreamState, Transport } from '../../../console/renderer/api/carrier.js';
import { OperatorClient } from '../../../console/renderer/api/operator-client.js';
import { OperatorError } from '../../../console/renderer/api/operator-error.js';
import { FleetStore } from '../../../console/renderer/state/fleet-store.js';
import type { FleetSnapshot, OperatorEvent, ShedEventRecord } from '../../../console/hub/operator/types.js';
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

describe('FleetStore', () => {
  async function started(fleet = snapshot()) {
    const t = fakeTransport({ info: { caConfigured: false }, fleet, shedEvents: [], alarms: [], loadHistory: [{ time: fleet.time - 2000, kw: 5 }] });
    const store = new FleetStore(new OperatorClient(t.transport));
    store.start();
    await store.refresh(true);
    return { t, store };
  }

  it('reads the fleet, sorted by gateway id, with the hub time zone', async () => {
    const { store } = await started();
    const s = store.getState();
    expect(s.status).toBe('ready');
    expect(s.timeZone).toBe('Europe/Zurich');
    expect(s.gateways.map((g) => g.gatewayId)).toEqual(['a', 'b']);
    expect(store.fleetSeries.length).toBe(1);
  });

  it('folds load events into the figures and appends to the fleet curve', async () => {
    const { t, store } = await started();
    const before = store.getState().gateways;
    const time = Date.now();
    t.emit({ type: 'load', time, fleet: someLoad({ currentKw: 77 }), gateways: { b: someLoad({ currentKw: 55 }) } } satisfies OperatorEvent);
    const s = store.getState();
    expect(s.fleetLoad?.currentKw).toBe(77);
    expect(s.loads['b']?.currentKw).toBe(55);
    // A load event leaves the summaries alone, so rows that show them need not re-render.
    expect(s.gateways).toBe(before);
    expect(store.fleetSeries.latest()).toBe(77);
  });

  it('a gateway event that arrives while the fleet snapshot is on its way wins over the older snapshot', async () => {
    let answerFleet: (f: FleetSnapshot) => void = () => undefined;
    const t = fakeTransport({ info: { caConfigured: false }, shedEvents: [], alarms: [] });
    const call = t.transport.call.bind(t.transport);
    t.transport.call = (method, params) => (method === 'fleet' ? new Promise((r) => (answerFleet = r as (f: FleetSnapshot) => void)) : call(method, params));
    const store = new FleetStore(new OperatorClient(t.transport));
    store.start();
    const refreshed = store.refresh();
    // The snapshot was taken with 'a' offline; 'a' reconnects before the answer arrives.
    t.emit({ type: 'gateway', gateway: aGateway({ gatewayId: 'a', state: 'connected' }) } satisfies OperatorEvent);
    answerFleet(snapshot());
    await refreshed;
    const s = store.getState();
    expect(s.gateways.find((g) => g.gatewayId === 'a')?.state).toBe('connected');
    expect(s.counts.connected).toBe(2);
  });

  it('adds a gateway that connects for the first time after the page loaded, in id order', async () => {
    const { t, store } = await started();
    t.emit({ type: 'gateway', gateway: aGateway({ gatewayId: 'aa' }) });
    expect(store.getState().gateways.map((g) => g.gatewayId)).toEqual(['a', 'aa', 'b']);
    expect(store.getState().counts).toMatchObject({ total: 3, connected: 2, offline: 1 });
  });

  it('updates counts from gateway events and keeps the active events and open alarms current', async () => {
    const { t, store } = await started();
    t.emit({ type: 'gateway', gateway: aGateway({ gatewayId: 'a', state: 'connected', shedChannelCount: 2, openAlarmCount: 1 }) });
    expect(store.getState().counts).toEqual({ total: 2, connected: 2, offline: 0, shedding: 1, alarms: 1 });
    const event = { id: 'e1', state: 'active', createdAt: 1, outcomes: [] } as unknown as ShedEventRecord;
    t.emit({ type: 'shed-event', event });
    expect(store.getState().activeEvents.map((e) => e.id)).toEqual(['e1']);
    t.emit({ type: 'shed-event', event: { ...event, state: 'cancelled' } });
    expect(store.getState().activeEvents).toEqual([]);
    const alarm = { id: 'al1', code: 'GATEWAY_OFFLINE', severity: 'alarm', message: 'x', raisedAt: 1 } as const;
    t.emit({ type: 'alarm', alarm });
    expect(store.getState().alarms.map((a) => a.id)).toEqual(['al1']);
    t.emit({ type: 'alarm', alarm: { ...alarm, acknowledgedAt: 2, acknowledgedBy: 'bob' } });
    expect(store.getState().alarms).toEqual([]);
  });

  it('asks the hub why while the stream is down, and reads everything again when it is back', async () => {
    const { t } = await started();
    t.setState('open');
    const calls = (method: string): number => t.calls.filter((c) => c.method === method).length;
    const before = calls('fleet');
    t.setState('reconnecting');
    await new Promise((r) => setTimeout(r, 0));
    expect(calls('fleet')).toBe(before + 1);
    const history = calls('loadHistory');
    t.setState('open');
    await new Promise((r) => setTimeout(r, 0));
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
    expect(s.gateways).toHaveLength(2);
    expect(s.error?.code).toBe('OP_UNAUTHORIZED');
    answers['fleet'] = snapshot();
    await store.refresh();
    expect(store.getState().error).toBeNull();
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
