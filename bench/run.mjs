#!/usr/bin/env node
// `npm run bench`: every benchmark, one after the other (never in parallel: they measure CPU), each
// as its own process so one cannot warm or pollute another. Each writes its figures as JSON into
// bench-results/ (git-ignored) and its table to stdout; docs/benchmarks.md quotes them by hand, with
// the command, the machine and the date. The open-file limit is raised to the hard limit first: the
// link and fleet benchmarks hold thousands of sockets per process.
//
//   node bench/run.mjs [name …]   runs only the named ones (codec, modbus-sim, link, fleet, peers,
//                                 operator-click, agent, fleet-shed, store-commit, ui-fleet); --quick runs small versions (a smoke test
//                                 of the harness, not figures).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'bench-results');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.filter((a) => !a.startsWith('--'));

/** name → arguments (full run, quick run); null: the benchmark writes no JSON. */
const benches = {
  codec: { full: [], quick: [], json: false },
  'modbus-sim': { full: [], quick: [], json: false },
  // The secure-link issue's figure: 2,000 gateways × 4/s, hub against the bare echo, 5 runs.
  link: { full: [], quick: ['--gateways', '200', '--seconds', '6', '--runs', '1', '--warmup', '2'], json: true },
  // Steady at 500/2,000/5,000, the highest sustainable rate, idle connections held, reconnect storm.
  fleet: { full: [], quick: ['--steady', '200', '--rate-fleets', '200,400', '--idle', '500', '--storm', '500', '--seconds', '5'], json: true },
  // Hub, echo, ocpp-rpc, MQTT through Mosquitto, both kinds of HTTPS polling. 500 gateways: at
  // 2,000 the polling clients (one Node process for all gateways) would be the bottleneck.
  peers: {
    full: ['--gateways', '500', '--ramp-gateways', '1000', '--ramp-rates', '2,4,8,12,16,24,32'],
    quick: ['--gateways', '100', '--seconds', '5', '--ramp-gateways', '0'],
    json: true,
  },
  'operator-click': { full: [], quick: ['--clicks', '20'], json: true },
  agent: { full: [], quick: ['--seconds', '10', '--warmup', '3'], json: true },
  // Issue #13: a fleet-wide shed through the operator API against the real hub, at 500 … 20,000
  // simulated gateways, each N beside the link server's floor; 3 runs.
  'fleet-shed': { full: [], quick: ['--gateways', '100', '--runs', '1', '--steady-seconds', '5'], json: true },
  // The store's cost per command of a fleet-wide operation once its page cache is full, per cache size.
  'store-commit': { full: [], quick: ['--fill-seconds', '60', '--rounds', '1', '--quarter-hour-gateways', '0'], json: false },
  // Issue #13: the fleet view in Chromium with 20,000 simulated gateways on the real hub.
  'ui-fleet': { full: [], quick: ['--quick'], json: true },
};

const unknown = only.filter((n) => !(n in benches));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')} (known: ${Object.keys(benches).join(', ')})\n`);
  process.exit(2);
}
mkdirSync(out, { recursive: true });
process.stdout.write(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${new Date().toISOString()}\n`);
const failed = [];
for (const [name, b] of Object.entries(benches)) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stdout.write(`\n## ${name}\n\n`);
  const script = join(root, 'dist', 'bench', `${name}.js`);
  const argv = [script, ...(quick ? b.quick : b.full), ...(b.json ? ['--json', join(out, `${name}.json`)] : [])];
  const r =
    process.platform === 'win32'
      ? spawnSync(process.execPath, argv, { stdio: 'inherit' })
      : spawnSync('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, ...argv], { stdio: 'inherit' });
  // Exit 1: the benchmark ran and a target was missed (it says which); anything else: it failed.
  if (r.status !== 0) failed.push(`${name} (exit ${r.status ?? r.signal})`);
}
process.stdout.write(`\nJSON in ${out}${failed.length > 0 ? `\nmissed a target or failed: ${failed.join(', ')}` : ''}\n`);
process.exitCode = failed.length > 0 ? 1 : 0;
