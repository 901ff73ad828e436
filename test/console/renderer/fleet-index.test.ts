import { describe, expect, it } from 'vitest';
import { countFleet, FleetIndex, patchGateway } from '../../../console/renderer/logic/fleet-index.js';
import { aGateway } from './builders.js';

describe('patching one gateway', () => {
  it('changes only the fields the patch names and keeps the load figures', () => {
    const g = aGateway({ gatewayId: 'a', rttMs: 20 });
    const after = patchGateway(g, { gatewayId: 'a', shedChannelCount: 3 });
    expect(after).toEqual({ ...g, shedChannelCount: 3 });
    expect(after?.load).toBe(g.load);
    expect(g.shedChannelCount).toBe(0);
  });

  it('takes a whole patch as a new gateway, refuses a partial one for an unknown id', () => {
    const { load: _l, ...whole } = aGateway({ gatewayId: 'new' });
    expect(patchGateway(undefined, whole)).toMatchObject({ gatewayId: 'new', siteName: 'Site A', load: { currentKw: null } });
    expect(patchGateway(undefined, { gatewayId: 'x', rttMs: 3 })).toBeUndefined();
  });
});

describe('the fleet index', () => {
  const fleet = (n: number) => Array.from({ length: n }, (_, i) => aGateway({ gatewayId: `gw-${String(i).padStart(5, '0')}`, state: i % 10 === 0 ? 'offline' : 'connected' }));

  it('keeps the counts as a recount would, through every kind of patch', () => {
    const index = new FleetIndex();
    index.reset(fleet(1000));
    index.apply({ gatewayId: 'gw-00000', state: 'connected' });
    index.apply({ gatewayId: 'gw-00001', shedChannelCount: 2 });
    index.apply({ gatewayId: 'gw-00001', shedChannelCount: 1 });
    index.apply({ gatewayId: 'gw-00002', openAlarmCount: 1, state: 'offline' });
    const { load: _l, ...whole } = aGateway({ gatewayId: 'gw-00000a', shedChannelCount: 4 });
    index.apply(whole);
    expect(index.counts).toEqual(countFleet(index.view().list()));
    expect(index.counts).toEqual({ total: 1001, connected: 901, offline: 100, shedding: 2, alarms: 1 });
  });

  it('lists in id order with a new gateway in its place, one list per version', () => {
    const index = new FleetIndex();
    index.reset(fleet(3).reverse());
    const { load: _l, ...whole } = aGateway({ gatewayId: 'gw-00001x' });
    index.apply(whole);
    const view = index.view();
    expect(view.list().map((g) => g.gatewayId)).toEqual(['gw-00000', 'gw-00001', 'gw-00001x', 'gw-00002']);
    expect(view.list()).toBe(view.list());
    expect(view.size).toBe(4);
  });

  it('moves the version on every change, and only then', () => {
    const index = new FleetIndex();
    index.reset(fleet(2));
    const v = index.version;
    expect(index.apply({ gatewayId: 'unknown', rttMs: 1 })).toBe(false);
    expect(index.version).toBe(v);
    expect(index.apply({ gatewayId: 'gw-00001', rttMs: 1 })).toBe(true);
    expect(index.version).toBe(v + 1);
  });

  it('applies a fleet shed of 20,000 patches in place (no copy of the fleet per patch)', () => {
    const index = new FleetIndex();
    index.reset(fleet(20_000));
    const untouched = index.get('gw-19999');
    for (let i = 0; i < 19_999; i++) index.apply({ gatewayId: `gw-${String(i).padStart(5, '0')}`, shedChannelCount: 2 });
    expect(index.counts.shedding).toBe(19_999);
    expect(index.get('gw-19999')).toBe(untouched);
  });
});
