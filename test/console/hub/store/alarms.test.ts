/** Alarms: an alarm stays open until it is both cleared and acknowledged. */
import { describe, expect, it } from 'vitest';
import { aStore, anAlarm, rawDb, T0 } from './builders.js';

describe('alarms', () => {
  it('stays open while only cleared or only acknowledged, and closes when both', () => {
    const store = aStore();
    store.saveAlarm(anAlarm({ id: 'raised' }));
    store.saveAlarm(anAlarm({ id: 'cleared', raisedAt: T0 + 1, clearedAt: T0 + 10 }));
    store.saveAlarm(anAlarm({ id: 'acked', raisedAt: T0 + 2, acknowledgedBy: 'alice', acknowledgedAt: T0 + 20 }));
    store.saveAlarm(anAlarm({ id: 'closed', raisedAt: T0 + 3, clearedAt: T0 + 10, acknowledgedBy: 'alice', acknowledgedAt: T0 + 20 }));
    expect(store.queryAlarms({ openOnly: true }).map((a) => a.id)).toEqual(['acked', 'cleared', 'raised']);
    expect(store.queryAlarms({}).map((a) => a.id)).toEqual(['closed', 'acked', 'cleared', 'raised']);

    const acknowledged = anAlarm({ id: 'cleared', raisedAt: T0 + 1, clearedAt: T0 + 10, acknowledgedBy: 'bob', acknowledgedAt: T0 + 30 });
    store.saveAlarm(acknowledged);
    expect(store.queryAlarms({ openOnly: true }).map((a) => a.id)).toEqual(['acked', 'raised']);
    expect(store.queryAlarms({}).find((a) => a.id === 'cleared')).toEqual(acknowledged);
  });

  it('reports a corrupt record as STORE_UNAVAILABLE naming the table and the row', () => {
    const store = aStore();
    store.saveAlarm(anAlarm({ id: 'al-3' }));
    rawDb(store.path).prepare(`UPDATE alarms SET record = json_set(record, '$.severity', 'apocalyptic') WHERE id = 'al-3'`).run();
    expect(() => store.queryAlarms({})).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('table alarms, row al-3') }));
  });
});
