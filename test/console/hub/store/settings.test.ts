/** Settings: a value set survives a restart; undefined removes it. */
import { describe, expect, it } from 'vitest';
import { aDataDir, aStore } from './builders.js';

describe('settings', () => {
  it('sets, overwrites, removes, and keeps across a reopen', () => {
    const dataDir = aDataDir();
    const store = aStore(dataDir);
    expect(store.getSetting('fleet.targetKw')).toBeUndefined();
    store.setSetting('fleet.targetKw', '900');
    store.setSetting('fleet.targetKw', '950.5');
    store.setSetting('gw-1.targetKw', '40');
    store.setSetting('gw-1.targetKw', undefined);
    store.setSetting('never-set', undefined);
    store.close();
    const again = aStore(dataDir);
    expect(again.getSetting('fleet.targetKw')).toBe('950.5');
    expect(again.getSetting('gw-1.targetKw')).toBeUndefined();
  });
});
