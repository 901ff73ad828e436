import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDevices, loadProfile, parseProfile, ProfileSchema } from '../../../agent/lm/profile.js';
import { LmgwError } from '../../../shared/errors.js';
import { tempDir } from '../../helpers/processes.js';
import { LM16, LM4, PYMODBUS_PEER } from '../fixtures/lm.js';

/** The raw JSON of the 4-channel example, to break one field at a time. */
function raw(): Record<string, unknown> & { channels: Record<string, unknown>[]; measurements: Record<string, unknown> } {
  return JSON.parse(JSON.stringify(loadProfile(LM4))) as ReturnType<typeof raw>;
}

function problem(value: unknown): string {
  try {
    parseProfile(value, 'p.json');
  } catch (err) {
    expect(err).toBeInstanceOf(LmgwError);
    expect((err as LmgwError).code).toBe('CONFIG_INVALID');
    return (err as Error).message;
  }
  throw new Error('the profile was accepted');
}

describe('device profiles', () => {
  it('ships a 4-channel float32, a 16-channel scaled int16 and the pymodbus peer example, all valid', () => {
    const lm4 = loadProfile(LM4);
    expect(lm4.channels).toHaveLength(4);
    expect(lm4.measurements.totalKw.type).toBe('float32');
    const lm16 = loadProfile(LM16);
    expect(lm16.channels).toHaveLength(16);
    expect(lm16.measurements.totalKw).toMatchObject({ type: 'int16', scale: 0.01 });
    expect(lm16.connection.type).toBe('rtu');
    expect(loadProfile(PYMODBUS_PEER).channels.map((c) => c.relay.type)).toEqual(['coil', 'holding']);
  });

  it('fills the defaults and derives the other relay value', () => {
    const p = raw();
    p.connection = { type: 'rtu', path: '/dev/ttyUSB0' };
    p.driver = undefined;
    p.channels = [{ id: 1, name: 'A', relay: { type: 'coil', address: 0, on: 0 }, priority: 1, sheddable: true, ratedKw: 1 }];
    p.measurements = { totalKw: { register: 0, type: 'int16' } };
    const profile = parseProfile(p, 'p.json');
    expect(profile.connection).toEqual({ type: 'rtu', path: '/dev/ttyUSB0', baudRate: 19_200, parity: 'even', stopBits: 1, dataBits: 8, unitId: 1 });
    expect(profile.driver).toMatchObject({ timeoutMs: 1_000, retries: 2 });
    expect(profile.channels[0]?.relay).toEqual({ type: 'coil', address: 0, on: 0, off: 1 });
    expect(profile.channels[0]).toMatchObject({ minOnSeconds: 0, minOffSeconds: 0 });
    expect(profile.measurements.totalKw).toEqual({ function: 'input', register: 0, type: 'int16', wordOrder: 'big', scale: 1 });
  });

  it('names the field and the problem of a bad profile', () => {
    const cases: [(p: ReturnType<typeof raw>) => void, RegExp][] = [
      [(p) => ((p.channels[2] as { relay: { address: number } }).relay.address = 70_000), /channels\.2\.relay\.address: must be at most 65535/],
      [(p) => (p.channels[1] = { ...p.channels[1], id: 1 }), /channels\.1\.id: repeats the id 1 of channels\.0/],
      [(p) => (p.channels[0] = { ...p.channels[0], relay: { type: 'coil', address: 1 } }), /coil 1 is already used by channels\.0\.relay/],
      [(p) => (p.channels[0] = { ...p.channels[0], relay: { type: 'holding', address: 5 } }), /channels\.0\.relay\.on: is required for a holding register relay/],
      [(p) => (p.channels[0] = { ...p.channels[0], relay: { type: 'coil', address: 9, on: 2 } }), /channels\.0\.relay\.on: must be 0 or 1 for a coil/],
      [(p) => (p.channels[0] = { ...p.channels[0], relay: { type: 'holding', address: 9, on: 3, off: 3 } }), /channels\.0\.relay\.off: on and off must differ/],
      [(p) => (p.channels[0] = { ...p.channels[0], minOffSeconds: 600, maxOffSeconds: 60 }), /channels\.0\.maxOffSeconds: must be at least minOffSeconds/],
      [(p) => (p.channels[0] = { ...p.channels[0], priority: 0 }), /channels\.0\.priority: must be at least 1/],
      [(p) => (p.channels[0] = { ...p.channels[0], colour: 'red' }), /channels\.0: unknown field "colour"/],
      [(p) => (p.measurements.totalKw = { function: 'input', register: 3, type: 'float32' }), /measurements\.channelKw\.0\.register: input 3 is already used by measurements\.totalKw/],
      [(p) => (p.measurements.totalKw = { register: 0, type: 'int64' }), /measurements\.totalKw\.type: must be "int16"/],
      [(p) => (p.measurements.totalKw = { register: 0, type: 'int16', scale: 0 }), /measurements\.totalKw\.scale: must be a non-zero finite number/],
      [(p) => ((p.measurements.channelKw as { channel: number }[])[0] = { channel: 9, register: 40, type: 'int16' } as never), /measurements\.channelKw\.0\.channel: names no channel of this profile \(9\)/],
      [(p) => (p.connection = { type: 'modbus+udp', host: 'x' }), /connection\.type: must be \{ type: "tcp", … \} or \{ type: "rtu", … \}/],
      [(p) => (p.connection = { type: 'rtu', path: '/dev/ttyS0', unitId: 0 }), /connection\.unitId: must be at least 1/],
      [(p) => (p.driver = { timeoutMs: 10 }), /driver\.timeoutMs: must be at least 50/],
      [(p) => (p.channels = []), /channels: must list at least one channel/],
    ];
    for (const [breakIt, expected] of cases) {
      const p = raw();
      breakIt(p);
      expect(problem(p)).toMatch(/^p\.json: /);
      expect(problem(p)).toMatch(expected);
    }
  });

  it('the schema accepts what it produces (parsing twice changes nothing)', () => {
    const once = loadProfile(LM16);
    expect(ProfileSchema.parse(JSON.parse(JSON.stringify(once)))).toEqual(once);
  });

  describe('loadDevices', () => {
    let cleanup = (): void => undefined;
    afterEach(() => cleanup());

    function dir(): string {
      const t = tempDir();
      cleanup = t.cleanup;
      mkdirSync(join(t.dir, 'profiles'));
      writeFileSync(join(t.dir, 'profiles', 'a.json'), JSON.stringify(loadProfile(LM4)));
      return t.dir;
    }

    it('loads profiles relative to the config and applies the site connection and driver overrides', () => {
      const base = dir();
      const [device] = loadDevices([{ id: 'lm1', profile: 'profiles/a.json', connection: { type: 'tcp', host: '10.0.0.7', port: 502, unitId: 3 }, driver: { timeoutMs: 400 } }], base);
      expect(device?.profile.connection).toEqual({ type: 'tcp', host: '10.0.0.7', port: 502, unitId: 3 });
      expect(device?.profile.driver.timeoutMs).toBe(400);
      expect(device?.profile.driver.retries).toBe(2);
    });

    it('refuses a channel id used by two devices, and a repeated device id', () => {
      const base = dir();
      expect(() => loadDevices([{ id: 'a', profile: 'profiles/a.json' }, { id: 'b', profile: 'profiles/a.json' }], base)).toThrow(/devices\.1: channel id 1 is already used by device "a"/);
      expect(() => loadDevices([{ id: 'a', profile: LM4 }, { id: 'a', profile: LM16 }], base)).toThrow(/devices\.1\.id: repeats the device id "a"/);
    });

    it('names a missing profile file', () => {
      expect(() => loadDevices([{ id: 'a', profile: 'nope.json' }], dir())).toThrow(/^devices\.0\.profile: cannot read the device profile .*nope\.json: ENOENT/);
    });
  });
});
