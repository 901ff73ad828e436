import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatCliError, versionLine } from '../../shared/cli.js';
import { LmgwError } from '../../shared/errors.js';
import { createLogger, LOG_LEVELS, logLevelFrom } from '../../shared/node/log.js';
import { loadHubConfig } from './config.js';
import { startHub } from './hub.js';
import { hubOptionsFromConfig } from './hub-options.js';

const HELP = `lm-console — the LMGW operator console (DSO endpoint)

Usage:
  lm-console --headless --config FILE    run the hub without a window: the link to the gateways,
                                         the operator API and the browser-mode UI
  lm-console --help | --version

The desktop app (Electron) starts without --headless where Electron is installed.
It prints on stderr the link URL, the operator console URL (with a token made at this start) and
where the data lives. The config file is described in docs/operations.md.
Health and metrics: GET /healthz, /readyz and /metrics (Prometheus) on the operator API, without
the token, and on the config's "metrics" listener if it names one (docs/operations.md).
Logs are JSON lines on stdout (ISO times, level names; never the token).
LMGW_LOG_LEVEL sets the level: ${LOG_LEVELS.join(', ')} (default info).
Exit status: 0 stopped cleanly, 1 failed (one line on stderr with the error code), 2 bad usage.
`;

export async function main(argv: readonly string[]): Promise<void> {
  let values: { headless?: boolean; config?: string; help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { headless: { type: 'boolean' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new LmgwError('CLI_USAGE', `${(err as Error).message.split('\n')[0] ?? ''} (see lm-console --help)`);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    process.stdout.write(`${versionLine('lm-console')}\n`);
    return;
  }
  if (!values.headless) throw new LmgwError('CLI_USAGE', 'lm-console without --headless is the desktop app (Electron, see docs/operations.md); here use --headless --config FILE');
  if (!values.config) throw new LmgwError('CLI_USAGE', '--config FILE is required (see lm-console --help)');

  const level = logLevelFrom(process.env);
  const config = loadHubConfig(values.config);
  const logger = createLogger({ name: 'lm-console', level });
  const hub = await startHub(hubOptionsFromConfig({ config, caPassphrase: process.env.LMGW_CA_PASSPHRASE, logger, withOperatorApi: true }));
  // For the person who started it, on stderr: stdout is the JSON log (a journal), and the login URL
  // carries the token, which must never land there.
  const banner = (line: string): boolean => process.stderr.write(`lm-console: ${line}\n`);
  banner(`link listening on ${hub.linkUrl}`);
  if (hub.api) {
    banner(`operator console ${hub.api.loginUrl}`);
    banner(`the operator token is in ${join(config.dataDir, 'operator-token')} (mode 0600); it changes at every start`);
  }
  banner(`data in ${hub.store.path} (time zone ${config.timeZone})`);
  const stop = (): void => {
    logger.info('stopping');
    void hub.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** The `lm-console` entry point (bin/lm-console.js). */
export function run(argv: readonly string[] = process.argv.slice(2)): void {
  main(argv).catch((err: unknown) => {
    const { line, exitCode } = formatCliError('lm-console', err);
    process.stderr.write(`${line}\n`);
    process.exitCode = exitCode;
  });
}
