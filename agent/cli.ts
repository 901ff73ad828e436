/**
 * The `lmgw-agent` command line. Each command loads what it needs when it runs (dynamic imports):
 * a running agent never loads the CA and CSR code that only `enroll` uses, and `enroll` never loads
 * Modbus, SQLite or the link. On a small gateway every module held in memory counts (docs/operations.md).
 */
// First, before any other module is evaluated: V8 settings for a small gateway (see heap.ts).
import './heap.js';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Logger } from 'pino';
import { formatCliError, versionLine } from '../shared/cli.js';
import { LmgwError } from '../shared/errors.js';
import { createLogger, LOG_LEVELS, logLevelFrom } from '../shared/node/log.js';
import { LMGW_VERSION } from '../shared/version.js';

const HELP = `lmgw-agent ${LMGW_VERSION} — the LMGW gateway agent

Usage: lmgw-agent <command> [options]
       lmgw-agent --help | --version

Commands:
  run     --config FILE
          Run the gateway: drive the load managers listed under "devices" (Modbus TCP or RTU),
          execute the console's shed / restore / read commands, sample telemetry into the local
          database (dataDir) and keep the link to the console up: outbound mutual-TLS WebSocket,
          through the proxy if one is configured, reconnecting with back-off. Logs JSON lines to
          stdout (ISO times, level names; keys and passwords redacted). SIGINT or SIGTERM stop it
          cleanly (exit 0). Without "devices": the link only.
          With "metrics": {"port": N} in the config: GET http://127.0.0.1:N/healthz, /readyz
          and /metrics (Prometheus), on loopback only (docs/operations.md, "Health and metrics").
  enroll  --id GATEWAY_ID --out DIR
          Make this gateway's private key (DIR/gateway.key, mode 0600; it never leaves this
          machine) and a certificate signing request (DIR/<id>.csr) for \`lmgw-ca sign\`.
  check   --config FILE
          Validate the config, the device profiles and the key file's permissions; read each load
          manager once (nothing is written) and print its health and load; then open one TLS
          connection to the console and report OK or the exact error code. Sends no application
          data to the console.

Environment:
  HTTPS_PROXY, https_proxy, NO_PROXY, no_proxy   used when the config has no "proxy" field
  LMGW_TRACE=1       log every frame in and out (debug level)
  LMGW_LOG_LEVEL     ${LOG_LEVELS.join(', ')} (default info)

Exit status: 0 done, 1 refused or failed (one line on stderr with the error code), 2 bad usage.
`;

const OPTIONS = {
  run: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  enroll: { id: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  check: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
} as const satisfies Record<string, ParseArgsConfig['options']>;

type Command = keyof typeof OPTIONS;

function usage(message: string): never {
  throw new LmgwError('CLI_USAGE', `${message} (see lmgw-agent --help)`);
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') usage(`${flag} is required`);
  return value;
}

/** The service logger (shared/node/log.ts): JSON lines on stdout; LMGW_TRACE=1 raises info to debug, where frames are logged. */
export function agentLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  const wanted = logLevelFrom(env);
  const level = env.LMGW_TRACE === '1' && wanted === 'info' ? 'debug' : wanted;
  return createLogger({ name: 'lmgw-agent', level });
}

export interface CliIo {
  out: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); for tests, anything. */
  stopSignal: () => Promise<string>;
}

function signalled(): Promise<string> {
  return new Promise((resolveSignal) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolveSignal(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

const DEFAULT_IO: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  env: process.env,
  stopSignal: signalled,
};

export async function main(argv: readonly string[], io: CliIo = DEFAULT_IO): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(HELP.trimEnd());
    return;
  }
  if (command === '--version') {
    io.out(versionLine('lmgw-agent'));
    return;
  }
  if (!Object.hasOwn(OPTIONS, command)) usage(`unknown command "${command}"`);
  const cmd = command as Command;
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: [...rest], options: OPTIONS[cmd], strict: true, allowPositionals: false }));
  } catch (err) {
    usage((err as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) {
    io.out(HELP.trimEnd());
    return;
  }
  const str = (k: string): string | undefined => values[k] as string | undefined;

  switch (cmd) {
    case 'run': {
      const configPath = required(str('config'), '--config');
      const logger = agentLogger(io.env);
      // Listen for the signal from the start: a SIGTERM while the devices are read still stops cleanly.
      const stopping = io.stopSignal();
      const [{ loadAgentConfig, readAgentTls }, { startAgent }] = await Promise.all([import('./config.js'), import('./daemon.js')]);
      const config = loadAgentConfig(configPath, io.env);
      const tls = readAgentTls(config);
      logger.info(
        {
          version: LMGW_VERSION,
          gatewayId: config.gatewayId,
          console: config.console.url,
          config: config.source,
          devices: config.deviceSetups.map((d) => d.id),
          ...(config.deviceSetups.length > 0 ? { dataDir: config.dataDir } : {}),
        },
        'lmgw-agent starting',
      );
      const agent = await startAgent(config, tls, { logger, trace: io.env.LMGW_TRACE === '1', env: io.env });
      const signal = await stopping;
      logger.info({ signal }, 'stopping');
      await agent.stop();
      logger.info('stopped cleanly');
      return;
    }
    case 'enroll': {
      const id = required(str('id'), '--id');
      const outDir = resolve(required(str('out'), '--out'));
      const keyFile = join(outDir, 'gateway.key');
      const csrFile = join(outDir, `${id}.csr`);
      const [{ writeExclusive }, { createGatewayCsr }] = await Promise.all([import('../certs/ca.js'), import('../certs/csr.js')]);
      // Validates the id and makes the key before anything touches the disk.
      const { keyPem, csrPem } = await createGatewayCsr(id);
      try {
        mkdirSync(outDir, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw new LmgwError('CA_IO', `cannot create ${outDir}: ${(err as Error).message}`, { cause: err });
      }
      // The CSR first: if it exists, nothing is written; the key is never overwritten either.
      writeExclusive(csrFile, csrPem, 0o644);
      try {
        writeExclusive(keyFile, keyPem, 0o600);
      } catch (err) {
        // Keep the pair consistent: a CSR without its key is useless.
        rmSync(csrFile, { force: true });
        throw err;
      }
      io.out(`wrote ${keyFile} (private key, mode 0600; it never leaves this machine)`);
      io.out(`wrote ${csrFile}`);
      io.out('Next: bring the CSR (never the key) to the DSO and sign it there:');
      io.out(`  lmgw-ca sign --pki PKI_DIR --csr ${id}.csr --out ${id}.pem`);
      io.out(`then install ${id}.pem and the CA's ca.pem here and name them in the agent config (tls.cert, tls.ca, tls.key).`);
      return;
    }
    case 'check': {
      const configPath = required(str('config'), '--config');
      const [{ loadAgentConfig, readAgentTls }, { probeDevices }, { linkUrl }, { selectProxy }, { connectTls }] = await Promise.all([
        import('./config.js'),
        import('./daemon.js'),
        import('./link/client.js'),
        import('./link/proxy.js'),
        import('./link/tls-connect.js'),
      ]);
      const config = loadAgentConfig(configPath, io.env);
      const tls = readAgentTls(config);
      const deviceCount = config.deviceSetups.length;
      io.out(`config OK: ${config.source} (gateway ${config.gatewayId}${deviceCount === 0 ? '' : `, ${deviceCount} device${deviceCount > 1 ? 's' : ''}`})`);
      const probes = await probeDevices(config.deviceSetups);
      for (const p of probes) {
        const where = `${p.model} at ${p.target} unit ${p.unitId}`;
        const relays = p.relays && p.relays.length > 0 ? `; relays ${p.relays.map((r) => `${r.channel} ${r.on ? 'on' : 'off'}`).join(', ')}` : '';
        if (p.kw !== undefined) io.out(`device ${p.id} OK: ${where}; health ${p.health}${p.error ? ` (${p.error.code})` : ''}; ${Math.round(p.kw * 1_000) / 1_000} kW${relays}`);
        else io.out(`device ${p.id} FAILED: ${where}; health ${p.health}; ${p.error?.code ?? 'MODBUS_CONNECT_FAILED'}: ${p.error?.message ?? 'no reading'}`);
      }
      const url = linkUrl(config.console.url);
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      const port = url.port === '' ? 443 : Number(url.port);
      const proxy = selectProxy({ host, port }, config.proxy, io.env);
      const connection = await connectTls({
        host,
        port,
        ...(config.console.serverName !== undefined ? { servername: config.console.serverName } : {}),
        ...tls,
        proxy,
      });
      connection.socket.destroy();
      io.out(
        `console OK: ${url.host} presented ${connection.subject} (serial ${connection.serial}) from our CA; ${connection.protocol ?? 'TLS'}; ` +
          `OCSP ${connection.ocsp === 'good' ? 'stapled, good' : 'not stapled'}; ${connection.viaProxy ? `via proxy ${connection.proxy ?? ''}` : 'direct'}`,
      );
      const failed = probes.find((p) => p.kw === undefined);
      if (failed) throw new LmgwError(failed.error?.code ?? 'MODBUS_CONNECT_FAILED', `device ${failed.id} (${failed.target} unit ${failed.unitId}): ${failed.error?.message ?? 'no reading'}`);
      return;
    }
  }
}

/** The `lmgw-agent` entry point (bin/lmgw-agent.js). */
export function run(argv: readonly string[] = process.argv.slice(2)): void {
  main(argv).catch((err: unknown) => {
    const { line, exitCode } = formatCliError('lmgw-agent', err);
    process.stderr.write(`${line}\n`);
    process.exitCode = exitCode;
  });
}
