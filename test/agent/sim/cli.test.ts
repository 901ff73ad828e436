/**
 * `lm-sim` as a user runs it (bin/lm-sim.js, compiled code), checked with mbpoll — an independent
 * Modbus client from Debian — including the runtime fault control (control file, SIGUSR1, SIGUSR2).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run, runBin, start, tempDir, waitFor } from '../../helpers/processes.js';
import { LM16, LM4 } from '../fixtures/lm.js';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** Starts lm-sim on a free port; resolves with the port once it listens. */
async function startSim(args: string[]): Promise<{ port: number; output: () => string; pid: number }> {
  const sim = start(process.execPath, [join('bin', 'lm-sim.js'), '--port', '0', ...args]);
  stops.push(sim.stop);
  await waitFor(() => /listening on Modbus TCP 127\.0\.0\.1:(\d+)/.test(sim.output()) || sim.child.exitCode !== null, 10_000, 'lm-sim to listen');
  const port = Number(/listening on Modbus TCP 127\.0\.0\.1:(\d+)/.exec(sim.output())?.[1]);
  expect(port, sim.output()).toBeGreaterThan(0);
  return { port, output: sim.output, pid: sim.child.pid ?? 0 };
}

/** mbpoll once; the values it printed, by reference. */
async function mbpoll(port: number, args: string[]): Promise<{ code: number; values: Map<number, string>; stderr: string }> {
  const ran = await run('mbpoll', ['-m', 'tcp', '-p', String(port), '-0', '-1', '-o', '0.5', ...args, '127.0.0.1']);
  const values = new Map([...ran.stdout.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => [Number(m[1]), m[2] ?? '']));
  return { code: ran.code, values, stderr: ran.stderr };
}

describe('lm-sim (CLI)', () => {
  it('explains itself and refuses bad usage with CLI_USAGE (exit 2) and a bad profile with CONFIG_INVALID (exit 1)', async () => {
    const help = await runBin('lm-sim', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--fault SPEC');
    const noProfile = await runBin('lm-sim', ['--port', '0']);
    expect(noProfile.code).toBe(2);
    expect(noProfile.stderr).toMatch(/^lm-sim: CLI_USAGE: --profile FILE is required/);
    const badFault = await runBin('lm-sim', ['--port', '0', '--profile', LM4, '--fault', 'slow=fast']);
    expect(badFault.code).toBe(2);
    expect(badFault.stderr).toMatch(/CLI_USAGE: fault "slow=fast": slow needs a whole number/);
    const t = tempDir();
    try {
      writeFileSync(join(t.dir, 'bad.json'), JSON.stringify({ model: 'x', connection: { type: 'tcp', host: 'h' }, channels: [], measurements: {} }));
      const badProfile = await runBin('lm-sim', ['--port', '0', '--profile', join(t.dir, 'bad.json')]);
      expect(badProfile.code).toBe(1);
      expect(badProfile.stderr).toMatch(/CONFIG_INVALID: .*bad\.json: channels: must list at least one channel; measurements\.totalKw: is required/);
    } finally {
      t.cleanup();
    }
  });

  it('serves the profile: mbpoll reads the relays and the float32 measurements', async () => {
    const { port } = await startSim(['--profile', LM4, '--seed', '11']);
    const coils = await mbpoll(port, ['-a', '1', '-t', '0', '-r', '0', '-c', '4']);
    expect(coils.code, coils.stderr).toBe(0);
    expect([...coils.values.values()]).toEqual(['1', '1', '1', '1']);
    const floats = await mbpoll(port, ['-a', '1', '-t', '3:float', '-B', '-r', '0', '-c', '5']);
    expect(floats.code, floats.stderr).toBe(0);
    const total = Number(floats.values.get(0));
    const sumOfChannels = [2, 4, 6, 8].reduce((s, r) => s + Number(floats.values.get(r)), 0);
    expect(total).toBeGreaterThan(sumOfChannels);
    expect(total).toBeLessThan(sumOfChannels + 0.1 * 30.5);
  });

  it('switches faults at run time: control file + SIGUSR1, SIGUSR2 for silence', async () => {
    const t = tempDir();
    try {
      const control = join(t.dir, 'faults');
      writeFileSync(control, '');
      const sim = await startSim(['--profile', LM16, '--control', control]);
      const read = (): ReturnType<typeof mbpoll> => mbpoll(sim.port, ['-a', '7', '-t', '4', '-r', '100', '-c', '2']);
      expect((await read()).code).toBe(0);

      /** The fault changes lm-sim reported, in order (lines `lm-sim: faults: …`). */
      const changes = (): string[] => [...sim.output().matchAll(/^lm-sim: faults: (.*)$/gm)].map((m) => m[1] ?? '');
      writeFileSync(control, 'exception=4\n');
      process.kill(sim.pid, 'SIGUSR1');
      await waitFor(() => changes().length === 1, 5_000, 'the control file to apply');
      expect(changes()).toEqual(['exception=4']);
      const failing = await read();
      expect(failing.code).not.toBe(0);
      expect(failing.stderr).toMatch(/failure/i);

      writeFileSync(control, 'none');
      process.kill(sim.pid, 'SIGUSR1');
      await waitFor(() => changes().length === 2, 5_000, 'the faults to clear');
      process.kill(sim.pid, 'SIGUSR2');
      await waitFor(() => changes().length === 3, 5_000, 'silence');
      expect(changes()).toEqual(['exception=4', 'none', 'silence']);
      const silent = await read();
      expect(silent.stderr, sim.output()).toMatch(/timed out/i);
      process.kill(sim.pid, 'SIGUSR2');
      await waitFor(() => changes().length === 4, 5_000, 'silence to end');
      // The poll of the control file saw it change, but to what was already applied: no fifth change.
      await new Promise((r) => setTimeout(r, 300));
      expect(changes()).toEqual(['exception=4', 'none', 'silence', 'none']);
      expect((await read()).values.get(100)).toBe('0');
    } finally {
      t.cleanup();
    }
  });
});
