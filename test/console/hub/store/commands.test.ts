/** Commands: saved at every state change, queried newest first, the unfinished ones found at restart. */
import { describe, expect, it } from 'vitest';
import type { CommandRecord } from '../../../../console/hub/operator/types.js';
import { aCommand, aDataDir, aStore, rawDb, T0 } from './builders.js';

describe('commands', () => {
  it('replaces the record on every save and gives back exactly what was saved', () => {
    const store = aStore();
    const requested = aCommand();
    store.saveCommand(requested);
    const confirmed: CommandRecord = {
      ...requested,
      state: 'confirmed',
      sentAt: T0 + 5,
      finishedAt: T0 + 80,
      readBack: [{ channel: 1, on: false }, { channel: 2, on: false }],
      measuredKw: 3.25,
    };
    store.saveCommand(confirmed);
    expect(store.queryCommands({})).toEqual([confirmed]);
    const failed = aCommand({ id: 'cmd-2', state: 'failed', code: 'OP_GATEWAY_OFFLINE', message: 'gw-1 is not connected', requestedAt: T0 + 1 });
    store.saveCommand(failed);
    expect(store.queryCommands({})).toEqual([failed, confirmed]);
  });

  it('filters by gateway and by shed event, newest first, with a limit', () => {
    const store = aStore();
    store.saveCommand(aCommand({ id: 'a', gatewayId: 'gw-1', eventId: 'ev-1', requestedAt: T0 }));
    store.saveCommand(aCommand({ id: 'b', gatewayId: 'gw-2', eventId: 'ev-1', requestedAt: T0 + 1 }));
    store.saveCommand(aCommand({ id: 'c', gatewayId: 'gw-1', eventId: undefined, requestedAt: T0 + 2 }));
    store.saveCommand(aCommand({ id: 'd', gatewayId: 'gw-1', eventId: 'ev-2', requestedAt: T0 + 3 }));
    const ids = (rows: CommandRecord[]): string[] => rows.map((c) => c.id);
    expect(ids(store.queryCommands({}))).toEqual(['d', 'c', 'b', 'a']);
    expect(ids(store.queryCommands({ gatewayId: 'gw-1' }))).toEqual(['d', 'c', 'a']);
    expect(ids(store.queryCommands({ eventId: 'ev-1' }))).toEqual(['b', 'a']);
    expect(ids(store.queryCommands({ gatewayId: 'gw-1', eventId: 'ev-1' }))).toEqual(['a']);
    expect(ids(store.queryCommands({ limit: 2 }))).toEqual(['d', 'c']);
  });

  it('after a restart, lists the commands requested or sent but never finished, oldest first', () => {
    const dataDir = aDataDir();
    const store = aStore(dataDir);
    store.saveCommand(aCommand({ id: 'sent', state: 'sent', sentAt: T0 + 1, requestedAt: T0 + 1 }));
    store.saveCommand(aCommand({ id: 'requested', state: 'requested', requestedAt: T0 }));
    store.saveCommand(aCommand({ id: 'done', state: 'sent', requestedAt: T0 - 1 }));
    store.saveCommand(aCommand({ id: 'done', state: 'timed-out', requestedAt: T0 - 1, code: 'OP_TIMED_OUT' }));
    store.close();
    expect(aStore(dataDir).unfinishedCommands().map((c) => [c.id, c.state])).toEqual([
      ['requested', 'requested'],
      ['sent', 'sent'],
    ]);
  });

  it('reports a record that is not a command as STORE_UNAVAILABLE naming the table and the row', () => {
    const store = aStore();
    store.saveCommand(aCommand({ id: 'cmd-9' }));
    const raw = rawDb(store.path);
    raw.prepare(`UPDATE commands SET record = json_set(record, '$.state', 'exploded') WHERE id = 'cmd-9'`).run();
    expect(() => store.queryCommands({})).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('table commands, row cmd-9') }));
    raw.prepare(`UPDATE commands SET record = '{"id":' WHERE id = 'cmd-9'`).run();
    expect(() => store.queryCommands({})).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/row cmd-9.*not JSON/) }));
    raw.prepare(`UPDATE commands SET record = ? WHERE id = 'cmd-9'`).run(JSON.stringify(aCommand({ id: 'someone-else' })));
    expect(() => store.queryCommands({})).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('row cmd-9') }));
  });
});
