import { describe, expect, it } from 'vitest';
import { NAV_VIEWS, parseRoute, routeHash } from '../../../console/renderer/logic/route.js';

describe('hash routes', () => {
  it('reads every view and defaults to the fleet', () => {
    expect(parseRoute('')).toEqual({ view: 'fleet' });
    expect(parseRoute('#/')).toEqual({ view: 'fleet' });
    expect(parseRoute('#/live')).toEqual({ view: 'live' });
    expect(parseRoute('#/alarms')).toEqual({ view: 'alarms' });
    expect(parseRoute('#/audit')).toEqual({ view: 'audit' });
    expect(parseRoute('#/certificates')).toEqual({ view: 'certificates' });
    expect(parseRoute('#/gateway/bakery-muller')).toEqual({ view: 'gateway', gatewayId: 'bakery-muller' });
    expect(parseRoute('#/nowhere')).toEqual({ view: 'fleet' });
  });

  it('refuses gateway ids the hub would refuse', () => {
    expect(parseRoute('#/gateway/Bad%20Id')).toEqual({ view: 'fleet' });
    expect(parseRoute('#/gateway/%E0%A4%A')).toEqual({ view: 'fleet' });
    expect(parseRoute('#/gateway/a/b')).toEqual({ view: 'fleet' });
  });

  it('writes hashes that read back to the same route', () => {
    for (const v of NAV_VIEWS) expect(parseRoute(routeHash({ view: v.view }))).toEqual({ view: v.view });
    expect(parseRoute(routeHash({ view: 'gateway', gatewayId: 'gw.1_x-2' }))).toEqual({ view: 'gateway', gatewayId: 'gw.1_x-2' });
  });

  it('names the views as the e2e contract says', () => {
    expect(NAV_VIEWS.map((v) => v.label)).toEqual(['Fleet', 'Live load', 'Alarms', 'Audit log', 'Certificates']);
  });
});
