/**
 * The LM driver against lm-sim on a real socket: decoding, write-then-read-back, health, faults,
 * one request in flight, and the late-reply guard.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ModbusBus } from '../../../agent/lm/bus.js';
import type { HealthChange } from '../../../agent/lm/driver.js';
import { LmgwError } from '../../../shared/errors.js';
import { noFaults } from '../../../agent/sim/faults.js';
import { aDriver, aFastProfile, aProfile, aSim, LM16 } from '../fixtures/lm.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(profile = aFastProfile(), faults = {}, random?: () => number) {
  const running = await aSim(profile, { faults });
  cleanups.push(running.close);
  const d = aDriver(running.profile, 'lm1', random);
  cleanups.push(d.close);
  const health: HealthChange[] = [];
  d.driver.events.on('health', (h) => health.push(h));
  return { ...running, ...d, health };
}

async function failure(promise: Promise<unknown>): Promise<LmgwError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(LmgwError);
    return err as LmgwError;
  }
  throw new Error('expected a failure');
}

describe('LmDriver', () => {
  it('reads relays and float32 measurements as the device holds them', async () => {
    const { driver, sim } = await setup();
    sim.model.setRelay(3, false);
    const reading = await driver.read();
    expect(reading.relays).toEqual([
      { channel: 1, on: true },
      { channel: 2, on: true },
      { channel: 3, on: false },
      { channel: 4, on: true },
    ]);
    expect(reading.kw).toBeCloseTo(sim.model.totalKw(), 1);
    expect(reading.channelKw?.find((c) => c.channel === 3)?.kw).toBe(0);
    expect(reading.channelKw?.find((c) => c.channel === 1)?.kw).toBeCloseTo(sim.model.channelKw(1), 1);
    expect(reading.kwh).toBeCloseTo(sim.model.energy(), 0);
    expect(driver.health).toBe('ok');
  });

  it('reads scaled int16 measurements and inverted holding-register relays (the 16-channel LM)', async () => {
    const { driver, sim } = await setup(aProfile(LM16, { driver: { timeoutMs: 300, retries: 1 } }));
    sim.model.setRelay(105, false);
    const reading = await driver.read();
    expect(reading.relays.filter((r) => !r.on)).toEqual([{ channel: 105, on: false }]);
    expect(reading.kw).toBeCloseTo(sim.model.totalKw(), 1);
    expect(reading.channelKw?.find((c) => c.channel === 105)?.kw).toBe(0);
  });

  it('switches a relay by writing it and reading it back', async () => {
    const { driver, sim } = await setup(aProfile(LM16, { driver: { timeoutMs: 300, retries: 1 } }));
    const before = sim.stats.requests;
    const outcome = await driver.switchRelays([{ channel: 102, on: false }]);
    expect(outcome.error).toBeUndefined();
    expect(outcome.mismatched).toEqual([]);
    expect(outcome.reading?.relays.find((r) => r.channel === 102)).toEqual({ channel: 102, on: false });
    expect(sim.model.relays().find((r) => r.channel === 102)?.on).toBe(false);
    // one write, then the full read-back (3 blocks: measurements 0–16, energy 20–21, relays 100–115)
    expect(sim.stats.requests - before).toBe(4);
  });

  it('reports an exception reply as MODBUS_EXCEPTION without retrying, and turns degraded', async () => {
    const { driver, sim, health } = await setup();
    await driver.read();
    sim.setFaults({ ...noFaults(), exception: 4 });
    const before = sim.stats.requests;
    const err = await failure(driver.read());
    expect(err.code).toBe('MODBUS_EXCEPTION');
    expect(err.message).toMatch(/exception 4/);
    expect(sim.stats.requests - before).toBe(1);
    expect(driver.health).toBe('degraded');
    sim.setFaults(noFaults());
    await driver.read();
    // The first contact is no event (the hello reports the health); the changes after it are.
    expect(health.map((h) => h.to)).toEqual(['degraded', 'ok']);
  });

  it('reports a truncated reply as MODBUS_BAD_FRAME after every attempt', async () => {
    const { driver, sim } = await setup(aFastProfile(), { truncate: true });
    const before = sim.stats.requests;
    const err = await failure(driver.read());
    expect(err.code).toBe('MODBUS_BAD_FRAME');
    expect(sim.stats.requests - before).toBe(2); // retries: 1
    expect(driver.health).toBe('degraded');
  });

  it('fails at once, not after the timeout, when the device drops the connection', async () => {
    const { driver } = await setup(aFastProfile({ driver: { timeoutMs: 2_000, retries: 1 } }), { dropRate: 1 });
    const started = Date.now();
    const err = await failure(driver.read());
    expect(err.code).toBe('MODBUS_CONNECT_FAILED');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(driver.health).toBe('offline');
  });

  it('detects a silent device within timeout × (retries + 1) and recovers when it answers again', async () => {
    // The back-off's jitter at the top of its window (99 ms after the first failure, not anywhere in
    // 0–100 ms): with Math.random a back-off of a few ms let the next read probe the bus
    // (MODBUS_TIMEOUT instead of MODBUS_OFFLINE), as a loaded CI machine showed.
    const { driver, sim, health, profile } = await setup(aFastProfile(), {}, () => 0.99);
    await driver.read();
    sim.setFaults({ ...noFaults(), silence: true });
    const started = Date.now();
    const err = await failure(driver.read());
    const took = Date.now() - started;
    expect(err.code).toBe('MODBUS_TIMEOUT');
    expect(took).toBeGreaterThanOrEqual(profile.driver.timeoutMs * (profile.driver.retries + 1) - 20);
    expect(took).toBeLessThan(profile.driver.timeoutMs * (profile.driver.retries + 1) + 250);
    expect(driver.health).toBe('offline');
    expect(health.at(-1)).toMatchObject({ device: 'lm1', from: 'ok', to: 'offline' });
    expect(health.at(-1)?.error?.code).toBe('MODBUS_TIMEOUT');

    // While offline, sampling does not touch the bus until the back-off allows a probe.
    const quiet = await failure(driver.read());
    expect(quiet.code).toBe('MODBUS_OFFLINE');
    sim.setFaults(noFaults());
    const recovered = Date.now();
    for (;;) {
      try {
        await driver.read();
        break;
      } catch (e) {
        expect((e as LmgwError).code).toBe('MODBUS_OFFLINE');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(Date.now() - recovered).toBeLessThan(profile.driver.backoffCapMs + 500);
    expect(driver.health).toBe('ok');
  });

  it('commands try an offline device at once, with every attempt', async () => {
    const { driver, sim } = await setup();
    sim.setFaults({ ...noFaults(), silence: true });
    await failure(driver.read());
    sim.setFaults(noFaults());
    const outcome = await driver.switchRelays([{ channel: 1, on: false }]);
    expect(outcome.error).toBeUndefined();
    expect(driver.health).toBe('ok');
  });

  it('keeps one request in flight per bus, commands first', async () => {
    const { driver, sim } = await setup(aFastProfile(), { slowMs: 20 });
    sim.setFaults({ ...noFaults(), slowMs: 20 });
    const reads = Array.from({ length: 6 }, () => driver.read());
    const command = driver.switchRelays([{ channel: 2, on: false }]);
    const order: string[] = [];
    await Promise.all([...reads.map((r) => r.then(() => order.push('read'))), command.then(() => order.push('command'))]);
    expect(sim.stats.maxOutstanding).toBe(1);
    // The command was queued last but overtook the reads still waiting (only the first had started).
    expect(order.indexOf('command')).toBeLessThanOrEqual(1);
  });

  it('a dead device does not slow a device on another bus', async () => {
    const dead = await setup(aFastProfile({ driver: { timeoutMs: 600, retries: 1 } }), { silence: true });
    dead.sim.setFaults({ ...noFaults(), silence: true });
    const alive = await setup();
    const deadRead = dead.driver.read().catch((e: unknown) => e);
    const started = Date.now();
    for (let i = 0; i < 5; i++) await alive.driver.read();
    expect(Date.now() - started).toBeLessThan(500);
    expect(((await deadRead) as LmgwError).code).toBe('MODBUS_TIMEOUT');
  });

  it('drops a TCP connection after a timeout, so a late reply can only arrive on the dead socket', async () => {
    const { sim, profile } = await setup();
    const bus = new ModbusBus({ connection: profile.connection, timeoutMs: 200 });
    cleanups.push(() => bus.close());
    await bus.request({ fn: 'readCoils', address: 0, count: 4 }, { unitId: 1, attempts: 1 });
    expect(bus.connects).toBe(1);
    sim.setFaults({ ...noFaults(), slowMs: 350 });
    await expect(bus.request({ fn: 'readCoils', address: 0, count: 4 }, { unitId: 1, attempts: 1 })).rejects.toMatchObject({ code: 'MODBUS_TIMEOUT' });
    sim.setFaults(noFaults());
    sim.model.setRelay(1, false);
    const fresh = await bus.request({ fn: 'readCoils', address: 0, count: 4 }, { unitId: 1, attempts: 1 });
    expect(fresh.value).toEqual({ bits: [false, true, true, true] });
    expect(bus.connects).toBe(2);
    // The late reply (relay 1 still on) arrives after 350 ms on the old socket and must change nothing.
    await new Promise((r) => setTimeout(r, 250));
    const again = await bus.request({ fn: 'readCoils', address: 0, count: 4 }, { unitId: 1, attempts: 1 });
    expect(again.value).toEqual({ bits: [false, true, true, true] });
  });
});
