import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { readPemFile, readPrivateKeyFile } from '../../certs/key-file.js';
import { formatCliError } from '../../shared/cli.js';
import { LmgwError } from '../../shared/errors.js';
import { loadHubConfig } from './config.js';
import { startLinkServer } from './link/server.js';

const HELP = `lm-console — the LMGW operator console (DSO endpoint)

Usage:
  lm-console --headless --config FILE    run the hub without a window (link to the gateways)
  lm-console --help

The desktop app (Electron) starts without --headless where Electron is installed.
Logs are JSON lines on stdout (pino); LMGW_LOG_LEVEL=debug for more.
Exit status: 0 stopped cleanly, 1 failed (one line on stderr with the error code), 2 bad usage.
`;

export async function main(argv: readonly string[]): Promise<void> {
  let values: { headless?: boolean; config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { headless: { type: 'boolean' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
  if (!values.headless) throw new LmgwError('CLI_USAGE', 'the desktop app is not part of this build; use --headless --config FILE');
  if (!values.config) throw new LmgwError('CLI_USAGE', '--config FILE is required (see lm-console --help)');

  const config = loadHubConfig(values.config);
  const logger = pino({ level: process.env.LMGW_LOG_LEVEL ?? 'info', base: { app: 'lm-console' } });
  const hub = await startLinkServer({
    host: config.listen.host,
    port: config.listen.port,
    caPem: readPemFile(config.tls.ca, 'tls.ca'),
    certPem: readPemFile(config.tls.cert, 'tls.cert'),
    keyPem: readPrivateKeyFile(config.tls.key),
    crlPath: config.tls.crl,
    ...(config.tls.ocspStaple ? { ocspStaplePath: config.tls.ocspStaple } : {}),
    pingIntervalMs: config.link.pingIntervalSeconds * 1000,
    maxConnections: config.link.maxConnections,
    messagesPerSecond: config.link.messagesPerSecond,
    messageBurst: config.link.messageBurst,
    telemetryIntervalSeconds: config.link.telemetryIntervalSeconds,
    logger,
  });
  hub.on('refused', (e) => logger.warn({ security: e }, `refused ${e.remoteAddress}: ${e.code}`));
  hub.on('alarm', (a) => logger.error({ alarm: a.code }, a.message));
  for (const a of hub.alarms) logger.error({ alarm: a.code }, a.message);
  process.stdout.write(`lm-console: link listening on wss://${config.listen.host}:${hub.port}/lmgw/v1\n`);
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
