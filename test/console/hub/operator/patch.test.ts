/**
 * The operator stream's gateway patches carry only the fields that changed. A summary is built
 * afresh for every patch, so its labels and certificate are new objects each time: equal content
 * must not count as a change (the certificate alone would add ~80 bytes to every patch of a shed).
 */
import { describe, expect, it } from 'vitest';
import { patchOf, type CoreSummary } from '../../../../console/hub/operator/service.js';

const summary = (over: Partial<CoreSummary> = {}): CoreSummary => ({
  gatewayId: 'gw-1',
  siteName: 'Site 1',
  labels: ['north', 'pumps'],
  state: 'connected',
  since: 1_000,
  firstSeen: 500,
  agentVersion: '1.0.0',
  certificate: { serial: '0a', subject: 'CN=gw-1', notAfter: 9_000 },
  remoteAddress: '127.0.0.1',
  rttMs: 4,
  viaProxy: false,
  interceptionSuspected: false,
  lmHealth: 'ok',
  channelCount: 4,
  shedChannelCount: 0,
  ratedKw: 20,
  lastTelemetryAt: 2_000,
  openAlarmCount: 0,
  ...over,
});

describe('patchOf', () => {
  it('sends the whole summary the first time', () => {
    const s = summary();
    expect(patchOf(undefined, s)).toBe(s);
  });

  it('finds nothing to send when only the objects are new', () => {
    expect(patchOf(summary(), summary({ labels: ['north', 'pumps'], certificate: { serial: '0a', subject: 'CN=gw-1', notAfter: 9_000 } }))).toBeUndefined();
  });

  it('sends only what changed: a count, a label list, a renewed certificate, a certificate gone', () => {
    expect(patchOf(summary(), summary({ shedChannelCount: 2 }))).toEqual({ gatewayId: 'gw-1', shedChannelCount: 2 });
    expect(patchOf(summary(), summary({ labels: ['north'] }))).toEqual({ gatewayId: 'gw-1', labels: ['north'] });
    expect(patchOf(summary(), summary({ labels: ['pumps', 'north'] }))).toEqual({ gatewayId: 'gw-1', labels: ['pumps', 'north'] });
    const renewed = { serial: '0b', subject: 'CN=gw-1', notAfter: 19_000 };
    expect(patchOf(summary(), summary({ certificate: renewed }))).toEqual({ gatewayId: 'gw-1', certificate: renewed });
    expect(patchOf(summary(), summary({ certificate: null }))).toEqual({ gatewayId: 'gw-1', certificate: null });
    expect(patchOf(summary({ certificate: null }), summary())).toEqual({ gatewayId: 'gw-1', certificate: summary().certificate });
  });
});
