#!/usr/bin/env node
// `npm run bench`: every benchmark, one after the other (never in parallel: they measure CPU), each
// as its own process so one cannot warm or pollute another. Figures go to docs/benchmarks.md by hand,
// with the command and the machine.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';

const benches = ['codec'];
const root = join(import.meta.dirname, '..');
process.stdout.write(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}\n`);
let failed = 0;
for (const name of benches) {
  process.stdout.write(`\n## ${name}\n\n`);
  const r = spawnSync(process.execPath, [join(root, 'dist', 'bench', `${name}.js`)], { stdio: 'inherit' });
  if (r.status !== 0) failed += 1;
}
process.exitCode = failed ? 1 : 0;
