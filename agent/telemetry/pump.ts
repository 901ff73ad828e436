/**
 * Telemetry with store-and-forward. Every interval: take a sample, persist it, and — while the link
 * is up — seal the batch and send it; the hub stores each (gateway, seq) once and acks it, and only
 * the ack deletes the batch. While the link is down, samples collect in larger batches (fewer
 * messages to replay); when it comes back, everything unacknowledged is replayed in seq order with a
 * bounded window of batches in flight, so a long outage does not flood the hub. A batch that gets no
 * ack within `ackTimeoutMs` is sent again (the hub deduplicates). Retention is bounded (default 7
 * days): the oldest batches go first, with a `dropped` report.
 */
import type { Logger } from 'pino';
import { pino } from 'pino';
import { LIMITS, type TelemetryMessage, type TelemetrySample } from '../../shared/protocol/index.js';
import { TypedEvents } from '../../shared/typed-events.js';
import type { TelemetryStore, TrimReport } from './store.js';

export interface TelemetryPumpOptions {
  store: TelemetryStore;
  /** Takes one sample; undefined when no device could be read. */
  sample: () => Promise<TelemetrySample | undefined>;
  /** Hands a message to the link; false when it could not be sent. */
  send: (message: TelemetryMessage) => boolean;
  /** Sampling interval, ms. Default 1000. */
  intervalMs?: number;
  /** While the link is up, a batch covers this long, ms. Default: one interval (each sample goes at once). */
  batchMs?: number;
  /** Largest batch (the link being down). Default 60, at most LIMITS.maxSamples. */
  maxBatchSamples?: number;
  /** Batches sent and not yet acked, at most. Default 32. */
  maxInFlight?: number;
  /** Resend a batch not acked within this, ms. Default 30 000. */
  ackTimeoutMs?: number;
  /** Keep unacked batches this long, ms. Default 7 days. */
  retentionMs?: number;
  now?: () => number;
  logger?: Logger;
}

export type TelemetryEvents = {
  /** The retention bound dropped batches that the hub never acknowledged. */
  dropped: [report: TrimReport];
};

const TRIM_EVERY_MS = 60_000;

export class TelemetryPump {
  readonly events: TypedEvents<TelemetryEvents>;
  private readonly store: TelemetryStore;
  private readonly takeSample: () => Promise<TelemetrySample | undefined>;
  private readonly send: (message: TelemetryMessage) => boolean;
  private readonly intervalMs: number;
  private readonly samplesPerBatch: number;
  private readonly maxBatchSamples: number;
  private readonly maxInFlight: number;
  private readonly ackTimeoutMs: number;
  private readonly retentionMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private linkUp = false;
  /** seq → when it was sent, for batches sent in this session and not yet acked. */
  private readonly inFlight = new Map<number, number>();
  /** Highest seq sent in this session: the replay continues above it. */
  private cursor = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private sampling: Promise<void> | undefined;
  private lastTrim = 0;
  private nextTickAt = 0;

  constructor(options: TelemetryPumpOptions) {
    this.store = options.store;
    this.takeSample = options.sample;
    this.send = options.send;
    this.intervalMs = options.intervalMs ?? 1_000;
    this.samplesPerBatch = Math.max(1, Math.round((options.batchMs ?? this.intervalMs) / this.intervalMs));
    this.maxBatchSamples = Math.min(LIMITS.maxSamples, Math.max(this.samplesPerBatch, options.maxBatchSamples ?? 60));
    this.maxInFlight = options.maxInFlight ?? 32;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
    this.retentionMs = options.retentionMs ?? 7 * 86_400_000;
    this.now = options.now ?? Date.now;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'telemetry' });
    this.events = new TypedEvents<TelemetryEvents>((err) => this.log.error({ err }, 'a telemetry event listener threw'));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.nextTickAt = this.now();
    this.trim();
    this.scheduleTick();
  }

  /** Stops sampling; waits for a sample in progress to be stored. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.sampling;
    // Acks not yet on disk: a clean stop writes them, so the next start replays nothing needlessly.
    this.store.flush();
  }

  setLinkUp(up: boolean): void {
    this.linkUp = up;
    this.inFlight.clear();
    this.cursor = 0;
    if (up) {
      // What collected during the outage goes now, as one batch.
      this.store.seal();
      this.pumpOut();
    }
  }

  /** The hub acknowledged `seq`. */
  ack(seq: number): void {
    const known = this.store.ack(seq);
    this.inFlight.delete(seq);
    if (!known) this.log.debug({ seq }, 'ack for a batch no longer stored');
    this.pumpOut();
  }

  /** Batches and samples waiting for an ack (or still filling). */
  backlog(): { batches: number; samples: number } {
    return this.store.backlog();
  }

  private scheduleTick(): void {
    if (!this.running) return;
    // Aligned to the interval, not to when the last sample finished; a slow sample skips ticks.
    const now = this.now();
    while (this.nextTickAt <= now) this.nextTickAt += this.intervalMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sampling = this.tick().finally(() => {
        this.sampling = undefined;
        this.scheduleTick();
      });
    }, this.nextTickAt - now);
  }

  /** One sampling step: sample, persist, maybe seal, send what may be sent. */
  async tick(): Promise<void> {
    let sample: TelemetrySample | undefined;
    try {
      sample = await this.takeSample();
    } catch (err) {
      this.log.warn({ err }, 'sampling failed');
    }
    if (sample) this.store.append(sample, this.now(), this.linkUp ? this.samplesPerBatch : this.maxBatchSamples);
    if (this.now() - this.lastTrim >= TRIM_EVERY_MS) this.trim();
    this.resendExpired();
    this.pumpOut();
  }

  private trim(): void {
    this.lastTrim = this.now();
    const report = this.store.trim(this.now() - this.retentionMs);
    if (report) {
      this.log.warn(report, 'telemetry older than the retention was dropped unacknowledged');
      for (const seq of [...this.inFlight.keys()]) if (seq <= report.toSeq) this.inFlight.delete(seq);
      this.events.emit('dropped', report);
    }
  }

  private resendExpired(): void {
    if (!this.linkUp) return;
    const now = this.now();
    for (const [seq, sentAt] of [...this.inFlight]) {
      if (now - sentAt < this.ackTimeoutMs) continue;
      const batch = this.store.get(seq);
      if (!batch) {
        this.inFlight.delete(seq);
        continue;
      }
      // The hub acks a replay without storing it twice, so sending again is always safe.
      this.log.info({ seq }, 'no ack in time: sending the batch again');
      if (!this.send({ kind: 'telemetry', seq, samples: batch.samples })) {
        this.linkUp = false;
        return;
      }
      this.inFlight.set(seq, now);
    }
  }

  /** Sends unacked sealed batches in seq order while the window allows. */
  private pumpOut(): void {
    while (this.linkUp && this.inFlight.size < this.maxInFlight) {
      const batches = this.store.unacked(this.maxInFlight - this.inFlight.size, this.cursor).filter((b) => !this.inFlight.has(b.seq));
      if (batches.length === 0) return;
      for (const batch of batches) {
        if (!this.send({ kind: 'telemetry', seq: batch.seq, samples: batch.samples })) {
          // The link went away under us; setLinkUp(false) will follow, and the replay covers it.
          this.linkUp = false;
          return;
        }
        this.inFlight.set(batch.seq, this.now());
        this.cursor = Math.max(this.cursor, batch.seq);
      }
    }
  }
}
