/**
 * Modbus RTU through a socat pty pair: lm-sim on one end (`--rtu`), the driver on the other, with
 * CRC framing, unit addressing, and the RTU late-reply guard (RTU has no transaction id).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusBus } from '../../../agent/lm/bus.js';
import { parseProfile, type Profile } from '../../../agent/lm/profile.js';
import { noFaults } from '../../../agent/sim/faults.js';
import { LmSimulator } from '../../../agent/sim/simulator.js';
import { start, tempDir, waitFor } from '../../helpers/processes.js';
import { aDriver, aProfile, LM16 } from '../fixtures/lm.js';

interface PtyPair {
  a: string;
  b: string;
  stop: () => Promise<void>;
}

async function ptyPair(dir: string, name: string): Promise<PtyPair> {
  const a = join(dir, `${name}-a`);
  const b = join(dir, `${name}-b`);
  const socat = start('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`]);
  await waitFor(() => (existsSync(a) && existsSync(b)) || socat.child.exitCode !== null, 5_000, 'socat to create the pty pair');
  expect(socat.child.exitCode, socat.output()).toBeNull();
  return { a, b, stop: socat.stop };
}

function rtuProfile(path: string, driver: Partial<Profile['driver']> = {}, unitId = 7): Readonly<Profile> {
  const base = aProfile(LM16);
  return parseProfile({ ...base, connection: { type: 'rtu', path, baudRate: 19_200, parity: 'even', stopBits: 1, dataBits: 8, unitId }, driver: { ...base.driver, timeoutMs: 400, retries: 1, ...driver } }, 'rtu test');
}

describe('Modbus RTU over a socat pty pair', () => {
  let dir: { dir: string; cleanup: () => void };
  const stops: (() => Promise<void>)[] = [];
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    dir.cleanup();
  });

  it('the driver reads and switches the 16-channel LM served by `lm-sim --rtu`, and other units stay silent', async () => {
    const pair = await ptyPair(dir.dir, 'cli');
    stops.push(pair.stop);
    const sim = start(process.execPath, [join('bin', 'lm-sim.js'), '--rtu', pair.a, '--profile', LM16]);
    stops.push(sim.stop);
    await waitFor(() => sim.output().includes('listening on Modbus RTU'), 10_000, 'lm-sim --rtu');

    const { driver, close } = aDriver(rtuProfile(pair.b));
    stops.push(close);
    const reading = await driver.read();
    expect(reading.relays).toHaveLength(16);
    expect(reading.relays.every((r) => r.on)).toBe(true);
    expect(reading.kw).toBeGreaterThan(0);
    const outcome = await driver.switchRelays([{ channel: 110, on: false }]);
    expect(outcome.error).toBeUndefined();
    expect(outcome.reading?.relays.find((r) => r.channel === 110)?.on).toBe(false);
    await waitFor(() => sim.output().includes('channel 110 (Storage heater 2) off'), 5_000, 'lm-sim to report the switch');

    await close();
    // (A serial port has one owner: the second driver opens it after the first let go.)
    const other = aDriver(rtuProfile(pair.b, { retries: 0 }, 8), 'lm-other');
    stops.push(other.close);
    await expect(other.driver.read()).rejects.toMatchObject({ code: 'MODBUS_TIMEOUT' });
    await other.close();
  });

  describe('with the simulator in this process (faults switched at exact moments)', () => {
    let pair: PtyPair;
    let sim: LmSimulator;
    beforeAll(async () => {
      pair = await ptyPair(dir.dir, 'guard');
      stops.push(pair.stop);
      sim = new LmSimulator({ profile: aProfile(LM16) });
      sim.openRtu(pair.a);
      stops.push(() => sim.close());
    });

    it('a truncated frame times out, and leaves nothing behind for the next request', async () => {
      const bus = new ModbusBus({ connection: rtuProfile(pair.b).connection, timeoutMs: 300, rtuGuardMs: 50 });
      try {
        const read = (): Promise<{ attempts: number }> => bus.request({ fn: 'readHoldingRegisters', address: 100, count: 16 }, { unitId: 7, attempts: 1 });
        await read();
        sim.setFaults({ ...noFaults(), truncate: true });
        await expect(read()).rejects.toMatchObject({ code: 'MODBUS_TIMEOUT' });
        sim.setFaults(noFaults());
        // Without the guard, the 36 bytes of the cut frame stay in modbus-serial's buffer and the
        // next reply is parsed from the wrong offset (a CRC error).
        expect((await read()).attempts).toBe(1);
      } finally {
        await bus.close();
      }
    });

    /**
     * The device answers request 1 after 1100 ms, past the 800 ms timeout; request 2 is answered in
     * 550 ms. Without a quiet guard, request 2 goes out at 800 ms and the late answer to request 1
     * (at 1100 ms, same function, same length) is taken for request 2's answer: stale data. With a
     * guard of 550 ms, request 2 goes out at 1350 ms, after the late answer died.
     */
    async function lateReplyScenario(rtuGuardMs: number): Promise<boolean[]> {
      const bus = new ModbusBus({ connection: rtuProfile(pair.b).connection, timeoutMs: 800, rtuGuardMs });
      try {
        const read = (): Promise<{ value: unknown }> => bus.request({ fn: 'readHoldingRegisters', address: 100, count: 4 }, { unitId: 7, attempts: 1 });
        sim.model.setRelay(101, true);
        await read();
        sim.setFaults({ ...noFaults(), slowMs: 1_100 });
        const first = read();
        setTimeout(() => {
          sim.setFaults({ ...noFaults(), slowMs: 550 });
          sim.model.setRelay(101, false);
        }, 200);
        await expect(first).rejects.toMatchObject({ code: 'MODBUS_TIMEOUT' });
        const second = (await read()).value as { words: number[] };
        sim.setFaults(noFaults());
        await new Promise((r) => setTimeout(r, 600));
        return second.words.map((w) => w === 0);
      } finally {
        sim.setFaults(noFaults());
        await bus.close();
      }
    }

    it('a late reply never satisfies a newer request (quiet guard after a timeout)', async () => {
      // Channel 101 is holding 100: on = 0. Fresh data: off (1); the stale answer: on (0).
      expect((await lateReplyScenario(550))[0]).toBe(false);
    });

    it('…and without the guard it would (the scenario really produces a late reply)', async () => {
      expect((await lateReplyScenario(0))[0]).toBe(true);
    });
  });
});
