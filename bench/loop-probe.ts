/**
 * Loaded into the hub process by the fleet-shed benchmark (`node --import …/loop-probe.js
 * bin/lm-console.js …`), so the hub's event-loop stall is measured inside it without a line of
 * console/hub knowing: on SIGUSR2 it writes one line to stderr,
 * `LMGW_LOOP_STATS {"maxMs":…,"p99Ms":…,"p50Ms":…,"count":…,"gcMaxMs":…,"gcMaxKind":…,"gcMs":…}`, for the
 * time since the previous SIGUSR2 (or the start), and starts afresh. The stall figures are the delays
 * beyond the probe's own timer resolution (monitorEventLoopDelay reports the whole interval); the gc
 * figures are the garbage collector's pauses of the main thread over the same time (PerformanceObserver
 * 'gc' entries: the longest, its kind, and their sum), so a stall can be told apart from a pause.
 * Nothing imports this file.
 */
import { constants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

const RESOLUTION_MS = 5;
const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
histogram.enable();
const beyond = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
let gc = { maxMs: 0, maxKind: '', ms: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
    gc.ms += e.duration;
    if (e.duration > gc.maxMs) gc = { ...gc, maxMs: e.duration, maxKind: GC_KINDS[e.detail?.kind ?? -1] ?? String(e.detail?.kind) };
  }
}).observe({ entryTypes: ['gc'] });

process.on('SIGUSR2', () => {
  const stats = {
    maxMs: beyond(histogram.max),
    p99Ms: beyond(histogram.percentile(99)),
    p50Ms: beyond(histogram.percentile(50)),
    count: histogram.count,
    gcMaxMs: gc.maxMs,
    gcMaxKind: gc.maxKind,
    gcMs: gc.ms,
  };
  histogram.reset();
  gc = { maxMs: 0, maxKind: '', ms: 0 };
  process.stderr.write(`LMGW_LOOP_STATS ${JSON.stringify(stats)}\n`);
});
