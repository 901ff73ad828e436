/**
 * `lm-sim fleet`: a simulated gateway fleet (fleet.ts) against a running console, for e2e tests and
 * demos at scale.
 */
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LmgwError } from '../../shared/errors.js';
import { LOG_LEVELS, logLevelFrom } from '../../shared/node/log.js';
import { LABEL_PATTERN } from '../../shared/protocol/messages.js';
import { linkUrl } from '../link/client.js';
import { issueFleetCredentials, readFleetCredentials, simGatewayIds } from './fleet-credentials.js';
import { SimulatedFleet, type SimFleetStatus } from './fleet.js';

/** The simulated gateways' log level (not LMGW_LOG_LEVEL: a test or benchmark gives it to the console). */
const SIM_LOG_LEVEL_ENV = 'LMGW_SIM_LOG_LEVEL';

export const FLEET_HELP = `lm-sim fleet — simulated gateways against a running console (mutual TLS, one certificate each)

Usage: lm-sim fleet --gateways N --console URL (--pki DIR | --certs DIR) [options]

  --gateways N       how many (1–100000); ids PREFIX00000, PREFIX00001, …
  --console URL      the console's link, e.g. wss://127.0.0.1:8443/lmgw/v1
  --pki DIR          the CA directory (lmgw-ca init): certificates missing from --certs are issued
                     from it (recorded in the CA like any gateway's); passphrase in LMGW_CA_PASSPHRASE
  --certs DIR        where the certificates are kept and read back on later runs: DIR/ca.pem and
                     DIR/<id>/gateway.pem + gateway.key (default: DIR of --pki's parent /sim-fleet)
  --prefix P         gateway id prefix (default "sim-")
  --labels L1,L2     labels every gateway sends in its hello (default none)
  --telemetry S      send telemetry every S seconds (one sample a second, batched; default 1;
                     "off" for none)
  --workers N        worker processes (default: one per core, at most one per 500 gateways; more
                     when the open-file limit needs it)
  --status S         print a status line every S seconds (default 10; 0 = never)
  --help

Each gateway hellos with a 4-channel load manager (priorities 1, 1, 2, 9; 9.5, 6, 11, 4 kW rated;
channel 4 not sheddable), answers every command at once (relays read back as commanded; a shed
restores itself after its duration), resends unacknowledged telemetry after a reconnect and
reconnects with the agent's back-off.

Progress goes to stderr: "lm-sim fleet: all N gateways connected in S s" once every gateway has
been welcomed; SIGINT/SIGTERM close every session cleanly and exit 0 ("lm-sim fleet: stopped").
${SIM_LOG_LEVEL_ENV} sets the level of the gateways' JSON log on stdout: ${LOG_LEVELS.join(', ')}
(default silent; LMGW_LOG_LEVEL is left to the console, which may share this environment).
Exit status: 0 stopped, 1 failed (one line on stderr with the error code), 2 bad usage.
`;

const OPTIONS = {
  gateways: { type: 'string' },
  console: { type: 'string' },
  pki: { type: 'string' },
  certs: { type: 'string' },
  prefix: { type: 'string' },
  labels: { type: 'string' },
  telemetry: { type: 'string' },
  workers: { type: 'string' },
  status: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function usage(message: string): never {
  throw new LmgwError('CLI_USAGE', `${message} (see lm-sim fleet --help)`);
}

function whole(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) usage(`${flag} must be a whole number from ${min} to ${max}, not "${value}"`);
  return Number(value);
}

export function formatFleetStatus(s: SimFleetStatus): string {
  const c = s.commands;
  const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
  return (
    `connected ${s.connected}/${s.gateways}, disconnects ${s.disconnects}; ` +
    `commands shed ${c.shed}, restore ${c.restore}, read ${c.read}, rejected ${c.rejected}; ` +
    `telemetry ${s.batchesSent} batches (${s.samplesSent} samples), ${s.acked} acked, ack p50 ${ms(s.ackLatency.p50)} ms p99 ${ms(s.ackLatency.p99)} ms`
  );
}

/**
 * Starts the fleet; resolves once every gateway is connected, with a function that stops it. `out`
 * gets the help; `say` the progress lines — stderr by default, as stdout is the gateways' JSON log.
 */
export async function fleetMain(
  argv: readonly string[],
  out: (line: string) => void,
  say: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<(() => Promise<void>) | undefined> {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    usage((err as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) {
    out(FLEET_HELP.trimEnd());
    return undefined;
  }
  const logLevel = logLevelFrom(process.env, SIM_LOG_LEVEL_ENV, 'silent');
  const gateways = whole(values.gateways, '--gateways', 1, 100_000) ?? usage('--gateways N is required');
  if (values.console === undefined) usage('--console URL is required (the console\'s wss://host:port/lmgw/v1)');
  const url = linkUrl(values.console).href;
  if (values.pki === undefined && values.certs === undefined) usage('give --pki DIR (issue from the CA) or --certs DIR (prepared certificates)');
  const prefix = values.prefix ?? 'sim-';
  if (!/^[a-z0-9][a-z0-9._-]{0,58}$/.test(prefix)) usage(`--prefix must be 1–59 of a-z 0-9 . _ -, starting with a letter or digit, not "${prefix}"`);
  const labels = values.labels === undefined || values.labels === '' ? [] : values.labels.split(',');
  for (const l of labels) if (!LABEL_PATTERN.test(l)) usage(`--labels: "${l}" is not a label (a-z 0-9 . _ -, at most 32)`);
  if (labels.length > 16) usage('--labels: at most 16');
  const batchSeconds = values.telemetry === 'off' ? null : (whole(values.telemetry, '--telemetry', 1, 3600) ?? 1);
  const workers = whole(values.workers, '--workers', 1, 64);
  const statusSeconds = whole(values.status, '--status', 0, 86_400) ?? 10;
  const certs = resolve(values.certs ?? join(dirname(resolve(values.pki ?? '.')), 'sim-fleet'));

  const ids = simGatewayIds(prefix, gateways);
  let credentials;
  if (values.pki !== undefined) {
    const passphrase = process.env.LMGW_CA_PASSPHRASE;
    if (!passphrase) throw new LmgwError('CLI_USAGE', '--pki needs the CA passphrase in LMGW_CA_PASSPHRASE');
    const t0 = performance.now();
    credentials = await issueFleetCredentials(resolve(values.pki), passphrase, certs, ids, (n, total) => say(`lm-sim fleet: issued ${n} of ${total} certificates`));
    if (credentials.issued > 0) say(`lm-sim fleet: ${credentials.issued} certificates issued in ${((performance.now() - t0) / 1000).toFixed(1)} s into ${certs}`);
  } else {
    credentials = readFleetCredentials(certs, ids);
  }

  const t0 = performance.now();
  const fleet = await SimulatedFleet.start({
    url,
    caPem: credentials.caPem,
    gateways: credentials.gateways,
    telemetry: batchSeconds === null ? null : { sampleSeconds: 1, batchSeconds },
    labels,
    logLevel,
    ...(workers !== undefined ? { minWorkers: workers } : {}),
  });
  say(`lm-sim fleet: all ${gateways} gateways connected in ${((performance.now() - t0) / 1000).toFixed(1)} s to ${url}`);

  const timer = statusSeconds > 0 ? setInterval(() => void fleet.status().then((s) => say(`lm-sim fleet: ${formatFleetStatus(s)}`), () => undefined), statusSeconds * 1000) : undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await fleet.stop();
    say('lm-sim fleet: stopped');
  };
  const onSignal = (): void => void stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return stop;
}
