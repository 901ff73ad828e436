/** Shed events: the header saved at creation and at each change of state, one outcome row per gateway updated in place. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HUB_DB_FILE } from '../../../../console/hub/store/index.js';
import { MIGRATIONS } from '../../../../console/hub/store/migrations.js';
import { aDataDir, aShedEventHeader, anOutcome, aStore, rawDb, SKIPPED, T0 } from './builders.js';

describe('shed events', () => {
  it('gives back the header saved last, its skipped loads and its outcomes with their counts', () => {
    const store = aStore();
    const active = aShedEventHeader({ targetKw: 20, shortfallKw: 7.5, selector: { kind: 'targetKw', kw: 20 } });
    store.createShedEvent(active, SKIPPED);
    const cancelled = { ...active, state: 'cancelled' as const, cancelledBy: 'bob', cancelledAt: T0 + 60_000 };
    store.saveShedEventHeader(cancelled);
    expect(store.getShedEventHeader('ev-1')).toEqual(cancelled);
    expect(store.getShedEventHeader('ev-none')).toBeUndefined();
    expect(store.queryShedEventHeaders({})).toEqual([cancelled]);
    expect(store.shedSkipped('ev-1')).toEqual(SKIPPED);

    store.saveShedOutcome('ev-1', anOutcome({ state: 'requested', commandId: 'c1' }));
    store.saveShedOutcome('ev-1', anOutcome({ gatewayId: 'gw-3', expectedKw: 4, state: 'sent', commandId: 'c3' }));
    // The change of state keeps the expected kW the row was created with.
    store.saveShedOutcome('ev-1', anOutcome({ state: 'confirmed', commandId: 'c1', expectedKw: 0 }));
    store.saveShedOutcome('ev-1', anOutcome({ gatewayId: 'gw-3', state: 'failed', code: 'CMD_LM_FAILED', message: 'no answer', commandId: 'c3', expectedKw: 0 }));
    expect(store.shedOutcomes('ev-1')).toEqual([
      anOutcome({ state: 'confirmed', commandId: 'c1' }),
      anOutcome({ gatewayId: 'gw-3', expectedKw: 4, state: 'failed', code: 'CMD_LM_FAILED', message: 'no answer', commandId: 'c3' }),
    ]);
    expect(store.shedOutcomeCounts('ev-1')).toEqual({ counts: { confirmed: 1, failed: 1 }, confirmedKw: 12.5 });
  });

  it('lists newest first, the active ones alone when asked, with a limit', () => {
    const store = aStore();
    store.createShedEvent(aShedEventHeader({ id: 'e1', createdAt: T0, state: 'ended' }), []);
    store.createShedEvent(aShedEventHeader({ id: 'e2', createdAt: T0 + 1, state: 'active', scope: { kind: 'fleet' } }), []);
    store.createShedEvent(aShedEventHeader({ id: 'e3', createdAt: T0 + 2, state: 'active', scope: { kind: 'gateways', gatewayIds: ['gw-1', 'gw-2'] } }), []);
    store.createShedEvent(aShedEventHeader({ id: 'e4', createdAt: T0 + 3, state: 'failed', selector: { kind: 'channels', channels: [1, 2] } }), []);
    expect(store.queryShedEventHeaders({}).map((e) => e.id)).toEqual(['e4', 'e3', 'e2', 'e1']);
    expect(store.queryShedEventHeaders({ activeOnly: true }).map((e) => e.id)).toEqual(['e3', 'e2']);
    expect(store.queryShedEventHeaders({ activeOnly: true, limit: 1 }).map((e) => e.id)).toEqual(['e3']);
  });

  it('reports a corrupt record as STORE_UNAVAILABLE naming the table and the row', () => {
    const store = aStore();
    store.createShedEvent(aShedEventHeader({ id: 'ev-5' }), []);
    rawDb(store.path).prepare(`UPDATE shed_events SET record = json_set(record, '$.scope', json('{"kind":"everywhere"}')) WHERE id = 'ev-5'`).run();
    expect(() => store.getShedEventHeader('ev-5')).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('table shed_events, row ev-5') }));
  });

  it('moves the outcomes of an event written by schema 1 (inside its record) into rows when it opens the file', () => {
    const dataDir = aDataDir();
    const v1 = new Database(join(dataDir, HUB_DB_FILE));
    v1.exec(MIGRATIONS[0] ?? '');
    v1.pragma('user_version = 1');
    const old = { ...aShedEventHeader({ id: 'ev-old', gatewayCount: undefined, skippedCount: undefined, skippedByReason: undefined }), outcomes: [anOutcome({ commandId: 'c9' })], skipped: SKIPPED };
    v1.prepare("INSERT INTO shed_events (id, state, created_at, record) VALUES ('ev-old', 'active', ?, ?)").run(T0, JSON.stringify(old));
    v1.close();
    const store = aStore(dataDir);
    expect(store.shedOutcomes('ev-old')).toEqual([anOutcome({ commandId: 'c9' })]);
    expect(store.shedSkipped('ev-old')).toEqual(SKIPPED);
    expect(store.getShedEventHeader('ev-old')).toMatchObject({ gatewayCount: 1, skippedCount: 1, skippedByReason: { offline: 1 } });
  });
});
