#!/usr/bin/env node
// `npm run bench`: every benchmark, one after the other (never in parallel: they measure CPU), each
// as its own process so one cannot warm or pollute another. Figures go to docs/benchmarks.md by hand,
// with the command and the machine. The open-file limit is raised to the hard limit first: the link
// benchmark holds thousands of sockets in one process.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';

const benches = ['codec', 'modbus-sim', 'link'];
const root = join(import.meta.dirname, '..');
process.stdout.write(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}\n`);
let failed = 0;
for (const name of benches) {
  process.stdout.write(`\n## ${name}\n\n`);
  const script = join(root, 'dist', 'bench', `${name}.js`);
  const r =
    process.platform === 'win32'
      ? spawnSync(process.execPath, [script], { stdio: 'inherit' })
      : spawnSync('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, script], { stdio: 'inherit' });
  if (r.status !== 0) failed += 1;
}
process.exitCode = failed ? 1 : 0;
