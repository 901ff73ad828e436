/**
 * The hub's telemetry ingest against a real store: batches of a group share a commit and are acked
 * only once it holds them; a replay is acked but counted once; a store failure acks nothing; a
 * sample from a clock far ahead is stored and acked but kept out of the live figures; one
 * gateway's batch that breaks the live figures does not stop the others.
 */
import { pino } from 'pino';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { TELEMETRY_YIELD_MAX_MS, TelemetryIngest, type TelemetryIngestDeps } from '../../../console/hub/fleet/telemetry-ingest.js';
import type { HubStore } from '../../../console/hub/store/index.js';
import type { AckMessage, TelemetryMessage, TelemetrySample } from '../../../shared/protocol/messages.js';
import { aSample, aStore, rawDb } from './store/builders.js';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

interface Rig {
  ingest: TelemetryIngest;
  store: HubStore;
  acks: Array<{ gatewayId: string; seq: number; storedAtAck: boolean }>;
  live: Array<{ gatewayId: string; samples: readonly TelemetrySample[] }>;
  alarms: Array<{ op: 'raise' | 'clear'; code: string; gatewayId?: string }>;
  changed: string[];
}

function aRig(over: Partial<TelemetryIngestDeps> = {}): Rig {
  const store = aStore();
  const rig: Rig = { store, acks: [], live: [], alarms: [], changed: [], ingest: undefined as unknown as TelemetryIngest };
  rig.ingest = new TelemetryIngest({
    store,
    load: { add: (gatewayId, samples) => void rig.live.push({ gatewayId, samples }) },
    registry: { telemetry: (gatewayId) => gatewayId === 'gw-relays' },
    alarms: {
      raise: (r) => {
        rig.alarms.push({ op: 'raise', code: r.code, ...(r.gatewayId ? { gatewayId: r.gatewayId } : {}) });
        return undefined as never;
      },
      clear: (code, gatewayId) => void rig.alarms.push({ op: 'clear', code, ...(gatewayId ? { gatewayId } : {}) }),
    },
    send: (gatewayId: string, m: AckMessage) => {
      // Acknowledged means durable: the batch must be readable from the file when its ack goes out.
      const row = rawDb(store.path).prepare('SELECT COUNT(*) AS n FROM telemetry_raw WHERE gateway_id = ? AND seq = ?').get(gatewayId, m.seq) as { n: number };
      rig.acks.push({ gatewayId, seq: m.seq, storedAtAck: row.n > 0 });
      return true;
    },
    changed: (id) => void rig.changed.push(id),
    log: pino({ level: 'silent' }),
    groupMs: 30,
    now: () => NOW,
    ...over,
  });
  onTestFinished(() => rig.ingest.close());
  return rig;
}

function batch(seq: number, samples: TelemetrySample[]): TelemetryMessage {
  return { kind: 'telemetry', seq, samples };
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('TelemetryIngest', () => {
  it('commits a group of batches together and acks each only after the commit that holds it', async () => {
    const rig = aRig();
    rig.ingest.accept('gw-1', batch(1, [aSample(NOW - 1_000, 5)]));
    rig.ingest.accept('gw-2', batch(7, [aSample(NOW - 900, 6)]));
    rig.ingest.accept('gw-relays', batch(1, [aSample(NOW - 800, 7)]));
    expect(rig.acks).toEqual([]);
    expect(rig.ingest.queued).toBe(3);
    await tick(80);
    expect(rig.acks).toEqual([
      { gatewayId: 'gw-1', seq: 1, storedAtAck: true },
      { gatewayId: 'gw-2', seq: 7, storedAtAck: true },
      { gatewayId: 'gw-relays', seq: 1, storedAtAck: true },
    ]);
    expect(rig.live.map((l) => l.gatewayId)).toEqual(['gw-1', 'gw-2', 'gw-relays']);
    expect(rig.changed).toEqual(['gw-relays']);
    expect(rig.alarms).toEqual([{ op: 'clear', code: 'STORE_UNAVAILABLE' }]);
  });

  it('acks a replay again but feeds the live figures once', async () => {
    const rig = aRig();
    rig.ingest.accept('gw-1', batch(1, [aSample(NOW - 1_000, 5)]));
    rig.ingest.accept('gw-1', batch(1, [aSample(NOW - 1_000, 5)]));
    await tick(80);
    rig.ingest.accept('gw-1', batch(1, [aSample(NOW - 1_000, 5)]));
    rig.ingest.flush();
    expect(rig.acks.map((a) => a.seq)).toEqual([1, 1, 1]);
    expect(rig.live).toHaveLength(1);
  });

  it('acks nothing of a group the store could not commit, raises STORE_UNAVAILABLE, and clears it once a group is stored', async () => {
    const rig = aRig();
    rawDb(rig.store.path).exec('CREATE TRIGGER refuse BEFORE INSERT ON telemetry_samples WHEN NEW.seq = 13 BEGIN SELECT RAISE(ABORT, \'disk says no\'); END');
    rig.ingest.accept('gw-1', batch(1, [aSample(NOW - 1_000, 5)]));
    rig.ingest.accept('gw-2', batch(13, [aSample(NOW - 1_000, 6)]));
    await tick(80);
    expect(rig.acks).toEqual([]);
    expect(rig.live).toEqual([]);
    expect(rig.alarms.map((a) => `${a.op} ${a.code}`)).toEqual(['raise STORE_UNAVAILABLE']);
    // The agent sends batch 1 again: it was not stored, so it is new now.
    rig.ingest.accept('gw-1', batch(1, [aSample(NOW - 1_000, 5)]));
    await tick(80);
    expect(rig.acks).toEqual([{ gatewayId: 'gw-1', seq: 1, storedAtAck: true }]);
    expect(rig.live).toHaveLength(1);
    expect(rig.alarms.at(-1)).toEqual({ op: 'clear', code: 'STORE_UNAVAILABLE' });
  });

  it('stores and acks samples stamped far ahead of the clock but keeps them out of the live figures (GATEWAY_CLOCK_AHEAD), and clears the warning when the clock is right again', async () => {
    const rig = aRig();
    rig.ingest.accept('gw-1', batch(1, [aSample(NOW - 1_000, 5), aSample(NOW + 5 * 60_000, 900)]));
    await tick(80);
    expect(rig.acks).toEqual([{ gatewayId: 'gw-1', seq: 1, storedAtAck: true }]);
    expect(rig.live[0]?.samples.map((s) => s.kw)).toEqual([5]);
    expect(rig.store.lastSample('gw-1')?.kw).toBe(900);
    expect(rig.alarms).toContainEqual({ op: 'raise', code: 'GATEWAY_CLOCK_AHEAD', gatewayId: 'gw-1' });
    rig.ingest.accept('gw-1', batch(2, [aSample(NOW, 6)]));
    await tick(80);
    expect(rig.alarms.at(-1)).toEqual({ op: 'clear', code: 'GATEWAY_CLOCK_AHEAD', gatewayId: 'gw-1' });
  });

  it('one gateway’s batch that breaks the live figures does not stop the others (all stored and acked)', async () => {
    const rig = aRig({
      load: {
        add: (gatewayId, samples) => {
          if (gatewayId === 'gw-bad') throw new Error('meter exploded');
          rig.live.push({ gatewayId, samples });
        },
      },
    });
    for (const id of ['gw-1', 'gw-bad', 'gw-3']) rig.ingest.accept(id, batch(1, [aSample(NOW - 1_000, 5)]));
    await tick(80);
    expect(rig.acks.map((a) => [a.gatewayId, a.storedAtAck])).toEqual([
      ['gw-1', true],
      ['gw-bad', true],
      ['gw-3', true],
    ]);
    expect(rig.live.map((l) => l.gatewayId)).toEqual(['gw-1', 'gw-3']);
  });

  it('a group full of samples is committed at once, without waiting for the window, and its fsync stays off the event loop', async () => {
    const rig = aRig({ groupMaxSamples: 3, groupMs: 10_000 });
    let syncedOnLoop = 0;
    const durableSync = rig.store.durableSync.bind(rig.store);
    rig.store.durableSync = () => {
      syncedOnLoop += 1;
      durableSync();
    };
    rig.ingest.accept('gw-1', batch(1, [aSample(NOW - 10_000, 1), aSample(NOW - 9_000, 2)]));
    expect(rig.ingest.queued).toBe(1); // 2 samples: not full
    rig.ingest.accept('gw-2', batch(1, [aSample(NOW - 8_000, 3)]));
    expect(rig.ingest.queued).toBe(0); // 3 samples: committed now
    expect(rig.acks).toEqual([]); // committed, not yet fsynced
    await vi.waitFor(() => expect(rig.acks.map((a) => a.gatewayId)).toEqual(['gw-1', 'gw-2']), { timeout: 2_000 });
    expect(rig.acks.every((a) => a.storedAtAck)).toBe(true);
    expect(syncedOnLoop).toBe(0);
    rig.ingest.accept('gw-1', batch(2, [aSample(NOW, 4)]));
    await tick(50);
    expect(rig.acks).toHaveLength(2);
    rig.ingest.close();
    expect(rig.acks.map((a) => `${a.gatewayId}:${a.seq}`)).toEqual(['gw-1:1', 'gw-2:1', 'gw-1:2']);
  });

  it('yields to a fleet operation in flight: a group waits past its window, up to TELEMETRY_YIELD_MAX_MS, and a full group goes all the same', async () => {
    let clock = NOW;
    let busy = true;
    const rig = aRig({ groupMs: 5, groupMaxSamples: 3, now: () => clock, yieldTo: () => busy });
    rig.ingest.accept('gw-1', batch(1, [aSample(NOW - 1_000, 5)]));
    await tick(60); // many windows later, the operation still in flight and the hold not over
    expect(rig.acks).toEqual([]);
    expect(rig.ingest.queued).toBe(1);
    // A group that fills up is not held: what waits stays small.
    rig.ingest.accept('gw-2', batch(1, [aSample(NOW - 900, 6), aSample(NOW - 800, 7)]));
    await vi.waitFor(() => expect(rig.acks.map((a) => a.gatewayId)).toEqual(['gw-1', 'gw-2']), { timeout: 2_000 });
    expect(rig.acks.every((a) => a.storedAtAck)).toBe(true);

    // The hold ends with the operation…
    rig.ingest.accept('gw-1', batch(2, [aSample(NOW - 700, 5)]));
    await tick(60);
    expect(rig.acks).toHaveLength(2);
    busy = false;
    await vi.waitFor(() => expect(rig.acks).toHaveLength(3), { timeout: 2_000 });
    // …or at TELEMETRY_YIELD_MAX_MS after the group's first batch, whatever is in flight.
    busy = true;
    rig.ingest.accept('gw-1', batch(3, [aSample(NOW - 600, 5)]));
    await tick(60);
    expect(rig.acks).toHaveLength(3);
    clock += TELEMETRY_YIELD_MAX_MS;
    await vi.waitFor(() => expect(rig.acks.map((a) => `${a.gatewayId}:${a.seq}`)).toEqual(['gw-1:1', 'gw-2:1', 'gw-1:2', 'gw-1:3']), { timeout: 2_000 });
  });
});
