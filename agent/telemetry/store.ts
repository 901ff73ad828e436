/**
 * The telemetry queue on disk (SQLite, see agent/db.ts). Samples go into the one open batch, one
 * row each, so a crash loses none and a sample costs one small append; a sealed batch never
 * changes again — its seq and content are what the hub stores exactly once. Sequence numbers come
 * from a counter written in the same transaction as the batch, so a seq is never handed out twice,
 * not even after `kill -9` and the deletion of every acknowledged batch.
 *
 * An ack is applied at once in memory (the batch is no longer sent, replayed or counted) and on disk
 * in the next sample's transaction, or after ACK_FLUSH_EVERY acks, so an ack costs no commit of its
 * own. Losing such a deletion (`kill -9`, power cut) only means the batch is sent once more, and the
 * hub acknowledges a replayed (gateway, seq) without storing it twice: still exactly once.
 */
import type { TelemetrySample } from '../../shared/protocol/index.js';
import { getMeta, setMeta, transaction, type AgentDb, type AgentStatement as Statement } from '../db.js';

export interface StoredBatch {
  seq: number;
  createdAt: number;
  samples: TelemetrySample[];
}

export interface TrimReport {
  batches: number;
  samples: number;
  fromSeq: number;
  toSeq: number;
}

interface BatchRow {
  seq: number;
  created_at: number;
  count: number;
}

const NEXT_SEQ = 'telemetry.nextSeq';

/** Acknowledged batches deleted in a transaction of their own at the latest after this many acks. */
const ACK_FLUSH_EVERY = 64;

export class TelemetryStore {
  private readonly db: AgentDb;
  private readonly selectOpen: Statement;
  private readonly insertBatch: Statement;
  private readonly insertSample: Statement;
  private readonly updateBatch: Statement;
  private readonly sealBatch: Statement;
  private readonly selectUnacked: Statement;
  private readonly selectSealed: Statement;
  private readonly selectSamples: Statement;
  private readonly deleteBatch: Statement;
  private readonly deleteSamples: Statement;
  private readonly countOld: Statement;
  private readonly deleteOldSamples: Statement;
  private readonly deleteOldBatches: Statement;
  private readonly countAll: Statement;
  private readonly selectMaxSeq: Statement;
  private readonly appendTx: (sample: TelemetrySample, now: number, sealAt: number) => { seq: number; count: number; createdAt: number; sealed: boolean };
  private readonly flushTx: () => void;
  private readonly trimTx: (before: number) => TrimReport | undefined;
  /** Acknowledged batches (seq → sample count) whose rows are still on disk until the next flush. */
  private readonly acked = new Map<number, number>();

  constructor(db: AgentDb) {
    this.db = db;
    this.selectOpen = db.prepare('SELECT seq, created_at, count FROM batches WHERE sealed = 0');
    this.insertBatch = db.prepare('INSERT INTO batches (seq, created_at, sealed, count) VALUES (?, ?, 0, 0)');
    this.insertSample = db.prepare('INSERT INTO samples (seq, idx, sample) VALUES (?, ?, ?)');
    this.updateBatch = db.prepare('UPDATE batches SET count = ?, sealed = ? WHERE seq = ?');
    this.sealBatch = db.prepare('UPDATE batches SET sealed = 1 WHERE seq = ?');
    this.selectUnacked = db.prepare('SELECT seq, created_at, count FROM batches WHERE sealed = 1 AND seq > ? ORDER BY seq LIMIT ?');
    this.selectSealed = db.prepare('SELECT seq, created_at, count FROM batches WHERE seq = ? AND sealed = 1');
    this.selectSamples = db.prepare('SELECT sample FROM samples WHERE seq = ? ORDER BY idx');
    this.deleteBatch = db.prepare('DELETE FROM batches WHERE seq = ? AND sealed = 1');
    this.deleteSamples = db.prepare('DELETE FROM samples WHERE seq = ?');
    this.countOld = db.prepare(
      'SELECT COUNT(*) AS batches, COALESCE(SUM(count), 0) AS samples, MIN(seq) AS fromSeq, MAX(seq) AS toSeq FROM batches WHERE created_at < ? AND sealed = 1',
    );
    this.deleteOldSamples = db.prepare('DELETE FROM samples WHERE seq IN (SELECT seq FROM batches WHERE created_at < ? AND sealed = 1)');
    this.deleteOldBatches = db.prepare('DELETE FROM batches WHERE created_at < ? AND sealed = 1');
    this.countAll = db.prepare('SELECT COUNT(*) AS batches, COALESCE(SUM(count), 0) AS samples FROM batches');
    this.selectMaxSeq = db.prepare('SELECT MAX(seq) AS max FROM batches');

    this.appendTx = transaction(db, (sample: TelemetrySample, now: number, sealAt: number) => {
      this.deleteAcked();
      let open = this.selectOpen.get() as BatchRow | undefined;
      if (!open) {
        const seq = this.nextSeq();
        setMeta(this.db, NEXT_SEQ, String(seq + 1));
        this.insertBatch.run(seq, now);
        open = { seq, created_at: now, count: 0 };
      }
      const count = open.count + 1;
      this.insertSample.run(open.seq, open.count, JSON.stringify(sample));
      const sealed = count >= sealAt;
      this.updateBatch.run(count, sealed ? 1 : 0, open.seq);
      return { seq: open.seq, count, createdAt: open.created_at, sealed };
    });
    this.flushTx = transaction(db, () => this.deleteAcked());
    this.trimTx = transaction(db, (before: number): TrimReport | undefined => {
      // Acked batches are not "dropped unacknowledged": they go first, and are not reported.
      this.deleteAcked();
      const row = this.countOld.get(before) as { batches: number; samples: number; fromSeq: number | null; toSeq: number | null };
      if (row.batches === 0 || row.fromSeq === null || row.toSeq === null) return undefined;
      this.deleteOldSamples.run(before);
      this.deleteOldBatches.run(before);
      return { batches: row.batches, samples: row.samples, fromSeq: row.fromSeq, toSeq: row.toSeq };
    });
  }

  /**
   * Adds a sample to the open batch (opening one with the next seq if none is), and seals the batch
   * in the same transaction once it holds `sealAt` samples. Acknowledged batches are deleted in the
   * same transaction.
   */
  append(sample: TelemetrySample, now: number, sealAt = Number.POSITIVE_INFINITY): { seq: number; count: number; createdAt: number; sealed: boolean } {
    const result = this.appendTx(sample, now, sealAt);
    this.acked.clear();
    return result;
  }

  /** Seals the open batch, if any; from now on it is sent as it is. */
  seal(): number | undefined {
    const open = this.selectOpen.get() as BatchRow | undefined;
    if (!open) return undefined;
    this.sealBatch.run(open.seq);
    return open.seq;
  }

  /** Sealed batches not yet acknowledged, oldest first, with seq above `afterSeq`. */
  unacked(limit: number, afterSeq = 0): StoredBatch[] {
    const rows = this.selectUnacked.all(afterSeq, limit + this.acked.size) as unknown as BatchRow[];
    return rows
      .filter((row) => !this.acked.has(row.seq))
      .slice(0, limit)
      .map((row) => this.withSamples(row));
  }

  /** One sealed batch, unless acknowledged. */
  get(seq: number): StoredBatch | undefined {
    if (this.acked.has(seq)) return undefined;
    const row = this.selectSealed.get(seq) as BatchRow | undefined;
    return row ? this.withSamples(row) : undefined;
  }

  private withSamples(row: BatchRow): StoredBatch {
    const samples = (this.selectSamples.all(row.seq) as { sample: string }[]).map((s) => JSON.parse(s.sample) as TelemetrySample);
    return { seq: row.seq, createdAt: row.created_at, samples };
  }

  /** The hub stored batch `seq`: forget it (on disk with the next append or flush). Returns whether it was still here. */
  ack(seq: number): boolean {
    if (this.acked.has(seq)) return false;
    const row = this.selectSealed.get(seq) as BatchRow | undefined;
    if (!row) return false;
    this.acked.set(seq, row.count);
    if (this.acked.size >= ACK_FLUSH_EVERY) this.flush();
    return true;
  }

  /** Deletes the acknowledged batches now (the agent stopping, or many acks without a sample). */
  flush(): void {
    if (this.acked.size === 0) return;
    this.flushTx();
    this.acked.clear();
  }

  /** Drops sealed batches created before `before` (the retention bound); reports what went. */
  trim(before: number): TrimReport | undefined {
    const report = this.trimTx(before);
    this.acked.clear();
    return report;
  }

  /** Batches waiting (sealed or open) and their samples. */
  backlog(): { batches: number; samples: number } {
    const all = this.countAll.get() as { batches: number; samples: number };
    let samples = all.samples;
    for (const count of this.acked.values()) samples -= count;
    return { batches: all.batches - this.acked.size, samples };
  }

  /** Inside a transaction: the rows of the acknowledged batches. */
  private deleteAcked(): void {
    for (const seq of this.acked.keys()) {
      if (this.deleteBatch.run(seq).changes > 0) this.deleteSamples.run(seq);
    }
  }

  private nextSeq(): number {
    const stored = Number(getMeta(this.db, NEXT_SEQ) ?? '1');
    const max = (this.selectMaxSeq.get() as { max: number | null }).max ?? 0;
    // The counter is the truth; the max only guards against a counter that somehow fell behind.
    return Math.max(Number.isSafeInteger(stored) && stored > 0 ? stored : 1, max + 1);
  }
}
