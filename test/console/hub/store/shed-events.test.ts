/** Shed events: saved whole at every change, active ones found at restart. */
import { describe, expect, it } from 'vitest';
import { aShedEvent, aStore, rawDb, T0 } from './builders.js';

describe('shed events', () => {
  it('gives back exactly the event saved last, by id and in queries', () => {
    const store = aStore();
    const active = aShedEvent({ targetKw: 20, shortfallKw: 7.5, selector: { kind: 'targetKw', kw: 20 } });
    store.saveShedEvent(active);
    const cancelled = { ...active, state: 'cancelled' as const, cancelledBy: 'bob', cancelledAt: T0 + 60_000 };
    store.saveShedEvent(cancelled);
    expect(store.getShedEvent('ev-1')).toEqual(cancelled);
    expect(store.getShedEvent('ev-none')).toBeUndefined();
    expect(store.queryShedEvents({})).toEqual([cancelled]);
  });

  it('lists newest first, the active ones alone when asked, with a limit', () => {
    const store = aStore();
    store.saveShedEvent(aShedEvent({ id: 'e1', createdAt: T0, state: 'ended' }));
    store.saveShedEvent(aShedEvent({ id: 'e2', createdAt: T0 + 1, state: 'active', scope: { kind: 'fleet' } }));
    store.saveShedEvent(aShedEvent({ id: 'e3', createdAt: T0 + 2, state: 'active', scope: { kind: 'gateways', gatewayIds: ['gw-1', 'gw-2'] } }));
    store.saveShedEvent(aShedEvent({ id: 'e4', createdAt: T0 + 3, state: 'failed', selector: { kind: 'channels', channels: [1, 2] } }));
    expect(store.queryShedEvents({}).map((e) => e.id)).toEqual(['e4', 'e3', 'e2', 'e1']);
    expect(store.queryShedEvents({ activeOnly: true }).map((e) => e.id)).toEqual(['e3', 'e2']);
    expect(store.queryShedEvents({ activeOnly: true, limit: 1 }).map((e) => e.id)).toEqual(['e3']);
  });

  it('reports a corrupt record as STORE_UNAVAILABLE naming the table and the row', () => {
    const store = aStore();
    store.saveShedEvent(aShedEvent({ id: 'ev-5' }));
    rawDb(store.path).prepare(`UPDATE shed_events SET record = json_set(record, '$.scope', json('{"kind":"everywhere"}')) WHERE id = 'ev-5'`).run();
    expect(() => store.getShedEvent('ev-5')).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('table shed_events, row ev-5') }));
  });
});
