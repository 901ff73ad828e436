/**
 * prom-client's default metrics (CPU, RSS, heap, GC, event-loop delay, file descriptors) in a
 * registry of their own, made once per process for the hub's and the agent's /metrics: they describe
 * the process, and their event-loop monitor and GC observer cannot be stopped, so a process that
 * starts ten hubs or agents (a test) must not start ten of each.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 10 });
    // Gauges named like counters (promtool check metrics rejects them); nodejs_active_handles and
    // nodejs_active_resources, by type, say the same.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}

/** A program's own series, then the process's: one exposition. */
export async function withProcessMetrics(own: Registry): Promise<string> {
  const [mine, proc] = await Promise.all([own.metrics(), processMetrics().metrics()]);
  return `${mine}\n${proc}`;
}
