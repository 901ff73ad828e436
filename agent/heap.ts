/**
 * V8 settings for the agent process, chosen for a small gateway (issue #7: RSS ≤ 60 MB, ≤ 1 % of a
 * core at 4 exchanges/s). Measured with bench/agent.ts; the figures are in docs/operations.md.
 *
 * - The young generation stays at its initial size (1 MiB per semi-space). V8 grows it, up to
 *   16 MiB per semi-space, whenever many objects survive a scavenge — which is what loading the
 *   agent's modules looks like — and never shrinks it while the agent keeps allocating a little
 *   every second, so every page of it stays resident: about 10 MiB for nothing. A scavenge of a
 *   1 MiB semi-space runs every few seconds at this load and takes a fraction of a millisecond.
 * - No optimising tier above Maglev (`--max-opt=2`; on Node 20, where Maglev is off, that means the
 *   Sparkplug baseline compiler only). TurboFan's compiler code, its zone memory on the worker
 *   threads and the optimised code cost about 10 MiB of RSS; the agent's JavaScript is a few
 *   milliseconds per exchange, and the benchmark shows no CPU cost without it.
 *
 * Both are ordinary V8 flags. `--max-semi-space-size` would need the command line (it is read when
 * the heap is set up); the ones used here are read when V8 decides to grow or to optimise, so setting
 * them at run time works however the agent is started. They must come before any other module is
 * evaluated: loading pino's few dozen CommonJS files alone makes node:path's normalizeString hot
 * enough for TurboFan, and that one compilation pages in about 4 MiB of the compiler. Hence a
 * side-effect module, imported first by the entry module (agent/cli.ts) and by nothing else.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--semi-space-growth-factor=1');
// --max-opt alone is not enough once the isolate runs (its implications are applied at start-up).
setFlagsFromString('--max-opt=2');
setFlagsFromString('--no-turbofan');
