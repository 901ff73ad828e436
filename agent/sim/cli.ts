/**
 * The `lm-sim` command (bin/lm-sim.js): a simulated load manager for tests, demos and benchmarks.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LmgwError } from '../../shared/errors.js';
import { formatCliError, versionLine } from '../../shared/cli.js';
import { loadProfile } from '../lm/profile.js';
import { describeFaults, parseFaults } from './faults.js';
import { fleetMain } from './fleet-cli.js';
import { LmSimulator } from './simulator.js';

const HELP = `lm-sim — a simulated load manager (Modbus TCP and RTU)

Usage: lm-sim --profile FILE (--port N | --rtu PATH) [options]
       lm-sim fleet --gateways N --console URL --pki DIR   simulated gateways (lm-sim fleet --help)
       lm-sim --help | --version

  --profile FILE   device profile (JSON, as the agent uses): relays, measurements and their encodings
  --port N         serve Modbus TCP on port N (0 = any free port; the line "listening" names it)
  --host ADDR      TCP address to bind (default 127.0.0.1)
  --rtu PATH       serve Modbus RTU on the serial device PATH (e.g. one end of
                   socat -d -d pty,raw,echo=0 pty,raw,echo=0)
  --unit ID        unit id to answer (default: the profile's)
  --seed N         seed for the loads' curves and the drop fault (default 1)
  --fault SPEC     inject a fault, repeatable: slow=MS, exception=CODE, drop=RATE, silence, truncate
  --control FILE   fault specs read from FILE at start, when it changes (polled every 250 ms) and
                   on SIGUSR1; an empty file or "none" clears them
  --quiet          print only the listening lines and errors

Signals: SIGUSR1 re-reads --control FILE; SIGUSR2 toggles silence; SIGINT/SIGTERM stop.
Exit status: 0 stopped, 1 failed (one line on stderr with the error code), 2 bad usage.
`;

const OPTIONS = {
  profile: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  rtu: { type: 'string' },
  unit: { type: 'string' },
  seed: { type: 'string' },
  fault: { type: 'string', multiple: true },
  control: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

function usage(message: string): never {
  throw new LmgwError('CLI_USAGE', `${message} (see lm-sim --help)`);
}

function integer(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) usage(`${flag} must be a whole number from ${min} to ${max}, not "${value}"`);
  return Number(value);
}

function readControl(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/** Starts the simulator; resolves once it serves, with a function that stops it. */
export async function main(argv: readonly string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<(() => Promise<void>) | undefined> {
  if (argv[0] === 'fleet') return fleetMain(argv.slice(1), out);
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    usage((err as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) {
    out(HELP.trimEnd());
    return undefined;
  }
  if (values.version) {
    out(versionLine('lm-sim'));
    return undefined;
  }
  if (values.profile === undefined) usage('--profile FILE is required');
  const port = integer(values.port, '--port', 0, 65_535);
  if (port === undefined && values.rtu === undefined) usage('give --port N (Modbus TCP) or --rtu PATH (Modbus RTU), or both');
  const unitId = integer(values.unit, '--unit', 0, 255);
  const seed = integer(values.seed, '--seed', 0, 4_294_967_295) ?? 1;
  const control = values.control === undefined ? undefined : resolve(values.control);
  const faults = parseFaults([...(values.fault ?? []), ...(control ? [readControl(control)] : [])]);
  const profile = loadProfile(values.profile);
  const quiet = values.quiet === true;

  const sim = new LmSimulator({ profile, seed, faults, ...(unitId === undefined ? {} : { unitId }) });
  sim.events.on('relay', (change) => quiet || out(`lm-sim: channel ${change.channel} (${change.name}) ${change.on ? 'on' : 'off'}`));
  sim.events.on('faults', () => out(`lm-sim: faults: ${sim.describeFaults()}`));

  const described = `unit ${sim.unitId}, ${profile.model} (${profile.channels.length} channels), seed ${seed}, faults: ${describeFaults(faults)}`;
  if (port !== undefined) {
    const bound = await sim.listenTcp(port, values.host ?? '127.0.0.1');
    out(`lm-sim: listening on Modbus TCP ${bound.host}:${bound.port}, ${described}`);
  }
  if (values.rtu !== undefined) {
    sim.openRtu(values.rtu);
    out(`lm-sim: listening on Modbus RTU ${values.rtu}, ${described}`);
  }

  let applied = control ? readControl(control) : '';
  /** SIGUSR1 always applies the file; a change seen by polling only when the text differs from the last applied. */
  const reload = (force: boolean): void => {
    if (!control) return;
    try {
      const text = readControl(control);
      if (!force && text === applied) return;
      applied = text;
      sim.setFaults(parseFaults([text]));
    } catch (err) {
      out(`lm-sim: ${err instanceof LmgwError ? err.code : 'error'}: control file ${control}: ${(err as Error).message}; faults unchanged`);
    }
  };
  const toggleSilence = (): void => sim.setFaults({ ...sim.faults, silence: !sim.faults.silence });
  const onChange = (): void => reload(false);
  const onSignal1 = (): void => reload(true);
  if (control) watchFile(control, { interval: 250 }, onChange);
  process.on('SIGUSR1', onSignal1);
  process.on('SIGUSR2', toggleSilence);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (control) unwatchFile(control, onChange);
    process.off('SIGUSR1', onSignal1);
    process.off('SIGUSR2', toggleSilence);
    await sim.close();
  };
  const onSignal = (): void => void stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return stop;
}

/** The `lm-sim` entry point (bin/lm-sim.js). */
export function run(argv: readonly string[] = process.argv.slice(2)): void {
  main(argv).catch((err: unknown) => {
    const { line, exitCode } = formatCliError('lm-sim', err);
    process.stderr.write(`${line}\n`);
    process.exitCode = exitCode;
  });
}
