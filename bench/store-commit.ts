/**
 * What a fleet-wide operation costs the hub's store once its page cache has filled, as it has in a hub
 * that has run for a while: the real HubStore, filled with telemetry (N gateways × 1 Hz, in the
 * ingest's groups of 1,000 samples) until its cache is full, then N commands of one shed event
 * journaled and finished as the dispatcher does (slices of 100: audit row, command, outcome; then the
 * final state, its audit row, the outcome — one transaction per slice each way), and a few seconds of
 * telemetry. Per page-cache size (`--cache-kib`, the first is the hub's default) and round:
 * store time per command and per telemetry sample (this thread only: no fsync, no link). Then, per
 * cache size, the longest telemetry writes across a quarter-hour at `--quarter-hour-gateways` (0: skip).
 *
 *   npm run build && node dist/bench/store-commit.js [--gateways 2000] [--fill-seconds 1200] [--rounds 5] [--cache-kib 8192,65536] [--quarter-hour-gateways 20000]
 *
 * Why: SQLite walks the whole page-cache hash table at every commit that rebalanced a B-tree (see
 * HUB_CACHE_KIB in console/hub/store/db.ts), so a large cache, once full, costs every commit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newCommandIds } from '../console/hub/fleet/dispatcher.js';
import type { CommandRecord } from '../console/hub/operator/types.js';
import { HUB_CACHE_KIB } from '../console/hub/store/db.js';
import { HubStore } from '../console/hub/store/index.js';
import { median } from './link.js';
import type { TelemetrySample } from '../shared/protocol/messages.js';

const SLICE = 100;
const GROUP_SAMPLES = 1_000;

interface Figures {
  cacheKib: number;
  fillSeconds: number;
  commandUs: number[];
  sampleUs: number[];
}

/** One telemetry batch per gateway, `samples` samples a second apart from `time` (seq shared). */
function batchesAt(gateways: number, seq: number, time: number, samples: number): Array<{ gatewayId: string; seq: number; samples: TelemetrySample[] }> {
  const relays: TelemetrySample['relays'] = [
    { channel: 1, on: true },
    { channel: 2, on: true },
  ];
  const batches = [];
  for (let g = 0; g < gateways; g++) {
    batches.push({ gatewayId: `gw-${g}`, seq, samples: Array.from({ length: samples }, (_, i) => ({ time: time + i * 1000, kw: 3 + (g % 7), relays })) });
  }
  return batches;
}

function measure(cacheKib: number, gateways: number, fillSeconds: number, rounds: number): Figures {
  const dir = mkdtempSync(join(tmpdir(), 'lmgw-store-commit-'));
  // Telemetry's clock (which closes the roll-up buckets) advances with the samples, a second per second
  // of telemetry, as in a live hub: samples in the past would take the late-sample path instead.
  let time = Date.now();
  const store = HubStore.open(dir, { cacheKib, now: () => time });
  try {
    let seq = 1;
    const second = (): void => {
      const batches = batchesAt(gateways, seq, time, 1);
      seq += 1;
      time += 1000;
      for (let i = 0; i < batches.length; i += GROUP_SAMPLES) store.storeTelemetry(batches.slice(i, i + GROUP_SAMPLES));
    };
    const t0 = performance.now();
    for (let s = 0; s < fillSeconds; s++) second();
    const fillSeconds_ = (performance.now() - t0) / 1000;
    const commandUs: number[] = [];
    const sampleUs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const eventId = `e${r}`;
      const now = Date.now();
      store.createShedEvent(
        { id: eventId, operator: 'bench', createdAt: now, scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 2 }, durationSeconds: 600, endsAt: now + 600_000, state: 'active', plannedKw: gateways, gatewayCount: gateways, skippedCount: 0, skippedByReason: {} },
        [],
      );
      const c0 = performance.now();
      const records: CommandRecord[] = [];
      for (let from = 0; from < gateways; from += SLICE) {
        const t = Date.now();
        const ids = newCommandIds(Math.min(SLICE, gateways - from), t);
        const slice = ids.map(
          (id, i): CommandRecord => ({ id, gatewayId: `gw-${from + i}`, op: 'shed', channels: [1, 2], durationSeconds: 600, eventId, operator: 'bench', state: 'requested', requestedAt: t, deadline: t + 10_000 }),
        );
        store.transaction(() => {
          for (const c of slice) {
            store.appendAudit({ time: t, operator: 'bench', operation: 'command', parameters: { gatewayId: c.gatewayId, op: 'shed', channels: c.channels, eventId, deadline: c.deadline }, outcome: 'requested', ref: c.id });
            store.saveCommand(c);
            store.saveShedOutcome(eventId, { gatewayId: c.gatewayId, channels: [1, 2], expectedKw: 3, commandId: c.id, state: 'requested' });
          }
        });
        records.push(...slice);
      }
      for (let from = 0; from < records.length; from += SLICE) {
        store.transaction(() => {
          for (const c of records.slice(from, from + SLICE)) {
            const done: CommandRecord = { ...c, state: 'confirmed', finishedAt: Date.now(), readBack: [{ channel: 1, on: false }, { channel: 2, on: false }] };
            store.saveCommand(done);
            store.appendAudit({ time: done.finishedAt ?? 0, operator: 'bench', operation: 'command', parameters: { gatewayId: c.gatewayId, op: 'shed', readBack: done.readBack }, outcome: 'confirmed', ref: c.id });
            store.saveShedOutcome(eventId, { gatewayId: c.gatewayId, channels: [1, 2], expectedKw: 3, commandId: c.id, state: 'confirmed' });
          }
        });
      }
      const c1 = performance.now();
      for (let s = 0; s < 10; s++) second();
      const c2 = performance.now();
      commandUs.push(((c1 - c0) * 1000) / gateways);
      sampleUs.push(((c2 - c1) * 1000) / (10 * gateways));
    }
    return { cacheKib, fillSeconds: fillSeconds_, commandUs, sampleUs };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The longest storeTelemetry call (100 batches) over 16 minutes of `gateways` gateways' 10-sample
 * batches every 10 s (as at 19,900 gateways) that cross a quarter-hour: the roll-up written then is
 * one row per gateway, scattered over the table — the pages a smaller cache may have to read again.
 */
function quarterHour(cacheKib: number, gateways: number): { longestMs: number[]; seconds: number } {
  const dir = mkdtempSync(join(tmpdir(), 'lmgw-store-commit-'));
  let time = Math.ceil(Date.now() / 900_000) * 900_000 - 600_000; // ten minutes before a quarter-hour
  const store = HubStore.open(dir, { cacheKib, now: () => time });
  try {
    const calls: number[] = [];
    const t0 = performance.now();
    for (let seq = 1; seq <= 96; seq++) {
      const batches = batchesAt(gateways, seq, time, 10);
      time += 10_000;
      for (let i = 0; i < batches.length; i += 100) {
        const c0 = performance.now();
        store.storeTelemetry(batches.slice(i, i + 100));
        calls.push(performance.now() - c0);
      }
    }
    return { longestMs: calls.sort((a, b) => b - a).slice(0, 3), seconds: (performance.now() - t0) / 1000 };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      gateways: { type: 'string', default: '2000' },
      'fill-seconds': { type: 'string', default: '1200' },
      rounds: { type: 'string', default: '5' },
      'cache-kib': { type: 'string', default: `${HUB_CACHE_KIB},65536` },
      'quarter-hour-gateways': { type: 'string', default: '20000' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('node dist/bench/store-commit.js [--gateways 2000] [--fill-seconds 1200] [--rounds 5] [--cache-kib 8192,65536] [--quarter-hour-gateways 20000]\n');
    return;
  }
  const gateways = Number(values.gateways);
  const fill = Number(values['fill-seconds']);
  const rounds = Number(values.rounds);
  const caches = values['cache-kib'].split(',').map(Number);
  if (![gateways, fill, rounds, ...caches].every((n) => Number.isInteger(n) && n > 0)) throw new Error('--gateways, --fill-seconds, --rounds and --cache-kib take whole numbers > 0');
  if (!(Number.isInteger(Number(values['quarter-hour-gateways'])) && Number(values['quarter-hour-gateways']) >= 0)) throw new Error('--quarter-hour-gateways takes a whole number (0: skip)');
  process.stdout.write(`Store cost with a full page cache: ${gateways} gateways, ${fill} s of telemetry first, ${rounds} rounds, Node ${process.version}\n\n`);
  process.stdout.write('| page cache | store µs per command (median; rounds) | per telemetry sample | fill time |\n|---:|---|---|---:|\n');
  for (const kib of caches) {
    const f = measure(kib, gateways, fill, rounds);
    const us = (xs: number[]): string => `${median(xs).toFixed(1)} (${xs.map((x) => x.toFixed(1)).join(', ')})`;
    process.stdout.write(`| ${kib.toLocaleString('en')} KiB${kib === HUB_CACHE_KIB ? ' (hub)' : ''} | ${us(f.commandUs)} | ${us(f.sampleUs)} | ${f.fillSeconds.toFixed(1)} s |\n`);
  }
  const qh = Number(values['quarter-hour-gateways']);
  if (qh === 0) return;
  process.stdout.write(`\nAcross a quarter-hour, ${qh} gateways' 10-sample batches every 10 s for 16 minutes, 100 batches a call:\n\n`);
  process.stdout.write('| page cache | longest storeTelemetry calls | all calls |\n|---:|---|---:|\n');
  for (const kib of caches) {
    const q = quarterHour(kib, qh);
    process.stdout.write(`| ${kib.toLocaleString('en')} KiB | ${q.longestMs.map((x) => `${x.toFixed(1)} ms`).join(', ')} | ${q.seconds.toFixed(1)} s |\n`);
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`bench:store-commit: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
