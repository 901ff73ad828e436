/**
 * Telemetry: raw samples, per-gateway and fleet roll-ups, and the exactly-once bookkeeping of
 * (gateway, seq).
 *
 * What a group commit writes is what it must (issue 13: the per-gateway layout rewrote ~40 random
 * 4 KiB pages per 20 ms group, 13–16 kB of disk writes per one-sample batch):
 * - raw samples are keyed (second, gateway number, seq, idx), so the samples of a group land on the
 *   last pages of the table; a gateway's curve is read second by second (one seek each);
 * - the roll-ups of the open minute and quarter-hour — per gateway, and the fleet's sum of gateway
 *   averages per second, minute and quarter-hour — are kept in memory and written once the bucket
 *   has closed, all gateways in one go (`flush`, inside the next group's transaction); every query
 *   merges the two;
 * - the (gateway, seq) ranges are kept in memory and written with that same flush.
 *
 * Durability rests on one watermark, `rolled_up_to` (W, on a minute), written with each flush: the
 * roll-up tables and telemetry_seqs hold everything about the raw samples before W; whatever is at
 * or after W is only in memory, and is rebuilt from those raw rows when the store opens (a kill -9
 * loses nothing: the raw rows were committed before the ack). A sample arriving for a time before W
 * (a late batch, a replay after an outage) is rolled up straight into the tables, incrementally, as
 * the previous schema did for every sample; a batch none of whose samples is at or after W writes
 * its seq range at once (the rebuild could not find it).
 *
 * A transaction that fails after telemetry was written in it leaves the memory ahead of the file:
 * `reload()` (HubStore calls it) rebuilds the memory from the file.
 */
import type Database from 'better-sqlite3';
import { BugError } from '../../../shared/errors.js';
import type { ChannelPower, RelayState, TelemetrySample } from '../../../shared/protocol/messages.js';
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

/**
 * A minute is written to the roll-up tables this long after it ended: batches sent every 10 s, and a
 * little delay on the way, still find their minute in memory. Later samples take the slower path
 * (straight into the tables).
 */
export const ROLLUP_GRACE_MS = 30_000;

/** A per-gateway raw curve is read second by second up to this span; beyond, by one range scan. */
const MAX_SEEK_SECONDS = 200_000;

type Tier = '1s' | '1m' | '15m';

const BUCKET_MS: Record<Tier, number> = { '1s': SECOND_MS, '1m': MINUTE_MS, '15m': QUARTER_HOUR_MS };

function bucketOf(time: number, size: number): number {
  return Math.floor(time / size) * size;
}

function ceilTo(time: number, size: number): number {
  return Math.ceil(time / size) * size;
}

/** count, sum, min, max and the latest meter reading of one gateway in one bucket. */
interface Agg {
  count: number;
  sum: number;
  min: number;
  max: number;
  lastKwh: number | null;
  lastKwhTime: number | null;
}

function newAgg(): Agg {
  return { count: 0, sum: 0, min: Infinity, max: -Infinity, lastKwh: null, lastKwhTime: null };
}

function addSample(a: Agg, time: number, kw: number, kwh: number | null): void {
  a.count++;
  a.sum += kw;
  if (kw < a.min) a.min = kw;
  if (kw > a.max) a.max = kw;
  if (kwh !== null && (a.lastKwhTime === null || time >= a.lastKwhTime)) {
    a.lastKwh = kwh;
    a.lastKwhTime = time;
  }
}

function mergeAgg(a: Agg, b: Agg): void {
  a.count += b.count;
  a.sum += b.sum;
  a.min = Math.min(a.min, b.min);
  a.max = Math.max(a.max, b.max);
  if (b.lastKwhTime !== null && (a.lastKwhTime === null || b.lastKwhTime >= a.lastKwhTime)) {
    a.lastKwh = b.lastKwh;
    a.lastKwhTime = b.lastKwhTime;
  }
}

/** Open buckets of one tier: bucket start → gateway number → totals. */
type OpenBuckets = Map<number, Map<number, Agg>>;

function aggIn(open: OpenBuckets, bucket: number, gw: number): Agg {
  let byGw = open.get(bucket);
  if (!byGw) open.set(bucket, (byGw = new Map<number, Agg>()));
  let a = byGw.get(gw);
  if (!a) byGw.set(gw, (a = newAgg()));
  return a;
}

/** The fleet's point for one bucket: the sum of the gateways' averages; max_count for peakOf. */
interface FleetPoint {
  kw: number;
  maxCount: number;
}

function fleetOf(byGw: Map<number, Agg>): FleetPoint {
  let kw = 0;
  let maxCount = 0;
  for (const a of byGw.values()) {
    kw += a.sum / a.count;
    if (a.count > maxCount) maxCount = a.count;
  }
  return { kw, maxCount };
}

type SeqRanges = Array<[from: number, to: number]>;

/** Adds seq to the sorted, disjoint ranges; false when it is in one already. */
function claimSeq(ranges: SeqRanges, seq: number): boolean {
  const last = ranges.at(-1);
  // The usual case: the next seq.
  if (last && seq === last[1] + 1) {
    last[1] = seq;
    return true;
  }
  if (!last || seq > last[1] + 1) {
    ranges.push([seq, seq]);
    return true;
  }
  // Binary search for the last range starting at or before seq.
  let lo = 0;
  let hi = ranges.length - 1;
  let at = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((ranges[mid] as [number, number])[0] <= seq) {
      at = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  const prev = at >= 0 ? ranges[at] : undefined;
  const next = ranges[at + 1];
  if (prev && prev[1] >= seq) return false;
  const joinsPrev = prev !== undefined && prev[1] === seq - 1;
  const joinsNext = next !== undefined && next[0] === seq + 1;
  if (joinsPrev && joinsNext) {
    prev[1] = next[1];
    ranges.splice(at + 1, 1);
  } else if (joinsPrev) {
    prev[1] = seq;
  } else if (joinsNext) {
    next[0] = seq;
  } else {
    ranges.splice(at + 1, 0, [seq, seq]);
  }
  return true;
}

/**
 * Relays as 2 bits per channel (1 = off, 2 = on) when the channels are 0..25 in ascending order —
 * one or two bytes instead of ~20 of JSON; anything else as the JSON list, kept as it came.
 */
function encodeRelays(relays: readonly RelayState[]): number | string {
  let mask = 0;
  let prev = -1;
  for (const r of relays) {
    if (!(r.channel > prev && r.channel <= 25)) return JSON.stringify(relays.map((x) => [x.channel, x.on ? 1 : 0]));
    mask += (r.on ? 2 : 1) * 4 ** r.channel;
    prev = r.channel;
  }
  return mask;
}

function decodeRelayMask(mask: number): RelayState[] {
  const relays: RelayState[] = [];
  for (let channel = 0; mask > 0; channel++, mask = Math.floor(mask / 4)) {
    const bits = mask % 4;
    if (bits !== 0) relays.push({ channel, on: bits === 2 });
  }
  return relays;
}

/** (uint16 channel, float64 kW) little-endian per channel: 10 bytes each, lossless; else JSON. */
function encodeChannelKw(channelKw: readonly ChannelPower[] | undefined): Buffer | string | null {
  if (channelKw === undefined) return null;
  if (!channelKw.every((c) => c.channel >= 0 && c.channel <= 0xffff)) return JSON.stringify(channelKw.map((c) => [c.channel, c.kw]));
  const buf = Buffer.allocUnsafe(channelKw.length * 10);
  channelKw.forEach((c, i) => {
    buf.writeUInt16LE(c.channel, i * 10);
    buf.writeDoubleLE(c.kw, i * 10 + 2);
  });
  return buf;
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

/** What one batch adds to one (gateway, bucket) of a tier rolled up in the tables (before W). */
interface Delta extends Agg {
  bucket: number;
}

/** Everything the memory holds; rebuilt from the file by reload(). */
class OpenState {
  /** W: the roll-up tables and telemetry_seqs hold everything about the raw samples before it. */
  rolledUpTo = 0;
  readonly gwNum = new Map<string, number>();
  readonly gwId = new Map<number, string>();
  /** The second of each gateway's latest sample. */
  readonly lastSec = new Map<number, number>();
  readonly lastSecDirty = new Set<number>();
  readonly seqs = new Map<number, SeqRanges>();
  readonly seqsDirty = new Set<number>();
  readonly open1m: OpenBuckets = new Map();
  readonly open15m: OpenBuckets = new Map();
  /** The fleet per second at or after W. */
  readonly fleet1s = new Map<number, FleetPoint>();
  /** Each gateway's latest second at or after W, with its totals so far (the fleet's per-second delta). */
  readonly latestSecond = new Map<number, { sec: number; count: number; sum: number }>();
}

export class TelemetryTable {
  private readonly s: {
    gatewayInsert: Database.Statement;
    lastSecUpdate: Database.Statement;
    lastSecRaise: Database.Statement;
    stateRead: Database.Statement;
    stateWrite: Database.Statement;
    seqsAll: Database.Statement;
    seqsDelete: Database.Statement;
    seqsInsert: Database.Statement;
    gatewaysAll: Database.Statement;
    rawInsert: Database.Statement;
    rawSince: Database.Statement;
    secondTotals: Database.Statement;
    minutesBetween: Database.Statement;
    rollupUpsert: Record<'1m' | '15m', Database.Statement>;
    fleetUpsert: Record<Tier, Database.Statement>;
    gatewaySeconds: Database.Statement;
    gatewaySecondsScan: Database.Statement;
    gatewayMinutes: Database.Statement;
    gatewayQuarters: Database.Statement;
    fleetHistory: Record<Tier, Database.Statement>;
    gatewayPeak: Database.Statement;
    fleetPeak: Database.Statement;
    lastAt: Database.Statement;
    rawBounds: Database.Statement;
    minuteBounds: Database.Statement;
    rawPrune: Database.Statement;
    minutePrune: Database.Statement;
    quarterPrune: Database.Statement;
    fleetPrune: Record<Tier, Database.Statement>;
  };
  private readonly storeAll: Database.Transaction<(batches: readonly TelemetryBatch[]) => boolean[]>;
  private readonly flushTx: Database.Transaction<(to: number) => void>;
  private m = new OpenState();
  /** The gateway number the next quarter-hour prune starts with, so a call cut short resumes there. */
  private pruneFrom = 0;

  constructor(
    private readonly db: HubDb,
    private readonly path: string,
    private readonly now: () => number = Date.now,
  ) {
    const rollupUpsert = (table: string, key: string): Database.Statement =>
      // In an UPDATE every expression sees the row as it was, so last_kwh and last_kwh_time compare the same old time.
      db.prepare(`
        INSERT INTO ${table} (${key}, count, sum_kw, min_kw, max_kw, last_kwh, last_kwh_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT DO UPDATE SET
          count = count + excluded.count,
          sum_kw = sum_kw + excluded.sum_kw,
          min_kw = MIN(min_kw, excluded.min_kw),
          max_kw = MAX(max_kw, excluded.max_kw),
          last_kwh = CASE WHEN excluded.last_kwh_time IS NOT NULL AND (last_kwh_time IS NULL OR excluded.last_kwh_time >= last_kwh_time)
                          THEN excluded.last_kwh ELSE last_kwh END,
          last_kwh_time = CASE WHEN excluded.last_kwh_time IS NOT NULL AND (last_kwh_time IS NULL OR excluded.last_kwh_time >= last_kwh_time)
                               THEN excluded.last_kwh_time ELSE last_kwh_time END
        RETURNING count, sum_kw`);
    const fleetUpsert = (table: string): Database.Statement =>
      db.prepare(`INSERT INTO ${table} (bucket, kw, max_count) VALUES (?, ?, ?)
                  ON CONFLICT (bucket) DO UPDATE SET kw = kw + excluded.kw, max_count = MAX(max_count, excluded.max_count)`);
    const fleetHistory = (table: string): Database.Statement => db.prepare(`SELECT bucket AS time, kw FROM ${table} WHERE bucket >= ? AND bucket < ? ORDER BY bucket`);
    const fleetPrune = (table: string): Database.Statement =>
      db.prepare(`
        DELETE FROM ${table} WHERE bucket < @cutoff AND bucket <= COALESCE(
          (SELECT bucket FROM ${table} WHERE bucket < @cutoff ORDER BY bucket LIMIT 1 OFFSET @limit - 1), @cutoff)`);
    // One seek per second (or minute) of the range: the rows of one gateway are a few among all.
    const seeks = (step: number, select: string, table: string, key: string): Database.Statement =>
      db.prepare(`
        WITH RECURSIVE b(k) AS (SELECT @from UNION ALL SELECT k + ${step} FROM b WHERE k + ${step} < @to)
        SELECT ${select} FROM b CROSS JOIN ${table} r ON r.${key} = b.k AND r.gw = @gw GROUP BY b.k ORDER BY b.k`);
    this.s = {
      gatewayInsert: db.prepare('INSERT INTO telemetry_gateways (gateway_id) VALUES (?)'),
      lastSecUpdate: db.prepare('UPDATE telemetry_gateways SET last_sec = ? WHERE num = ?'),
      lastSecRaise: db.prepare('UPDATE telemetry_gateways SET last_sec = @sec WHERE num = @gw AND (last_sec IS NULL OR last_sec < @sec)'),
      stateRead: db.prepare('SELECT rolled_up_to FROM telemetry_state WHERE id = 1'),
      stateWrite: db.prepare('INSERT INTO telemetry_state (id, rolled_up_to) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET rolled_up_to = excluded.rolled_up_to'),
      seqsAll: db.prepare('SELECT gateway_id, from_seq, to_seq FROM telemetry_seqs ORDER BY gateway_id, from_seq'),
      seqsDelete: db.prepare('DELETE FROM telemetry_seqs WHERE gateway_id = ?'),
      seqsInsert: db.prepare('INSERT INTO telemetry_seqs (gateway_id, from_seq, to_seq) VALUES (?, ?, ?)'),
      gatewaysAll: db.prepare('SELECT num, gateway_id, last_sec FROM telemetry_gateways'),
      rawInsert: db.prepare('INSERT INTO telemetry_samples (sec, gw, seq, idx, ms, kw, kwh, relays, channel_kw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      rawSince: db.prepare('SELECT sec, gw, seq, ms, kw, kwh FROM telemetry_samples WHERE sec >= ? ORDER BY sec, gw, seq, idx'),
      secondTotals: db.prepare('SELECT COUNT(*) AS count, TOTAL(kw) AS sum FROM telemetry_samples WHERE sec = ? AND gw = ?'),
      minutesBetween: db.prepare('SELECT bucket, gw, count, sum_kw, min_kw, max_kw, last_kwh, last_kwh_time FROM rollup_1m WHERE bucket >= ? AND bucket < ?'),
      rollupUpsert: { '1m': rollupUpsert('rollup_1m', 'bucket, gw'), '15m': rollupUpsert('rollup_15m', 'bucket, gw') },
      fleetUpsert: { '1s': fleetUpsert('fleet_1s'), '1m': fleetUpsert('fleet_1m'), '15m': fleetUpsert('fleet_15m') },
      gatewaySeconds: seeks(1, 'b.k * 1000 AS time, AVG(r.kw) AS kw', 'telemetry_samples', 'sec'),
      gatewaySecondsScan: db.prepare(
        'SELECT sec * 1000 AS time, AVG(kw) AS kw FROM telemetry_samples WHERE sec >= @from AND sec < @to AND gw = @gw GROUP BY sec ORDER BY sec',
      ),
      gatewayMinutes: seeks(MINUTE_MS, 'b.k AS time, r.sum_kw / r.count AS kw', 'rollup_1m', 'bucket'),
      gatewayQuarters: db.prepare('SELECT bucket AS time, sum_kw / count AS kw FROM rollup_15m WHERE gw = ? AND bucket >= ? AND bucket < ? ORDER BY bucket'),
      fleetHistory: { '1s': fleetHistory('fleet_1s'), '1m': fleetHistory('fleet_1m'), '15m': fleetHistory('fleet_15m') },
      gatewayPeak: db.prepare(`
        SELECT bucket AS start, sum_kw / count AS kw FROM rollup_15m
        WHERE gw = ? AND bucket >= ? AND bucket <= ? AND count >= ? ORDER BY kw DESC, bucket LIMIT 1`),
      fleetPeak: db.prepare('SELECT bucket AS start, kw FROM fleet_15m WHERE bucket >= ? AND bucket <= ? AND max_count >= ? ORDER BY kw DESC, bucket LIMIT 1'),
      lastAt: db.prepare('SELECT ms, seq, idx, kw, relays FROM telemetry_samples WHERE sec = ? AND gw = ? ORDER BY ms DESC, seq DESC, idx DESC LIMIT 1'),
      rawBounds: db.prepare('SELECT MIN(sec) AS lo, MAX(sec) AS hi FROM telemetry_samples'),
      minuteBounds: db.prepare('SELECT MIN(bucket) AS lo FROM rollup_1m'),
      // Whole seconds (buckets) go: ties on the boundary go too, so a chunk is never empty while rows are left.
      rawPrune: db.prepare(`
        DELETE FROM telemetry_samples WHERE sec < @cutoff AND sec <= COALESCE(
          (SELECT sec FROM telemetry_samples WHERE sec < @cutoff ORDER BY sec LIMIT 1 OFFSET @limit - 1), @cutoff)`),
      minutePrune: db.prepare(`
        DELETE FROM rollup_1m WHERE bucket < @cutoff AND bucket <= COALESCE(
          (SELECT bucket FROM rollup_1m WHERE bucket < @cutoff ORDER BY bucket LIMIT 1 OFFSET @limit - 1), @cutoff)`),
      quarterPrune: db.prepare(`
        DELETE FROM rollup_15m WHERE gw = @gw AND bucket < @cutoff AND bucket <= COALESCE(
          (SELECT bucket FROM rollup_15m WHERE gw = @gw AND bucket < @cutoff ORDER BY bucket LIMIT 1 OFFSET @limit - 1), @cutoff)`),
      fleetPrune: { '1s': fleetPrune('fleet_1s'), '1m': fleetPrune('fleet_1m'), '15m': fleetPrune('fleet_15m') },
    };

    this.storeAll = db.transaction((batches: readonly TelemetryBatch[]) => {
      this.maybeFlush();
      return batches.map((b) => this.storeBatch(b));
    });
    this.flushTx = db.transaction((to: number) => this.flush(to));
    this.reload();
  }

  /** Rebuilds the memory from the file: at open, and after a transaction holding telemetry failed. */
  reload(): void {
    const m = new OpenState();
    const state = this.s.stateRead.get() as { rolled_up_to: number } | undefined;
    m.rolledUpTo = state?.rolled_up_to ?? 0;
    for (const g of this.s.gatewaysAll.all() as Array<{ num: number; gateway_id: string; last_sec: number | null }>) {
      m.gwNum.set(g.gateway_id, g.num);
      m.gwId.set(g.num, g.gateway_id);
      if (g.last_sec !== null) m.lastSec.set(g.num, g.last_sec);
    }
    for (const r of this.s.seqsAll.all() as Array<{ gateway_id: string; from_seq: number; to_seq: number }>) {
      const num = m.gwNum.get(r.gateway_id);
      if (num === undefined) continue; // cannot happen: the migration and storeBatch register every gateway
      let ranges = m.seqs.get(num);
      if (!ranges) m.seqs.set(num, (ranges = []));
      ranges.push([r.from_seq, r.to_seq]);
    }
    // The open quarter-hour's minutes already in the tables…
    const w15 = bucketOf(m.rolledUpTo, QUARTER_HOUR_MS);
    for (const r of this.s.minutesBetween.all(w15, m.rolledUpTo) as Array<{
      bucket: number;
      gw: number;
      count: number;
      sum_kw: number;
      min_kw: number;
      max_kw: number;
      last_kwh: number | null;
      last_kwh_time: number | null;
    }>) {
      mergeAgg(aggIn(m.open15m, bucketOf(r.bucket, QUARTER_HOUR_MS), r.gw), {
        count: r.count,
        sum: r.sum_kw,
        min: r.min_kw,
        max: r.max_kw,
        lastKwh: r.last_kwh,
        lastKwhTime: r.last_kwh_time,
      });
    }
    // …and every raw sample at or after W, in time order.
    let cur: { sec: number; gw: number; count: number; sum: number } | undefined;
    const closeSecond = (): void => {
      if (!cur) return;
      const f = m.fleet1s.get(cur.sec * SECOND_MS);
      const avg = cur.sum / cur.count;
      if (f) {
        f.kw += avg;
        f.maxCount = Math.max(f.maxCount, cur.count);
      } else {
        m.fleet1s.set(cur.sec * SECOND_MS, { kw: avg, maxCount: cur.count });
      }
      m.latestSecond.set(cur.gw, { sec: cur.sec, count: cur.count, sum: cur.sum });
    };
    for (const r of this.s.rawSince.iterate(Math.floor(m.rolledUpTo / SECOND_MS)) as IterableIterator<{
      sec: number;
      gw: number;
      seq: number;
      ms: number;
      kw: number;
      kwh: number | null;
    }>) {
      const time = r.sec * SECOND_MS + r.ms;
      if (claimSeqIn(m, r.gw, r.seq)) m.seqsDirty.add(r.gw);
      if ((m.lastSec.get(r.gw) ?? -1) < r.sec) {
        m.lastSec.set(r.gw, r.sec);
        m.lastSecDirty.add(r.gw);
      }
      addSample(aggIn(m.open1m, bucketOf(time, MINUTE_MS), r.gw), time, r.kw, r.kwh);
      addSample(aggIn(m.open15m, bucketOf(time, QUARTER_HOUR_MS), r.gw), time, r.kw, r.kwh);
      if (!cur || cur.sec !== r.sec || cur.gw !== r.gw) {
        closeSecond();
        cur = { sec: r.sec, gw: r.gw, count: 0, sum: 0 };
      }
      cur.count++;
      cur.sum += r.kw;
    }
    closeSecond();
    this.m = m;
  }

  /** One transaction for all batches; per batch true = stored now, false = that (gateway, seq) was stored before. */
  store(batches: readonly TelemetryBatch[]): boolean[] {
    batches.forEach(assertBatch);
    if (batches.length === 0) return [];
    try {
      return this.storeAll.immediate(batches);
    } catch (err) {
      this.reload();
      throw err;
    }
  }

  /** Writes the closed buckets if a minute has passed its grace time; the next store() does it too. */
  flushClosed(): void {
    const to = this.flushTarget();
    if (to === undefined) return;
    try {
      this.flushTx.immediate(to);
    } catch (err) {
      this.reload();
      throw err;
    }
  }

  private flushTarget(): number | undefined {
    const to = bucketOf(this.now() - ROLLUP_GRACE_MS, MINUTE_MS);
    return to > this.m.rolledUpTo ? to : undefined;
  }

  private maybeFlush(): void {
    const to = this.flushTarget();
    if (to !== undefined) this.flush(to);
  }

  /**
   * Moves W to `to`: writes the minutes, seconds and quarter-hours that now lie wholly before it (in
   * key order, so they append), the seq ranges and latest seconds that changed. Inside a transaction.
   */
  private flush(to: number): void {
    const m = this.m;
    const to15 = bucketOf(to, QUARTER_HOUR_MS);
    const sortedBuckets = (open: OpenBuckets, limit: number): number[] =>
      [...open.keys()].filter((b) => b < limit).sort((a, b) => a - b);
    for (const bucket of sortedBuckets(m.open1m, to)) {
      const byGw = m.open1m.get(bucket) as Map<number, Agg>;
      for (const gw of [...byGw.keys()].sort((a, b) => a - b)) {
        const a = byGw.get(gw) as Agg;
        this.s.rollupUpsert['1m'].run(bucket, gw, a.count, a.sum, a.min, a.max, a.lastKwh, a.lastKwhTime);
      }
      const f = fleetOf(byGw);
      this.s.fleetUpsert['1m'].run(bucket, f.kw, f.maxCount);
      m.open1m.delete(bucket);
    }
    for (const sec of [...m.fleet1s.keys()].filter((b) => b < to).sort((a, b) => a - b)) {
      const f = m.fleet1s.get(sec) as FleetPoint;
      this.s.fleetUpsert['1s'].run(sec, f.kw, f.maxCount);
      m.fleet1s.delete(sec);
    }
    for (const bucket of sortedBuckets(m.open15m, to15)) {
      const byGw = m.open15m.get(bucket) as Map<number, Agg>;
      for (const [gw, a] of byGw) this.s.rollupUpsert['15m'].run(bucket, gw, a.count, a.sum, a.min, a.max, a.lastKwh, a.lastKwhTime);
      const f = fleetOf(byGw);
      this.s.fleetUpsert['15m'].run(bucket, f.kw, f.maxCount);
      m.open15m.delete(bucket);
    }
    for (const gw of m.seqsDirty) this.writeSeqs(gw);
    m.seqsDirty.clear();
    for (const gw of m.lastSecDirty) this.s.lastSecUpdate.run(m.lastSec.get(gw) ?? null, gw);
    m.lastSecDirty.clear();
    const toSec = to / SECOND_MS;
    for (const [gw, l] of m.latestSecond) if (l.sec < toSec) m.latestSecond.delete(gw);
    this.s.stateWrite.run(to);
    m.rolledUpTo = to;
  }

  private writeSeqs(gw: number): void {
    const id = this.m.gwId.get(gw) ?? '';
    this.s.seqsDelete.run(id);
    for (const [from, to] of this.m.seqs.get(gw) ?? []) this.s.seqsInsert.run(id, from, to);
  }

  private gatewayNumber(gatewayId: string): number {
    let num = this.m.gwNum.get(gatewayId);
    if (num === undefined) {
      num = Number(this.s.gatewayInsert.run(gatewayId).lastInsertRowid);
      this.m.gwNum.set(gatewayId, num);
      this.m.gwId.set(num, gatewayId);
    }
    return num;
  }

  private storeBatch(b: TelemetryBatch): boolean {
    const m = this.m;
    const gw = this.gatewayNumber(b.gatewayId);
    if (!claimSeqIn(m, gw, b.seq)) return false;
    const w = m.rolledUpTo;
    const w15 = bucketOf(w, QUARTER_HOUR_MS);
    let fresh = 0;
    let late: TelemetrySample[] | undefined;
    // The fleet's per second: each second's totals before this batch, then its change of average.
    const seconds = new Map<number, { count: number; sum: number }>();
    for (const s of b.samples) {
      if (s.time < w) {
        (late ??= []).push(s);
        continue;
      }
      fresh++;
      const sec = Math.floor(s.time / SECOND_MS);
      const t = seconds.get(sec);
      if (t) {
        t.count++;
        t.sum += s.kw;
      } else {
        seconds.set(sec, { count: 1, sum: s.kw });
      }
    }
    if (seconds.size > 0) this.rollUpSeconds(gw, seconds);

    let maxSec = -1;
    b.samples.forEach((s, idx) => {
      const sec = Math.floor(s.time / SECOND_MS);
      if (sec > maxSec) maxSec = sec;
      this.s.rawInsert.run(sec, gw, b.seq, idx, s.time - sec * SECOND_MS, s.kw, s.kwh ?? null, encodeRelays(s.relays), encodeChannelKw(s.channelKw));
      if (s.time >= w) {
        const kwh = s.kwh ?? null;
        addSample(aggIn(m.open1m, bucketOf(s.time, MINUTE_MS), gw), s.time, s.kw, kwh);
        addSample(aggIn(m.open15m, bucketOf(s.time, QUARTER_HOUR_MS), gw), s.time, s.kw, kwh);
      }
    });
    if (maxSec >= 0 && (m.lastSec.get(gw) ?? -1) < maxSec) {
      m.lastSec.set(gw, maxSec);
      if (fresh > 0) m.lastSecDirty.add(gw);
      else this.s.lastSecRaise.run({ sec: maxSec, gw });
    }
    if (late) this.rollUpLate(gw, late, w15);
    // A batch with nothing at or after W cannot be found by the rebuild: its seq is written now.
    if (fresh === 0) this.writeSeqs(gw);
    else m.seqsDirty.add(gw);
    return true;
  }

  /** The fleet's open seconds move by this gateway's change of average in each. */
  private rollUpSeconds(gw: number, seconds: Map<number, { count: number; sum: number }>): void {
    const m = this.m;
    for (const [sec, add] of seconds) {
      const latest = m.latestSecond.get(gw);
      let old: { count: number; sum: number };
      if (latest && latest.sec === sec) old = latest;
      else if (!latest || sec > latest.sec) old = { count: 0, sum: 0 };
      // An earlier second than the gateway's latest (out of order): its rows so far, from the file.
      else old = this.s.secondTotals.get(sec, gw) as { count: number; sum: number };
      const count = old.count + add.count;
      const sum = old.sum + add.sum;
      const change = sum / count - (old.count > 0 ? old.sum / old.count : 0);
      const f = m.fleet1s.get(sec * SECOND_MS);
      if (f) {
        f.kw += change;
        f.maxCount = Math.max(f.maxCount, count);
      } else {
        m.fleet1s.set(sec * SECOND_MS, { kw: change, maxCount: count });
      }
      if (!latest || sec >= latest.sec) m.latestSecond.set(gw, { sec, count, sum });
    }
  }

  /**
   * Samples before W go straight into the tables, incrementally: each bucket's new totals come back
   * from the upsert (per second, from the raw rows); the old average follows by subtracting what
   * this batch added, and the fleet bucket moves by the difference of the two averages. The
   * quarter-hour still open in memory (W's) takes them there.
   */
  private rollUpLate(gw: number, samples: readonly TelemetrySample[], w15: number): void {
    for (const tier of ['1s', '1m', '15m'] as const) {
      const deltas = new Map<number, Delta>();
      for (const s of samples) {
        const bucket = bucketOf(s.time, BUCKET_MS[tier]);
        if (tier === '15m' && bucket >= w15) {
          addSample(aggIn(this.m.open15m, bucket, gw), s.time, s.kw, s.kwh ?? null);
          continue;
        }
        let d = deltas.get(bucket);
        if (!d) deltas.set(bucket, (d = { bucket, ...newAgg() }));
        addSample(d, s.time, s.kw, s.kwh ?? null);
      }
      for (const d of deltas.values()) {
        let total: { count: number; sum_kw: number };
        if (tier === '1s') {
          const t = this.s.secondTotals.get(d.bucket / SECOND_MS, gw) as { count: number; sum: number };
          total = { count: t.count, sum_kw: t.sum };
        } else {
          total = this.s.rollupUpsert[tier].get(d.bucket, gw, d.count, d.sum, d.min, d.max, d.lastKwh, d.lastKwhTime) as { count: number; sum_kw: number };
        }
        const oldCount = total.count - d.count;
        const oldAverage = oldCount > 0 ? (total.sum_kw - d.sum) / oldCount : 0;
        this.s.fleetUpsert[tier].run(d.bucket, total.sum_kw / total.count - oldAverage, total.count);
      }
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
    if (to <= from) return [];
    const m = this.m;
    if (q.gatewayId === undefined) {
      const stored = this.s.fleetHistory[q.resolution].all(from, to) as LoadPoint[];
      const open: LoadPoint[] = [];
      if (q.resolution === '1s') {
        for (const [time, f] of m.fleet1s) if (time >= from && time < to) open.push({ time, kw: f.kw });
      } else {
        for (const [time, byGw] of q.resolution === '1m' ? m.open1m : m.open15m) if (time >= from && time < to) open.push({ time, kw: fleetOf(byGw).kw });
      }
      return merge(stored, open);
    }
    const gw = m.gwNum.get(q.gatewayId);
    if (gw === undefined) return [];
    if (q.resolution === '1s') {
      const last = m.lastSec.get(gw);
      const bounds = this.s.rawBounds.get() as { lo: number | null; hi: number | null };
      if (last === undefined || bounds.lo === null) return [];
      const lo = Math.max(from / SECOND_MS, bounds.lo);
      const hi = Math.min(to / SECOND_MS, last + 1);
      if (hi <= lo) return [];
      const statement = hi - lo <= MAX_SEEK_SECONDS ? this.s.gatewaySeconds : this.s.gatewaySecondsScan;
      return statement.all({ from: lo, to: hi, gw }) as LoadPoint[];
    }
    const open: LoadPoint[] = [];
    for (const [time, byGw] of q.resolution === '1m' ? m.open1m : m.open15m) {
      const a = byGw.get(gw);
      if (a && time >= from && time < to) open.push({ time, kw: a.sum / a.count });
    }
    let stored: LoadPoint[] = [];
    if (q.resolution === '15m') {
      stored = this.s.gatewayQuarters.all(gw, from, to) as LoadPoint[];
    } else {
      const bounds = this.s.minuteBounds.get() as { lo: number | null };
      const lo = Math.max(from, bounds.lo ?? Infinity);
      const hi = Math.min(to, m.rolledUpTo);
      if (hi > lo) stored = this.s.gatewayMinutes.all({ from: lo, to: hi, gw }) as LoadPoint[];
    }
    return merge(stored, open);
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
    let best: { kw: number; start: number } | null;
    const consider = (kw: number, start: number): void => {
      if (!best || kw > best.kw || (kw === best.kw && start < best.start)) best = { kw, start };
    };
    if (q.gatewayId === undefined) {
      best = (this.s.fleetPeak.get(firstStart, lastStart, minSamples) as { kw: number; start: number } | undefined) ?? null;
      for (const [start, byGw] of this.m.open15m) {
        if (start < firstStart || start > lastStart) continue;
        const f = fleetOf(byGw);
        if (f.maxCount >= minSamples) consider(f.kw, start);
      }
      return best;
    }
    const gw = this.m.gwNum.get(q.gatewayId);
    if (gw === undefined) return null;
    best = (this.s.gatewayPeak.get(gw, firstStart, lastStart, minSamples) as { kw: number; start: number } | undefined) ?? null;
    for (const [start, byGw] of this.m.open15m) {
      const a = byGw.get(gw);
      if (a && start >= firstStart && start <= lastStart && a.count >= minSamples) consider(a.sum / a.count, start);
    }
    return best;
  }

  /** The gateway's latest raw sample (within the raw retention). */
  lastSample(gatewayId: string): { time: number; kw: number; relays: RelayState[] } | null {
    const gw = this.m.gwNum.get(gatewayId);
    const sec = gw === undefined ? undefined : this.m.lastSec.get(gw);
    if (gw === undefined || sec === undefined) return null;
    const row = this.s.lastAt.get(sec, gw) as { ms: number; seq: number; idx: number; kw: number; relays: number | string } | undefined;
    if (!row) return null; // pruned
    const time = sec * SECOND_MS + row.ms;
    let relays: RelayState[];
    if (typeof row.relays === 'number') {
      relays = decodeRelayMask(row.relays);
    } else {
      const ref = { path: this.path, table: 'telemetry_samples', row: `${gatewayId}/${time}/${row.seq}/${row.idx}`, column: 'relays' };
      relays = decodeJson(ref, row.relays, compactRelays).map(([channel, on]) => ({ channel, on: on === 1 }));
    }
    return { time, kw: row.kw, relays };
  }

  /**
   * Deletes what is past its retention, at most about PRUNE_BUDGET_ROWS rows per call, in
   * transactions of about PRUNE_CHUNK_ROWS rows; `done: false` means call again. A cut-off is
   * rounded down to a whole second or bucket, so a second or bucket goes whole. Raw samples, minutes
   * and the fleet's tables are keyed by time first, so they go from the front; quarter-hours gateway
   * by gateway.
   */
  prune(now: number): { raw: number; rollups: number; done: boolean } {
    const cutoffs = {
      raw: bucketOf(now - RETENTION_MS.raw, SECOND_MS),
      rollup1m: bucketOf(now - RETENTION_MS.rollup1m, MINUTE_MS),
      rollup15m: bucketOf(now - RETENTION_MS.rollup15m, QUARTER_HOUR_MS),
    };
    let budget = PRUNE_BUDGET_ROWS;
    let raw = 0;
    let rollups = 0;
    /** Deletes in chunks until nothing is left below the cut-off (true) or the budget is spent (false). */
    const drain = (statement: Database.Statement, params: Record<string, number>, kind: 'raw' | 'rollups'): boolean => {
      for (;;) {
        if (budget <= 0) return false;
        const limit = Math.min(PRUNE_CHUNK_ROWS, budget);
        const n = this.db.transaction(() => statement.run({ ...params, limit }).changes).immediate();
        budget -= n;
        if (kind === 'raw') raw += n;
        else rollups += n;
        if (n < limit) return true;
      }
    };
    const steps: Array<[Database.Statement, Record<string, number>, 'raw' | 'rollups']> = [
      [this.s.rawPrune, { cutoff: cutoffs.raw / SECOND_MS }, 'raw'],
      [this.s.minutePrune, { cutoff: cutoffs.rollup1m }, 'rollups'],
      [this.s.fleetPrune['1s'], { cutoff: cutoffs.raw }, 'rollups'],
      [this.s.fleetPrune['1m'], { cutoff: cutoffs.rollup1m }, 'rollups'],
      [this.s.fleetPrune['15m'], { cutoff: cutoffs.rollup15m }, 'rollups'],
    ];
    for (const [statement, params, kind] of steps) {
      if (!drain(statement, params, kind)) return { raw, rollups, done: false };
    }
    // Quarter-hours gateway by gateway, resuming where the last call stopped.
    const gateways = [...this.m.gwId.keys()].sort((a, b) => a - b);
    const start = Math.max(0, gateways.findIndex((g) => g >= this.pruneFrom));
    for (let i = start; i < gateways.length; i++) {
      const gw = gateways[i] as number;
      if (!drain(this.s.quarterPrune, { gw, cutoff: cutoffs.rollup15m }, 'rollups')) {
        this.pruneFrom = gw;
        return { raw, rollups, done: false };
      }
    }
    this.pruneFrom = 0;
    return { raw, rollups, done: true };
  }
}

function claimSeqIn(m: OpenState, gw: number, seq: number): boolean {
  let ranges = m.seqs.get(gw);
  if (!ranges) m.seqs.set(gw, (ranges = []));
  return claimSeq(ranges, seq);
}

/** Stored points (all before W) then the open ones (at or after W), by time. */
function merge(stored: LoadPoint[], open: LoadPoint[]): LoadPoint[] {
  if (open.length === 0) return stored;
  open.sort((a, b) => a.time - b.time);
  return stored.length === 0 ? open : [...stored, ...open].sort((a, b) => a.time - b.time);
}
