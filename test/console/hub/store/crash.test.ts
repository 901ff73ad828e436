/**
 * Crash safety: a real child process (test/console/hub/store/fixtures/crash-writer.mjs, the built
 * store from dist/) writes audit rows and telemetry groups flat out and is killed with SIGKILL in
 * mid-flight, several times. After each kill the database opens, passes integrity_check, and holds
 * everything the writer reported as done — once.
 */
import Database from 'better-sqlite3';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HubStore } from '../../../../console/hub/store/index.js';
import { ROOT, start, waitFor } from '../../../helpers/processes.js';
import { aDataDir } from './builders.js';

const WRITER = join(ROOT, 'test', 'console', 'hub', 'store', 'fixtures', 'crash-writer.mjs');
const TELEMETRY_WRITER = join(ROOT, 'test', 'console', 'hub', 'store', 'fixtures', 'telemetry-writer.mjs');
const BUILT = join(ROOT, 'dist', 'console', 'hub', 'store');
const SOURCE = join(ROOT, 'console', 'hub', 'store');
const GATEWAYS = 40;
const SAMPLES_PER_BATCH = 4;

/** The child runs dist/: refuse to test stale code rather than pass on it. */
function assertBuilt(): void {
  if (!existsSync(join(BUILT, 'index.js'))) throw new Error(`${BUILT}/index.js is missing: run \`npm run build\` first`);
  for (const file of readdirSync(SOURCE).filter((f) => f.endsWith('.ts'))) {
    const built = join(BUILT, file.replace(/\.ts$/, '.js'));
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(SOURCE, file)).mtimeMs) {
      throw new Error(`${built} is older than its source: run \`npm run build\` first`);
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('kill -9 while writing', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  it('keeps every committed audit row and telemetry batch, exactly once, and the file passes integrity_check', async () => {
    assertBuilt();
    const dataDir = aDataDir();
    const audited = new Set<number>();
    const stored = new Set<number>();
    let nextSeq = 1;

    for (let cycle = 0; cycle < 4; cycle++) {
      const writer = start(process.execPath, [WRITER, dataDir, String(nextSeq), String(GATEWAYS)]);
      stops.push(writer.stop);
      const lines = (): string[] => writer.output().split('\n');
      const target = 20 + cycle * 7;
      await waitFor(() => lines().filter((l) => l.startsWith('telemetry ')).length >= target || writer.child.exitCode !== null, 30_000, 'the writer to get going');
      await sleep(Math.random() * 40);
      writer.child.kill('SIGKILL');
      await new Promise((r) => (writer.child.exitCode !== null || writer.child.signalCode !== null ? r(undefined) : writer.child.once('exit', r)));
      expect(writer.child.signalCode, writer.output().slice(-2_000)).toBe('SIGKILL');
      for (const line of lines()) {
        const [kind, value] = line.split(' ');
        if (kind === 'audit') audited.add(Number(value));
        if (kind === 'telemetry') stored.add(Number(value));
      }
      nextSeq = Math.max(...stored) + 1;

      // The file as the kill left it: intact, and the open store rolls nothing back that was reported.
      const raw = new Database(join(dataDir, 'hub.db'));
      try {
        expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      } finally {
        raw.close();
      }
    }

    const store = HubStore.open(dataDir);
    const raw = new Database(store.path, { readonly: true });
    try {
      const ids = new Set(store.queryAudit({ operator: 'crash-test', limit: 10_000 }).map((r) => r.id));
      const missingAudit = [...audited].filter((id) => !ids.has(id));
      expect(missingAudit).toEqual([]);
      expect(audited.size).toBeGreaterThan(50);

      // Each reported seq is there for every gateway, with its samples once: replaying it stores nothing.
      const perSeq = new Map(
        (raw.prepare('SELECT seq, COUNT(*) AS n FROM telemetry_raw GROUP BY seq').all() as Array<{ seq: number; n: number }>).map((r) => [r.seq, r.n]),
      );
      for (const seq of stored) expect(perSeq.get(seq), `seq ${seq}`).toBe(GATEWAYS * SAMPLES_PER_BATCH);
      // Nothing is stored twice, reported or not (a kill between commit and print leaves a seq the next writer replays).
      for (const [seq, n] of perSeq) expect(n, `seq ${seq}`).toBe(GATEWAYS * SAMPLES_PER_BATCH);
      const replay = [...stored].slice(0, 20).flatMap((seq) => [{ gatewayId: 'gw-0', seq, samples: [] }]);
      expect(store.storeTelemetry(replay).every((fresh) => !fresh)).toBe(true);
      // The roll-ups agree with the raw rows that survived.
      const rollupCount = raw.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM telemetry_1m').get() as { n: number };
      const rawCount = raw.prepare('SELECT COUNT(*) AS n FROM telemetry_raw').get() as { n: number };
      expect(rollupCount.n).toBe(rawCount.n);
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      raw.close();
      store.close();
    }
  });

  it('keeps the roll-ups of the minute and quarter-hour that were only in memory: after kill -9 mid-minute they equal the raw samples, and every acknowledged seq is known', async () => {
    assertBuilt();
    const dataDir = aDataDir();
    const gateways = 20;
    const stored = new Set<number>();
    let nextSeq = 1;
    for (let cycle = 0; cycle < 3; cycle++) {
      const writer = start(process.execPath, [TELEMETRY_WRITER, dataDir, String(nextSeq), String(gateways)]);
      stops.push(writer.stop);
      const lines = (): string[] => writer.output().split('\n');
      await waitFor(() => lines().filter((l) => l.startsWith('telemetry ')).length >= 30 || writer.child.exitCode !== null, 30_000, 'the writer to get going');
      await sleep(500 + Math.random() * 1_000);
      writer.child.kill('SIGKILL');
      await new Promise((r) => (writer.child.exitCode !== null || writer.child.signalCode !== null ? r(undefined) : writer.child.once('exit', r)));
      expect(writer.child.signalCode, writer.output().slice(-2_000)).toBe('SIGKILL');
      for (const line of lines()) {
        const [kind, value] = line.split(' ');
        if (kind === 'telemetry') stored.add(Number(value));
      }
      nextSeq = Math.max(...stored) + 1;
    }

    const store = HubStore.open(dataDir);
    const raw = new Database(store.path, { readonly: true });
    try {
      const ids = Array.from({ length: gateways }, (_, i) => `gw-${i}`);
      // Every acknowledged batch is known: its replay stores nothing.
      const replay = ids.flatMap((gatewayId) => [...stored].map((seq) => ({ gatewayId, seq, samples: [] })));
      expect(store.storeTelemetry(replay).filter((fresh) => fresh)).toEqual([]);
      const rows = raw.prepare('SELECT gateway_id, time, kw FROM telemetry_raw').all() as Array<{ gateway_id: string; time: number; kw: number }>;
      const from = Math.min(...rows.map((r) => r.time)) - 1_000_000;
      const to = Math.max(...rows.map((r) => r.time)) + 1_000_000;
      for (const [resolution, size] of [['1m', 60_000], ['15m', 900_000]] as const) {
        const fleet = new Map<number, number>();
        for (const id of ids) {
          const mine = rows.filter((r) => r.gateway_id === id);
          const buckets = new Map<number, number[]>();
          for (const r of mine) {
            const b = Math.floor(r.time / size) * size;
            buckets.set(b, [...(buckets.get(b) ?? []), r.kw]);
          }
          const want = [...buckets].sort((a, b) => a[0] - b[0]).map(([time, kws]) => ({ time, kw: kws.reduce((x, y) => x + y, 0) / kws.length }));
          for (const w of want) fleet.set(w.time, (fleet.get(w.time) ?? 0) + w.kw);
          const got = store.loadHistory({ gatewayId: id, from, to, resolution });
          expect(got.map((p) => p.time), `${id} ${resolution}`).toEqual(want.map((p) => p.time));
          got.forEach((p, i) => expect(p.kw).toBeCloseTo(want[i]?.kw ?? NaN, 9));
        }
        const got = store.loadHistory({ from, to, resolution });
        expect(got.map((p) => p.time)).toEqual([...fleet.keys()].sort((a, b) => a - b));
        for (const p of got) expect(p.kw).toBeCloseTo(fleet.get(p.time) ?? NaN, 9);
      }
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      raw.close();
      store.close();
    }
  });
});
