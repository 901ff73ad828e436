/**
 * Telemetry: raw samples, per-gateway and fleet roll-ups, and the exactly-once bookkeeping of
 * (gateway, seq).
 *
 * What a group commit writes is what it must (issue 13: the per-gateway layout rewrote ~40 random
 * pages per 20 ms group, 13–16 kB of disk writes per one-sample batch):
 * - raw samples are appended in arrival order (a rowid table: each page is written once, full, and a
 *   commit touches the last page, its parent and the header); where each gateway's samples are is
 *   the index, per minute of sample time — one row of sample ids per (minute, gateway);
 * - the index and the roll-ups of the open minute and quarter-hour — per gateway, and the fleet's
 *   sum of gateway averages per second, minute and quarter-hour — are kept in memory and written
 *   once the bucket has closed, all gateways in one go, in key order (`flush`, inside the next
 *   group's transaction); every query merges the two;
 * - the (gateway, seq) ranges are kept in memory and written with that same flush.
 *
 * Durability rests on one watermark, `rolled_up_to` (W, on a minute), written with each flush: the
 * index, the roll-up tables and telemetry_seqs hold everything about the raw samples before W;
 * whatever is at or after W is only in memory, and is rebuilt when the store opens from the samples
 * stored since the oldest of them (`scan_from_id`, written with W): a kill -9 loses nothing, the raw
 * rows were committed before the ack. A sample for a time before W (a late batch, a replay after an
 * outage) or far ahead of the clock is indexed and rolled up straight into the tables,
 * incrementally, as the previous schema did for every sample; a batch none of whose samples is kept
 * in memory writes its seq range at once.
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
/** Gateways whose old quarter-hours one prune call looks at (a DELETE each, sharing transactions: ~3 µs each with nothing to delete at 19,900 gateways; 2,000 in a transaction each took ≈ 98 ms in the hub's CPU profile). */
export const QUARTER_PRUNE_GATEWAYS = 1_000;

/**
 * A minute is written to the roll-up tables this long after it ended: batches sent every 10 s, and a
 * little delay on the way, still find their minute in memory. Later samples take the slower path
 * (straight into the tables).
 */
export const ROLLUP_GRACE_MS = 30_000;

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
/** What one batch adds to one (gateway, bucket) of a tier rolled up in the tables. */
interface Delta extends Agg {
  bucket: number;
}

/**
 * A list of sample ids: segments, each a 0 byte, the first id, then each next id as the zigzag of
 * its difference to the one before; numbers are varints (7 bits a byte, most significant first, the
 * high bit set on all but the last byte). A gateway's ids within a minute lie about a fleet's worth of
 * samples apart — two bytes each at 2,000 gateways — so a minute's row stays within what a 1 KiB page
 * keeps in place (231 bytes); segments concatenate, so a late sample appends without reading.
 */
function encodeIds(ids: readonly number[]): Buffer {
  const bytes: number[] = [0];
  const varint = (v: number): void => {
    const groups: number[] = [];
    do {
      groups.unshift(v % 128);
      v = Math.floor(v / 128);
    } while (v > 0);
    groups.forEach((g, i) => bytes.push(i < groups.length - 1 ? g | 128 : g));
  };
  ids.forEach((id, i) => {
    const prev = ids[i - 1];
    if (prev === undefined) return varint(id);
    const d = id - prev;
    varint(d >= 0 ? 2 * d : -2 * d - 1);
  });
  return Buffer.from(bytes);
}

function decodeIds(buf: Buffer): number[] {
  const ids: number[] = [];
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let b: number;
    do {
      b = buf[i++] ?? 0;
      v = v * 128 + (b & 127);
    } while (b & 128 && i < buf.length);
    return v;
  };
  let prev = 0;
  while (i < buf.length) {
    const z = varint();
    if (z === 0) prev = varint();
    else prev += z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    ids.push(prev);
  }
  return ids;
}

/**
 * A sample stamped further ahead of the console's clock than this when it arrives is indexed and
 * rolled up at once, into the tables, instead of waiting in memory for its minute (a gateway with a
 * clock days ahead would otherwise keep memory, and the rebuild at open, waiting for days).
 */
const AHEAD_DIRECT_MS = 15 * MINUTE_MS;

/** Everything the memory holds; rebuilt from the file by reload(). */
class OpenState {
  /** W: the roll-up and index tables and telemetry_seqs hold everything about the samples before it. */
  rolledUpTo = 0;
  /** The id the next sample gets (the samples table only appends). */
  nextId = 1;
  readonly gwNum = new Map<string, number>();
  readonly gwId = new Map<number, string>();
  /** Each gateway's latest sample by time. */
  readonly last = new Map<number, { time: number; id: number }>();
  readonly lastDirty = new Set<number>();
  readonly seqs = new Map<number, SeqRanges>();
  readonly seqsDirty = new Set<number>();
  readonly open1m: OpenBuckets = new Map();
  readonly open15m: OpenBuckets = new Map();
  /** The ids of each gateway's samples per open minute (of sample time). */
  readonly openIndex = new Map<number, Map<number, number[]>>();
  /** The fleet per second at or after W. */
  readonly fleet1s = new Map<number, FleetPoint>();
  /** Each gateway's latest second at or after W, with its totals so far (the fleet's per-second delta). */
  readonly latestSecond = new Map<number, { sec: number; count: number; sum: number }>();
  /** A flush under way (see TelemetryTable.flushSlice). */
  flushing: Flushing | undefined;
}

/**
 * Moving W to `to` takes several group commits: each writes the closed buckets, seq ranges and
 * latest samples of FLUSH_SLICE gateways (one transaction for all 20,000 held the event loop for
 * ~450 ms); the last also writes the fleet's rows and moves W. The gateways' rows are written whole
 * (REPLACE), not added to, and nothing reads a table's rows at or after W, so rows written before a
 * crash are simply written again.
 */
interface Flushing {
  to: number;
  /** Gateways whose rows are still to be written. */
  pending: number[];
  written: Set<number>;
  /** Written gateways that a late sample changed since: written again by the last slice. */
  dirty: Set<number>;
  /** The first sample id stored after the flush began: the rebuild starts no later than it. */
  startId: number;
}

/** Gateways written per group commit while a flush is under way. */
const FLUSH_SLICE = 500;

function indexIn(m: OpenState, minute: number, gw: number): number[] {
  let byGw = m.openIndex.get(minute);
  if (!byGw) m.openIndex.set(minute, (byGw = new Map<number, number[]>()));
  let ids = byGw.get(gw);
  if (!ids) byGw.set(gw, (ids = []));
  return ids;
}

export class TelemetryTable {
  private readonly s: {
    gatewayInsert: Database.Statement;
    lastUpdate: Database.Statement;
    stateRead: Database.Statement;
    stateWrite: Database.Statement;
    seqsAll: Database.Statement;
    seqsDelete: Database.Statement;
    seqsInsert: Database.Statement;
    gatewaysAll: Database.Statement;
    maxId: Database.Statement;
    rawInsert: Database.Statement;
    rawSince: Database.Statement;
    rowKw: Database.Statement;
    rowFull: Database.Statement;
    rawDelete: Database.Statement;
    indexGet: Database.Statement;
    indexAppend: Database.Statement;
    indexDelete: Database.Statement;
    indexReplace: Database.Statement;
    rollupReplace: Record<'1m' | '15m', Database.Statement>;
    fleetReplace: Record<Tier, Database.Statement>;
    indexAheadOldest: Database.Statement;
    indexSeeks: Database.Statement;
    indexScan: Database.Statement;
    indexBounds: Database.Statement;
    indexOldest: Database.Statement;
    minutesBetween: Database.Statement;
    rollupUpsert: Record<'1m' | '15m', Database.Statement>;
    fleetUpsert: Record<Tier, Database.Statement>;
    gatewayMinutes: Database.Statement;
    gatewayQuarters: Database.Statement;
    fleetHistory: Record<Tier, Database.Statement>;
    gatewayPeak: Database.Statement;
    fleetPeak: Database.Statement;
    minuteBounds: Database.Statement;
    minutePrune: Database.Statement;
    quarterPrune: Database.Statement;
    fleetPrune: Record<Tier, Database.Statement>;
  };
  private readonly storeAll: Database.Transaction<(batches: readonly TelemetryBatch[]) => boolean[]>;
  private readonly flushTx: Database.Transaction<() => void>;
  private m = new OpenState();
  /** The gateway number the next quarter-hour prune starts with, so a call cut short resumes there. */
  private pruneFrom = 0;
  /** The quarter-hour cut-off of the last whole pass over the gateways' quarter-hours. */
  private quarterPrunedTo = -Infinity;
  private sortedGateways: { m: OpenState; nums: number[] } | undefined;

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
    // One seek per minute of the range: the rows of one gateway are a few among all.
    const seeks = (select: string, table: string): Database.Statement =>
      db.prepare(`
        WITH RECURSIVE b(k) AS (SELECT @from UNION ALL SELECT k + ${MINUTE_MS} FROM b WHERE k + ${MINUTE_MS} < @to)
        SELECT ${select} FROM b CROSS JOIN ${table} r ON r.bucket = b.k AND r.gw = @gw ORDER BY b.k`);
    this.s = {
      gatewayInsert: db.prepare('INSERT INTO telemetry_gateways (gateway_id) VALUES (?)'),
      lastUpdate: db.prepare('UPDATE telemetry_gateways SET last_id = ? WHERE num = ?'),
      stateRead: db.prepare('SELECT rolled_up_to, scan_from_id FROM telemetry_state WHERE id = 1'),
      stateWrite: db.prepare(`INSERT INTO telemetry_state (id, rolled_up_to, scan_from_id) VALUES (1, ?, ?)
                              ON CONFLICT (id) DO UPDATE SET rolled_up_to = excluded.rolled_up_to, scan_from_id = excluded.scan_from_id`),
      seqsAll: db.prepare('SELECT gateway_id, from_seq, to_seq FROM telemetry_seqs ORDER BY gateway_id, from_seq'),
      seqsDelete: db.prepare('DELETE FROM telemetry_seqs WHERE gateway_id = ?'),
      seqsInsert: db.prepare('INSERT INTO telemetry_seqs (gateway_id, from_seq, to_seq) VALUES (?, ?, ?)'),
      gatewaysAll: db.prepare(
        'SELECT g.num, g.gateway_id, g.last_id, s.sec * 1000 + s.ms AS last_time FROM telemetry_gateways g LEFT JOIN telemetry_samples s ON s.id = g.last_id',
      ),
      maxId: db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM telemetry_samples'),
      rawInsert: db.prepare('INSERT INTO telemetry_samples (gw, sec, ms, seq, idx, kw, kwh, relays, channel_kw, ahead) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      rawSince: db.prepare('SELECT id, gw, sec, ms, seq, kw, kwh, ahead FROM telemetry_samples WHERE id >= ? ORDER BY id'),
      rowKw: db.prepare('SELECT sec, ms, kw FROM telemetry_samples WHERE id = ?'),
      rowFull: db.prepare('SELECT sec, ms, seq, idx, kw, relays FROM telemetry_samples WHERE id = ?'),
      rawDelete: db.prepare('DELETE FROM telemetry_samples WHERE id = ?'),
      indexGet: db.prepare('SELECT ids FROM telemetry_index WHERE bucket = ? AND gw = ?'),
      // Order within a list does not matter: appending is enough.
      indexAppend: db.prepare('INSERT INTO telemetry_index (bucket, gw, ids) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET ids = unhex(hex(ids) || hex(excluded.ids))'),
      indexDelete: db.prepare('DELETE FROM telemetry_index WHERE bucket = ? AND gw = ?'),
      indexReplace: db.prepare('INSERT OR REPLACE INTO telemetry_index (bucket, gw, ids) VALUES (?, ?, ?)'),
      rollupReplace: {
        '1m': db.prepare('INSERT OR REPLACE INTO rollup_1m (bucket, gw, count, sum_kw, min_kw, max_kw, last_kwh, last_kwh_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
        '15m': db.prepare('INSERT OR REPLACE INTO rollup_15m (bucket, gw, count, sum_kw, min_kw, max_kw, last_kwh, last_kwh_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      },
      fleetReplace: {
        '1s': db.prepare('INSERT OR REPLACE INTO fleet_1s (bucket, kw, max_count) VALUES (?, ?, ?)'),
        '1m': db.prepare('INSERT OR REPLACE INTO fleet_1m (bucket, kw, max_count) VALUES (?, ?, ?)'),
        '15m': db.prepare('INSERT OR REPLACE INTO fleet_15m (bucket, kw, max_count) VALUES (?, ?, ?)'),
      },
      // Samples far ahead of the clock are listed under −(minute) − 1 min, apart from every flushed row.
      indexAheadOldest: db.prepare('SELECT bucket, gw, ids FROM telemetry_index WHERE bucket < 0 AND bucket > ? ORDER BY bucket DESC, gw LIMIT ?'),
      indexSeeks: seeks('b.k AS bucket, r.ids', 'telemetry_index'),
      indexScan: db.prepare('SELECT bucket, ids FROM telemetry_index WHERE gw = @gw AND bucket >= @from AND bucket < @to ORDER BY bucket'),
      indexBounds: db.prepare('SELECT MIN(bucket) AS lo FROM telemetry_index WHERE bucket >= 0'),
      indexOldest: db.prepare('SELECT bucket, gw, ids FROM telemetry_index WHERE bucket >= 0 AND bucket < ? ORDER BY bucket, gw LIMIT ?'),
      minutesBetween: db.prepare('SELECT bucket, gw, count, sum_kw, min_kw, max_kw, last_kwh, last_kwh_time FROM rollup_1m WHERE bucket >= ? AND bucket < ?'),
      rollupUpsert: { '1m': rollupUpsert('rollup_1m', 'bucket, gw'), '15m': rollupUpsert('rollup_15m', 'bucket, gw') },
      fleetUpsert: { '1s': fleetUpsert('fleet_1s'), '1m': fleetUpsert('fleet_1m'), '15m': fleetUpsert('fleet_15m') },
      gatewayMinutes: seeks('b.k AS time, r.sum_kw / r.count AS kw', 'rollup_1m'),
      gatewayQuarters: db.prepare('SELECT bucket AS time, sum_kw / count AS kw FROM rollup_15m WHERE gw = ? AND bucket >= ? AND bucket < ? ORDER BY bucket'),
      fleetHistory: { '1s': fleetHistory('fleet_1s'), '1m': fleetHistory('fleet_1m'), '15m': fleetHistory('fleet_15m') },
      gatewayPeak: db.prepare(`
        SELECT bucket AS start, sum_kw / count AS kw FROM rollup_15m
        WHERE gw = ? AND bucket >= ? AND bucket <= ? AND count >= ? ORDER BY kw DESC, bucket LIMIT 1`),
      fleetPeak: db.prepare('SELECT bucket AS start, kw FROM fleet_15m WHERE bucket >= ? AND bucket <= ? AND max_count >= ? ORDER BY kw DESC, bucket LIMIT 1'),
      minuteBounds: db.prepare('SELECT MIN(bucket) AS lo FROM rollup_1m'),
      // Whole buckets go: ties on the boundary go too, so a chunk is never empty while rows are left.
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
    this.flushTx = db.transaction(() => this.maybeFlush());
    this.reload();
  }

  /** Rebuilds the memory from the file: at open, and after a transaction holding telemetry failed. */
  reload(): void {
    const m = new OpenState();
    const state = this.s.stateRead.get() as { rolled_up_to: number; scan_from_id: number } | undefined;
    m.rolledUpTo = state?.rolled_up_to ?? 0;
    m.nextId = (this.s.maxId.get() as { id: number }).id + 1;
    for (const g of this.s.gatewaysAll.all() as Array<{ num: number; gateway_id: string; last_id: number | null; last_time: number | null }>) {
      m.gwNum.set(g.gateway_id, g.num);
      m.gwId.set(g.num, g.gateway_id);
      if (g.last_id !== null && g.last_time !== null) m.last.set(g.num, { time: g.last_time, id: g.last_id });
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
    // …and every sample stored since the oldest one only in memory: its seq, and if it is at or
    // after W (and was not rolled up at once), its roll-ups and index entry.
    const seconds = new Map<number, Map<number, { count: number; sum: number }>>();
    for (const r of this.s.rawSince.iterate(state?.scan_from_id ?? 1) as IterableIterator<{
      id: number;
      gw: number;
      sec: number;
      ms: number;
      seq: number;
      kw: number;
      kwh: number | null;
      ahead: number | null;
    }>) {
      const time = r.sec * SECOND_MS + r.ms;
      if (claimSeqIn(m, r.gw, r.seq)) m.seqsDirty.add(r.gw);
      const last = m.last.get(r.gw);
      if (!last || time > last.time || (time === last.time && r.id > last.id)) {
        m.last.set(r.gw, { time, id: r.id });
        m.lastDirty.add(r.gw);
      }
      if (time < m.rolledUpTo || r.ahead === 1) continue;
      indexIn(m, bucketOf(time, MINUTE_MS), r.gw).push(r.id);
      addSample(aggIn(m.open1m, bucketOf(time, MINUTE_MS), r.gw), time, r.kw, r.kwh);
      addSample(aggIn(m.open15m, bucketOf(time, QUARTER_HOUR_MS), r.gw), time, r.kw, r.kwh);
      let byGw = seconds.get(r.sec);
      if (!byGw) seconds.set(r.sec, (byGw = new Map<number, { count: number; sum: number }>()));
      const t = byGw.get(r.gw);
      if (t) {
        t.count++;
        t.sum += r.kw;
      } else {
        byGw.set(r.gw, { count: 1, sum: r.kw });
      }
    }
    for (const [sec, byGw] of [...seconds].sort((a, b) => a[0] - b[0])) {
      const f: FleetPoint = { kw: 0, maxCount: 0 };
      for (const [gw, t] of byGw) {
        f.kw += t.sum / t.count;
        f.maxCount = Math.max(f.maxCount, t.count);
        m.latestSecond.set(gw, { sec, count: t.count, sum: t.sum });
      }
      m.fleet1s.set(sec * SECOND_MS, f);
    }
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

  /** Goes on with the flush, or starts one if a minute has passed its grace time; store() does it too. */
  flushClosed(): void {
    if (!this.m.flushing && this.flushTarget() === undefined) return;
    try {
      this.flushTx.immediate();
    } catch (err) {
      this.reload();
      throw err;
    }
  }

  private flushTarget(): number | undefined {
    const to = bucketOf(this.now() - ROLLUP_GRACE_MS, MINUTE_MS);
    return to > this.m.rolledUpTo ? to : undefined;
  }

  /** One slice of the flush under way, or the first of a new one. Inside a transaction. */
  private maybeFlush(): void {
    const m = this.m;
    if (!m.flushing) {
      const to = this.flushTarget();
      if (to === undefined) return;
      const gateways = new Set<number>([...m.seqsDirty, ...m.lastDirty]);
      for (const open of [m.open1m, m.open15m]) for (const [bucket, byGw] of open) if (bucket < to) for (const gw of byGw.keys()) gateways.add(gw);
      m.flushing = { to, pending: [...gateways].sort((x, y) => y - x), written: new Set(), dirty: new Set(), startId: m.nextId };
    }
    this.flushSlice(m.flushing);
  }

  /**
   * Writes the next FLUSH_SLICE gateways' closed buckets (whole rows, in key order), seq ranges and
   * latest sample; once none is left, the gateways a late sample changed since, the fleet's closed
   * buckets, and W with where the rebuild at open must start.
   */
  private flushSlice(f: Flushing): void {
    const m = this.m;
    const to15 = bucketOf(f.to, QUARTER_HOUR_MS);
    const writeGateway = (gw: number): void => {
      for (const [minute, byGw] of m.openIndex) {
        const ids = minute < f.to ? byGw.get(gw) : undefined;
        if (ids) this.s.indexReplace.run(minute, gw, encodeIds(ids));
      }
      for (const [bucket, byGw] of m.open1m) {
        const a = bucket < f.to ? byGw.get(gw) : undefined;
        if (a) this.s.rollupReplace['1m'].run(bucket, gw, a.count, a.sum, a.min, a.max, a.lastKwh, a.lastKwhTime);
      }
      for (const [bucket, byGw] of m.open15m) {
        const a = bucket < to15 ? byGw.get(gw) : undefined;
        if (a) this.s.rollupReplace['15m'].run(bucket, gw, a.count, a.sum, a.min, a.max, a.lastKwh, a.lastKwhTime);
      }
      if (m.seqsDirty.delete(gw)) this.writeSeqs(gw);
      if (m.lastDirty.delete(gw)) this.s.lastUpdate.run(m.last.get(gw)?.id ?? null, gw);
      f.written.add(gw);
    };
    for (let n = 0; n < FLUSH_SLICE && f.pending.length > 0; n++) writeGateway(f.pending.pop() as number);
    if (f.pending.length > 0) return;

    for (const gw of f.dirty) writeGateway(gw);
    const closed = <T>(open: Map<number, T>, limit: number): number[] => [...open.keys()].filter((b) => b < limit).sort((x, y) => x - y);
    for (const minute of closed(m.openIndex, f.to)) m.openIndex.delete(minute);
    for (const bucket of closed(m.open1m, f.to)) {
      const fp = fleetOf(m.open1m.get(bucket) as Map<number, Agg>);
      this.s.fleetReplace['1m'].run(bucket, fp.kw, fp.maxCount);
      m.open1m.delete(bucket);
    }
    for (const sec of closed(m.fleet1s, f.to)) {
      const fp = m.fleet1s.get(sec) as FleetPoint;
      this.s.fleetReplace['1s'].run(sec, fp.kw, fp.maxCount);
      m.fleet1s.delete(sec);
    }
    for (const bucket of closed(m.open15m, to15)) {
      const fp = fleetOf(m.open15m.get(bucket) as Map<number, Agg>);
      this.s.fleetReplace['15m'].run(bucket, fp.kw, fp.maxCount);
      m.open15m.delete(bucket);
    }
    const toSec = f.to / SECOND_MS;
    for (const [gw, l] of m.latestSecond) if (l.sec < toSec) m.latestSecond.delete(gw);
    // The rebuild starts with the oldest sample still only in memory (ids within a list ascend), and
    // no later than the first stored while this flush went on (their seqs and latest samples were
    // not all written).
    let scanFrom = f.startId;
    for (const byGw of m.openIndex.values()) for (const ids of byGw.values()) if ((ids[0] ?? Infinity) < scanFrom) scanFrom = ids[0] as number;
    this.s.stateWrite.run(f.to, scanFrom);
    m.rolledUpTo = f.to;
    m.flushing = undefined;
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
    const aheadFrom = this.now() + AHEAD_DIRECT_MS;
    let fresh = 0;
    let direct: Array<{ s: TelemetrySample; id: number }> | undefined;
    // The fleet's per second: each second's totals before this batch, then its change of average.
    const seconds = new Map<number, { count: number; sum: number }>();
    for (const s of b.samples) {
      if (s.time < w || s.time >= aheadFrom) continue;
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

    const last = m.last.get(gw);
    let newest = last;
    b.samples.forEach((s, idx) => {
      const sec = Math.floor(s.time / SECOND_MS);
      const ahead = s.time >= aheadFrom;
      const id = Number(
        this.s.rawInsert.run(gw, sec, s.time - sec * SECOND_MS, b.seq, idx, s.kw, s.kwh ?? null, encodeRelays(s.relays), encodeChannelKw(s.channelKw), ahead ? 1 : null)
          .lastInsertRowid,
      );
      m.nextId = id + 1;
      if (!newest || s.time >= newest.time) newest = { time: s.time, id };
      if (s.time >= w && !ahead) {
        const kwh = s.kwh ?? null;
        // A late sample for a bucket the flush under way writes: this gateway's rows are written (again) at its end.
        if (m.flushing && s.time < m.flushing.to) m.flushing.dirty.add(gw);
        indexIn(m, bucketOf(s.time, MINUTE_MS), gw).push(id);
        addSample(aggIn(m.open1m, bucketOf(s.time, MINUTE_MS), gw), s.time, s.kw, kwh);
        addSample(aggIn(m.open15m, bucketOf(s.time, QUARTER_HOUR_MS), gw), s.time, s.kw, kwh);
      } else {
        (direct ??= []).push({ s, id });
      }
    });
    if (newest && newest !== last) {
      m.last.set(gw, newest);
      if (fresh > 0) m.lastDirty.add(gw);
      else this.s.lastUpdate.run(newest.id, gw);
    }
    if (direct) {
      // Far ahead of the clock: stored, and listed apart (a negative minute), but in no curve or
      // roll-up (GATEWAY_CLOCK_AHEAD) — they would wait in memory for their time, or land in
      // buckets a flush writes whole.
      const late = direct.filter((d) => d.s.time < aheadFrom);
      for (const d of direct) if (d.s.time >= aheadFrom) this.s.indexAppend.run(-bucketOf(d.s.time, MINUTE_MS) - MINUTE_MS, gw, encodeIds([d.id]));
      if (late.length > 0) this.rollUpDirect(gw, late, w, w15);
    }
    // A batch with nothing kept in memory cannot be found by the rebuild: its seq is written now.
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
      // An earlier second than the gateway's latest (out of order): its samples so far, by the open index.
      else old = this.secondTotals(gw, sec, m.openIndex.get(bucketOf(sec * SECOND_MS, MINUTE_MS))?.get(gw) ?? []);
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

  /** count and sum of the samples among `ids` in second `sec`. */
  private secondTotals(gw: number, sec: number, ids: readonly number[]): { count: number; sum: number } {
    let count = 0;
    let sum = 0;
    for (const id of ids) {
      const r = this.s.rowKw.get(id) as { sec: number; kw: number } | undefined;
      if (r && r.sec === sec) {
        count++;
        sum += r.kw;
      }
    }
    return { count, sum };
  }

  private storedIds(minute: number, gw: number): number[] {
    const row = this.s.indexGet.get(minute, gw) as { ids: Buffer } | undefined;
    return row ? decodeIds(row.ids) : [];
  }

  /**
   * Samples before W (late) or far ahead of the clock go straight into the index and roll-up tables,
   * incrementally: each bucket's new totals come back from the upsert (per second, from the samples
   * the index lists); the old average follows by subtracting what this batch added, and the fleet
   * bucket moves by the difference of the two averages. A late sample in the quarter-hour still
   * open in memory (W's) is rolled up there.
   */
  private rollUpDirect(gw: number, samples: ReadonlyArray<{ s: TelemetrySample; id: number }>, w: number, w15: number): void {
    const byMinute = new Map<number, number[]>();
    for (const { s, id } of samples) {
      const minute = bucketOf(s.time, MINUTE_MS);
      byMinute.set(minute, [...(byMinute.get(minute) ?? []), id]);
    }
    for (const [minute, ids] of byMinute) this.s.indexAppend.run(minute, gw, encodeIds(ids));
    for (const tier of ['1s', '1m', '15m'] as const) {
      const deltas = new Map<number, Delta>();
      for (const { s } of samples) {
        const bucket = bucketOf(s.time, BUCKET_MS[tier]);
        if (tier === '15m' && bucket >= w15 && s.time < w) {
          addSample(aggIn(this.m.open15m, bucket, gw), s.time, s.kw, s.kwh ?? null);
          continue;
        }
        let d = deltas.get(bucket);
        if (!d) deltas.set(bucket, (d = { bucket, ...newAgg() }));
        addSample(d, s.time, s.kw, s.kwh ?? null);
      }
      // Per second, the totals come from the samples the index lists for its minute: read once a minute.
      const minuteTotals = new Map<number, Map<number, { count: number; sum: number }>>();
      const totalsOf = (sec: number): { count: number; sum: number } => {
        const minute = bucketOf(sec * SECOND_MS, MINUTE_MS);
        let bySec = minuteTotals.get(minute);
        if (!bySec) {
          minuteTotals.set(minute, (bySec = new Map<number, { count: number; sum: number }>()));
          for (const id of this.storedIds(minute, gw)) {
            const r = this.s.rowKw.get(id) as { sec: number; kw: number } | undefined;
            if (!r) continue;
            const t = bySec.get(r.sec);
            if (t) {
              t.count++;
              t.sum += r.kw;
            } else {
              bySec.set(r.sec, { count: 1, sum: r.kw });
            }
          }
        }
        return bySec.get(sec) ?? { count: 0, sum: 0 };
      };
      for (const d of deltas.values()) {
        let total: { count: number; sum_kw: number };
        if (tier === '1s') {
          const t = totalsOf(d.bucket / SECOND_MS);
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
    if (q.resolution === '1s') return this.seconds(gw, from, to);
    const open: LoadPoint[] = [];
    for (const [time, byGw] of q.resolution === '1m' ? m.open1m : m.open15m) {
      const a = byGw.get(gw);
      if (a && time >= from && time < to) open.push({ time, kw: a.sum / a.count });
    }
    let stored: LoadPoint[] = [];
    if (q.resolution === '15m') {
      // Rows at or after W's quarter-hour may be from a flush cut short by a crash: memory has them.
      stored = this.s.gatewayQuarters.all(gw, from, Math.min(to, bucketOf(m.rolledUpTo, QUARTER_HOUR_MS))) as LoadPoint[];
    } else {
      const bounds = this.s.minuteBounds.get() as { lo: number | null };
      const lo = Math.max(from, bounds.lo ?? Infinity);
      const hi = Math.min(to, m.rolledUpTo);
      if (hi > lo) stored = this.s.gatewayMinutes.all({ from: lo, to: hi, gw }) as LoadPoint[];
    }
    return merge(stored, open);
  }

  /** One gateway's samples averaged per second, from the index (one seek per minute) and the rows it names. */
  private seconds(gw: number, from: number, to: number): LoadPoint[] {
    const m = this.m;
    const ids: number[] = [];
    for (const [minute, byGw] of m.openIndex) if (minute + MINUTE_MS > from && minute < to) ids.push(...(byGw.get(gw) ?? []));
    const bounds = this.s.indexBounds.get() as { lo: number | null };
    const lo = Math.max(bucketOf(from, MINUTE_MS), bounds.lo ?? Infinity);
    const hi = Math.min(to, m.rolledUpTo);
    if (hi > lo) {
      // Seek minute by minute over a bounded span; a longer one (a clock far ahead) is one range scan.
      const statement = (hi - lo) / MINUTE_MS <= 100_000 ? this.s.indexSeeks : this.s.indexScan;
      for (const r of statement.all({ from: lo, to: hi, gw }) as Array<{ ids: Buffer }>) ids.push(...decodeIds(r.ids));
    }
    const bySecond = new Map<number, { count: number; sum: number }>();
    for (const id of ids) {
      const r = this.s.rowKw.get(id) as { sec: number; ms: number; kw: number } | undefined;
      if (!r) continue;
      const time = r.sec * SECOND_MS;
      if (time < from || time >= to) continue;
      const t = bySecond.get(time);
      if (t) {
        t.count++;
        t.sum += r.kw;
      } else {
        bySecond.set(time, { count: 1, sum: r.kw });
      }
    }
    return [...bySecond].sort((a, b) => a[0] - b[0]).map(([time, t]) => ({ time, kw: t.sum / t.count }));
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
    const storedLast = Math.min(lastStart, bucketOf(this.m.rolledUpTo, QUARTER_HOUR_MS) - QUARTER_HOUR_MS);
    best = (this.s.gatewayPeak.get(gw, firstStart, storedLast, minSamples) as { kw: number; start: number } | undefined) ?? null;
    for (const [start, byGw] of this.m.open15m) {
      const a = byGw.get(gw);
      if (a && start >= firstStart && start <= lastStart && a.count >= minSamples) consider(a.sum / a.count, start);
    }
    return best;
  }

  /** The gateway's latest raw sample (within the raw retention). */
  lastSample(gatewayId: string): { time: number; kw: number; relays: RelayState[] } | null {
    const gw = this.m.gwNum.get(gatewayId);
    const last = gw === undefined ? undefined : this.m.last.get(gw);
    if (!last) return null;
    const row = this.s.rowFull.get(last.id) as { sec: number; ms: number; seq: number; idx: number; kw: number; relays: number | string } | undefined;
    if (!row) return null; // pruned
    const time = row.sec * SECOND_MS + row.ms;
    let relays: RelayState[];
    if (typeof row.relays === 'number') {
      relays = decodeRelayMask(row.relays);
    } else {
      const ref = { path: this.path, table: 'telemetry_samples', row: last.id, column: 'relays' };
      relays = decodeJson(ref, row.relays, compactRelays).map(([channel, on]) => ({ channel, on: on === 1 }));
    }
    return { time, kw: row.kw, relays };
  }

  /**
   * Deletes what is past its retention, at most about PRUNE_BUDGET_ROWS rows per call, in
   * transactions of about PRUNE_CHUNK_ROWS rows; `done: false` means call again. Raw samples go by
   * whole minutes (through the index: the minute's ids), roll-ups by whole buckets; minutes and the
   * fleet's tables are keyed by time first, so they go from the front; quarter-hours gateway by gateway.
   */
  prune(now: number): { raw: number; rollups: number; done: boolean } {
    const cutoffs = {
      raw: bucketOf(now - RETENTION_MS.raw, MINUTE_MS),
      fleet1s: bucketOf(now - RETENTION_MS.raw, SECOND_MS),
      rollup1m: bucketOf(now - RETENTION_MS.rollup1m, MINUTE_MS),
      rollup15m: bucketOf(now - RETENTION_MS.rollup15m, QUARTER_HOUR_MS),
    };
    let budget = PRUNE_BUDGET_ROWS;
    let raw = 0;
    let rollups = 0;
    // Raw samples: the oldest index rows wholly before the cut-off, their samples with them (then
    // those of samples that came far ahead of the clock, listed under negative minutes).
    for (const [oldest, bound] of [
      [this.s.indexOldest, cutoffs.raw],
      [this.s.indexAheadOldest, -cutoffs.raw - MINUTE_MS],
    ] as const) {
    for (;;) {
      if (budget <= 0) return { raw, rollups, done: false };
      const chunk = Math.min(PRUNE_CHUNK_ROWS, budget);
      const n = this.db
        .transaction(() => {
          let deleted = 0;
          let lists = 0;
          while (deleted < chunk) {
            const rows = oldest.all(bound, 16) as Array<{ bucket: number; gw: number; ids: Buffer }>;
            if (rows.length === 0) break;
            for (const r of rows) {
              if (deleted >= chunk) break;
              for (const id of decodeIds(r.ids)) deleted += this.s.rawDelete.run(id).changes;
              this.s.indexDelete.run(r.bucket, r.gw);
              lists++;
            }
          }
          return { deleted, lists };
        })
        .immediate();
      raw += n.deleted;
      budget -= Math.max(n.deleted, n.lists);
      if (n.deleted < chunk) break;
    }
    }
    /** Deletes in chunks until nothing is left below the cut-off (true) or the budget is spent (false). */
    const drain = (statement: Database.Statement, params: Record<string, number>): boolean => {
      for (;;) {
        if (budget <= 0) return false;
        const limit = Math.min(PRUNE_CHUNK_ROWS, budget);
        const n = this.db.transaction(() => statement.run({ ...params, limit }).changes).immediate();
        budget -= n;
        rollups += n;
        if (n < limit) return true;
      }
    };
    const steps: Array<[Database.Statement, Record<string, number>]> = [
      [this.s.minutePrune, { cutoff: cutoffs.rollup1m }],
      [this.s.fleetPrune['1s'], { cutoff: cutoffs.fleet1s }],
      [this.s.fleetPrune['1m'], { cutoff: cutoffs.rollup1m }],
      [this.s.fleetPrune['15m'], { cutoff: cutoffs.rollup15m }],
    ];
    for (const [statement, params] of steps) {
      if (!drain(statement, params)) return { raw, rollups, done: false };
    }
    // Quarter-hours gateway by gateway (the table is keyed by gateway), resuming where the last call
    // stopped, at most QUARTER_PRUNE_GATEWAYS per call, and one pass per cut-off: it moves once a
    // quarter-hour. (A whole pass on every call cost ≈ 98 ms every 5 s at 2,000 gateways, growing with the fleet.)
    // The gateways' DELETEs share a transaction up to PRUNE_CHUNK_ROWS rows: one of their own each
    // (its lock and commit) made a call over 250 gateways cost 3–8 ms with nothing to delete.
    if (cutoffs.rollup15m <= this.quarterPrunedTo) return { raw, rollups, done: true };
    const gateways = this.gatewaysInOrder();
    let i = Math.max(0, gateways.findIndex((g) => g >= this.pruneFrom));
    const end = Math.min(gateways.length, i + QUARTER_PRUNE_GATEWAYS);
    while (i < end) {
      if (budget <= 0) {
        this.pruneFrom = gateways[i] as number;
        return { raw, rollups, done: false };
      }
      const n = this.db
        .transaction(() => {
          let deleted = 0;
          for (; i < end; i++) {
            const limit = Math.min(PRUNE_CHUNK_ROWS - deleted, budget - deleted);
            if (limit <= 0) break;
            const gone = this.s.quarterPrune.run({ gw: gateways[i], cutoff: cutoffs.rollup15m, limit }).changes;
            deleted += gone;
            if (gone === limit) break; // this gateway may have more: the next transaction goes on with it
          }
          return deleted;
        })
        .immediate();
      budget -= n;
      rollups += n;
    }
    if (end < gateways.length) {
      this.pruneFrom = gateways[end] as number;
      return { raw, rollups, done: false };
    }
    this.quarterPrunedTo = cutoffs.rollup15m;
    this.pruneFrom = 0;
    return { raw, rollups, done: true };
  }

  /** The gateways' numbers, ascending: sorted again only when one was added (not 19,900 sorted on each of 3 calls every 5 s). */
  private gatewaysInOrder(): number[] {
    if (this.sortedGateways?.m !== this.m || this.sortedGateways.nums.length !== this.m.gwId.size) {
      this.sortedGateways = { m: this.m, nums: [...this.m.gwId.keys()].sort((a, b) => a - b) };
    }
    return this.sortedGateways.nums;
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
