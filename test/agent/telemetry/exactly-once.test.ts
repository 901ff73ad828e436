/**
 * Telemetry arrives exactly once per (gateway, seq) across link outages, lost acks and `kill -9` of
 * the agent: a real child process (the SiteController from dist/, test/agent/fixtures/
 * telemetry-agent.mjs) samples a real lm-sim every 50 ms, the test plays the hub over IPC —
 * storing each seq once, as the hub does — and kills the agent with SIGKILL at random moments.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../agent/sim/model.js';
import { decode, encode, type TelemetrySample } from '../../../shared/protocol/index.js';
import { ROOT, tempDir, waitFor } from '../../helpers/processes.js';
import { aFastProfile, aSim } from '../fixtures/lm.js';

type FromAgent = { type: 'ready' } | { type: 'frame'; xml: string } | { type: 'backlog'; batches: number; samples: number };

const AGENT = join(ROOT, 'test', 'agent', 'fixtures', 'telemetry-agent.mjs');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('telemetry across outages and kill -9', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('stores every (gateway, seq) exactly once, with no gap, no reused seq and no repeated sample', async () => {
    const random = mulberry32(2024);
    const dir = tempDir();
    const running = await aSim(aFastProfile());
    /** The hub's store: seq → the batch's samples as first stored. */
    const stored = new Map<number, string>();
    const conflicts: number[] = [];
    let deliveries = 0;
    let acksDropped = 0;
    let backlog: { batches: number; samples: number } | undefined;

    function startAgent(): Promise<ChildProcess> {
      const child = fork(AGENT, [dir.dir, String(running.port)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      children.push(child);
      let errors = '';
      child.stderr?.on('data', (d: Buffer) => (errors += d.toString()));
      return new Promise((resolve, reject) => {
        child.on('message', (msg: FromAgent) => {
          if (msg.type === 'ready') resolve(child);
          else if (msg.type === 'backlog') backlog = { batches: msg.batches, samples: msg.samples };
          else {
            const message = decode(msg.xml);
            if (message.kind !== 'telemetry') return;
            deliveries++;
            const body = JSON.stringify(message.samples);
            const before = stored.get(message.seq);
            if (before === undefined) stored.set(message.seq, body);
            else if (before !== body) conflicts.push(message.seq);
            // The hub acks every batch, stored now or before; some acks are lost on the way.
            if (random() < 0.2) acksDropped++;
            else if (child.connected) child.send({ type: 'frame', xml: encode({ kind: 'ack', seq: message.seq }) });
          }
        });
        child.once('exit', (code, signal) => {
          if (signal !== 'SIGKILL') reject(new Error(`agent exited (${code ?? signal}): ${errors}`));
        });
      });
    }
    const link = (child: ChildProcess, up: boolean): void => void (child.connected && child.send({ type: 'link', up }));

    try {
      let kills = 0;
      for (let cycle = 0; cycle < 6; cycle++) {
        const agent = await startAgent();
        link(agent, true);
        await sleep(250 + random() * 400);
        link(agent, false); // an outage: samples pile up on disk
        await sleep(150 + random() * 300);
        link(agent, true);
        await sleep(random() * 200);
        agent.kill('SIGKILL');
        await new Promise((r) => agent.once('exit', r));
        kills++;
      }
      expect(kills).toBe(6);

      // The last agent runs until everything stored before has reached the hub.
      const agent = await startAgent();
      link(agent, true);
      const contiguous = (): boolean => [...stored.keys()].every((_, i, keys) => keys.includes(i + 1));
      await waitFor(
        () => {
          if (agent.connected) agent.send({ type: 'backlog' });
          return contiguous() && backlog !== undefined && backlog.batches <= 2;
        },
        15_000,
        'the backlog to drain',
      );
      agent.disconnect();
      await new Promise((r) => agent.once('exit', r));

      const seqs = [...stored.keys()].sort((a, b) => a - b);
      expect(seqs.length).toBeGreaterThan(50);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1)); // nothing lost: 1..max, no gap
      expect(conflicts).toEqual([]); // no seq ever carried two different batches
      const times = seqs.flatMap((seq) => (JSON.parse(stored.get(seq) ?? '[]') as TelemetrySample[]).map((s) => s.time));
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1] ?? 0); // no sample twice
      // The test did exercise replays (deliveries beyond the first) and lost acks.
      expect(deliveries).toBeGreaterThan(seqs.length);
      expect(acksDropped).toBeGreaterThan(0);
      expect(seqs.some((seq) => (JSON.parse(stored.get(seq) ?? '[]') as unknown[]).length > 1)).toBe(true);
    } finally {
      await running.close();
      dir.cleanup();
    }
  });
});
