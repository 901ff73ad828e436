import { describe, expect, it } from 'vitest';
import { filterGateways, fleetLabels, labelCounts, matchesText, projectionRatio, sortGateways } from '../../../console/renderer/logic/gateway-table.js';
import { aGateway, someLoad } from './builders.js';

// In id order, as the store keeps them.
const fleet = [
  aGateway({ gatewayId: 'gw-a', siteName: 'School', labels: ['south'], state: 'offline', load: someLoad({ currentKw: null }), rttMs: null }),
  aGateway({ gatewayId: 'gw-b', siteName: 'Bakery', labels: ['north'], load: someLoad({ currentKw: 20 }), rttMs: 30 }),
  aGateway({ gatewayId: 'gw-c', siteName: 'Dairy', labels: ['north', 'farms'], shedChannelCount: 2, openAlarmCount: 1, load: someLoad({ currentKw: 5 }), rttMs: 10 }),
  aGateway({ gatewayId: 'gw-d', siteName: 'Rink', labels: [], load: someLoad({ currentKw: 20 }), rttMs: 12 }),
];
const ids = (list: readonly { gatewayId: string }[]): string[] => list.map((g) => g.gatewayId);

describe('sorting the gateways', () => {
  it('sorts by id, site and state', () => {
    expect(ids(sortGateways(fleet, { key: 'gateway', direction: 'ascending' }))).toEqual(['gw-a', 'gw-b', 'gw-c', 'gw-d']);
    expect(ids(sortGateways(fleet, { key: 'gateway', direction: 'descending' }))).toEqual(['gw-d', 'gw-c', 'gw-b', 'gw-a']);
    // Not in id order (a caller that did not keep it): still sorted.
    expect(ids(sortGateways([...fleet].reverse(), { key: 'gateway', direction: 'ascending' }))).toEqual(['gw-a', 'gw-b', 'gw-c', 'gw-d']);
    expect(ids(sortGateways(fleet, { key: 'site', direction: 'descending' }))).toEqual(['gw-a', 'gw-d', 'gw-c', 'gw-b']);
    expect(ids(sortGateways(fleet, { key: 'state', direction: 'ascending' }))[0]).toBe('gw-a');
  });

  it('puts unknown figures last in both directions and breaks ties by id', () => {
    expect(ids(sortGateways(fleet, { key: 'load', direction: 'descending' }))).toEqual(['gw-b', 'gw-d', 'gw-c', 'gw-a']);
    expect(ids(sortGateways(fleet, { key: 'load', direction: 'ascending' }))).toEqual(['gw-c', 'gw-b', 'gw-d', 'gw-a']);
    expect(ids(sortGateways(fleet, { key: 'rtt', direction: 'ascending' }))).toEqual(['gw-c', 'gw-d', 'gw-b', 'gw-a']);
  });

  it('sorts by the live figures when given, not the snapshot', () => {
    const live = new Map([['gw-c', someLoad({ currentKw: 99 })]]);
    expect(ids(sortGateways(fleet, { key: 'load', direction: 'descending' }, live))[0]).toBe('gw-c');
  });

  it('does not change the list it was given', () => {
    const before = ids(fleet);
    sortGateways(fleet, { key: 'load', direction: 'descending' });
    expect(ids(fleet)).toEqual(before);
  });
});

describe('filtering the gateways', () => {
  it('matches every word against id, site, labels and state, ignoring case', () => {
    expect(ids(filterGateways(fleet, 'NORTH', 'all'))).toEqual(['gw-b', 'gw-c']);
    expect(ids(filterGateways(fleet, 'north dairy', 'all'))).toEqual(['gw-c']);
    expect(ids(filterGateways(fleet, 'offline', 'all'))).toEqual(['gw-a']);
    expect(ids(filterGateways(fleet, '  ', 'all'))).toHaveLength(4);
    expect(matchesText(fleet[0]!, ['nothing-like-it'])).toBe(false);
    expect(matchesText(fleet[0]!, ['school', 'sou'])).toBe(true);
  });

  it('filters by state', () => {
    expect(ids(filterGateways(fleet, '', 'offline'))).toEqual(['gw-a']);
    expect(ids(filterGateways(fleet, '', 'connected'))).toEqual(['gw-b', 'gw-c', 'gw-d']);
    expect(ids(filterGateways(fleet, '', 'shedding'))).toEqual(['gw-c']);
    expect(ids(filterGateways(fleet, '', 'alarms'))).toEqual(['gw-c']);
    expect(ids(filterGateways([aGateway({ interceptionSuspected: true })], '', 'alarms'))).toEqual(['site-a']);
  });

  it('lists the labels of the fleet once, sorted, and counts their gateways', () => {
    expect(fleetLabels(fleet)).toEqual(['farms', 'north', 'south']);
    expect(labelCounts(fleet)).toEqual(new Map([['south', 1], ['north', 2], ['farms', 1]]));
  });

  it('hands back the same list when nothing filters (no copy of 20,000 rows)', () => {
    expect(filterGateways(fleet, ' ', 'all')).toBe(fleet);
  });
});

describe('projection against the limit', () => {
  it('compares with the target, else the peak', () => {
    expect(projectionRatio(someLoad({ projectedKw: 45, targetKw: 50, peakKw: 90 }))).toBeCloseTo(0.9);
    expect(projectionRatio(someLoad({ projectedKw: 45, targetKw: null, peakKw: 90 }))).toBeCloseTo(0.5);
    expect(projectionRatio(someLoad({ projectedKw: null, targetKw: 50 }))).toBeNull();
    expect(projectionRatio(someLoad({ projectedKw: 45, targetKw: null, peakKw: null }))).toBeNull();
  });
});

describe('at 20,000 gateways', () => {
  // Correctness at scale, not a timing: sort keys are computed once per row, ties keep id order.
  it('sorts by a figure with unknowns last and ties in id order', () => {
    const many = Array.from({ length: 20_000 }, (_, i) => aGateway({ gatewayId: `gw-${String(i).padStart(5, '0')}`, rttMs: i % 7 === 0 ? null : i % 100 }));
    const rows = sortGateways(many, { key: 'rtt', direction: 'descending' });
    expect(rows).toHaveLength(20_000);
    expect(rows[0]?.rttMs).toBe(99);
    expect(rows.at(-1)?.rttMs).toBeNull();
    const nines = rows.filter((g) => g.rttMs === 99).map((g) => g.gatewayId);
    expect(nines).toEqual([...nines].sort());
  });
});
