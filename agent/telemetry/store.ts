/**
 * The telemetry queue on disk (SQLite, see agent/db.ts). Samples go into the one open batch, one
 * row each, so a crash loses none and a sample costs one small append; a sealed batch never
 * changes again — its seq and content are what the hub stores exactly once. Sequence numbers come
 * from a counter written in the same transaction as the batch, so a seq is never handed out twice,
 * not even after `kill -9` and the deletion of every acknowledged batch.
 */
import type { TelemetrySample } from '../../shared/protocol/index.js';
import { getMeta, setMeta, type AgentDb } from '../db.js';

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

export class TelemetryStore {
  private readonly db: AgentDb;

  constructor(db: AgentDb) {
    this.db = db;
  }

  /**
   * Adds a sample to the open batch (opening one with the next seq if none is), and seals the batch
   * in the same transaction once it holds `sealAt` samples.
   */
  append(sample: TelemetrySample, now: number, sealAt = Number.POSITIVE_INFINITY): { seq: number; count: number; createdAt: number; sealed: boolean } {
    return this.db.transaction(() => {
      let open = this.db.prepare('SELECT seq, created_at, count FROM batches WHERE sealed = 0').get() as BatchRow | undefined;
      if (!open) {
        const seq = this.nextSeq();
        setMeta(this.db, NEXT_SEQ, String(seq + 1));
        this.db.prepare('INSERT INTO batches (seq, created_at, sealed, count) VALUES (?, ?, 0, 0)').run(seq, now);
        open = { seq, created_at: now, count: 0 };
      }
      const count = open.count + 1;
      this.db.prepare('INSERT INTO samples (seq, idx, sample) VALUES (?, ?, ?)').run(open.seq, open.count, JSON.stringify(sample));
      const sealed = count >= sealAt;
      this.db.prepare('UPDATE batches SET count = ?, sealed = ? WHERE seq = ?').run(count, sealed ? 1 : 0, open.seq);
      return { seq: open.seq, count, createdAt: open.created_at, sealed };
    })();
  }

  /** Seals the open batch, if any; from now on it is sent as it is. */
  seal(): number | undefined {
    const open = this.db.prepare('SELECT seq FROM batches WHERE sealed = 0').get() as { seq: number } | undefined;
    if (!open) return undefined;
    this.db.prepare('UPDATE batches SET sealed = 1 WHERE seq = ?').run(open.seq);
    return open.seq;
  }

  /** Sealed batches not yet acknowledged, oldest first, with seq above `afterSeq`. */
  unacked(limit: number, afterSeq = 0): StoredBatch[] {
    const rows = this.db.prepare('SELECT seq, created_at, count FROM batches WHERE sealed = 1 AND seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as BatchRow[];
    return rows.map((row) => this.withSamples(row));
  }

  /** One sealed batch. */
  get(seq: number): StoredBatch | undefined {
    const row = this.db.prepare('SELECT seq, created_at, count FROM batches WHERE seq = ? AND sealed = 1').get(seq) as BatchRow | undefined;
    return row ? this.withSamples(row) : undefined;
  }

  private withSamples(row: BatchRow): StoredBatch {
    const samples = (this.db.prepare('SELECT sample FROM samples WHERE seq = ? ORDER BY idx').all(row.seq) as { sample: string }[]).map((s) => JSON.parse(s.sample) as TelemetrySample);
    return { seq: row.seq, createdAt: row.created_at, samples };
  }

  /** The hub stored batch `seq`: forget it. Returns whether it was still here. */
  ack(seq: number): boolean {
    return this.db.transaction(() => {
      const deleted = this.db.prepare('DELETE FROM batches WHERE seq = ? AND sealed = 1').run(seq).changes > 0;
      if (deleted) this.db.prepare('DELETE FROM samples WHERE seq = ?').run(seq);
      return deleted;
    })();
  }

  /** Drops sealed batches created before `before` (the retention bound); reports what went. */
  trim(before: number): TrimReport | undefined {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT COUNT(*) AS batches, COALESCE(SUM(count), 0) AS samples, MIN(seq) AS fromSeq, MAX(seq) AS toSeq FROM batches WHERE created_at < ? AND sealed = 1').get(before) as {
        batches: number;
        samples: number;
        fromSeq: number | null;
        toSeq: number | null;
      };
      if (row.batches === 0 || row.fromSeq === null || row.toSeq === null) return undefined;
      this.db.prepare('DELETE FROM samples WHERE seq IN (SELECT seq FROM batches WHERE created_at < ? AND sealed = 1)').run(before);
      this.db.prepare('DELETE FROM batches WHERE created_at < ? AND sealed = 1').run(before);
      return { batches: row.batches, samples: row.samples, fromSeq: row.fromSeq, toSeq: row.toSeq };
    })();
  }

  /** Batches waiting (sealed or open) and their samples. */
  backlog(): { batches: number; samples: number } {
    return this.db.prepare('SELECT COUNT(*) AS batches, COALESCE(SUM(count), 0) AS samples FROM batches').get() as { batches: number; samples: number };
  }

  private nextSeq(): number {
    const stored = Number(getMeta(this.db, NEXT_SEQ) ?? '1');
    const max = (this.db.prepare('SELECT MAX(seq) AS max FROM batches').get() as { max: number | null }).max ?? 0;
    // The counter is the truth; the max only guards against a counter that somehow fell behind.
    return Math.max(Number.isSafeInteger(stored) && stored > 0 ? stored : 1, max + 1);
  }
}
