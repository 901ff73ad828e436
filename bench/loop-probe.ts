/**
 * Loaded into the hub process by the fleet-shed benchmark (`node --import …/loop-probe.js
 * bin/lm-console.js …`), so the hub's event-loop stall is measured inside it without a line of
 * console/hub knowing: on SIGUSR2 it writes one line to stderr,
 * `LMGW_LOOP_STATS {"maxMs":…,"p99Ms":…,"p50Ms":…,"count":…}`, for the time since the previous
 * SIGUSR2 (or the start), and starts afresh. The figures are the delays beyond the probe's own timer
 * resolution (monitorEventLoopDelay reports the whole interval). Nothing imports this file.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 5;
const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
histogram.enable();
const beyond = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);

process.on('SIGUSR2', () => {
  const stats = {
    maxMs: beyond(histogram.max),
    p99Ms: beyond(histogram.percentile(99)),
    p50Ms: beyond(histogram.percentile(50)),
    count: histogram.count,
  };
  histogram.reset();
  process.stderr.write(`LMGW_LOOP_STATS ${JSON.stringify(stats)}\n`);
});
