/**
 * From a validated hub config (HubConfigSchema) to startHub's options: the TLS files read (and the
 * key's permissions checked), seconds turned into milliseconds, the CA passphrase attached. Used by
 * the desktop app's hub process (console/main/hub-host.ts), which never starts the browser-mode
 * operator API; `lm-console --headless` (cli.ts) does the same mapping with the API on.
 */
import type { Logger } from 'pino';
import { readPemFile, readPrivateKeyFile } from '../../certs/key-file.js';
import { LmgwError } from '../../shared/errors.js';
import type { HubConfig } from './config.js';
import type { HubOptions } from './hub.js';

export interface HubOptionsInputs {
  config: Readonly<HubConfig>;
  /** LMGW_CA_PASSPHRASE, needed when the config names a CA directory. */
  caPassphrase?: string | undefined;
  logger: Logger;
  /** Start the browser-mode operator API when the config enables it. The desktop app passes false: its UI talks IPC. */
  withOperatorApi: boolean;
  /** process.platform: on Windows a key file's mode bits say nothing (NTFS ACLs protect it), so only Unix checks them. */
  platform?: NodeJS.Platform;
}

/** CA_NO_PASSPHRASE when the config names a CA directory and no passphrase was given. */
export function checkCaPassphrase(config: Readonly<HubConfig>, caPassphrase: string | undefined): void {
  if (config.ca && !caPassphrase) {
    throw new LmgwError('CA_NO_PASSPHRASE', `the config names a CA (${config.ca.dir}): set LMGW_CA_PASSPHRASE, or remove "ca" from the config`);
  }
}

/** Throws CONFIG_INVALID naming the field of a TLS file it cannot read, LINK_KEY_PERMISSIONS for a key others may read. */
export function hubOptionsFromConfig(i: HubOptionsInputs): HubOptions {
  const { config } = i;
  checkCaPassphrase(config, i.caPassphrase);
  const keyPem = (i.platform ?? process.platform) === 'win32' ? readPemFile(config.tls.key, 'tls.key') : readPrivateKeyFile(config.tls.key);
  const api = config.operatorApi;
  return {
    link: {
      host: config.listen.host,
      port: config.listen.port,
      caPem: readPemFile(config.tls.ca, 'tls.ca'),
      certPem: readPemFile(config.tls.cert, 'tls.cert'),
      keyPem,
      crlPath: config.tls.crl,
      ...(config.tls.ocspStaple ? { ocspStaplePath: config.tls.ocspStaple } : {}),
      pingIntervalMs: config.link.pingIntervalSeconds * 1000,
      maxConnections: config.link.maxConnections,
      maxPendingHandshakes: config.link.maxPendingHandshakes,
      messagesPerSecond: config.link.messagesPerSecond,
      messageBurst: config.link.messageBurst,
      telemetryIntervalSeconds: config.link.telemetryIntervalSeconds,
    },
    dataDir: config.dataDir,
    timeZone: config.timeZone,
    ...(config.ca && i.caPassphrase ? { ca: { dir: config.ca.dir, passphrase: i.caPassphrase } } : {}),
    sites: config.sites,
    ...(config.fleet.targetKw !== undefined ? { fleetTargetKw: config.fleet.targetKw } : {}),
    commandDeadlineMs: config.commands.deadlineSeconds * 1000,
    ...(i.withOperatorApi && api.enabled
      ? { operatorApi: { host: api.host, port: api.port, tokenName: api.tokenName, ...(api.uiDir ? { uiDir: api.uiDir } : {}) } }
      : {}),
    ...(config.metrics ? { metricsListen: { host: config.metrics.host, port: config.metrics.port } } : {}),
    logger: i.logger,
  };
}
