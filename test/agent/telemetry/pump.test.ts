/**
 * The telemetry pump with a scripted sampler and a scripted link: sealing, replay after an outage,
 * the in-flight window, resends without an ack, and the retention bound.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openAgentDb } from '../../../agent/db.js';
import { TelemetryPump, type TelemetryPumpOptions } from '../../../agent/telemetry/pump.js';
import { TelemetryStore, type TrimReport } from '../../../agent/telemetry/store.js';
import type { TelemetryMessage } from '../../../shared/protocol/index.js';
import { tempDir } from '../../helpers/processes.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function aPump(options: Partial<TelemetryPumpOptions> = {}) {
  const dir = tempDir();
  cleanups.push(dir.cleanup);
  const db = openAgentDb(join(dir.dir, 'agent.sqlite'));
  cleanups.push(() => db.close());
  let clock = 1_000_000;
  const sent: TelemetryMessage[] = [];
  const link = { up: true };
  const pump = new TelemetryPump({
    store: new TelemetryStore(db),
    sample: () => Promise.resolve({ time: clock, kw: 1, relays: [] }),
    send: (m) => {
      if (!link.up) return false;
      sent.push(m);
      return true;
    },
    now: () => clock,
    ...options,
  });
  const dropped: TrimReport[] = [];
  pump.events.on('dropped', (r) => dropped.push(r));
  return {
    pump,
    sent,
    link,
    dropped,
    /** One sampling step after `ms` of time. */
    tick: async (ms = 1_000) => {
      clock += ms;
      await pump.tick();
    },
  };
}

const seqs = (messages: TelemetryMessage[]): number[] => messages.map((m) => m.seq);

describe('TelemetryPump', () => {
  it('while the link is up, sends each sample at once with increasing seq', async () => {
    const { pump, sent, tick } = aPump();
    pump.setLinkUp(true);
    await tick();
    await tick();
    await tick();
    expect(seqs(sent)).toEqual([1, 2, 3]);
    expect(sent.every((m) => m.samples.length === 1)).toBe(true);
  });

  it('batches batchMs worth of samples per message', async () => {
    const { pump, sent, tick } = aPump({ batchMs: 3_000 });
    pump.setLinkUp(true);
    for (let i = 0; i < 7; i++) await tick();
    expect(sent.map((m) => m.samples.length)).toEqual([3, 3]);
  });

  it('during an outage collects larger batches, and replays everything in seq order when the link returns', async () => {
    const { pump, sent, link, tick } = aPump({ maxBatchSamples: 4 });
    pump.setLinkUp(true);
    await tick();
    link.up = false;
    pump.setLinkUp(false);
    for (let i = 0; i < 10; i++) await tick();
    expect(seqs(sent)).toEqual([1]);
    link.up = true;
    pump.setLinkUp(true);
    // 1 was never acked: it goes again; then 2 and 3 (4 samples each) and 4 (the 2 left, sealed on reconnect).
    expect(seqs(sent)).toEqual([1, 1, 2, 3, 4]);
    expect(sent.slice(2).map((m) => m.samples.length)).toEqual([4, 4, 2]);
    const times = sent.slice(1).flatMap((m) => m.samples.map((s) => s.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(times).size).toBe(11);
  });

  it('keeps at most maxInFlight batches unacknowledged, and sends more as acks arrive', async () => {
    const many = aPump({ maxInFlight: 2, maxBatchSamples: 1 });
    for (let i = 0; i < 5; i++) await many.tick(); // link down: five sealed batches
    many.pump.setLinkUp(true);
    expect(seqs(many.sent)).toEqual([1, 2]);
    many.pump.ack(1);
    expect(seqs(many.sent)).toEqual([1, 2, 3]);
    many.pump.ack(3);
    many.pump.ack(2);
    expect(seqs(many.sent)).toEqual([1, 2, 3, 4, 5]);
    expect(many.pump.backlog()).toEqual({ batches: 2, samples: 2 });
  });

  it('sends a batch again when its ack does not come within ackTimeoutMs', async () => {
    const { pump, sent, tick } = aPump({ ackTimeoutMs: 5_000 });
    pump.setLinkUp(true);
    await tick();
    pump.ack(1);
    await tick();
    expect(seqs(sent)).toEqual([1, 2]);
    for (let i = 0; i < 5; i++) await tick();
    expect(seqs(sent).filter((s) => s === 2)).toHaveLength(2);
    pump.ack(2);
  });

  it('drops what is older than the retention, oldest first, and says so', async () => {
    const { pump, sent, dropped, tick } = aPump({ retentionMs: 10_000, maxBatchSamples: 1 });
    for (let i = 0; i < 5; i++) await tick(); // seq 1..5 at +1..+5 s
    await tick(70_000); // seq 6, and a trim: 1..5 are older than 10 s
    expect(dropped).toEqual([{ batches: 5, samples: 5, fromSeq: 1, toSeq: 5 }]);
    pump.setLinkUp(true);
    expect(seqs(sent)).toEqual([6]);
  });
});
