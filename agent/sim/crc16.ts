/** The Modbus RTU CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF; Modbus over serial line V1.02 §6.2.2), table-driven. */
const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i;
  for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  TABLE[i] = crc;
}

/** CRC of bytes [start, end) of `data`; sent low byte first. */
export function crc16(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ (TABLE[(crc ^ (data[i] ?? 0)) & 0xff] ?? 0);
  return crc;
}
