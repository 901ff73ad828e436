/**
 * The load manager `lm-sim` pretends to be: one relay per profile channel, a load behind each
 * relay with a plausible power curve, a base load that cannot be switched, an energy counter, and
 * the register map of the profile (relays as coils or holding registers, measurements in the
 * profile's encodings). Everything random comes from the seed, and the curves are functions of the
 * time since the model started, so the same seed and the same switching give the same numbers.
 */
import type { Channel, Measurement, Profile } from '../lm/profile.js';
import { wordsOf } from '../lm/profile.js';
import { encodeMeasurement } from '../lm/registers.js';

/** Modbus exception codes (Modbus Application Protocol V1.1b3 §7). */
export const EXCEPTION = {
  ILLEGAL_FUNCTION: 1,
  ILLEGAL_DATA_ADDRESS: 2,
  ILLEGAL_DATA_VALUE: 3,
  SERVER_DEVICE_FAILURE: 4,
  GATEWAY_TARGET_FAILED: 11,
} as const;

/** mulberry32: small, fast, good enough for plausible noise; deterministic per seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A value in [0, 1) that depends only on its inputs (noise that repeats with the seed). */
function hashUnit(seed: number, a: number, b: number): number {
  let h = (seed ^ Math.imul(a + 1, 0x9e3779b1) ^ Math.imul(b + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return ((h ^ (h >>> 16)) >>> 0) / 4_294_967_296;
}

/** A load comes back with a soft start (time constant, ms); a relay cuts it at once. */
const RAMP_UP_MS = 2_000;

interface Load {
  channel: Channel;
  on: boolean;
  /** When the relay last switched, ms since the model started (-Infinity: never). */
  switchedAt: number;
  /** Fraction of the steady power at that moment, so a curve never jumps when switched mid-ramp. */
  levelAtSwitch: number;
  /** Steady power as a fraction of ratedKw, and the shape of its slow wander. */
  duty: number;
  periodMs: number;
  phase: number;
}

const KIND_NONE = 0;
const KIND_RELAY = 1;
const KIND_MEASUREMENT = 2;

type RegisterTable = 'holding' | 'input';

export interface ModelOptions {
  seed?: number;
  /** ms clock; default Date.now. Tests inject one. */
  now?: () => number;
}

export type WriteResult = number | undefined;

export class LmModel {
  readonly profile: Readonly<Profile>;
  readonly seed: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly loads: Load[];
  private readonly loadByCoil = new Map<number, Load>();
  private readonly loadByHolding = new Map<number, Load>();
  /** Per address: KIND_NONE (not mapped: exception 2), KIND_RELAY or KIND_MEASUREMENT. */
  private readonly coilKind = new Uint8Array(65_536);
  private readonly holdingKind = new Uint8Array(65_536);
  private readonly inputKind = new Uint8Array(65_536);
  private readonly coils = new Uint8Array(65_536);
  private readonly holding = new Uint16Array(65_536);
  private readonly input = new Uint16Array(65_536);
  private readonly baseKw: number;
  private energyKwh: number;
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private lastEnergyAt: number;
  private readonly measurements: { m: Measurement; value: (t: number) => number }[] = [];
  /** Called after a relay changed (not on a write of the same state). */
  onRelayChange: (channel: Channel, on: boolean) => void = () => {};

  constructor(profile: Readonly<Profile>, options: ModelOptions = {}) {
    this.profile = profile;
    this.seed = (options.seed ?? 1) >>> 0;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.lastEnergyAt = 0;
    const random = mulberry32(this.seed);
    const rated = profile.channels.reduce((sum, c) => sum + c.ratedKw, 0);
    this.baseKw = rated * (0.03 + 0.05 * random());
    this.energyKwh = Math.round(1_000 + 49_000 * random());
    this.loads = profile.channels.map((channel) => ({
      channel,
      on: true,
      switchedAt: Number.NEGATIVE_INFINITY,
      levelAtSwitch: 1,
      duty: 0.35 + 0.55 * random(),
      periodMs: 20_000 + 100_000 * random(),
      phase: 2 * Math.PI * random(),
    }));
    for (const load of this.loads) {
      const { relay } = load.channel;
      if (relay.type === 'coil') {
        this.coilKind[relay.address] = KIND_RELAY;
        this.coils[relay.address] = relay.on;
        this.loadByCoil.set(relay.address, load);
      } else {
        this.holdingKind[relay.address] = KIND_RELAY;
        this.holding[relay.address] = relay.on;
        this.loadByHolding.set(relay.address, load);
      }
    }
    const m = profile.measurements;
    this.addMeasurement(m.totalKw, (t) => this.totalKw(t));
    if (m.energyKwh) this.addMeasurement(m.energyKwh, () => this.energyKwh);
    for (const cm of m.channelKw ?? []) {
      const load = this.loads.find((l) => l.channel.id === cm.channel);
      if (load) this.addMeasurement(cm, (t) => this.loadKw(load, t));
    }
  }

  private addMeasurement(m: Measurement, value: (t: number) => number): void {
    const kinds = m.function === 'holding' ? this.holdingKind : this.inputKind;
    for (let i = 0; i < wordsOf(m.type); i++) kinds[m.register + i] = KIND_MEASUREMENT;
    this.measurements.push({ m, value });
  }

  /** ms since the model started. */
  elapsed(): number {
    return this.now() - this.startedAt;
  }

  /** Steady power of a load that has been on for long: its duty with a slow wander and per-second noise. */
  private steadyKw(load: Load, t: number): number {
    const wander = 1 + 0.08 * Math.sin((2 * Math.PI * t) / load.periodMs + load.phase);
    const noise = 1 + 0.04 * (hashUnit(this.seed, load.channel.id, Math.floor(t / 1_000)) - 0.5);
    return load.channel.ratedKw * load.duty * wander * noise;
  }

  private level(load: Load, t: number): number {
    if (!load.on) return 0;
    const since = t - load.switchedAt;
    return 1 - (1 - load.levelAtSwitch) * Math.exp(-since / RAMP_UP_MS);
  }

  /** Active power of one load at model time t (ms), kW. */
  loadKw(load: Load, t: number): number {
    return this.steadyKw(load, t) * this.level(load, t);
  }

  /** Active power of the site: every load plus the base load, kW. */
  totalKw(t: number = this.elapsed()): number {
    const baseNoise = 1 + 0.1 * (hashUnit(this.seed, 0, Math.floor(t / 1_000)) - 0.5);
    return this.loads.reduce((sum, load) => sum + this.loadKw(load, t), this.baseKw * baseNoise);
  }

  channelKw(channelId: number, t: number = this.elapsed()): number {
    const load = this.loads.find((l) => l.channel.id === channelId);
    return load ? this.loadKw(load, t) : 0;
  }

  energy(): number {
    this.refresh();
    return this.energyKwh;
  }

  relays(): { channel: number; on: boolean }[] {
    return this.loads.map((l) => ({ channel: l.channel.id, on: l.on }));
  }

  /** Switches a relay as a local operator would (not over Modbus). */
  setRelay(channelId: number, on: boolean): void {
    const load = this.loads.find((l) => l.channel.id === channelId);
    if (!load) throw new RangeError(`no channel ${channelId}`);
    const { relay } = load.channel;
    if (relay.type === 'coil') this.coils[relay.address] = on ? relay.on : relay.off;
    else this.holding[relay.address] = on ? relay.on : relay.off;
    this.switchLoad(load, on);
  }

  private switchLoad(load: Load, on: boolean): void {
    if (load.on === on) return;
    const t = this.elapsed();
    this.accumulateEnergy(t);
    load.levelAtSwitch = this.level(load, t);
    load.on = on;
    load.switchedAt = t;
    this.lastRefresh = Number.NEGATIVE_INFINITY;
    this.onRelayChange(load.channel, on);
  }

  private accumulateEnergy(t: number): void {
    if (t > this.lastEnergyAt) {
      this.energyKwh += (this.totalKw(t) * (t - this.lastEnergyAt)) / 3_600_000;
      this.lastEnergyAt = t;
    }
  }

  /** Recomputes the measurement registers, at most once per millisecond (cheap under load). */
  private refresh(): void {
    const t = this.elapsed();
    if (t === this.lastRefresh) return;
    this.lastRefresh = t;
    this.accumulateEnergy(t);
    for (const { m, value } of this.measurements) {
      const words = encodeMeasurement(value(t), m);
      const table = m.function === 'holding' ? this.holding : this.input;
      for (let i = 0; i < words.length; i++) table[m.register + i] = words[i] ?? 0;
    }
  }

  // --- register access for the PDU handler: an exception code, or undefined and the data ----------

  /** FC 1 (coils) and FC 2 (discrete inputs: the relay contacts, same addresses as the coils). */
  readBits(start: number, count: number, out: Uint8Array): WriteResult {
    for (let a = start; a < start + count; a++) if (this.coilKind[a] !== KIND_RELAY) return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    out.set(this.coils.subarray(start, start + count));
    return undefined;
  }

  /** FC 3 and FC 4. */
  readRegisters(table: RegisterTable, start: number, count: number, out: Uint16Array): WriteResult {
    const kinds = table === 'holding' ? this.holdingKind : this.inputKind;
    let measured = false;
    for (let a = start; a < start + count; a++) {
      const kind = kinds[a];
      if (kind === KIND_NONE) return EXCEPTION.ILLEGAL_DATA_ADDRESS;
      if (kind === KIND_MEASUREMENT) measured = true;
    }
    if (measured) this.refresh();
    out.set((table === 'holding' ? this.holding : this.input).subarray(start, start + count));
    return undefined;
  }

  /** FC 5 / 15: every address must be a relay coil; nothing changes unless all are valid. */
  writeCoils(start: number, values: ArrayLike<number>): WriteResult {
    for (let i = 0; i < values.length; i++) if (this.coilKind[start + i] !== KIND_RELAY) return EXCEPTION.ILLEGAL_DATA_ADDRESS;
    for (let i = 0; i < values.length; i++) {
      const address = start + i;
      const value = values[i] ? 1 : 0;
      this.coils[address] = value;
      const load = this.loadByCoil.get(address);
      if (load) this.switchLoad(load, value === load.channel.relay.on);
    }
    return undefined;
  }

  /** FC 6 / 16: relay registers only, and only their on/off values; measurements are read-only. */
  writeRegisters(start: number, values: ArrayLike<number>): WriteResult {
    for (let i = 0; i < values.length; i++) {
      const load = this.loadByHolding.get(start + i);
      if (!load) return EXCEPTION.ILLEGAL_DATA_ADDRESS;
      const value = values[i];
      if (value !== load.channel.relay.on && value !== load.channel.relay.off) return EXCEPTION.ILLEGAL_DATA_VALUE;
    }
    for (let i = 0; i < values.length; i++) {
      const address = start + i;
      const value = values[i] ?? 0;
      this.holding[address] = value;
      const load = this.loadByHolding.get(address);
      if (load) this.switchLoad(load, value === load.channel.relay.on);
    }
    return undefined;
  }
}
