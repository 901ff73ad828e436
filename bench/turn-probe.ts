/**
 * What one long turn of the hub's event loop was made of — loaded into the hub by
 * `bench:fleet-shed --turns FILE` (`node --import …/turn-probe.js`), for finding a stall, not for
 * measuring one: async_hooks cost the hub CPU, so the run's other figures are not comparable.
 *
 * A 5 ms timer notes how late it fires. When it is more than LMGW_TURN_LATE_MS (default 60) late, one
 * line goes to the file named by LMGW_TURN_LOG: every top-level callback that ran since the timer's
 * previous run, summed by kind — `TLSWrap` (a socket read: a gateway's frames), `Timeout(75 …)` (a
 * timer, its delay and the start of its function), `Immediate(…)`, `Promise` (a continuation),
 * `HTTPServerAsyncResource` (the operator API) — and the longest ones with their offset in the turn.
 * Many short TLSWrap callbacks are a poll phase that read hundreds of sockets; one long callback is
 * synchronous work to find in the code. Only the main thread is watched (`--import` also runs in
 * worker threads: the checkpoint worker's own turns are not the hub's). Nothing imports this file.
 */
import { createHook, executionAsyncResource } from 'node:async_hooks';
import { appendFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const LOG = process.env.LMGW_TURN_LOG;
const LATE_MS = Number(process.env.LMGW_TURN_LATE_MS ?? 60);
const EVERY_MS = 5;

/** A callback's kind, with what tells two timers or immediates apart. */
function kindOf(resource: unknown): string {
  const r = resource as { constructor?: { name?: string }; _idleTimeout?: number; _repeat?: unknown; _onTimeout?: unknown; _onImmediate?: unknown } | undefined;
  const name = r?.constructor?.name ?? '?';
  const source = (fn: unknown): string => String(fn).slice(0, 60).replace(/\s+/g, ' ');
  if (name === 'Timeout') return `Timeout(${r?._idleTimeout}${r?._repeat ? ' repeating' : ''} ${source(r?._onTimeout)})`;
  if (name === 'Immediate') return `Immediate(${source(r?._onImmediate)})`;
  return name;
}

if (isMainThread && LOG !== undefined) {
  let depth = 0;
  let started = 0;
  let kind = '';
  let ran: Array<{ kind: string; ms: number; at: number }> = [];
  createHook({
    before() {
      if (depth++ > 0) return;
      started = performance.now();
      kind = kindOf(executionAsyncResource());
    },
    after() {
      if (--depth > 0) return;
      ran.push({ kind, ms: performance.now() - started, at: started });
    },
  }).enable();

  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - last - EVERY_MS;
    if (late > LATE_MS) {
      const byKind = new Map<string, { n: number; ms: number }>();
      let sum = 0;
      for (const r of ran) {
        const k = byKind.get(r.kind) ?? { n: 0, ms: 0 };
        k.n++;
        k.ms += r.ms;
        byKind.set(r.kind, k);
        sum += r.ms;
      }
      const kinds = [...byKind].sort((a, b) => b[1].ms - a[1].ms).map(([k, v]) => `${k} ${v.n}×${v.ms.toFixed(1)}`);
      const longest = [...ran].sort((a, b) => b.ms - a.ms).slice(0, 8).map((r) => `${r.kind} ${r.ms.toFixed(1)} ms @+${(r.at - last).toFixed(0)}`);
      appendFileSync(LOG, `${new Date().toISOString()} late ${late.toFixed(1)} ms; ${ran.length} callbacks, ${sum.toFixed(1)} ms: ${kinds.join(', ')} | longest: ${longest.join(', ')}\n`);
    }
    ran = [];
    last = now;
  }, EVERY_MS).unref();
}
