import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMeasurement, decodeRaw, encodeMeasurement, encodeRaw } from '../../../agent/lm/registers.js';

describe('register encodings', () => {
  it('matches known vectors (Modbus words are big-endian; wordOrder swaps the two words)', () => {
    expect(encodeRaw(1.5, 'float32', 'big')).toEqual([0x3fc0, 0x0000]);
    expect(encodeRaw(1.5, 'float32', 'little')).toEqual([0x0000, 0x3fc0]);
    expect(encodeRaw(-2, 'int16', 'big')).toEqual([0xfffe]);
    expect(encodeRaw(0x12345678, 'uint32', 'big')).toEqual([0x1234, 0x5678]);
    expect(encodeRaw(0x12345678, 'uint32', 'little')).toEqual([0x5678, 0x1234]);
    expect(encodeRaw(-1, 'int32', 'big')).toEqual([0xffff, 0xffff]);
    expect(decodeRaw([0xfffe], 'int16', 'big')).toBe(-2);
    expect(decodeRaw([0xfffe], 'uint16', 'big')).toBe(65_534);
    expect(decodeRaw([0xc2f6, 0xe979], 'float32', 'big')).toBeCloseTo(-123.456, 3);
    expect(decodeRaw([0x0000, 0x8000], 'int32', 'little')).toBe(-2_147_483_648);
  });

  it('applies the scale: physical = raw × scale', () => {
    expect(encodeMeasurement(12.34, { type: 'int16', wordOrder: 'big', scale: 0.01 })).toEqual([1234]);
    expect(decodeMeasurement([1234], { type: 'int16', wordOrder: 'big', scale: 0.01 })).toBeCloseTo(12.34, 9);
    expect(decodeMeasurement([0xffff], { type: 'int16', wordOrder: 'big', scale: 0.1 })).toBeCloseTo(-0.1, 9);
  });

  it('clamps integers to their range instead of wrapping', () => {
    expect(encodeRaw(40_000, 'int16', 'big')).toEqual([0x7fff]);
    expect(encodeRaw(-5, 'uint16', 'big')).toEqual([0]);
  });

  it('round-trips every integer of each type in both word orders (property)', () => {
    const cases = [
      ['int16', fc.integer({ min: -0x8000, max: 0x7fff })],
      ['uint16', fc.integer({ min: 0, max: 0xffff })],
      ['int32', fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff })],
      ['uint32', fc.integer({ min: 0, max: 0xffff_ffff })],
    ] as const;
    for (const [type, arbitrary] of cases) {
      fc.assert(
        fc.property(arbitrary, fc.constantFrom('big' as const, 'little' as const), (value, order) => {
          const words = encodeRaw(value, type, order);
          expect(words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff)).toBe(true);
          expect(decodeRaw(words, type, order)).toBe(value);
        }),
      );
    }
  });

  it('round-trips float32 to float32 precision (property)', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom('big' as const, 'little' as const), (value, order) => {
        expect(decodeRaw(encodeRaw(value, 'float32', order), 'float32', order)).toBe(Math.fround(value));
      }),
    );
  });
});
