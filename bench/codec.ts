/**
 * Micro-benchmark of the protocol codec against its peers in the same process and run: the bare
 * fast-xml-parser with our options (the floor of the full decode path), and JSON.parse /
 * JSON.stringify of the same message as an object. A result takes decode's fast path for plain
 * frames; the full path (scanner, parser, validation) is measured beside it. Reports the median of
 * several timed runs after a warm-up.
 *
 * Run: npm run bench:codec   (or: npx tsc -p tsconfig.json && node dist/bench/codec.js)
 * Target: decode+validate and encode of a typical command ≥ 50,000 msgs/s per core.
 */
import { cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { decodeFull, XML_PARSER_OPTIONS } from '../shared/protocol/decode.js';
import { decode, encode, type Message } from '../shared/protocol/index.js';

export interface CodecBenchOptions {
  /** Timed runs per case; the median is reported. Default 7. */
  runs?: number;
  /** Messages per run. Default 20,000. */
  messages?: number;
  /** Untimed messages per case before the runs. Default 20,000. */
  warmup?: number;
}

export interface CodecBenchResult {
  /** Which message: `command`, `result`. */
  workload: string;
  /** What was measured, e.g. `decode+validate`, `XMLParser.parse (floor)`. */
  operation: string;
  medianOpsPerSecond: number;
  minOpsPerSecond: number;
  maxOpsPerSecond: number;
  /** This case's median divided by each peer's median. */
  ratios: { peer: string; value: number }[];
}

/** Minimum for decode+validate and encode of a command (issue acceptance). */
export const TARGET_OPS_PER_SECOND = 50_000;

const WORKLOADS: readonly { name: string; message: Message }[] = [
  {
    name: 'command',
    message: { kind: 'command', id: 'c7Kq2', op: 'shed', deadline: 1764100060000, selector: { channels: [1, 2] }, durationSeconds: 900 },
  },
  {
    name: 'result',
    message: {
      kind: 'result',
      commandId: 'c7Kq2',
      status: 'ok',
      time: 1764100000500,
      measuredKw: 12.5,
      relays: [
        { channel: 1, on: false },
        { channel: 2, on: false },
        { channel: 3, on: true },
      ],
    },
  },
];

interface Case {
  operation: string;
  fn: () => number;
  peers: string[];
}

/** Written, never read: keeps each result observable so the optimiser cannot drop the work. */
let _sink = 0;

function measure(fn: () => number, messages: number): number {
  const started = process.hrtime.bigint();
  let acc = 0;
  for (let i = 0; i < messages; i++) acc += fn();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  _sink ^= acc;
  return messages / seconds;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function casesFor(message: Message): Case[] {
  const frame = encode(message);
  const json = JSON.stringify(message);
  const parser = new XMLParser(XML_PARSER_OPTIONS);
  return [
    { operation: 'decode+validate', fn: () => decode(frame).kind.length, peers: ['XMLParser.parse (floor)', 'JSON.parse'] },
    // What decode did before the fast path for plain frames (plain-xml.ts), and still does for the rest.
    { operation: 'decode+validate, full path', fn: () => decodeFull(frame).kind.length, peers: ['XMLParser.parse (floor)'] },
    { operation: 'XMLParser.parse (floor)', fn: () => (parser.parse(frame) as unknown[]).length, peers: [] },
    { operation: 'JSON.parse', fn: () => (JSON.parse(json) as Message).kind.length, peers: [] },
    { operation: 'encode', fn: () => encode(message).length, peers: ['JSON.stringify'] },
    { operation: 'JSON.stringify', fn: () => JSON.stringify(message).length, peers: [] },
  ];
}

export async function runCodecBench(options: CodecBenchOptions = {}): Promise<CodecBenchResult[]> {
  const runs = options.runs ?? 7;
  const messages = options.messages ?? 20_000;
  const warmup = options.warmup ?? 20_000;
  const results: CodecBenchResult[] = [];
  for (const workload of WORKLOADS) {
    const cases = casesFor(workload.message);
    for (const c of cases) measure(c.fn, warmup);
    // Interleave the cases run by run, so a slow moment of the machine hits every case alike.
    const samples = new Map<string, number[]>(cases.map((c) => [c.operation, []]));
    for (let r = 0; r < runs; r++) {
      for (const c of cases) {
        samples.get(c.operation)?.push(measure(c.fn, messages));
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    const medians = new Map(cases.map((c) => [c.operation, median(samples.get(c.operation) ?? [])]));
    for (const c of cases) {
      const values = samples.get(c.operation) ?? [];
      const result: CodecBenchResult = {
        workload: workload.name,
        operation: c.operation,
        medianOpsPerSecond: medians.get(c.operation) ?? 0,
        minOpsPerSecond: Math.min(...values),
        maxOpsPerSecond: Math.max(...values),
        ratios: c.peers.map((peer) => ({ peer, value: (medians.get(c.operation) ?? 0) / (medians.get(peer) ?? Number.NaN) })),
      };
      results.push(result);
    }
  }
  return results;
}

function formatRate(opsPerSecond: number): string {
  return Math.round(opsPerSecond).toLocaleString('en-US');
}

/** A markdown table of the results, with the bytes of each workload's frame. */
export function formatCodecTable(results: readonly CodecBenchResult[]): string {
  const lines = [
    '| workload | frame bytes | operation | median msgs/s | min | max | ratio to peers |',
    '|---|---:|---|---:|---:|---:|---|',
  ];
  for (const r of results) {
    const message = WORKLOADS.find((w) => w.name === r.workload)?.message;
    const bytes = message === undefined ? '' : String(Buffer.byteLength(encode(message)));
    const ratio = r.ratios.map((p) => `${p.value.toFixed(2)}× ${p.peer}`).join(', ');
    lines.push(
      `| ${r.workload} | ${bytes} | ${r.operation} | ${formatRate(r.medianOpsPerSecond)} | ${formatRate(r.minOpsPerSecond)} | ${formatRate(r.maxOpsPerSecond)} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

/** Whether the command's decode+validate and encode meet TARGET_OPS_PER_SECOND. */
export function meetsTarget(results: readonly CodecBenchResult[]): boolean {
  return results
    .filter((r) => r.workload === 'command' && (r.operation === 'decode+validate' || r.operation === 'encode'))
    .every((r) => r.medianOpsPerSecond >= TARGET_OPS_PER_SECOND);
}

async function main(): Promise<void> {
  const results = await runCodecBench();
  console.log(`codec benchmark — Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, 1 core, median of 7 runs × 20,000 msgs\n`);
  console.log(formatCodecTable(results));
  const ok = meetsTarget(results);
  console.log(`\ntarget: command decode+validate and encode ≥ ${formatRate(TARGET_OPS_PER_SECOND)} msgs/s — ${ok ? 'met' : 'NOT met'}`);
  if (!ok) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
