/**
 * The driver against python3-pymodbus (Debian): a second, independent Modbus implementation whose
 * values are encoded by pymodbus's own payload builder (test/agent/fixtures/pymodbus_lm.py).
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusBus } from '../../../agent/lm/bus.js';
import { parseProfile } from '../../../agent/lm/profile.js';
import { ROOT, start, waitFor } from '../../helpers/processes.js';
import { aDriver, aProfile, freePort, PYMODBUS_PEER } from '../fixtures/lm.js';

function connectable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('the driver with a pymodbus load manager', () => {
  let port: number;
  let server: ReturnType<typeof start>;
  beforeAll(async () => {
    port = await freePort();
    server = start('/usr/bin/python3', [join(ROOT, 'test', 'agent', 'fixtures', 'pymodbus_lm.py'), String(port)]);
    let up = false;
    void (async () => {
      while (!up && server.child.exitCode === null) {
        up = await connectable(port);
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await waitFor(() => up || server.child.exitCode !== null, 15_000, 'pymodbus to listen');
    expect(server.child.exitCode, server.output()).toBeNull();
  });
  afterAll(async () => {
    await server.stop();
  });

  function profile() {
    const base = aProfile(PYMODBUS_PEER);
    return parseProfile({ ...base, connection: { type: 'tcp', host: '127.0.0.1', port, unitId: 1 } }, 'pymodbus');
  }

  it('decodes what pymodbus encoded: float32 low word first, int32 both word orders, scaled uint32', async () => {
    const { driver, close } = aDriver(profile());
    try {
      const reading = await driver.read();
      expect(reading.kw).toBe(12.5);
      expect(reading.channelKw).toEqual([
        { channel: 201, kw: 3.25 },
        { channel: 202, kw: -1.5 },
      ]);
      expect(reading.kwh).toBeCloseTo(123_456.7, 6);
      expect(reading.relays).toEqual([
        { channel: 201, on: true },
        { channel: 202, on: true },
      ]);
      expect(driver.health).toBe('ok');
    } finally {
      await close();
    }
  });

  it('switches a coil relay and a holding-register relay, and reads both back from pymodbus', async () => {
    const { driver, close } = aDriver(profile());
    try {
      const off = await driver.switchRelays([
        { channel: 201, on: false },
        { channel: 202, on: false },
      ]);
      expect(off.error).toBeUndefined();
      expect(off.mismatched).toEqual([]);
      expect(off.reading?.relays).toEqual([
        { channel: 201, on: false },
        { channel: 202, on: false },
      ]);
      const on = await driver.switchRelays([{ channel: 201, on: true }]);
      expect(on.reading?.relays).toEqual([
        { channel: 201, on: true },
        { channel: 202, on: false },
      ]);
    } finally {
      await close();
    }
  });

  it("maps pymodbus's exception reply for an unmapped address to MODBUS_EXCEPTION", async () => {
    const bus = new ModbusBus({ connection: profile().connection, timeoutMs: 1_000 });
    try {
      await expect(bus.request({ fn: 'readHoldingRegisters', address: 500, count: 2 }, { unitId: 1, attempts: 3 })).rejects.toMatchObject({
        code: 'MODBUS_EXCEPTION',
        exceptionCode: 2,
      });
    } finally {
      await bus.close();
    }
  });
});
