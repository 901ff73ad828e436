/**
 * Telemetry ingest: stores the gateways' telemetry batches, acknowledges each one once the commit
 * that holds it is durable (the store's fsync, store/wal-sync.ts; acknowledged means durable: the
 * agent trims what is acked), then feeds the live figures.
 *
 * Batches arriving within `groupMs` of the first share one transaction (store/group-commit.ts): one
 * commit for all, and the store appends them to the last pages of its tables. The window trades ack
 * latency for disk writes — every commit rewrites the database header page, the raw table's last
 * leaf and its parent, and the fsync after it writes the 4 KiB block of the WAL that the previous
 * commit ended in once more (strace of the hub at 2,000 gateways × 1 Hz with a 50 ms window: 17.6
 * commits a second of 8.6 frames each, for ~5 frames of samples). Measured through the real hub
 * (bench:fleet-shed, 2,000 gateways): a 50 ms window wrote 3.8–4.2× what the database grew, ack p99
 * 57–66 ms; 75 ms wrote 3.3×, ack p99 82–84 ms (target ≤ 4× and ≤ 100 ms, issue 13).
 *
 * One gateway's batch cannot stop the others: the live figures are fed batch by batch after the
 * commit, each guarded, and a sample stamped further ahead of the console's clock than
 * MAX_CLOCK_AHEAD_MS is stored and acknowledged but kept out of them (GATEWAY_CLOCK_AHEAD).
 */
import type { Logger } from 'pino';
import type { AckMessage, TelemetryMessage, TelemetrySample } from '../../../shared/protocol/messages.js';
import { GroupCommit } from '../store/group-commit.js';
import type { HubStore } from '../store/index.js';
import type { AlarmBook } from './alarms.js';
import type { LiveLoad } from './live-load.js';
import type { FleetRegistry } from './registry.js';

/** Batches arriving within this window share one commit (the ack waits at most this plus the commit). */
export const TELEMETRY_GROUP_MS = 75;
/**
 * Samples per commit at most (a group is committed once it holds this many, without waiting for the
 * window), so one commit and its acks never hold the event loop for long. Storing costs ~8–10 µs a
 * sample in 10-sample batches and ~4–5 µs in 1-sample ones (storeTelemetry alone, samples of the
 * last seconds, 19,900 gateways known): one commit of 250 batches × 10 samples — the previous limit
 * of 250 batches — took 22–26 ms alone, and socket read callbacks of 42–55 ms in a 19,900-gateway
 * run (bench:fleet-shed --turns), the batch that filled the group committing it. After a stall the
 * backlog is read at once (2,000 acks written in one callback held the loop ~200 ms).
 */
export const TELEMETRY_GROUP_MAX_SAMPLES = 1_000;
/**
 * How long a group may wait past its window while a fleet operation's commands are going out or
 * awaited (`yieldTo`): the operator's commands go first, telemetry is still read and fed to the rate
 * limit as it arrives, only its commit and acks wait. A group that fills up (TELEMETRY_GROUP_MAX_SAMPLES)
 * is committed all the same, so what waits stays small. Issue 13's bound on the ack p99 during a fleet
 * shed is 500 ms; a 2,000-gateway shed lasts ~0.25 s (docs/benchmarks.md).
 */
export const TELEMETRY_YIELD_MAX_MS = 250;
/**
 * Samples stamped further ahead of the console's clock than this are stored but left out of the live
 * figures (GATEWAY_CLOCK_AHEAD): a gateway with a wrong clock would otherwise move its meter into the
 * future, where every correct sample after it counts as late; and a time at the protocol's limit lies
 * beyond the last date JavaScript can represent (found by the hub fuzz test).
 */
export const MAX_CLOCK_AHEAD_MS = 60_000;
/** A fleet gone quiet still gets its closed minutes written (storing a batch does it otherwise). */
const ROLLUP_FLUSH_EVERY_MS = 15_000;

export interface TelemetryIngestDeps {
  store: Pick<HubStore, 'storeTelemetry' | 'flushTelemetryRollups' | 'transaction' | 'durable' | 'durableSync'>;
  load: Pick<LiveLoad, 'add'>;
  registry: Pick<FleetRegistry, 'telemetry'>;
  alarms: Pick<AlarmBook, 'raise' | 'clear'>;
  /** Sends the ack on the gateway's link; false when it is gone (the agent replays, the replay is acked). */
  send: (gatewayId: string, m: AckMessage) => boolean;
  /** The gateway's summary may have changed (its relays). */
  changed: (gatewayId: string) => void;
  /** A group was committed and its acks sent (the domain bus's `telemetry-stored`); `samples` counts new samples only, not replays already stored. */
  stored?: (group: { batches: number; samples: number; lagMs: number }) => void;
  log: Logger;
  /** True while higher-priority work is in flight (a fleet operation's commands): groups wait up to TELEMETRY_YIELD_MAX_MS. */
  yieldTo?: () => boolean;
  groupMs?: number;
  /** Samples per group at most (default TELEMETRY_GROUP_MAX_SAMPLES). */
  groupMaxSamples?: number;
  now?: () => number;
}

interface Received {
  gatewayId: string;
  message: TelemetryMessage;
}

export class TelemetryIngest {
  private readonly writes: GroupCommit;
  private readonly now: () => number;
  private readonly groupMaxSamples: number;
  /** The batches of the group not yet written; one GroupCommit write stores them all. */
  private pending: Received[] = [];
  /** Their samples. */
  private pendingSamples = 0;
  /** Gateways with an active GATEWAY_CLOCK_AHEAD alarm (so a normal batch costs no alarm lookup). */
  private readonly clockAhead = new Set<string>();
  private readonly flushTimer: NodeJS.Timeout;

  constructor(private readonly d: TelemetryIngestDeps) {
    this.now = d.now ?? Date.now;
    this.groupMaxSamples = d.groupMaxSamples ?? TELEMETRY_GROUP_MAX_SAMPLES;
    // One GroupCommit write per group of batches, not per batch: the store takes the group in one
    // call (each call is a savepoint and a validation pass; per batch they would cost more than the
    // insert).
    this.writes = new GroupCommit(d.store, {
      maxDelayMs: d.groupMs ?? TELEMETRY_GROUP_MS,
      maxItems: 16,
      ...(d.yieldTo ? { holdWhile: d.yieldTo, maxHoldMs: TELEMETRY_YIELD_MAX_MS } : {}),
      ...(d.now ? { now: d.now } : {}),
    });
    this.flushTimer = setInterval(() => this.flushRollups(), ROLLUP_FLUSH_EVERY_MS);
    this.flushTimer.unref();
  }

  /** A telemetry message from a gateway's session: stored with the next group, acked after its commit. */
  accept(gatewayId: string, message: TelemetryMessage): void {
    this.pending.push({ gatewayId, message });
    this.pendingSamples += message.samples.length;
    if (this.pending.length === 1) this.openGroup();
    // A full group is committed at once (its acks still wait for the fsync, off the loop).
    if (this.pendingSamples >= this.groupMaxSamples) this.writes.commitNow();
  }

  /** Batches received but not yet committed. */
  get queued(): number {
    return this.pending.length;
  }

  /** Commits what is queued now and acks it (at close, before the store closes). */
  flush(): void {
    this.writes.flush();
  }

  /** Commits what is queued and stops the timers. */
  close(): void {
    clearInterval(this.flushTimer);
    this.writes.flush();
  }

  /** Queues one GroupCommit write for the batches gathered until it runs. */
  private openGroup(): void {
    // The group's first batch arrives now: the ack lag is measured from here (one clock read per group, not per batch).
    const openedAt = this.now();
    let group: Received[] | undefined;
    const take = (): Received[] => {
      if (group === undefined) {
        group = this.pending;
        this.pending = [];
        this.pendingSamples = 0;
      }
      return group;
    };
    let stored: boolean[] = [];
    this.writes.add(
      () => {
        const batches = take();
        stored = this.d.store.storeTelemetry(batches.map((b) => ({ gatewayId: b.gatewayId, seq: b.message.seq, samples: b.message.samples })));
      },
      (err) => this.committed(take(), stored, openedAt, err),
    );
  }

  private committed(group: Received[], stored: boolean[], openedAt: number, err: Error | undefined): void {
    if (err) {
      // Not acknowledged, so the agents keep the batches and send them again.
      this.d.log.error({ err, batches: group.length }, 'telemetry not stored; not acknowledged');
      this.d.alarms.raise({ code: 'STORE_UNAVAILABLE', severity: 'alarm', message: `telemetry cannot be stored: ${err.message}` });
      return;
    }
    this.d.alarms.clear('STORE_UNAVAILABLE');
    const changed = new Set<string>();
    const now = this.now();
    const latest = now + MAX_CLOCK_AHEAD_MS;
    let samples = 0;
    group.forEach((b, i) => {
      this.d.send(b.gatewayId, { kind: 'ack', seq: b.message.seq });
      if (!stored[i]) return; // a replay of a batch already stored: acked again, not counted
      samples += b.message.samples.length;
      // One gateway's samples must not stop the others' (nor the console): they are stored and
      // acknowledged already; only the live figures would miss them.
      try {
        if (this.live(b, latest)) changed.add(b.gatewayId);
      } catch (err) {
        this.d.log.error({ err, gatewayId: b.gatewayId, seq: b.message.seq }, 'telemetry stored but not applied to the live figures');
      }
    });
    for (const id of changed) this.d.changed(id);
    if (group.length > 0) this.d.stored?.({ batches: group.length, samples, lagMs: now - openedAt });
  }

  /** Feeds the live figures; true when the gateway's summary changed. */
  private live(b: Received, latest: number): boolean {
    // The usual batch has nothing ahead and is used as it is (no copy per batch).
    const all = b.message.samples;
    const samples: readonly TelemetrySample[] = all.some((x) => x.time > latest) ? all.filter((x) => x.time <= latest) : all;
    const ahead = all.length - samples.length;
    if (ahead > 0) {
      this.clockAhead.add(b.gatewayId);
      this.d.alarms.raise({
        code: 'GATEWAY_CLOCK_AHEAD',
        severity: 'warning',
        gatewayId: b.gatewayId,
        message: `${b.gatewayId} sends samples stamped more than ${MAX_CLOCK_AHEAD_MS / 1000} s ahead of the console's clock (${ahead} in batch ${b.message.seq}); they are stored but left out of the live figures — check the site's time synchronisation`,
      });
    } else if (this.clockAhead.delete(b.gatewayId)) {
      this.d.alarms.clear('GATEWAY_CLOCK_AHEAD', b.gatewayId);
    }
    this.d.load.add(b.gatewayId, samples);
    return this.d.registry.telemetry(b.gatewayId, samples);
  }

  private flushRollups(): void {
    if (this.pending.length > 0 || this.writes.pending > 0) return; // the next group does it
    try {
      this.d.store.flushTelemetryRollups();
    } catch (err) {
      this.d.log.error({ err }, 'writing the telemetry roll-ups failed; they are written with the next batch');
    }
  }
}
