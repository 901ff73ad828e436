/**
 * The fleet registry's view of a gateway's relays: the newest state wins, so a telemetry sample taken
 * before a command's read-back (fed to the registry after it, once its group is committed) does not
 * show a channel just restored as off again; a gateway clock stepped back is believed again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetRegistry, STALE_RELAYS_MS } from '../../../../console/hub/fleet/registry.js';
import { HubStore } from '../../../../console/hub/store/index.js';
import { tempDir } from '../../../helpers/processes.js';
import { aChannel, aSession } from './sessions-fixture.js';

const T = Date.UTC(2026, 11, 8, 12, 0, 0);

describe('FleetRegistry relays', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: HubStore;
  let registry: FleetRegistry;
  const on = (channel: number): boolean | undefined => registry.get('gw-1')?.devices[0]?.channels.find((c) => c.id === channel)?.on;
  const sample = (time: number, ch1: boolean) => ({ time, kw: 5, relays: [{ channel: 1, on: ch1 }, { channel: 2, on: true }] });

  beforeEach(() => {
    tmp = tempDir('lmgw-registry-');
    store = HubStore.open(tmp.dir);
    registry = new FleetRegistry(store, {});
    registry.connected(aSession('gw-1', [aChannel(1), aChannel(2)]));
  });
  afterEach(() => {
    store.close();
    tmp.cleanup();
  });

  it('a sample older than the read-back it arrives after does not turn a restored channel off again', () => {
    registry.observe('gw-1', [{ channel: 1, on: false }], T); // shed, read back
    registry.telemetry('gw-1', [sample(T + 1_000, false)]);
    expect(registry.observe('gw-1', [{ channel: 1, on: true }], T + 2_000)).toBe(true); // restored, read back
    // Sampled before the restore, fed after its read-back: not news.
    expect(registry.telemetry('gw-1', [sample(T + 1_900, false)])).toBe(false);
    expect(on(1)).toBe(true);
    expect(registry.get('gw-1')?.onSince.get(1)).toBe(T + 2_000);
    // A newer sample is.
    expect(registry.telemetry('gw-1', [sample(T + 3_000, false)])).toBe(true);
    expect(on(1)).toBe(false);
  });

  it(`believes a gateway whose clock stepped back more than ${STALE_RELAYS_MS / 1000} s`, () => {
    registry.observe('gw-1', [{ channel: 1, on: false }], T);
    registry.observe('gw-1', [{ channel: 1, on: true }], T - STALE_RELAYS_MS - 1);
    expect(on(1)).toBe(true);
    registry.observe('gw-1', [{ channel: 1, on: false }], T - STALE_RELAYS_MS);
    expect(on(1)).toBe(false);
  });
});
