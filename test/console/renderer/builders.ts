// Builders for the renderer's unit tests: a valid record with every field, overridden per test.
import type { CommandRecord, GatewaySummary, LoadFigures, ShedPreview } from '../../../console/hub/operator/types.js';

export function someLoad(o: Partial<LoadFigures> = {}): LoadFigures {
  return {
    currentKw: 10,
    intervalStart: Date.UTC(2026, 10, 25, 14, 30),
    intervalEnd: Date.UTC(2026, 10, 25, 14, 45),
    averageKw: 9,
    projectedKw: 9.5,
    coverage: 0.5,
    peakKw: null,
    peakIntervalStart: null,
    targetKw: null,
    ...o,
  };
}

export function aGateway(o: Partial<GatewaySummary> = {}): GatewaySummary {
  return {
    gatewayId: 'site-a',
    siteName: 'Site A',
    labels: [],
    state: 'connected',
    since: 0,
    firstSeen: 0,
    agentVersion: '0.1.0',
    certificate: { serial: '01', subject: 'CN=site-a', notAfter: Date.UTC(2028, 0, 1) },
    remoteAddress: '127.0.0.1:4000',
    rttMs: 20,
    viaProxy: false,
    interceptionSuspected: false,
    lmHealth: 'ok',
    channelCount: 4,
    shedChannelCount: 0,
    ratedKw: 30,
    lastTelemetryAt: 0,
    openAlarmCount: 0,
    load: someLoad(),
    ...o,
  };
}

export function aCommand(o: Partial<CommandRecord> = {}): CommandRecord {
  return {
    id: 'c1',
    gatewayId: 'site-a',
    op: 'shed',
    channels: [3],
    durationSeconds: 900,
    operator: 'alice',
    state: 'confirmed',
    requestedAt: 0,
    deadline: 10_000,
    ...o,
  };
}

export function aPreview(o: Partial<ShedPreview> = {}): ShedPreview {
  return {
    plan: {
      gateways: [
        { gatewayId: 'site-a', channels: [1, 2, 3], expectedKw: 14 },
        { gatewayId: 'site-b', channels: [1, 2, 3], expectedKw: 14 },
        { gatewayId: 'site-c', channels: [1, 2, 3], expectedKw: 14.2 },
      ],
      skipped: [],
      totalKw: 42.2,
    },
    loadCount: 9,
    gatewayCount: 3,
    restoreAt: Date.UTC(2026, 10, 25, 14, 45),
    ...o,
  };
}
