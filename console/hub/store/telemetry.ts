/**
 * Telemetry: raw samples, per-gateway and fleet roll-ups, and the exactly-once bookkeeping of
 * (gateway, seq).
 *
 * Writes come in groups: the hub collects the batches that arrive within a few tens of ms and stores
 * them in one transaction — one fsync for the group instead of one per batch — and acks each batch
 * after the commit. A (gateway, seq) seen before is not stored again but reported, so the hub still
 * acks the replay.
 *
 * Roll-ups are updated in the same transaction as the raw rows, incrementally (count, sum, min, max,
 * last meter reading per gateway and bucket; for the fleet, the sum of the gateways' averages per
 * bucket, adjusted by each gateway's change of average), so samples arriving late or in any order
 * are rolled up exactly as if they had arrived in order.
 */
import type Database from 'better-sqlite3';
import { BugError } from '../../../shared/errors.js';
import type { RelayState, TelemetrySample } from '../../../shared/protocol/messages.js';
import type { LoadHistoryQuery, LoadPoint } from '../operator/types.js';
import type { HubDb } from './db.js';
import { compactRelays, decodeJson } from './records.js';

export interface TelemetryBatch {
  gatewayId: string;
  seq: number;
  samples: readonly TelemetrySample[];
}

const SECOND_MS = 1_000;
const MINUTE_MS = 60_000;
const QUARTER_HOUR_MS = 900_000;
const DAY_MS = 86_400_000;

/** How long each tier is kept. A second or bucket goes once all of it is older than this. */
export const RETENTION_MS = {
  raw: 2 * DAY_MS,
  rollup1m: 400 * DAY_MS,
  rollup15m: 400 * DAY_MS,
} as const;

/** Half a quarter-hour at one sample per second. */
export const DEFAULT_PEAK_MIN_SAMPLES = 450;

/** Rows one DELETE removes at most, so no single statement holds the write lock for long. */
export const PRUNE_CHUNK_ROWS = 5_000;
/** Rows one prune() call removes at most; it says `done: false` when more is left. */
export const PRUNE_BUDGET_ROWS = 10_000;

type Tier = '1s' | '1m' | '15m';

const BUCKET_MS: Record<Tier, number> = { '1s': SECOND_MS, '1m': MINUTE_MS, '15m': QUARTER_HOUR_MS };

function bucketOf(time: number, size: number): number {
  return Math.floor(time / size) * size;
}

function ceilTo(time: number, size: number): number {
  return Math.ceil(time / size) * size;
}

/** What one store() call adds to one (gateway, bucket). */
interface Delta {
  gatewayId: string;
  bucket: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  lastKwh: number | null;
  lastKwhTime: number | null;
}

/** What it changes in one fleet bucket: the change of the sum of gateway averages. */
interface FleetDelta {
  kw: number;
  maxCount: number;
}

class Deltas {
  readonly byTier: Record<Tier, Map<string, Delta>> = { '1s': new Map(), '1m': new Map(), '15m': new Map() };

  add(gatewayId: string, s: TelemetrySample): void {
    for (const tier of ['1s', '1m', '15m'] as const) {
      const bucket = bucketOf(s.time, BUCKET_MS[tier]);
      const key = `${gatewayId}\u0000${bucket}`;
      const map = this.byTier[tier];
      const d = map.get(key);
      const kwh = s.kwh ?? null;
      if (!d) {
        map.set(key, { gatewayId, bucket, count: 1, sum: s.kw, min: s.kw, max: s.kw, lastKwh: kwh, lastKwhTime: kwh === null ? null : s.time });
        continue;
      }
      d.count++;
      d.sum += s.kw;
      d.min = Math.min(d.min, s.kw);
      d.max = Math.max(d.max, s.kw);
      if (kwh !== null && (d.lastKwhTime === null || s.time >= d.lastKwhTime)) {
        d.lastKwh = kwh;
        d.lastKwhTime = s.time;
      }
    }
  }
}

function isRelayList(v: unknown): v is readonly RelayState[] {
  return Array.isArray(v) && v.every((r: { channel?: unknown; on?: unknown }) => Number.isSafeInteger(r.channel) && typeof r.on === 'boolean');
}

function isChannelPowerList(v: unknown): boolean {
  return Array.isArray(v) && v.every((c: { channel?: unknown; kw?: unknown }) => Number.isSafeInteger(c.channel) && Number.isFinite(c.kw));
}

/** The codec has validated every sample; anything else reaching here is a bug, refused before anything is written. */
function assertBatch(b: TelemetryBatch): void {
  const where = `telemetry batch (${String(b.gatewayId)}, ${String(b.seq)})`;
  if (typeof b.gatewayId !== 'string' || b.gatewayId === '') throw new BugError(`${where}: no gateway id`);
  if (!Number.isSafeInteger(b.seq) || b.seq < 1) throw new BugError(`${where}: seq must be a positive safe integer`);
  const samples: unknown = b.samples;
  if (!Array.isArray(samples)) throw new BugError(`${where}: samples is not an array`);
  b.samples.forEach((s, i) => {
    const bad = (what: string): BugError => new BugError(`${where}, sample ${i}: ${what}`);
    if (!Number.isSafeInteger(s.time) || s.time < 0) throw bad(`time ${s.time} is not a time in ms`);
    if (!Number.isFinite(s.kw)) throw bad(`kw ${s.kw} is not a number`);
    if (s.kwh !== undefined && !Number.isFinite(s.kwh)) throw bad(`kwh ${s.kwh} is not a number`);
    if (!isRelayList(s.relays)) throw bad('relays is not a list of relay states');
    if (s.channelKw !== undefined && !isChannelPowerList(s.channelKw)) throw bad('channelKw is not a list of channel powers');
  });
}

export class TelemetryTable {
  private readonly seqNeighbours: Database.Statement;
  private readonly seqInsert: Database.Statement;
  private readonly seqExtend: Database.Statement;
  private readonly seqDelete: Database.Statement;
  private readonly rawInsert: Database.Statement;
  private readonly secondTotals: Database.Statement;
  private readonly rollupUpsert: Record<'1m' | '15m', Database.Statement>;
  private readonly fleetUpsert: Record<Tier, Database.Statement>;
  private readonly gatewayHistory: Record<Tier, Database.Statement>;
  private readonly fleetHistory: Record<Tier, Database.Statement>;
  private readonly gatewayPeak: Database.Statement;
  private readonly fleetPeak: Database.Statement;
  private readonly last: Database.Statement;
  private readonly gatewayIds: Database.Statement;
  private readonly gatewayPrune: Record<'raw' | '1m' | '15m', Database.Statement>;
  private readonly fleetPrune: Record<Tier, Database.Statement>;
  private readonly storeAll: Database.Transaction<(batches: readonly TelemetryBatch[]) => boolean[]>;
  private readonly pruneChunk: Database.Transaction<
    (gateways: readonly string[], from: number, cutoffs: Cutoffs, limit: number) => { raw: number; rollups: number; next: number }
  >;
  /** The gateway the next prune() starts with, so a call cut short by its budget resumes there. */
  private pruneFrom: string | undefined;

  constructor(
    db: HubDb,
    private readonly path: string,
  ) {
    // The range holding seq, if any, is the one with the highest from_seq ≤ seq; a range starting at
    // seq + 1 is merged with it.
    this.seqNeighbours = db.prepare('SELECT from_seq, to_seq FROM telemetry_seqs WHERE gateway_id = ? AND from_seq <= ? ORDER BY from_seq DESC LIMIT 2');
    this.seqInsert = db.prepare('INSERT INTO telemetry_seqs (gateway_id, from_seq, to_seq) VALUES (?, ?, ?)');
    this.seqExtend = db.prepare('UPDATE telemetry_seqs SET to_seq = ? WHERE gateway_id = ? AND from_seq = ?');
    this.seqDelete = db.prepare('DELETE FROM telemetry_seqs WHERE gateway_id = ? AND from_seq = ?');
    this.rawInsert = db.prepare('INSERT INTO telemetry_raw (gateway_id, time, seq, idx, kw, kwh, relays, channel_kw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.secondTotals = db.prepare('SELECT COUNT(*) AS count, TOTAL(kw) AS sum FROM telemetry_raw WHERE gateway_id = ? AND time >= ? AND time < ?');
    const rollupUpsert = (table: string): Database.Statement =>
      // In an UPDATE every expression sees the row as it was, so last_kwh and last_kwh_time compare the same old time.
      db.prepare(`
        INSERT INTO ${table} (gateway_id, bucket, count, sum_kw, min_kw, max_kw, last_kwh, last_kwh_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (gateway_id, bucket) DO UPDATE SET
          count = count + excluded.count,
          sum_kw = sum_kw + excluded.sum_kw,
          min_kw = MIN(min_kw, excluded.min_kw),
          max_kw = MAX(max_kw, excluded.max_kw),
          last_kwh = CASE WHEN excluded.last_kwh_time IS NOT NULL AND (last_kwh_time IS NULL OR excluded.last_kwh_time >= last_kwh_time)
                          THEN excluded.last_kwh ELSE last_kwh END,
          last_kwh_time = CASE WHEN excluded.last_kwh_time IS NOT NULL AND (last_kwh_time IS NULL OR excluded.last_kwh_time >= last_kwh_time)
                               THEN excluded.last_kwh_time ELSE last_kwh_time END
        RETURNING count, sum_kw`);
    this.rollupUpsert = { '1m': rollupUpsert('telemetry_1m'), '15m': rollupUpsert('telemetry_15m') };
    const fleetUpsert = (table: string): Database.Statement =>
      db.prepare(`INSERT INTO ${table} (bucket, kw, max_count) VALUES (?, ?, ?)
                  ON CONFLICT (bucket) DO UPDATE SET kw = kw + excluded.kw, max_count = MAX(max_count, excluded.max_count)`);
    this.fleetUpsert = { '1s': fleetUpsert('fleet_1s'), '1m': fleetUpsert('fleet_1m'), '15m': fleetUpsert('fleet_15m') };

    this.gatewayHistory = {
      '1s': db.prepare(
        'SELECT time - time % 1000 AS time, AVG(kw) AS kw FROM telemetry_raw WHERE gateway_id = ? AND time >= ? AND time < ? GROUP BY 1 ORDER BY 1',
      ),
      '1m': db.prepare('SELECT bucket AS time, sum_kw / count AS kw FROM telemetry_1m WHERE gateway_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket'),
      '15m': db.prepare('SELECT bucket AS time, sum_kw / count AS kw FROM telemetry_15m WHERE gateway_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket'),
    };
    const fleetHistory = (table: string): Database.Statement => db.prepare(`SELECT bucket AS time, kw FROM ${table} WHERE bucket >= ? AND bucket < ? ORDER BY bucket`);
    this.fleetHistory = { '1s': fleetHistory('fleet_1s'), '1m': fleetHistory('fleet_1m'), '15m': fleetHistory('fleet_15m') };
    this.gatewayPeak = db.prepare(`
      SELECT bucket AS start, sum_kw / count AS kw FROM telemetry_15m
      WHERE gateway_id = ? AND bucket >= ? AND bucket <= ? AND count >= ? ORDER BY kw DESC, bucket LIMIT 1`);
    this.fleetPeak = db.prepare('SELECT bucket AS start, kw FROM fleet_15m WHERE bucket >= ? AND bucket <= ? AND max_count >= ? ORDER BY kw DESC, bucket LIMIT 1');
    this.last = db.prepare('SELECT time, seq, idx, kw, relays FROM telemetry_raw WHERE gateway_id = ? ORDER BY time DESC, seq DESC, idx DESC LIMIT 1');

    this.gatewayIds = db.prepare('SELECT DISTINCT gateway_id FROM telemetry_seqs ORDER BY gateway_id');
    // Deletes the oldest rows below the cutoff, at most about @limit of them (ties on the boundary
    // time go too, so a chunk is never empty while rows are left).
    const gatewayPrune = (table: string, key: string): Database.Statement =>
      db.prepare(`
        DELETE FROM ${table} WHERE gateway_id = @gw AND ${key} < @cutoff AND ${key} <= COALESCE(
          (SELECT ${key} FROM ${table} WHERE gateway_id = @gw AND ${key} < @cutoff ORDER BY ${key} LIMIT 1 OFFSET @limit - 1), @cutoff)`);
    this.gatewayPrune = { raw: gatewayPrune('telemetry_raw', 'time'), '1m': gatewayPrune('telemetry_1m', 'bucket'), '15m': gatewayPrune('telemetry_15m', 'bucket') };
    const fleetPrune = (table: string): Database.Statement =>
      db.prepare(`
        DELETE FROM ${table} WHERE bucket < @cutoff AND bucket <= COALESCE(
          (SELECT bucket FROM ${table} WHERE bucket < @cutoff ORDER BY bucket LIMIT 1 OFFSET @limit - 1), @cutoff)`);
    this.fleetPrune = { '1s': fleetPrune('fleet_1s'), '1m': fleetPrune('fleet_1m'), '15m': fleetPrune('fleet_15m') };

    this.storeAll = db.transaction((batches: readonly TelemetryBatch[]) => {
      const deltas = new Deltas();
      const stored = batches.map((b) => {
        if (!this.claim(b.gatewayId, b.seq)) return false;
        b.samples.forEach((s, idx) => {
          this.rawInsert.run(
            b.gatewayId,
            s.time,
            b.seq,
            idx,
            s.kw,
            s.kwh ?? null,
            JSON.stringify(s.relays.map((r) => [r.channel, r.on ? 1 : 0])),
            s.channelKw === undefined ? null : JSON.stringify(s.channelKw.map((c) => [c.channel, c.kw])),
          );
          deltas.add(b.gatewayId, s);
        });
        return true;
      });
      this.rollUp(deltas);
      return stored;
    });
    this.pruneChunk = db.transaction((gateways: readonly string[], from: number, cutoffs: Cutoffs, limit: number) => {
      let left = limit;
      let raw = 0;
      let rollups = 0;
      let i = from;
      // Gateway after gateway until the chunk's rows are used up; a gateway with more than that
      // left is where the next chunk starts.
      while (i < gateways.length && left > 0) {
        const gw = gateways[i] ?? '';
        let more = false;
        const run = (statement: Database.Statement, cutoff: number): number => {
          if (left <= 0) return 0;
          const n = statement.run({ gw, cutoff, limit: left }).changes;
          if (n >= left) more = true;
          left -= n;
          return n;
        };
        raw += run(this.gatewayPrune.raw, cutoffs.raw);
        rollups += run(this.gatewayPrune['1m'], cutoffs.rollup1m) + run(this.gatewayPrune['15m'], cutoffs.rollup15m);
        if (!more) i++;
      }
      return { raw, rollups, next: i };
    });
  }

  /** One transaction for all batches; per batch true = stored now, false = that (gateway, seq) was stored before. */
  store(batches: readonly TelemetryBatch[]): boolean[] {
    batches.forEach(assertBatch);
    if (batches.length === 0) return [];
    return this.storeAll.immediate(batches);
  }

  /** Records (gateway, seq) as stored; false when it already was. */
  private claim(gatewayId: string, seq: number): boolean {
    const rows = this.seqNeighbours.all(gatewayId, seq + 1) as Array<{ from_seq: number; to_seq: number }>;
    let next: { from_seq: number; to_seq: number } | undefined;
    let prev: { from_seq: number; to_seq: number } | undefined;
    for (const r of rows) {
      if (r.from_seq === seq + 1) next = r;
      else prev ??= r;
    }
    if (prev && prev.to_seq >= seq) return false;
    if (prev && prev.to_seq === seq - 1) {
      this.seqExtend.run(next ? next.to_seq : seq, gatewayId, prev.from_seq);
      if (next) this.seqDelete.run(gatewayId, next.from_seq);
    } else if (next) {
      this.seqDelete.run(gatewayId, next.from_seq);
      this.seqInsert.run(gatewayId, seq, next.to_seq);
    } else {
      this.seqInsert.run(gatewayId, seq, seq);
    }
    return true;
  }

  /**
   * Applies the group's additions to the roll-ups. Each gateway bucket's new totals come back from
   * the upsert (or, per second, from the raw rows); its old average follows by subtracting what this
   * group added, and the fleet bucket moves by the difference of the two averages.
   */
  private rollUp(deltas: Deltas): void {
    for (const tier of ['1s', '1m', '15m'] as const) {
      const fleet = new Map<number, FleetDelta>();
      for (const d of deltas.byTier[tier].values()) {
        let total: { count: number; sum_kw: number };
        if (tier === '1s') {
          const t = this.secondTotals.get(d.gatewayId, d.bucket, d.bucket + SECOND_MS) as { count: number; sum: number };
          total = { count: t.count, sum_kw: t.sum };
        } else {
          total = this.rollupUpsert[tier].get(d.gatewayId, d.bucket, d.count, d.sum, d.min, d.max, d.lastKwh, d.lastKwhTime) as { count: number; sum_kw: number };
        }
        const oldCount = total.count - d.count;
        const oldAverage = oldCount > 0 ? (total.sum_kw - d.sum) / oldCount : 0;
        const change = total.sum_kw / total.count - oldAverage;
        const f = fleet.get(d.bucket);
        if (f) {
          f.kw += change;
          f.maxCount = Math.max(f.maxCount, total.count);
        } else {
          fleet.set(d.bucket, { kw: change, maxCount: total.count });
        }
      }
      for (const [bucket, f] of fleet) this.fleetUpsert[tier].run(bucket, f.kw, f.maxCount);
    }
  }

  /**
   * Points whose bucket starts in [from, to), ascending. '1s' per gateway averages the raw samples
   * of each second; every fleet point is the sum of the gateways' averages in that bucket (gateways
   * without a sample in it add nothing).
   */
  history(q: LoadHistoryQuery): LoadPoint[] {
    if (!Number.isFinite(q.from) || !Number.isFinite(q.to) || q.to <= q.from) return [];
    const size = BUCKET_MS[q.resolution];
    // Bucket starts are multiples of the size: start ≥ from ⇔ start ≥ ceil(from), start < to ⇔ start < ceil(to).
    const from = ceilTo(q.from, size);
    const to = ceilTo(q.to, size);
    const rows =
      q.gatewayId === undefined ? this.fleetHistory[q.resolution].all(from, to) : this.gatewayHistory[q.resolution].all(q.gatewayId, from, to);
    return rows as LoadPoint[];
  }

  /**
   * The highest 15-minute average among the quarter-hours lying wholly inside [from, to) — the one
   * still running is left to the live meter — with at least minSamples samples (fleet: from at least
   * one gateway). Ties go to the earliest.
   */
  peak(q: { gatewayId?: string; from: number; to: number; minSamples?: number }): { kw: number; start: number } | null {
    if (!Number.isFinite(q.from) || !Number.isFinite(q.to)) return null;
    const firstStart = ceilTo(q.from, QUARTER_HOUR_MS);
    const lastStart = bucketOf(q.to, QUARTER_HOUR_MS) - QUARTER_HOUR_MS;
    if (lastStart < firstStart) return null;
    const minSamples = q.minSamples ?? DEFAULT_PEAK_MIN_SAMPLES;
    const row =
      q.gatewayId === undefined
        ? this.fleetPeak.get(firstStart, lastStart, minSamples)
        : this.gatewayPeak.get(q.gatewayId, firstStart, lastStart, minSamples);
    return (row as { kw: number; start: number } | undefined) ?? null;
  }

  /** The gateway's latest raw sample (within the raw retention). */
  lastSample(gatewayId: string): { time: number; kw: number; relays: RelayState[] } | null {
    const row = this.last.get(gatewayId) as { time: number; seq: number; idx: number; kw: number; relays: string } | undefined;
    if (!row) return null;
    const ref = { path: this.path, table: 'telemetry_raw', row: `${gatewayId}/${row.time}/${row.seq}/${row.idx}`, column: 'relays' };
    const relays = decodeJson(ref, row.relays, compactRelays).map(([channel, on]) => ({ channel, on: on === 1 }));
    return { time: row.time, kw: row.kw, relays };
  }

  /**
   * Deletes what is past its retention, at most about PRUNE_BUDGET_ROWS rows per call, in
   * transactions of about PRUNE_CHUNK_ROWS rows (many gateways each: one fsync per chunk, not per
   * gateway); `done: false` means call again. A cut-off is rounded down to a whole second or
   * bucket, so a second or bucket goes whole.
   */
  prune(now: number): { raw: number; rollups: number; done: boolean } {
    const cutoffs: Cutoffs = {
      raw: bucketOf(now - RETENTION_MS.raw, SECOND_MS),
      rollup1m: bucketOf(now - RETENTION_MS.rollup1m, MINUTE_MS),
      rollup15m: bucketOf(now - RETENTION_MS.rollup15m, QUARTER_HOUR_MS),
    };
    let budget = PRUNE_BUDGET_ROWS;
    let raw = 0;
    let rollups = 0;
    const ids = (this.gatewayIds.all() as Array<{ gateway_id: string }>).map((r) => r.gateway_id);
    // Resume with the gateway the last call stopped at, then wrap around.
    const start = this.pruneFrom === undefined ? 0 : Math.max(0, ids.findIndex((id) => id >= (this.pruneFrom ?? '')));
    const order = [...ids.slice(start), ...ids.slice(0, start)];
    let next = 0;
    while (next < order.length) {
      if (budget <= 0) {
        this.pruneFrom = order[next];
        return { raw, rollups, done: false };
      }
      const chunk = this.pruneChunk.immediate(order, next, cutoffs, Math.min(PRUNE_CHUNK_ROWS, budget));
      raw += chunk.raw;
      rollups += chunk.rollups;
      budget -= chunk.raw + chunk.rollups;
      next = chunk.next;
    }
    const fleetCutoffs: Record<Tier, number> = { '1s': cutoffs.raw, '1m': cutoffs.rollup1m, '15m': cutoffs.rollup15m };
    for (const tier of ['1s', '1m', '15m'] as const) {
      for (;;) {
        const limit = Math.min(PRUNE_CHUNK_ROWS, budget);
        if (limit <= 0) return { raw, rollups, done: false };
        const n = this.fleetPrune[tier].run({ cutoff: fleetCutoffs[tier], limit }).changes;
        rollups += n;
        budget -= n;
        if (n < limit) break;
      }
    }
    this.pruneFrom = undefined;
    return { raw, rollups, done: true };
  }
}

interface Cutoffs {
  raw: number;
  rollup1m: number;
  rollup15m: number;
}
