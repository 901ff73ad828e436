/**
 * The acceptance path at the LM end: `lm-sim` runs as a user starts it, the agent's SiteController
 * sheds a channel, and mbpoll — Debian's Modbus client, nothing of ours — sees the relay go off and
 * the load drop; the result carries the same read-back.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProfile } from '../../../agent/lm/profile.js';
import { SiteController } from '../../../agent/site.js';
import type { CommandMessage, ResultMessage } from '../../../shared/protocol/index.js';
import { run, start, tempDir, waitFor } from '../../helpers/processes.js';
import { aProfile, LM16, LM4 } from '../fixtures/lm.js';

async function mbpoll(port: number, args: string[]): Promise<string[]> {
  const ran = await run('mbpoll', ['-m', 'tcp', '-p', String(port), '-0', '-1', ...args, '127.0.0.1']);
  expect(ran.code, ran.stderr).toBe(0);
  return [...ran.stdout.matchAll(/^\[\d+\]:\s+(\S+)/gm)].map((m) => m[1] ?? '');
}

async function startSim(profile: string): Promise<{ port: number; stop: () => Promise<void>; output: () => string }> {
  const sim = start(process.execPath, [join('bin', 'lm-sim.js'), '--port', '0', '--profile', profile]);
  await waitFor(() => /listening on Modbus TCP 127\.0\.0\.1:\d+/.test(sim.output()), 10_000, 'lm-sim to listen');
  return { port: Number(/127\.0\.0\.1:(\d+)/.exec(sim.output())?.[1]), stop: sim.stop, output: sim.output };
}

describe('a shed as mbpoll sees it', () => {
  const stops: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
  });
  let lm4: Awaited<ReturnType<typeof startSim>>;
  let lm16: Awaited<ReturnType<typeof startSim>>;
  let site: SiteController;
  beforeAll(async () => {
    lm4 = await startSim(LM4);
    stops.push(lm4.stop);
    lm16 = await startSim(LM16);
    stops.push(lm16.stop);
    const dir = tempDir();
    stops.push(dir.cleanup);
    const point = (file: string, port: number, unitId: number) => {
      const base = aProfile(file);
      return parseProfile({ ...base, connection: { type: 'tcp', host: '127.0.0.1', port, unitId }, channels: base.channels.map((c) => ({ ...c, minOnSeconds: 0, minOffSeconds: 0 })) }, file);
    };
    site = await SiteController.open({
      devices: [
        { id: 'lm4', profile: point(LM4, lm4.port, 1) },
        { id: 'lm16', profile: point(LM16, lm16.port, 7) },
      ],
      dataDir: dir.dir,
      send: () => false,
    });
    stops.push(() => site.stop());
  });

  const command = (id: string, op: 'shed' | 'restore', channels: number[]): CommandMessage => ({ kind: 'command', id, op, deadline: Date.now() + 30_000, selector: { channels } });

  it('coil relay + float32 load (4-channel LM)', async () => {
    expect(await mbpoll(lm4.port, ['-a', '1', '-t', '0', '-r', '0', '-c', '4'])).toEqual(['1', '1', '1', '1']);
    const before = Number((await mbpoll(lm4.port, ['-a', '1', '-t', '3:float', '-B', '-r', '0', '-c', '1']))[0]);

    const result = (await site.handle(command('mb-1', 'shed', [2]))) as ResultMessage;
    expect(result).toMatchObject({ status: 'ok', commandId: 'mb-1' });
    expect(result.relays).toContainEqual({ channel: 2, on: false });

    expect(await mbpoll(lm4.port, ['-a', '1', '-t', '0', '-r', '0', '-c', '4'])).toEqual(['1', '0', '1', '1']);
    const [total, , ch2] = (await mbpoll(lm4.port, ['-a', '1', '-t', '3:float', '-B', '-r', '0', '-c', '3'])).map(Number); // registers 0, 2, 4
    expect(ch2).toBe(0);
    expect(total).toBeLessThan(before);
    expect(total).toBeCloseTo(result.measuredKw ?? Number.NaN, -0.5); // within ±1.6 kW: the loads wander each second
    await waitFor(() => lm4.output().includes('channel 2 (Water heater) off'), 2_000, 'lm-sim to log the switch');

    await site.handle(command('mb-2', 'restore', [2]));
    expect(await mbpoll(lm4.port, ['-a', '1', '-t', '0', '-r', '1', '-c', '1'])).toEqual(['1']);
  });

  it('holding-register relay (shed = 1) + scaled int16 load (16-channel LM)', async () => {
    const result = (await site.handle(command('mb-3', 'shed', [101, 114]))) as ResultMessage;
    expect(result.status).toBe('ok');
    const relays = await mbpoll(lm16.port, ['-a', '7', '-t', '4', '-r', '100', '-c', '16']);
    expect(relays).toEqual(['1', ...Array<string>(12).fill('0'), '1', '0', '0']); // channels 101 and 114
    const [total, ch101] = (await mbpoll(lm16.port, ['-a', '7', '-t', '4', '-r', '0', '-c', '2'])).map(Number);
    expect(ch101).toBe(0);
    expect((total ?? 0) / 100).toBeGreaterThan(0);
  });
});
