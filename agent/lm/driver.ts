/**
 * The driver of one load manager: the profile's operations over a ModbusBus — read the relays and
 * the measurements, switch relays (always write, then read back) — and the device's health.
 *
 * Health, judged per operation (a sample or a command), not per request:
 *   ok        every request answered at the first attempt;
 *   degraded  answered, but only after retries, or with an exception reply, a broken frame or an
 *             impossible value;
 *   offline   a request got no answer after every attempt (timeout, connection refused or lost).
 * A change emits `health`. While offline, sampling probes the device with single attempts spaced by
 * full-jitter back-off, so a dead device costs its bus little; commands always get every attempt.
 */
import type { Logger } from 'pino';
import { pino } from 'pino';
import { backoffDelay, type BackoffPolicy } from '../../shared/backoff.js';
import { LmgwError } from '../../shared/errors.js';
import { LIMITS, type ChannelPower, type Health, type RelayState } from '../../shared/protocol/index.js';
import { TypedEvents } from '../../shared/typed-events.js';
import { ModbusError, type BusReply, type BusRequest, type ModbusBus } from './bus.js';
import { type Channel, type Measurement, type Profile, wordsOf } from './profile.js';
import { decodeMeasurement } from './registers.js';

export interface DeviceReading {
  /** When the reading was complete, ms since the epoch. */
  time: number;
  relays: RelayState[];
  kw: number;
  kwh?: number;
  channelKw?: ChannelPower[];
}

export interface HealthChange {
  device: string;
  from: Health;
  to: Health;
  time: number;
  /** What made it worse (absent on recovery). */
  error?: LmgwError;
}

export type DriverEvents = {
  health: [change: HealthChange];
  /** An operation (a read, a switch) failed: every failure, where `health` tells only the changes. */
  failed: [error: LmgwError];
};

export interface SwitchOutcome {
  /** The read-back after the writes; absent when the device could not be read at all. */
  reading?: DeviceReading;
  /** The first write or read failure. */
  error?: LmgwError;
  /** Channels whose read-back is not the state written. */
  mismatched: number[];
}

export interface DriverOptions {
  id: string;
  profile: Readonly<Profile>;
  /** The bus the device is on (several devices may share one). */
  bus: ModbusBus;
  logger?: Logger;
  now?: () => number;
  random?: () => number;
}

type Table = 'coil' | 'holding' | 'input';

interface Block {
  table: Table;
  start: number;
  count: number;
}

/** Largest read per request (Modbus Application Protocol §6.1, §6.3). */
const MAX_READ = { coil: 2_000, holding: 125, input: 125 } as const;

type Outcome = 'clean' | 'retried' | 'flawed';

export class LmDriver {
  readonly id: string;
  readonly profile: Readonly<Profile>;
  readonly events: TypedEvents<DriverEvents>;
  private readonly bus: ModbusBus;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly blocks: Block[];
  private readonly backoff: BackoffPolicy;
  /** Until the first operation the device is reported offline (not known to answer). */
  private currentHealth: Health = 'offline';
  private contacted = false;
  private lastError: LmgwError | undefined;
  private probeFailures = 0;
  private nextProbeAt = 0;
  private lastReading: DeviceReading | undefined;

  constructor(options: DriverOptions) {
    this.id = options.id;
    this.profile = options.profile;
    this.bus = options.bus;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ device: options.id });
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.events = new TypedEvents<DriverEvents>((err) => this.log.error({ err }, 'a driver event listener threw'));
    this.backoff = { baseMs: options.profile.driver.backoffBaseMs, capMs: options.profile.driver.backoffCapMs };
    this.blocks = planReads(options.profile);
  }

  get health(): Health {
    return this.currentHealth;
  }

  /** The error behind the current health, if it is not ok. */
  get error(): LmgwError | undefined {
    return this.lastError;
  }

  /** The last complete reading, if any. */
  get last(): DeviceReading | undefined {
    return this.lastReading;
  }

  /** Channel ids of this device. */
  get channels(): readonly Channel[] {
    return this.profile.channels;
  }

  /**
   * Reads relays and measurements. `urgent` (commands) goes ahead of sampling and always makes every
   * attempt; otherwise an offline device is only probed when its back-off allows (MODBUS_OFFLINE before).
   */
  async read(options: { urgent?: boolean } = {}): Promise<DeviceReading> {
    return this.operation(options.urgent === true, async (request) => this.readAll(request));
  }

  /**
   * Switches relays, each written and then all read back. Never throws for a device problem: the
   * outcome says what happened, with whatever could be read back.
   */
  async switchRelays(changes: readonly { channel: number; on: boolean }[]): Promise<SwitchOutcome> {
    const wanted = new Map(changes.map((c) => [c.channel, c.on]));
    let writeError: LmgwError | undefined;
    let reading: DeviceReading | undefined;
    try {
      reading = await this.operation(true, async (request) => {
        for (const change of changes) {
          const channel = this.profile.channels.find((c) => c.id === change.channel);
          if (!channel) throw new LmgwError('CMD_UNKNOWN_CHANNEL', `device ${this.id} has no channel ${change.channel}`);
          const value = change.on ? channel.relay.on : channel.relay.off;
          const write: BusRequest =
            channel.relay.type === 'coil' ? { fn: 'writeCoil', address: channel.relay.address, value: value === 1 } : { fn: 'writeRegister', address: channel.relay.address, value };
          try {
            await request(write);
          } catch (err) {
            // Read back anyway: the operator must see what the relays are really doing.
            writeError = err instanceof LmgwError ? err : new ModbusError('MODBUS_CONNECT_FAILED', String(err));
            break;
          }
        }
        return this.readAll(request);
      });
    } catch (err) {
      return { error: writeError ?? (err instanceof LmgwError ? err : new ModbusError('MODBUS_CONNECT_FAILED', String(err))), mismatched: [...wanted.keys()] };
    }
    const mismatched = reading.relays.filter((r) => wanted.has(r.channel) && wanted.get(r.channel) !== r.on).map((r) => r.channel);
    return { reading, mismatched, ...(writeError ? { error: writeError } : {}) };
  }

  /** Runs one operation: offline gating, attempts, and the health verdict from its worst request. */
  private async operation<T>(urgent: boolean, body: (request: (r: BusRequest) => Promise<BusReply>) => Promise<T>): Promise<T> {
    // Offline because it failed (not merely never contacted yet): probe sparingly.
    const probing = this.currentHealth === 'offline' && this.probeFailures > 0 && !urgent;
    if (probing && this.now() < this.nextProbeAt) {
      throw new ModbusError('MODBUS_OFFLINE', `device ${this.id} is offline; next probe in ${this.nextProbeAt - this.now()} ms`);
    }
    const attempts = probing ? 1 : this.profile.driver.retries + 1;
    let outcome: Outcome = 'clean';
    let flaw: LmgwError | undefined;
    const request = async (r: BusRequest): Promise<BusReply> => {
      try {
        const result = await this.bus.request(r, { unitId: this.profile.connection.unitId, attempts, urgent, timeoutMs: this.profile.driver.timeoutMs });
        if (result.attempts > 1 && outcome === 'clean') outcome = 'retried';
        return result.value;
      } catch (err) {
        const error = err instanceof LmgwError ? err : new ModbusError('MODBUS_CONNECT_FAILED', String(err));
        // Remembered even when the body carries on (a failed write is still read back).
        flaw ??= error;
        throw error;
      }
    };
    try {
      const value = await body(request);
      if (flaw === undefined && outcome === 'clean') this.setHealth('ok');
      else this.setHealth('degraded', flaw);
      return value;
    } catch (err) {
      const error = err instanceof LmgwError ? err : new ModbusError('MODBUS_CONNECT_FAILED', String(err));
      if (error.code === 'MODBUS_TIMEOUT' || error.code === 'MODBUS_CONNECT_FAILED') {
        this.probeFailures++;
        this.nextProbeAt = this.now() + backoffDelay(this.probeFailures - 1, this.backoff, this.random);
        this.setHealth('offline', error);
      } else {
        this.setHealth('degraded', error);
      }
      this.events.emit('failed', error);
      throw error;
    }
  }

  private setHealth(to: Health, error?: LmgwError): void {
    if (to !== 'offline') this.probeFailures = 0;
    this.lastError = to === 'ok' ? undefined : error;
    const from = this.currentHealth;
    const first = !this.contacted;
    this.contacted = true;
    // 'offline' before the first operation only means "not known yet": reaching the device then is no news.
    if (from === to || (first && to === 'ok')) {
      this.currentHealth = to;
      return;
    }
    this.currentHealth = to;
    this.log.info({ from, to, code: error?.code, err: error?.message }, 'device health changed');
    this.events.emit('health', { device: this.id, from, to, time: this.now(), ...(error ? { error } : {}) });
  }

  private async readAll(request: (r: BusRequest) => Promise<BusReply>): Promise<DeviceReading> {
    const values: Record<Table, Map<number, number>> = { coil: new Map(), holding: new Map(), input: new Map() };
    for (const block of this.blocks) {
      const reply = await request(
        block.table === 'coil'
          ? { fn: 'readCoils', address: block.start, count: block.count }
          : { fn: block.table === 'holding' ? 'readHoldingRegisters' : 'readInputRegisters', address: block.start, count: block.count },
      );
      const list = 'bits' in reply ? reply.bits.map((b) => (b ? 1 : 0)) : 'words' in reply ? reply.words : [];
      list.forEach((v, i) => values[block.table].set(block.start + i, v));
    }
    const relays = this.profile.channels.map((channel) => ({ channel: channel.id, on: values[channel.relay.type].get(channel.relay.address) === channel.relay.on }));
    const measure = (m: Measurement, what: string, limit: number): number => {
      const table = values[m.function];
      const words = Array.from({ length: wordsOf(m.type) }, (_, i) => table.get(m.register + i) ?? 0);
      const value = decodeMeasurement(words, m);
      if (!Number.isFinite(value) || Math.abs(value) > limit) {
        throw new ModbusError('MODBUS_BAD_VALUE', `device ${this.id}: ${what} reads ${value}, which cannot be a measurement`);
      }
      return Math.round(value * 1_000) / 1_000;
    };
    const m = this.profile.measurements;
    const reading: DeviceReading = { time: this.now(), relays, kw: measure(m.totalKw, 'totalKw', LIMITS.maxAbsKw) };
    if (m.energyKwh) reading.kwh = measure(m.energyKwh, 'energyKwh', LIMITS.maxAbsKwh);
    if (m.channelKw) reading.channelKw = m.channelKw.map((cm) => ({ channel: cm.channel, kw: measure(cm, `channelKw of channel ${cm.channel}`, LIMITS.maxAbsKw) }));
    this.lastReading = reading;
    return reading;
  }
}

/**
 * The reads one sample needs: every relay and measurement register, merged into as few requests as
 * possible. Only adjacent addresses merge: reading a gap could hit an address the device refuses.
 */
export function planReads(profile: Readonly<Profile>): Block[] {
  const needs: Block[] = [];
  for (const channel of profile.channels) needs.push({ table: channel.relay.type, start: channel.relay.address, count: 1 });
  const m = profile.measurements;
  for (const measurement of [m.totalKw, ...(m.energyKwh ? [m.energyKwh] : []), ...(m.channelKw ?? [])]) {
    needs.push({ table: measurement.function, start: measurement.register, count: wordsOf(measurement.type) });
  }
  const blocks: Block[] = [];
  for (const table of ['coil', 'holding', 'input'] as const) {
    const sorted = needs.filter((n) => n.table === table).sort((a, b) => a.start - b.start);
    let current: Block | undefined;
    for (const need of sorted) {
      const end = need.start + need.count;
      if (current && need.start <= current.start + current.count && end - current.start <= MAX_READ[table]) {
        current.count = Math.max(current.count, end - current.start);
      } else {
        current = { table, start: need.start, count: need.count };
        blocks.push(current);
      }
    }
  }
  return blocks;
}
