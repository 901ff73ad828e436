/**
 * A simulated gateway for scale tests, benchmarks and demos: the agent's own link client
 * (agent/link/client.ts — mutual TLS with its own certificate, hello, welcome, ping/pong liveness,
 * full-jitter back-off) in front of an instant, in-memory load manager instead of Modbus. It hellos
 * with a device profile, answers every command at once with a correct result (the relays it reports
 * are the ones it was told to set; a shed restores itself after its duration), and sends telemetry
 * with sequence numbers, keeping every batch until it is acknowledged and sending again what is
 * unacknowledged after a reconnect, as the agent's store-and-forward does (in memory only).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../shared/errors.js';
import {
  LIMITS,
  type ChannelProfile,
  type CommandMessage,
  type HelloMessage,
  type Message,
  type RelayState,
  type ResultMessage,
  type TelemetryMessage,
  type TelemetrySample,
} from '../../shared/protocol/index.js';
import { LinkClient } from '../link/client.js';
import { LatencyHistogram } from './latency.js';

/**
 * The simulated load manager's channels: agent/profiles/lm4-float.json's, without minimum on/off
 * times (a benchmark sheds and restores back to back).
 */
export const SIM_CHANNELS: readonly ChannelProfile[] = Object.freeze([
  { id: 1, name: 'Heat pump', priority: 1, sheddable: true, ratedKw: 9.5, minOnSeconds: 0, minOffSeconds: 0, maxOffSeconds: 7200 },
  { id: 2, name: 'Water heater', priority: 1, sheddable: true, ratedKw: 6, minOnSeconds: 0, minOffSeconds: 0, maxOffSeconds: 14_400 },
  { id: 3, name: 'EV charger', priority: 2, sheddable: true, ratedKw: 11, minOnSeconds: 0, minOffSeconds: 0, maxOffSeconds: 3600 },
  { id: 4, name: 'Kitchen', priority: 9, sheddable: false, ratedKw: 4, minOnSeconds: 0, minOffSeconds: 0 },
]);

export interface SimGatewayCredentials {
  id: string;
  certPem: string;
  keyPem: string;
}

/** One sample every `sampleSeconds`, sent in a batch every `batchSeconds` (a multiple of it). */
export interface TelemetryPlan {
  sampleSeconds: number;
  batchSeconds: number;
}

/** What every gateway of one process counts together (fleet-worker.ts reports it to the parent). */
export class SimCounters {
  connected = 0;
  /** Welcomes, the first ones included. */
  connects = 0;
  /** Sessions that ended while the gateway was not stopping. */
  disconnects = 0;
  commands = { shed: 0, restore: 0, read: 0, rejected: 0, repeated: 0 };
  batchesSent = 0;
  samplesSent = 0;
  /** Batches sent again after a reconnect. */
  batchesResent = 0;
  acked = 0;
  /** Errors the hub sent (e.g. a refused telemetry batch). */
  errors = 0;
  /** Send → ack of each telemetry batch, ms. */
  readonly ackLatency = new LatencyHistogram();

  /** Clears what is counted per window (not the connected count). */
  mark(): void {
    this.connects = 0;
    this.disconnects = 0;
    this.commands = { shed: 0, restore: 0, read: 0, rejected: 0, repeated: 0 };
    this.batchesSent = 0;
    this.samplesSent = 0;
    this.batchesResent = 0;
    this.acked = 0;
    this.errors = 0;
    this.ackLatency.reset();
  }
}

export interface SimGatewayOptions {
  /** `wss://host:port/lmgw/v1` */
  url: string;
  caPem: string;
  credentials: SimGatewayCredentials;
  counters: SimCounters;
  /** Default SIM_CHANNELS. */
  channels?: readonly ChannelProfile[];
  labels?: readonly string[];
  siteName?: string;
  /** null: no telemetry. Default: one sample a second, sent at once. */
  telemetry?: TelemetryPlan | null;
  /** One logger for many gateways (a silent one by default in the link client). */
  logger?: Logger;
  /** [0, 1), for the load curve, the telemetry phase, the back-off and the answer delay. Default Math.random. */
  random?: () => number;
  /**
   * A slow load manager: each command is executed at once but answered after a delay drawn uniformly
   * from [0, answerDelayMs) — so a fleet-wide operation is still in flight for a while (fault tests).
   * Default 0: answered at once.
   */
  answerDelayMs?: number;
}

/** Batches kept for resending at most; older ones are dropped (a real agent keeps them on disk). */
const MAX_UNACKED_BATCHES = 3600;
/** Samples kept while disconnected at most (one hour at 1 Hz); older ones are dropped. */
const MAX_PENDING_SAMPLES = 3600;
/** Executed command ids remembered, so a repeat is answered from memory as the agent does. */
const REMEMBERED_RESULTS = 64;

interface Channel {
  profile: ChannelProfile;
  on: boolean;
  restoreTimer: NodeJS.Timeout | undefined;
}

export class SimulatedGateway {
  readonly id: string;
  private readonly link: LinkClient;
  private readonly channels: Channel[];
  private readonly counters: SimCounters;
  private readonly telemetry: TelemetryPlan | null;
  private readonly random: () => number;
  /** This site's share of its channels' rated power that is drawn (0.3–0.9), so sites differ. */
  private readonly loadFactor: number;
  private readonly results = new Map<string, ResultMessage>();
  private readonly unacked = new Map<number, { message: TelemetryMessage; sentAt: number }>();
  private pending: TelemetrySample[] = [];
  private seq = 0;
  private ticks = 0;
  private sampleTimer: NodeJS.Timeout | undefined;
  private phaseTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private welcomed: (() => void) | undefined;

  constructor(private readonly options: SimGatewayOptions) {
    this.id = options.credentials.id;
    this.counters = options.counters;
    this.random = options.random ?? Math.random;
    this.loadFactor = 0.3 + 0.6 * this.random();
    this.telemetry = options.telemetry === undefined ? { sampleSeconds: 1, batchSeconds: 1 } : options.telemetry;
    this.channels = (options.channels ?? SIM_CHANNELS).map((profile) => ({ profile, on: true, restoreTimer: undefined }));
    this.link = new LinkClient({
      url: options.url,
      gatewayId: this.id,
      caPem: options.caPem,
      certPem: options.credentials.certPem,
      keyPem: options.credentials.keyPem,
      proxy: null,
      hello: () => this.hello(),
      random: this.random,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.link.events.on('connected', () => this.onConnected());
    this.link.events.on('disconnected', () => {
      this.counters.connected -= 1;
      if (!this.stopping) this.counters.disconnects += 1;
    });
    this.link.events.on('message', (m) => this.onMessage(m));
  }

  get connected(): boolean {
    return this.link.connected;
  }

  /**
   * Starts connecting; resolves with the first attempt's outcome — true at a welcome, false when it
   * failed and the link waits out its back-off (it keeps reconnecting on its own). A fleet that
   * connects a few gateways at a time must not wait behind one gateway's back-off (up to 60 s).
   */
  start(): Promise<boolean> {
    const first = new Promise<boolean>((resolve) => {
      const off = this.link.events.on('retry', () => {
        off();
        this.welcomed = undefined;
        resolve(false);
      });
      this.welcomed = () => {
        off();
        resolve(true);
      };
    });
    this.link.start();
    return first;
  }

  /**
   * Sampling starts at the first welcome: a fleet of thousands still connecting would otherwise pile
   * up samples for minutes (a real agent samples from its start and keeps them on disk).
   */
  private startSampling(): void {
    if (!this.telemetry || this.phaseTimer || this.stopping) return;
    // A random phase, so a fleet's batches do not all leave in the same millisecond.
    const periodMs = this.telemetry.sampleSeconds * 1000;
    this.phaseTimer = setTimeout(() => {
      this.sampleTimer = setInterval(() => this.tick(), periodMs);
    }, this.random() * periodMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.phaseTimer);
    clearInterval(this.sampleTimer);
    for (const ch of this.channels) clearTimeout(ch.restoreTimer);
    await this.link.stop();
  }

  /** Relay states now (true = load on). */
  relays(): RelayState[] {
    return this.channels.map((c) => ({ channel: c.profile.id, on: c.on }));
  }

  private hello(): HelloMessage {
    return {
      kind: 'hello',
      gatewayId: this.id,
      minVersion: 1,
      maxVersion: 1,
      agentVersion: '0.1.0-sim',
      ...(this.options.siteName !== undefined ? { siteName: this.options.siteName } : {}),
      labels: [...(this.options.labels ?? [])],
      viaProxy: false,
      devices: [{ id: 'lm1', model: 'LMGW simulated LM-4', health: 'ok', channels: this.channels.map((c) => ({ ...c.profile, on: c.on })) }],
    };
  }

  private onConnected(): void {
    this.counters.connected += 1;
    this.counters.connects += 1;
    this.startSampling();
    this.welcomed?.();
    this.welcomed = undefined;
    // Store-and-forward: whatever was not acknowledged goes again, oldest first.
    for (const entry of [...this.unacked.values()].sort((a, b) => a.message.seq - b.message.seq)) {
      if (!this.link.send(entry.message)) return;
      entry.sentAt = performance.now();
      this.counters.batchesResent += 1;
    }
  }

  private onMessage(m: Message): void {
    switch (m.kind) {
      case 'command': {
        const result = this.execute(m);
        // No draw without a delay: a seeded `random` keeps the sequence it had before this option.
        const delayMs = this.options.answerDelayMs ? this.options.answerDelayMs * this.random() : 0;
        if (delayMs > 0) setTimeout(() => this.link.send(result), delayMs).unref();
        else this.link.send(result);
        return;
      }
      case 'ack': {
        const entry = this.unacked.get(m.seq);
        if (!entry) return;
        this.unacked.delete(m.seq);
        this.counters.acked += 1;
        this.counters.ackLatency.record(performance.now() - entry.sentAt);
        return;
      }
      case 'error':
        this.counters.errors += 1;
        return;
      case 'event':
      case 'hello':
      case 'result':
      case 'telemetry':
      case 'welcome':
        // Not for an agent after the welcome (the link client has checked the welcome already).
        return;
    }
  }

  // --- the load manager ------------------------------------------------------------------------------

  private execute(c: CommandMessage): ResultMessage {
    const repeat = this.results.get(c.id);
    if (repeat) {
      this.counters.commands.repeated += 1;
      return repeat;
    }
    const result = this.run(c);
    this.results.set(c.id, result);
    if (this.results.size > REMEMBERED_RESULTS) this.results.delete(this.results.keys().next().value ?? '');
    if (result.status === 'ok') this.counters.commands[c.op] += 1;
    else this.counters.commands.rejected += 1;
    return result;
  }

  private run(c: CommandMessage): ResultMessage {
    if (c.deadline < Date.now()) return this.refuse(c.id, 'CMD_STALE', 'the deadline has passed');
    if (c.op === 'read') return this.ok(c.id);
    const byId = new Map(this.channels.map((ch) => [ch.profile.id, ch]));
    if (c.op === 'shed') {
      let targets: Channel[];
      if (c.selector.channels) {
        targets = [];
        for (const id of c.selector.channels) {
          const ch = byId.get(id);
          if (!ch) return this.refuse(c.id, 'CMD_UNKNOWN_CHANNEL', `no channel ${id}`);
          if (!ch.profile.sheddable) return this.refuse(c.id, 'CMD_NOT_SHEDDABLE', `channel ${id} may not be shed`);
          targets.push(ch);
        }
      } else {
        const max = c.selector.maxPriority;
        targets = this.channels.filter((ch) => ch.profile.sheddable && ch.profile.priority <= max);
      }
      const seconds = c.durationSeconds ?? undefined;
      for (const ch of targets) {
        ch.on = false;
        clearTimeout(ch.restoreTimer);
        const afterSeconds = seconds ?? ch.profile.maxOffSeconds;
        ch.restoreTimer = afterSeconds === undefined ? undefined : setTimeout(() => this.autoRestore(ch), afterSeconds * 1000);
      }
      return this.ok(c.id);
    }
    // restore
    let targets: Channel[];
    if (c.selector.channels) {
      targets = [];
      for (const id of c.selector.channels) {
        const ch = byId.get(id);
        if (!ch) return this.refuse(c.id, 'CMD_UNKNOWN_CHANNEL', `no channel ${id}`);
        targets.push(ch);
      }
    } else targets = this.channels;
    for (const ch of targets) {
      ch.on = true;
      clearTimeout(ch.restoreTimer);
      ch.restoreTimer = undefined;
    }
    return this.ok(c.id);
  }

  private autoRestore(ch: Channel): void {
    ch.on = true;
    ch.restoreTimer = undefined;
  }

  private kw(): number {
    const rated = this.channels.reduce((sum, ch) => sum + (ch.on ? ch.profile.ratedKw : 0), 0);
    return Math.round(rated * this.loadFactor * 1000) / 1000;
  }

  private ok(id: string): ResultMessage {
    return { kind: 'result', commandId: id, status: 'ok', time: Date.now(), relays: this.relays(), measuredKw: this.kw() };
  }

  private refuse(id: string, code: ErrorCode, message: string): ResultMessage {
    return { kind: 'result', commandId: id, status: 'rejected', code, time: Date.now(), relays: this.relays(), message };
  }

  // --- telemetry -------------------------------------------------------------------------------------

  private tick(): void {
    const plan = this.telemetry;
    if (!plan) return;
    this.pending.push({ time: Date.now(), kw: this.kw(), relays: this.relays() });
    if (this.pending.length > MAX_PENDING_SAMPLES) this.pending.shift();
    this.ticks += 1;
    const perBatch = Math.max(1, Math.round(plan.batchSeconds / plan.sampleSeconds));
    if (this.ticks % perBatch !== 0 || !this.link.connected) return;
    while (this.pending.length > 0) {
      const samples = this.pending.splice(0, LIMITS.maxSamples);
      const message: TelemetryMessage = { kind: 'telemetry', seq: ++this.seq, samples };
      this.unacked.set(message.seq, { message, sentAt: performance.now() });
      if (this.unacked.size > MAX_UNACKED_BATCHES) this.unacked.delete(this.unacked.keys().next().value ?? 0);
      if (!this.link.send(message)) return;
      this.counters.batchesSent += 1;
      this.counters.samplesSent += samples.length;
    }
  }
}
