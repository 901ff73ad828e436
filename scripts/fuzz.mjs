#!/usr/bin/env node
// The long fuzz run: the same campaign as test/security/hub-fuzz.test.ts (fuzzed frames over a live
// mutual-TLS link into the real hub in a child process, a well-behaved gateway measured alongside,
// the same checks), with a million frames by default. It runs through vitest because the frame
// generators are the codec fuzzer's TypeScript arbitraries (test/shared/protocol/); the hub itself
// runs from dist/, so build first (`npm run fuzz` does).
//
//   node scripts/fuzz.mjs [--frames N] [--seed N] [--rate N]
//
// Exit status: 0 when every check held, 1 otherwise (the failing seed is printed to reproduce it).
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

let values;
try {
  ({ values } = parseArgs({ options: { frames: { type: 'string', default: '1000000' }, seed: { type: 'string' }, rate: { type: 'string', default: '10000' }, help: { type: 'boolean', short: 'h' } } }));
} catch (err) {
  process.stderr.write(`fuzz: ${err.message}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write('Usage: node scripts/fuzz.mjs [--frames N (default 1000000)] [--seed N (default: random)] [--rate N frames/s (default 10000)]\n');
  process.exit(0);
}
const frames = Number(values.frames);
if (!Number.isSafeInteger(frames) || frames < 1) {
  process.stderr.write(`fuzz: --frames must be a positive integer, not "${values.frames}"\n`);
  process.exit(2);
}
const rate = Number(values.rate);
if (!Number.isSafeInteger(rate) || rate < 1) {
  process.stderr.write(`fuzz: --rate must be a positive integer, not "${values.rate}"\n`);
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isSafeInteger(seed)) {
  process.stderr.write(`fuzz: --seed must be an integer, not "${values.seed}"\n`);
  process.exit(2);
}

process.stdout.write(`fuzz: ${frames} frames into the hub at most ${rate}/s, seed ${seed} (reproduce: node scripts/fuzz.mjs --frames ${frames} --seed ${seed} --rate ${rate})\n`);
const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const child = spawn(process.execPath, [vitest, 'run', 'test/security/hub-fuzz.test.ts', '-t', 'fuzzed frames'], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_FRAMES: String(frames), FUZZ_SEED: String(seed), FUZZ_RATE: String(rate) },
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
