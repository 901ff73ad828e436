/**
 * Telemetry's cost in the hub without the link: the real store and telemetry ingest (group commit,
 * acks after the commit, live load), fed with N gateways × 1 Hz one-sample batches spread evenly
 * over each second, as the link would deliver them. Reports, over the measured window (after a
 * warm-up that passes a minute's roll-up flush):
 * - hub CPU per sample (this process: store, roll-ups, live load, acks — not TLS, WebSocket, XML);
 * - ack latency p50/p99 (receipt to ack, the group window plus the commit);
 * - the bytes the process wrote to disk (/proc/self/io write_bytes: WAL, checkpoints, database)
 *   against the bytes stored (growth of the database's used pages), and bytes stored per sample.
 *
 *   npm run build && node dist/bench/telemetry-store.js [--gateways 2000] [--seconds 120] [--warmup 40] [--dir DIR]
 *
 * The data directory must be on a disk (not tmpfs), or write_bytes reads 0.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { LiveLoad } from '../console/hub/fleet/live-load.js';
import { TelemetryIngest } from '../console/hub/fleet/telemetry-ingest.js';
import { HubStore } from '../console/hub/store/index.js';
import type { TelemetryMessage } from '../shared/protocol/messages.js';

const { values } = parseArgs({
  options: {
    gateways: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '120' },
    warmup: { type: 'string', default: '40' },
    dir: { type: 'string' },
    'group-ms': { type: 'string' },
  },
});
const N = Number(values.gateways);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const TICK_MS = 10;

function writeBytes(): number {
  const m = /write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
  return Number(m?.[1] ?? 0);
}

function usedBytes(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * pageSize;
  } finally {
    db.close();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

async function main(): Promise<void> {
  const base = values.dir ?? mkdtempSync(join(process.cwd(), '.bench-telemetry-'));
  const store = HubStore.open(base);
  const load = new LiveLoad('Europe/Zurich', store);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let measuring = false;
  const ingest = new TelemetryIngest({
    store,
    load,
    registry: { telemetry: () => false },
    alarms: { raise: () => ({}) as never, clear: () => undefined },
    send: (id, m) => {
      const key = `${id}#${m.seq}`;
      const t = sentAt.get(key);
      sentAt.delete(key);
      if (measuring && t !== undefined) latencies.push(performance.now() - t);
      return true;
    },
    changed: () => undefined,
    log: pino({ level: 'warn' }),
    ...(values['group-ms'] !== undefined ? { groupMs: Number(values['group-ms']) } : {}),
  });
  // Gateways sample at their own phase within the second, unrelated to the order the store first
  // saw them in (their gateway numbers): the sending order is a shuffle of the ids.
  const ids = Array.from({ length: N }, (_, i) => `gw-${String(i).padStart(5, '0')}`);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ids[i], ids[j]] = [ids[j] as string, ids[i] as string];
  }
  // The store numbers the gateways as it first meets them — in another order than their phases (as
  // after a restart, or as they connected): registered here with one batch each, in id order.
  store.storeTelemetry([...ids].sort().map((gatewayId) => ({ gatewayId, seq: 1, samples: [] })));
  const seqs = new Array<number>(N).fill(1);
  const relays = [
    { channel: 1, on: true },
    { channel: 2, on: false },
    { channel: 3, on: true },
  ];
  let next = 0;
  let samples = 0;
  const perTick = (N * TICK_MS) / 1000;
  let owed = 0;
  const timer = setInterval(() => {
    owed += perTick;
    for (; owed >= 1; owed--) {
      const g = next;
      next = (next + 1) % N;
      const seq = (seqs[g] ?? 0) + 1;
      seqs[g] = seq;
      const now = Date.now();
      const m: TelemetryMessage = { kind: 'telemetry', seq, samples: [{ time: now, kw: 10 + (g % 50) + Math.random(), kwh: 1000 + seq * 0.003, relays }] };
      sentAt.set(`${ids[g]}#${seq}`, performance.now());
      ingest.accept(ids[g] ?? '', m);
      if (measuring) samples++;
    }
  }, TICK_MS);

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  process.stderr.write(`warming up ${WARMUP} s with ${N} gateways × 1 Hz in ${base}\n`);
  await sleep(WARMUP * 1000);
  const bytes0 = usedBytes(store.path);
  const write0 = writeBytes();
  const cpu0 = process.cpuUsage();
  measuring = true;
  await sleep(SECONDS * 1000);
  measuring = false;
  const cpu = process.cpuUsage(cpu0);
  const written = writeBytes() - write0;
  const stored = usedBytes(store.path) - bytes0;
  clearInterval(timer);
  ingest.close();
  store.close();
  latencies.sort((a, b) => a - b);
  const cpuUs = cpu.user + cpu.system;
  const result = {
    gateways: N,
    seconds: SECONDS,
    samples,
    cpuUsPerSample: +(cpuUs / samples).toFixed(1),
    ackP50Ms: +percentile(latencies, 50).toFixed(1),
    ackP99Ms: +percentile(latencies, 99).toFixed(1),
    writtenBytes: written,
    storedBytes: stored,
    writtenPerStored: +(written / stored).toFixed(2),
    storedBytesPerSample: +(stored / samples).toFixed(1),
    writtenBytesPerSample: +(written / samples).toFixed(1),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (values.dir === undefined) rmSync(base, { recursive: true, force: true });
}

await main();
