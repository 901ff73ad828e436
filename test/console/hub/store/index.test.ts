/** The facade: several writes as one transaction, as the dispatcher records a command. */
import { describe, expect, it } from 'vitest';
import { aCommand, aStore, T0 } from './builders.js';

describe('HubStore.transaction', () => {
  it('commits an audit row and a command record together, or neither when the block throws', () => {
    const store = aStore();
    expect(() =>
      store.transaction(() => {
        store.appendAudit({ time: T0, operator: 'alice', operation: 'command', parameters: {}, outcome: 'requested', ref: 'cmd-1' });
        store.saveCommand(aCommand());
        throw new Error('send failed before commit');
      }),
    ).toThrow('send failed before commit');
    expect(store.queryAudit({})).toEqual([]);
    expect(store.queryCommands({})).toEqual([]);

    const id = store.transaction(() => {
      store.saveCommand(aCommand());
      return store.appendAudit({ time: T0, operator: 'alice', operation: 'command', parameters: {}, outcome: 'requested', ref: 'cmd-1' });
    });
    expect(store.queryAudit({}).map((r) => r.id)).toEqual([id]);
    expect(store.queryCommands({}).map((c) => c.id)).toEqual(['cmd-1']);
  });

  it('nests: an inner block that throws is undone alone when the outer one catches it', () => {
    const store = aStore();
    store.transaction(() => {
      store.setSetting('outer', '1');
      try {
        store.transaction(() => {
          store.setSetting('inner', '1');
          throw new Error('inner failed');
        });
      } catch {
        // the outer block goes on
      }
    });
    expect(store.getSetting('outer')).toBe('1');
    expect(store.getSetting('inner')).toBeUndefined();
  });
});
