/**
 * Fuzzing the hub's message path end to end: 100,000 fuzzed frames (test/security/fuzz-frames.ts,
 * built from the codec fuzzer's generators) over a real mutual-TLS WebSocket into the real hub in a
 * child process, after a valid hello, while a second gateway keeps exchanging telemetry and acks.
 *
 * What a user would notice, asserted: the hub stays up and lets no exception escape (its process
 * records any uncaughtException / unhandledRejection), answers only with protocol errors, keeps
 * Object.prototype intact, processes every frame (an ack for a batch sent after the last one), and
 * the other gateway's round trips stay normal (p99 < 1 s, no lost exchange, never 2 s without one).
 *
 * FUZZ_SEED=<n> explores another seed; FUZZ_FRAMES=<n> changes the count and FUZZ_RATE=<n> the
 * fuzzer's pace in frames/s (scripts/fuzz.mjs runs a million through the same code).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { encode, LIMITS } from '../../shared/protocol/index.js';
import { tempDir } from '../helpers/processes.js';
import { campaignFailures, DEFAULT_FUZZ_RATE, formatReport, runHubFuzz } from './fuzz-campaign.js';
import { aPki, GoodGateway, startHubProcess } from './harness.js';

const SEED = Number(process.env.FUZZ_SEED ?? 7_000_007);
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 100_000);
const RATE = Number(process.env.FUZZ_RATE ?? DEFAULT_FUZZ_RATE);
const tmp = tempDir('lmgw-hub-fuzz-');
afterAll(() => tmp.cleanup());

describe('fuzzing the hub over a live link', () => {
  it(`${FRAMES} fuzzed frames after a valid hello: only protocol errors, no crash, prototype intact, the other gateway unaffected`, async () => {
    const report = await runHubFuzz({
      dir: tmp.dir,
      frames: FRAMES,
      seed: SEED,
      rate: RATE,
      // Long runs (scripts/fuzz.mjs) say how far they are.
      ...(FRAMES > 100_000 ? { onProgress: (sent: number, s: number) => sent % 100_000 === 0 && console.log(`fuzz: ${sent} frames sent, ${s.toFixed(0)} s`) } : {}),
    });
    console.log(formatReport(report));
    expect(campaignFailures(report, FRAMES), `reproduce with FUZZ_SEED=${SEED} FUZZ_FRAMES=${FRAMES}`).toEqual([]);
    // The fuzz reached past the decoder: refusals of many kinds, and messages the fleet logic took.
    const codes = Object.keys(report.replies).filter((k) => k.startsWith('error PROTO_'));
    expect(codes.length, Object.keys(report.replies).join(', ')).toBeGreaterThanOrEqual(6);
    expect(report.replies['error LINK_PROTOCOL'] ?? 0, 'kinds a gateway may not send were refused').toBeGreaterThan(0);
    for (const kind of ['telemetry', 'result', 'event', 'error']) expect(report.after?.messages[kind] ?? 0, kind).toBeGreaterThan(0);
    expect(report.good.exchanges).toBeGreaterThanOrEqual(5);
  }, Math.max(180_000, (FRAMES / RATE) * 3000));

  // Found by the fuzz above (seed 7000007): the codec accepts sample times up to LIMITS.maxTimeMs
  // (the largest JavaScript date), and the hub's live-load meter computes the end of that sample's
  // quarter hour — 15 minutes past the largest date — where Intl throws a RangeError inside the
  // telemetry flush timer: `lm-console` dies of the uncaughtException, from one message of an
  // authenticated gateway, and the other batches of that flush are never acknowledged.
  it('a telemetry sample at the latest time the protocol allows is acknowledged, and the hub survives it', async () => {
    const pki = await aPki(tmp.dir, 'pki-maxtime');
    const hub = await startHubProcess(tmp.dir, pki);
    try {
      const g = await GoodGateway.connect(hub.port, await pki.gateway('site-far-future'), 'site-far-future');
      const acked = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        g.ws.on('message', (data: Buffer) => {
          if (data.toString() === encode({ kind: 'ack', seq: 1 })) {
            clearTimeout(timer);
            resolve(true);
          }
        });
      });
      g.ws.send(encode({ kind: 'telemetry', seq: 1, samples: [{ time: LIMITS.maxTimeMs, kw: 1, relays: [] }] }));
      expect(await acked, 'ack for the batch').toBe(true);
      // The hub still works for everyone afterwards.
      expect(await g.roundTrip()).toBe(true);
      const s = await hub.sample();
      expect(s.uncaught).toEqual([]);
      g.ws.close();
    } finally {
      await hub.stop();
    }
  }, 60_000);
});
