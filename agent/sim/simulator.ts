/**
 * `lm-sim`: a load manager on a real socket. Modbus TCP (MBAP framing, many connections, pipelined
 * requests) on `node:net`, and Modbus RTU (CRC-16 framing) on a serial device such as one end of a
 * `socat` pty pair. Both feed the same model and the same fault injection.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { isatty, ReadStream, WriteStream } from 'node:tty';
import { LmgwError } from '../../shared/errors.js';
import { TypedEvents } from '../../shared/typed-events.js';
import type { Channel, Profile } from '../lm/profile.js';
import { crc16 } from './crc16.js';
import { describeFaults, noFaults, type Faults } from './faults.js';
import { EXCEPTION, LmModel, mulberry32 } from './model.js';
import { exceptionPdu, MAX_PDU, respond } from './pdu.js';

export interface SimulatorOptions {
  profile: Readonly<Profile>;
  /** Seeds the loads and the drop fault. Default 1. */
  seed?: number;
  /** Unit id answered; default the profile's. */
  unitId?: number;
  faults?: Faults;
  /** ms clock for the model; default Date.now. */
  now?: () => number;
}

export type SimulatorEvents = {
  relay: [change: { channel: number; name: string; on: boolean }];
  faults: [faults: Faults];
  connection: [info: { remote: string; open: boolean }];
};

type Decision = { kind: 'reply'; pdu: Buffer; delayMs: number; truncate: boolean } | { kind: 'none' } | { kind: 'drop' };

/** RTU: bytes followed by this much silence end a frame whose length the function code does not tell. */
const RTU_SILENCE_MS = 20;

export class LmSimulator {
  readonly model: LmModel;
  readonly events = new TypedEvents<SimulatorEvents>();
  readonly unitId: number;
  /**
   * Requests received (answered or not), TCP connections accepted, and the most requests ever
   * received and not yet answered at one time (a client that keeps one request in flight: 1).
   */
  readonly stats = { requests: 0, connections: 0, maxOutstanding: 0 };
  private outstanding = 0;
  private currentFaults: Faults;
  private readonly random: () => number;
  private readonly servers = new Set<Server>();
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly closers: (() => void)[] = [];

  constructor(options: SimulatorOptions) {
    this.model = new LmModel(options.profile, { seed: options.seed ?? 1, ...(options.now ? { now: options.now } : {}) });
    this.unitId = options.unitId ?? options.profile.connection.unitId;
    this.currentFaults = { ...(options.faults ?? noFaults()) };
    this.random = mulberry32((options.seed ?? 1) ^ 0x5eed);
    this.model.onRelayChange = (channel: Channel, on: boolean) => this.events.emit('relay', { channel: channel.id, name: channel.name, on });
  }

  get faults(): Readonly<Faults> {
    return this.currentFaults;
  }

  /** Replaces the active faults (the runtime control: SIGUSR1 + control file, or tests). */
  setFaults(faults: Faults): void {
    this.currentFaults = { ...faults };
    this.events.emit('faults', this.currentFaults);
  }

  describeFaults(): string {
    return describeFaults(this.currentFaults);
  }

  /** What to do with one request PDU addressed to `unit`. */
  private decide(transport: 'tcp' | 'rtu', unit: number, pdu: Buffer): Decision {
    this.stats.requests++;
    const f = this.currentFaults;
    if (f.silence) return { kind: 'none' };
    if (f.dropRate > 0 && this.random() < f.dropRate) return { kind: 'drop' };
    const broadcast = transport === 'rtu' && unit === 0;
    const mine = unit === this.unitId || (transport === 'tcp' && (unit === 0 || unit === 255));
    if (!mine && !broadcast) {
      // A TCP gateway says the unit behind it did not answer; on a serial line another unit stays silent.
      return transport === 'tcp' ? this.reply(exceptionPdu(pdu[0] ?? 0, EXCEPTION.GATEWAY_TARGET_FAILED)) : { kind: 'none' };
    }
    const reply = f.exception !== undefined ? exceptionPdu(pdu[0] ?? 0, f.exception) : respond(this.model, pdu);
    return broadcast ? { kind: 'none' } : this.reply(reply);
  }

  private reply(pdu: Buffer): Decision {
    return { kind: 'reply', pdu, delayMs: this.currentFaults.slowMs, truncate: this.currentFaults.truncate };
  }

  private received(): void {
    this.outstanding++;
    if (this.outstanding > this.stats.maxOutstanding) this.stats.maxOutstanding = this.outstanding;
  }

  private answered(count: number): void {
    this.outstanding -= count;
  }

  private later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  // --- Modbus TCP -----------------------------------------------------------------------------------

  /** Listens for Modbus TCP; resolves with the bound address (port 0 picks a free one). */
  async listenTcp(port: number, host = '127.0.0.1'): Promise<{ host: string; port: number }> {
    const server = createServer({ noDelay: true }, (socket) => this.serveTcp(socket));
    this.servers.add(server);
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolveListen();
      });
    });
    const address = server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  private serveTcp(socket: Socket): void {
    this.stats.connections++;
    this.sockets.add(socket);
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.events.emit('connection', { remote, open: true });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.events.emit('connection', { remote, open: false });
    });
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      const out: Buffer[] = [];
      let offset = 0;
      while (buf.length - offset >= 8) {
        const protocol = buf.readUInt16BE(offset + 2);
        const length = buf.readUInt16BE(offset + 4);
        if (protocol !== 0 || length < 2 || length > MAX_PDU + 1) {
          // Not Modbus TCP: a real device drops such a peer rather than guess where the next frame starts.
          socket.destroy();
          return;
        }
        if (buf.length - offset < 6 + length) break;
        const tid = buf.readUInt16BE(offset);
        const unit = buf[offset + 6] ?? 0;
        const pdu = buf.subarray(offset + 7, offset + 6 + length);
        offset += 6 + length;
        const decision = this.decide('tcp', unit, pdu);
        if (decision.kind === 'drop') {
          this.answered(out.length);
          if (out.length > 0) socket.write(Buffer.concat(out));
          socket.destroy();
          return;
        }
        if (decision.kind === 'none') continue;
        this.received();
        const frame = mbapFrame(tid, unit, decision.truncate && decision.pdu.length > 1 ? decision.pdu.subarray(0, decision.pdu.length - 1) : decision.pdu);
        if (decision.delayMs > 0) {
          this.later(() => {
            this.answered(1);
            if (!socket.destroyed) socket.write(frame);
          }, decision.delayMs);
        } else {
          out.push(frame);
        }
      }
      if (offset < buf.length) pending = Buffer.from(buf.subarray(offset));
      this.answered(out.length);
      if (out.length === 1) socket.write(out[0] as Buffer);
      else if (out.length > 1) socket.write(Buffer.concat(out));
    });
  }

  // --- Modbus RTU -----------------------------------------------------------------------------------

  /**
   * Serves Modbus RTU on a serial device (a tty: a pty from socat, or a real port whose speed was
   * set with stty). Frames are found by their function code's length and the CRC; anything else is
   * discarded after a short silence, as a real device resynchronises on the inter-frame gap.
   */
  openRtu(path: string): void {
    let readFd: number;
    try {
      readFd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
    } catch (err) {
      throw new LmgwError('CLI_USAGE', `cannot open the serial device ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!isatty(readFd)) {
      closeSync(readFd);
      throw new LmgwError('CLI_USAGE', `${path} is not a serial device (tty)`);
    }
    const writeFd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
    const input = new ReadStream(readFd);
    input.setRawMode(true);
    const output = new WriteStream(writeFd);
    let buf: Buffer = Buffer.alloc(0);
    let silence: NodeJS.Timeout | undefined;

    const handleFrame = (frame: Buffer): void => {
      const decision = this.decide('rtu', frame[0] ?? 0, frame.subarray(1, frame.length - 2));
      if (decision.kind !== 'reply') return;
      this.received();
      let reply = rtuFrame(frame[0] ?? 0, decision.pdu);
      if (decision.truncate) reply = reply.subarray(0, reply.length - 1);
      const send = (): void => {
        this.answered(1);
        output.write(reply);
      };
      if (decision.delayMs > 0) this.later(send, decision.delayMs);
      else send();
    };

    const parse = (): void => {
      while (buf.length >= 4) {
        const length = rtuRequestLength(buf);
        if (length === undefined || buf.length < length) return;
        if (crc16(buf, 0, length - 2) === buf.readUInt16LE(length - 2)) {
          handleFrame(buf.subarray(0, length));
          buf = buf.subarray(length);
        } else {
          // Out of step or noise: slide one byte and look for a frame again.
          buf = buf.subarray(1);
        }
      }
    };

    input.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length > 512) buf = buf.subarray(buf.length - 256);
      parse();
      if (silence) clearTimeout(silence);
      if (buf.length > 0) {
        silence = setTimeout(() => {
          silence = undefined;
          // An unknown function code: the frame is everything up to the silence, if its CRC holds.
          if (buf.length >= 4 && crc16(buf, 0, buf.length - 2) === buf.readUInt16LE(buf.length - 2)) handleFrame(buf);
          buf = Buffer.alloc(0);
        }, RTU_SILENCE_MS);
      }
    });
    input.on('error', () => undefined);
    output.on('error', () => undefined);
    this.closers.push(() => {
      if (silence) clearTimeout(silence);
      input.destroy();
      output.destroy();
    });
  }

  /** Stops listening, drops every connection and closes the serial device. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    for (const close of this.closers.splice(0)) close();
    await Promise.all([...this.servers].map((server) => new Promise<void>((r) => server.close(() => r()))));
    this.servers.clear();
  }
}

function mbapFrame(tid: number, unit: number, pdu: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(7 + pdu.length);
  frame.writeUInt16BE(tid, 0);
  frame.writeUInt16BE(0, 2);
  frame.writeUInt16BE(pdu.length + 1, 4);
  frame[6] = unit;
  pdu.copy(frame, 7);
  return frame;
}

function rtuFrame(unit: number, pdu: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(pdu.length + 3);
  frame[0] = unit;
  pdu.copy(frame, 1);
  frame.writeUInt16LE(crc16(frame, 0, pdu.length + 1), pdu.length + 1);
  return frame;
}

/** Length of the RTU request at the start of `buf`, or undefined while it cannot be told (yet). */
function rtuRequestLength(buf: Buffer): number | undefined {
  switch (buf[1] ?? 0) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
      return 8;
    case 15:
    case 16:
      return buf.length >= 7 ? 9 + (buf[6] ?? 0) : undefined;
    default:
      return undefined;
  }
}
