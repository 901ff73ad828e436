/**
 * Modbus PDUs (function code + data), the part TCP and RTU share: function codes 1, 2, 3, 4, 5, 6,
 * 15 and 16 with the limits and exception replies of the Modbus Application Protocol V1.1b3 §6.
 * Written by hand for speed: a request is answered without allocating more than its reply.
 */
import { EXCEPTION, type LmModel } from './model.js';

/** Largest PDU (Modbus Application Protocol §4.1: 256-byte RTU frame − address − CRC). */
export const MAX_PDU = 253;

const bitScratch = new Uint8Array(2_000);
const wordScratch = new Uint16Array(125);

export function exceptionPdu(functionCode: number, code: number): Buffer {
  const reply = Buffer.allocUnsafe(2);
  reply[0] = (functionCode | 0x80) & 0xff;
  reply[1] = code;
  return reply;
}

/** The reply PDU for a request PDU, an exception PDU when the request cannot be served. */
export function respond(model: LmModel, pdu: Buffer): Buffer {
  const fc = pdu[0] ?? 0;
  switch (fc) {
    case 1:
    case 2:
      return readBits(model, fc, pdu);
    case 3:
    case 4:
      return readRegisters(model, fc, pdu);
    case 5:
      return writeSingleCoil(model, pdu);
    case 6:
      return writeSingleRegister(model, pdu);
    case 15:
      return writeMultipleCoils(model, pdu);
    case 16:
      return writeMultipleRegisters(model, pdu);
    default:
      return exceptionPdu(fc, EXCEPTION.ILLEGAL_FUNCTION);
  }
}

function readBits(model: LmModel, fc: number, pdu: Buffer): Buffer {
  if (pdu.length !== 5) return exceptionPdu(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
  const start = pdu.readUInt16BE(1);
  const count = pdu.readUInt16BE(3);
  if (count < 1 || count > 2_000) return exceptionPdu(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
  if (start + count > 65_536) return exceptionPdu(fc, EXCEPTION.ILLEGAL_DATA_ADDRESS);
  const bits = bitScratch.subarray(0, count);
  const failure = model.readBits(start, count, bits);
  if (failure !== undefined) return exceptionPdu(fc, failure);
  const bytes = Math.ceil(count / 8);
  const reply = Buffer.alloc(2 + bytes);
  reply[0] = fc;
  reply[1] = bytes;
  for (let i = 0; i < count; i++) if (bits[i]) reply[2 + (i >> 3)] = (reply[2 + (i >> 3)] ?? 0) | (1 << (i & 7));
  return reply;
}

function readRegisters(model: LmModel, fc: number, pdu: Buffer): Buffer {
  if (pdu.length !== 5) return exceptionPdu(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
  const start = pdu.readUInt16BE(1);
  const count = pdu.readUInt16BE(3);
  if (count < 1 || count > 125) return exceptionPdu(fc, EXCEPTION.ILLEGAL_DATA_VALUE);
  if (start + count > 65_536) return exceptionPdu(fc, EXCEPTION.ILLEGAL_DATA_ADDRESS);
  const words = wordScratch.subarray(0, count);
  const failure = model.readRegisters(fc === 3 ? 'holding' : 'input', start, count, words);
  if (failure !== undefined) return exceptionPdu(fc, failure);
  const reply = Buffer.allocUnsafe(2 + 2 * count);
  reply[0] = fc;
  reply[1] = 2 * count;
  for (let i = 0; i < count; i++) reply.writeUInt16BE(words[i] ?? 0, 2 + 2 * i);
  return reply;
}

function writeSingleCoil(model: LmModel, pdu: Buffer): Buffer {
  if (pdu.length !== 5) return exceptionPdu(5, EXCEPTION.ILLEGAL_DATA_VALUE);
  const address = pdu.readUInt16BE(1);
  const value = pdu.readUInt16BE(3);
  if (value !== 0xff00 && value !== 0x0000) return exceptionPdu(5, EXCEPTION.ILLEGAL_DATA_VALUE);
  const failure = model.writeCoils(address, [value === 0xff00 ? 1 : 0]);
  return failure === undefined ? Buffer.from(pdu) : exceptionPdu(5, failure);
}

function writeSingleRegister(model: LmModel, pdu: Buffer): Buffer {
  if (pdu.length !== 5) return exceptionPdu(6, EXCEPTION.ILLEGAL_DATA_VALUE);
  const failure = model.writeRegisters(pdu.readUInt16BE(1), [pdu.readUInt16BE(3)]);
  return failure === undefined ? Buffer.from(pdu) : exceptionPdu(6, failure);
}

function writeMultipleCoils(model: LmModel, pdu: Buffer): Buffer {
  if (pdu.length < 6) return exceptionPdu(15, EXCEPTION.ILLEGAL_DATA_VALUE);
  const start = pdu.readUInt16BE(1);
  const count = pdu.readUInt16BE(3);
  const bytes = pdu[5] ?? 0;
  if (count < 1 || count > 1_968 || bytes !== Math.ceil(count / 8) || pdu.length !== 6 + bytes) return exceptionPdu(15, EXCEPTION.ILLEGAL_DATA_VALUE);
  if (start + count > 65_536) return exceptionPdu(15, EXCEPTION.ILLEGAL_DATA_ADDRESS);
  const values = bitScratch.subarray(0, count);
  for (let i = 0; i < count; i++) values[i] = ((pdu[6 + (i >> 3)] ?? 0) >> (i & 7)) & 1;
  const failure = model.writeCoils(start, values);
  return failure === undefined ? Buffer.from(pdu.subarray(0, 5)) : exceptionPdu(15, failure);
}

function writeMultipleRegisters(model: LmModel, pdu: Buffer): Buffer {
  if (pdu.length < 6) return exceptionPdu(16, EXCEPTION.ILLEGAL_DATA_VALUE);
  const start = pdu.readUInt16BE(1);
  const count = pdu.readUInt16BE(3);
  const bytes = pdu[5] ?? 0;
  if (count < 1 || count > 123 || bytes !== 2 * count || pdu.length !== 6 + bytes) return exceptionPdu(16, EXCEPTION.ILLEGAL_DATA_VALUE);
  if (start + count > 65_536) return exceptionPdu(16, EXCEPTION.ILLEGAL_DATA_ADDRESS);
  const values = wordScratch.subarray(0, count);
  for (let i = 0; i < count; i++) values[i] = pdu.readUInt16BE(6 + 2 * i);
  const failure = model.writeRegisters(start, values);
  return failure === undefined ? Buffer.from(pdu.subarray(0, 5)) : exceptionPdu(16, failure);
}
