/**
 * Measurement values in Modbus registers: 16-bit words, each big-endian on the wire (Modbus
 * Application Protocol V1.1b3 §4.2); 32-bit values span two words in the profile's word order.
 * Physical value = raw × scale. The driver decodes with these, `lm-sim` encodes with them.
 */
import type { Measurement, ValueType } from './profile.js';

const scratch = new DataView(new ArrayBuffer(4));

/** The raw number held by `words` (16-bit unsigned values, high word first or last per wordOrder). */
export function decodeRaw(words: readonly number[], type: ValueType, wordOrder: 'big' | 'little'): number {
  const first = words[0] ?? 0;
  const second = words[1] ?? 0;
  const [high, low] = wordOrder === 'big' ? [first, second] : [second, first];
  scratch.setUint16(0, high);
  scratch.setUint16(2, low);
  switch (type) {
    case 'int16':
      scratch.setUint16(0, first);
      return scratch.getInt16(0);
    case 'uint16':
      return first & 0xffff;
    case 'int32':
      return scratch.getInt32(0);
    case 'uint32':
      return scratch.getUint32(0);
    case 'float32':
      return scratch.getFloat32(0);
  }
}

/** The words that hold `raw` (rounded and clamped to the type's range for integers). */
export function encodeRaw(raw: number, type: ValueType, wordOrder: 'big' | 'little'): number[] {
  switch (type) {
    case 'int16':
      scratch.setInt16(0, clampInt(raw, -0x8000, 0x7fff));
      return [scratch.getUint16(0)];
    case 'uint16':
      return [clampInt(raw, 0, 0xffff)];
    case 'int32':
      scratch.setInt32(0, clampInt(raw, -0x8000_0000, 0x7fff_ffff));
      break;
    case 'uint32':
      scratch.setUint32(0, clampInt(raw, 0, 0xffff_ffff));
      break;
    case 'float32':
      scratch.setFloat32(0, raw);
      break;
  }
  const high = scratch.getUint16(0);
  const low = scratch.getUint16(2);
  return wordOrder === 'big' ? [high, low] : [low, high];
}

function clampInt(value: number, min: number, max: number): number {
  if (Number.isNaN(value)) return 0;
  return Math.min(max, Math.max(min, Math.round(value)));
}

/** Physical value of a measurement; NaN or ±Infinity for a float32 register holding one. */
export function decodeMeasurement(words: readonly number[], m: Pick<Measurement, 'type' | 'wordOrder' | 'scale'>): number {
  return decodeRaw(words, m.type, m.wordOrder) * m.scale;
}

/** Registers holding a physical value (inverse of decodeMeasurement). */
export function encodeMeasurement(value: number, m: Pick<Measurement, 'type' | 'wordOrder' | 'scale'>): number[] {
  return encodeRaw(value / m.scale, m.type, m.wordOrder);
}
