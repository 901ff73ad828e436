import { describe, expect, it } from 'vitest';
import { filterGateways, fleetLabels, matchesText, projectionRatio, sortGateways } from '../../../console/renderer/logic/gateway-table.js';
import { aGateway, someLoad } from './builders.js';

const fleet = [
  aGateway({ gatewayId: 'gw-b', siteName: 'Bakery', labels: ['north'], load: someLoad({ currentKw: 20 }), rttMs: 30 }),
  aGateway({ gatewayId: 'gw-a', siteName: 'School', labels: ['south'], state: 'offline', load: someLoad({ currentKw: null }), rttMs: null }),
  aGateway({ gatewayId: 'gw-c', siteName: 'Dairy', labels: ['north', 'farms'], shedChannelCount: 2, openAlarmCount: 1, load: someLoad({ currentKw: 5 }), rttMs: 10 }),
  aGateway({ gatewayId: 'gw-d', siteName: 'Rink', labels: [], load: someLoad({ currentKw: 20 }), rttMs: 12 }),
];
const ids = (list: { gatewayId: string }[]): string[] => list.map((g) => g.gatewayId);

describe('sorting the gateways', () => {
  it('sorts by id, site and state', () => {
    expect(ids(sortGateways(fleet, { key: 'gateway', direction: 'ascending' }))).toEqual(['gw-a', 'gw-b', 'gw-c', 'gw-d']);
    expect(ids(sortGateways(fleet, { key: 'site', direction: 'descending' }))).toEqual(['gw-a', 'gw-d', 'gw-c', 'gw-b']);
    expect(ids(sortGateways(fleet, { key: 'state', direction: 'ascending' }))[0]).toBe('gw-a');
  });

  it('puts unknown figures last in both directions and breaks ties by id', () => {
    expect(ids(sortGateways(fleet, { key: 'load', direction: 'descending' }))).toEqual(['gw-b', 'gw-d', 'gw-c', 'gw-a']);
    expect(ids(sortGateways(fleet, { key: 'load', direction: 'ascending' }))).toEqual(['gw-c', 'gw-b', 'gw-d', 'gw-a']);
    expect(ids(sortGateways(fleet, { key: 'rtt', direction: 'ascending' }))).toEqual(['gw-c', 'gw-d', 'gw-b', 'gw-a']);
  });

  it('sorts by the live figures when given, not the snapshot', () => {
    const live = { 'gw-c': someLoad({ currentKw: 99 }) };
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
    expect(matchesText(fleet[0]!, 'nothing-like-it')).toBe(false);
  });

  it('filters by state', () => {
    expect(ids(filterGateways(fleet, '', 'offline'))).toEqual(['gw-a']);
    expect(ids(filterGateways(fleet, '', 'connected'))).toEqual(['gw-b', 'gw-c', 'gw-d']);
    expect(ids(filterGateways(fleet, '', 'shedding'))).toEqual(['gw-c']);
    expect(ids(filterGateways(fleet, '', 'alarms'))).toEqual(['gw-c']);
    expect(ids(filterGateways([aGateway({ interceptionSuspected: true })], '', 'alarms'))).toEqual(['site-a']);
  });

  it('lists the labels of the fleet once, sorted', () => {
    expect(fleetLabels(fleet)).toEqual(['farms', 'north', 'south']);
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
