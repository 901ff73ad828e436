import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openAgentDb } from '../../../agent/db.js';
import { TelemetryStore } from '../../../agent/telemetry/store.js';
import type { TelemetrySample } from '../../../shared/protocol/index.js';
import { tempDir } from '../../helpers/processes.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function aPath(): string {
  const dir = tempDir();
  cleanups.push(dir.cleanup);
  return join(dir.dir, 'agent.sqlite');
}

function open(path: string): TelemetryStore {
  const db = openAgentDb(path);
  cleanups.push(() => db.close());
  return new TelemetryStore(db);
}

const sample = (time: number): TelemetrySample => ({ time, kw: time / 1000, relays: [{ channel: 1, on: true }] });

describe('TelemetryStore', () => {
  it('fills one open batch, seals it, and hands out the next seq to the next batch', () => {
    const store = open(aPath());
    expect(store.append(sample(1), 1)).toEqual({ seq: 1, count: 1, createdAt: 1, sealed: false });
    expect(store.append(sample(2), 2)).toEqual({ seq: 1, count: 2, createdAt: 1, sealed: false });
    expect(store.unacked(10)).toEqual([]); // open batches are never sent
    expect(store.seal()).toBe(1);
    expect(store.seal()).toBeUndefined();
    expect(store.append(sample(3), 3).seq).toBe(2);
    store.seal();
    expect(store.unacked(10).map((b) => [b.seq, b.samples.map((s) => s.time)])).toEqual([
      [1, [1, 2]],
      [2, [3]],
    ]);
  });

  it('keeps every sample and the seq counter across a reopen, and never reuses a seq once acked', () => {
    const path = aPath();
    const first = open(path);
    first.append(sample(1), 1);
    first.seal();
    first.append(sample(2), 2); // open batch 2, not sealed
    const second = open(path);
    expect(second.append(sample(3), 3)).toEqual({ seq: 2, count: 2, createdAt: 2, sealed: false });
    second.seal();
    expect(second.ack(1)).toBe(true);
    expect(second.ack(2)).toBe(true);
    expect(second.ack(2)).toBe(false);
    const third = open(path);
    expect(third.append(sample(4), 4).seq).toBe(3);
  });

  it('seals in the same transaction once a batch holds sealAt samples', () => {
    const store = open(aPath());
    expect(store.append(sample(1), 1, 2).sealed).toBe(false);
    expect(store.append(sample(2), 2, 2)).toEqual({ seq: 1, count: 2, createdAt: 1, sealed: true });
    expect(store.append(sample(3), 3, 2).seq).toBe(2);
    expect(store.get(1)?.samples.map((s) => s.time)).toEqual([1, 2]);
  });

  it('trims sealed batches older than the retention and reports the range', () => {
    const store = open(aPath());
    for (const t of [100, 200, 300]) {
      store.append(sample(t), t);
      store.seal();
    }
    store.append(sample(50), 50); // open: never trimmed
    expect(store.trim(250)).toEqual({ batches: 2, samples: 2, fromSeq: 1, toSeq: 2 });
    expect(store.trim(250)).toBeUndefined();
    expect(store.unacked(10).map((b) => b.seq)).toEqual([3]);
    expect(store.backlog()).toEqual({ batches: 2, samples: 2 });
  });
});
