/**
 * lm-sim's Modbus framing and function codes, through a raw socket (bytes as the spec writes them),
 * so nothing here depends on our own client.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc16 } from '../../../agent/sim/crc16.js';
import { aSim, type RunningSim } from '../fixtures/lm.js';

/** One MBAP request and its reply (tid 0x1234), or undefined when the socket closes instead. */
class RawClient {
  private buffered = Buffer.alloc(0);
  private waiters: ((frame: Buffer | undefined) => void)[] = [];
  constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      while (this.buffered.length >= 7 && this.buffered.length >= 6 + this.buffered.readUInt16BE(4)) {
        const length = 6 + this.buffered.readUInt16BE(4);
        const frame = this.buffered.subarray(0, length);
        this.buffered = this.buffered.subarray(length);
        this.waiters.shift()?.(frame);
      }
    });
    socket.on('close', () => {
      for (const w of this.waiters.splice(0)) w(undefined);
    });
  }
  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }
  /** Sends `pdu` to `unit`; resolves with the reply PDU (after checking the MBAP header). */
  async request(pdu: number[], unit = 1): Promise<number[] | undefined> {
    const frame = Buffer.alloc(7 + pdu.length);
    frame.writeUInt16BE(0x1234, 0);
    frame.writeUInt16BE(0, 2);
    frame.writeUInt16BE(pdu.length + 1, 4);
    frame[6] = unit;
    Buffer.from(pdu).copy(frame, 7);
    const reply = new Promise<Buffer | undefined>((resolve) => this.waiters.push(resolve));
    this.socket.write(frame);
    const got = await reply;
    if (!got) return undefined;
    expect(got.readUInt16BE(0)).toBe(0x1234);
    expect(got.readUInt16BE(2)).toBe(0);
    expect(got[6]).toBe(unit);
    return [...got.subarray(7)];
  }
  close(): void {
    this.socket.destroy();
  }
}

describe('lm-sim Modbus TCP function codes', () => {
  let running: RunningSim;
  let client: RawClient;
  beforeAll(async () => {
    running = await aSim();
    client = await RawClient.open(running.port);
  });
  afterAll(async () => {
    client.close();
    await running.close();
  });

  it('FC 1 and 2 read the relay coils (LSB first), FC 5 switches one', async () => {
    expect(await client.request([1, 0, 0, 0, 4])).toEqual([1, 1, 0b1111]);
    expect(await client.request([5, 0, 1, 0x00, 0x00])).toEqual([5, 0, 1, 0x00, 0x00]);
    expect(await client.request([1, 0, 0, 0, 4])).toEqual([1, 1, 0b1101]);
    expect(await client.request([2, 0, 0, 0, 4])).toEqual([2, 1, 0b1101]);
    expect(running.sim.model.relays().find((r) => r.channel === 2)?.on).toBe(false);
    expect(await client.request([5, 0, 1, 0xff, 0x00])).toEqual([5, 0, 1, 0xff, 0x00]);
  });

  it('FC 15 writes several coils at once; FC 4 reads the float32 measurements', async () => {
    expect(await client.request([15, 0, 2, 0, 2, 1, 0b10])).toEqual([15, 0, 2, 0, 2]);
    expect(running.sim.model.relays().map((r) => r.on)).toEqual([true, true, false, true]);
    const reply = await client.request([4, 0, 0, 0, 12]);
    expect(reply?.slice(0, 2)).toEqual([4, 24]);
    const words = Buffer.from(reply?.slice(2) ?? []);
    const total = words.readFloatBE(0);
    const channel3 = words.readFloatBE(12); // register 6
    expect(total).toBeGreaterThan(0);
    expect(channel3).toBe(0);
    expect(total).toBeCloseTo(running.sim.model.totalKw(), 0);
    await client.request([15, 0, 0, 0, 4, 1, 0b1111]);
  });

  it('answers with exception codes: 1 unknown function, 2 unmapped address, 3 bad value or quantity', async () => {
    expect(await client.request([8, 0, 0, 0, 0])).toEqual([0x88, 1]);
    expect(await client.request([1, 0, 3, 0, 2])).toEqual([0x81, 2]);
    expect(await client.request([3, 0, 0, 0, 1])).toEqual([0x83, 2]);
    expect(await client.request([4, 0, 0, 0, 126])).toEqual([0x84, 3]);
    expect(await client.request([5, 0, 0, 0x12, 0x34])).toEqual([0x85, 3]);
    expect(await client.request([6, 0, 0, 0, 1])).toEqual([0x86, 2]);
    expect(await client.request([16, 0, 0, 0, 2, 3, 0, 0, 0])).toEqual([0x90, 3]);
    expect(await client.request([4, 0xff, 0xff, 0, 2])).toEqual([0x84, 2]);
  });

  it('answers another unit id as a gateway whose target failed (exception 11)', async () => {
    expect(await client.request([1, 0, 0, 0, 1], 9)).toEqual([0x81, 11]);
  });

  it('answers pipelined requests in order', async () => {
    const replies = await Promise.all([client.request([1, 0, 0, 0, 1]), client.request([4, 0, 0, 0, 2]), client.request([1, 0, 3, 0, 1])]);
    expect(replies.map((r) => r?.[0])).toEqual([1, 4, 1]);
  });

  it('drops a peer that does not speak Modbus TCP (protocol id ≠ 0)', async () => {
    const other = await RawClient.open(running.port);
    const closed = new Promise<void>((resolve) => (other as unknown as { socket: Socket }).socket.once('close', () => resolve()));
    (other as unknown as { socket: Socket }).socket.write(Buffer.from([0, 1, 0, 7, 0, 6, 1, 3, 0, 0, 0, 1]));
    await closed;
  });
});

describe('lm-sim holding-register relays (the 16-channel example)', () => {
  it('accepts only the on/off values and keeps measurements read-only', async () => {
    const { aProfile, LM16 } = await import('../fixtures/lm.js');
    const running = await aSim(aProfile(LM16));
    const client = await RawClient.open(running.port);
    try {
      // channel 102: holding 101, on = 0, off = 1
      expect(await client.request([6, 0, 101, 0, 1], 7)).toEqual([6, 0, 101, 0, 1]);
      expect(running.sim.model.relays().find((r) => r.channel === 102)?.on).toBe(false);
      expect(await client.request([6, 0, 101, 0, 2], 7)).toEqual([0x86, 3]);
      expect(await client.request([6, 0, 0, 0, 1], 7)).toEqual([0x86, 2]);
      const total = await client.request([3, 0, 0, 0, 1], 7);
      expect(Buffer.from(total?.slice(2) ?? []).readInt16BE(0) / 100).toBeCloseTo(running.sim.model.totalKw(), 1);
    } finally {
      client.close();
      await running.close();
    }
  });
});

describe('the RTU CRC', () => {
  it('matches the Modbus specification example (read 2 holding registers of unit 1 at 0 → CRC C40B)', () => {
    const frame = Buffer.from([0x01, 0x03, 0x00, 0x00, 0x00, 0x02]);
    expect(crc16(frame)).toBe(0x0bc4);
  });
});
