/**
 * Builders and fixtures for the hub store's tests: a fresh store in a temporary directory (closed
 * and removed when the test finishes), a raw SQLite connection to look behind the API, and records
 * with every field set that a test can override.
 */
import Database from 'better-sqlite3';
import { onTestFinished } from 'vitest';
import { HubStore, type GatewayRow, type ShedEventHeader, type ShedSkipped } from '../../../../console/hub/store/index.js';
import type { AlarmRecord, CommandRecord, ShedOutcome } from '../../../../console/hub/operator/types.js';
import type { HelloMessage, TelemetrySample } from '../../../../shared/protocol/messages.js';
import { tempDir } from '../../../helpers/processes.js';

/** A data directory removed when the test finishes. */
export function aDataDir(): string {
  const dir = tempDir('lmgw-store-');
  onTestFinished(dir.cleanup);
  return dir.dir;
}

/** Opens a store (in a fresh data directory unless given one), closed when the test finishes. */
export function aStore(dataDir = aDataDir()): HubStore {
  const store = HubStore.open(dataDir);
  onTestFinished(() => store.close());
  return store;
}

/** A second, raw connection to the store's file, to check what the API cannot show. */
export function rawDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  onTestFinished(() => {
    db.close();
  });
  return db;
}

export const T0 = Date.UTC(2025, 0, 6, 8, 0, 0); // a Monday, 08:00 UTC: aligned to the minute and the quarter-hour

export function aHello(override: Partial<HelloMessage> = {}): HelloMessage {
  return {
    kind: 'hello',
    gatewayId: 'gw-1',
    minVersion: 1,
    maxVersion: 1,
    agentVersion: '1.2.3',
    siteName: 'Bakery Muster',
    labels: ['north', 'bakery'],
    viaProxy: true,
    devices: [
      {
        id: 'lm1',
        model: 'LM4',
        health: 'ok',
        channels: [
          { id: 1, name: 'oven', priority: 2, sheddable: true, ratedKw: 12.5, minOnSeconds: 60, minOffSeconds: 120, maxOffSeconds: 3600, on: true },
          { id: 2, name: 'freezer', priority: 9, sheddable: false, ratedKw: 3, minOnSeconds: 0, minOffSeconds: 0 },
        ],
      },
    ],
    ...override,
  };
}

export function aGatewayRow(override: Partial<GatewayRow> = {}): GatewayRow {
  return {
    gatewayId: 'gw-1',
    siteName: 'Bakery Muster',
    labels: ['north', 'bakery'],
    firstSeen: T0,
    lastSeen: T0 + 5_000,
    state: 'connected',
    since: T0,
    agentVersion: '1.2.3',
    certSerial: '0a1b2c',
    certSubject: 'CN=gw-1',
    certNotAfter: T0 + 365 * 86_400_000,
    hello: aHello(),
    viaProxy: true,
    interceptionSuspected: false,
    remoteAddress: '192.0.2.10',
    targetKw: 40.5,
    ...override,
  };
}

export function aCommand(override: Partial<CommandRecord> = {}): CommandRecord {
  return {
    id: 'cmd-1',
    gatewayId: 'gw-1',
    op: 'shed',
    channels: [1, 2],
    durationSeconds: 900,
    eventId: 'ev-1',
    operator: 'alice',
    state: 'requested',
    requestedAt: T0,
    deadline: T0 + 10_000,
    ...override,
  };
}

export function aShedEventHeader(override: Partial<ShedEventHeader> = {}): ShedEventHeader {
  return {
    id: 'ev-1',
    operator: 'alice',
    createdAt: T0,
    scope: { kind: 'label', label: 'north' },
    selector: { kind: 'priority', maxPriority: 3 },
    durationSeconds: 900,
    note: 'peak event 08:00',
    endsAt: T0 + 900_000,
    state: 'active',
    plannedKw: 12.5,
    gatewayCount: 1,
    skippedCount: 1,
    skippedByReason: { offline: 1 },
    ...override,
  };
}

export function anOutcome(override: Partial<ShedOutcome> = {}): ShedOutcome {
  return { gatewayId: 'gw-1', channels: [1], expectedKw: 12.5, commandId: 'cmd-1', state: 'confirmed', ...override };
}

export const SKIPPED: ShedSkipped = [{ gatewayId: 'gw-2', reason: 'offline', detail: 'gw-2 is offline' }];

export function anAlarm(override: Partial<AlarmRecord> = {}): AlarmRecord {
  return {
    id: 'al-1',
    code: 'GATEWAY_OFFLINE',
    severity: 'warning',
    gatewayId: 'gw-1',
    message: 'gw-1 is offline',
    raisedAt: T0,
    ...override,
  };
}

export function aSample(time: number, kw: number, override: Partial<TelemetrySample> = {}): TelemetrySample {
  return { time, kw, relays: [{ channel: 1, on: true }, { channel: 2, on: false }], ...override };
}
