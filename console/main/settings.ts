/**
 * The desktop console's settings: `settings.json` in the app's user-data directory, in the format of
 * the headless hub's config file (docs/operations.md, HubConfigSchema): the link port, the TLS files,
 * the CA directory, the time zone, … Relative paths are relative to that directory, so the database
 * lands in `<userData>/data` by default. Validated with the same schema and the same messages; the
 * browser-mode `operatorApi` block is accepted but not used (the window talks IPC).
 *
 * Plain Node (no Electron): main.ts turns a problem into a dialog; the tests read files.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { LmgwError } from '../../shared/errors.js';
import { loadHubConfig, type HubConfig } from '../hub/config.js';

export const SETTINGS_FILE = 'settings.json';
export const SETTINGS_EXAMPLE_FILE = 'settings.example.json';

export type SettingsState =
  | { kind: 'ok'; path: string; config: Readonly<HubConfig> }
  /** First start: no settings file yet. */
  | { kind: 'missing'; path: string }
  /** The file is there but is not JSON or a field is wrong; `message` names the field. */
  | { kind: 'invalid'; path: string; code: string; message: string };

export function loadSettings(path: string): SettingsState {
  if (!existsSync(path)) return { kind: 'missing', path };
  try {
    return { kind: 'ok', path, config: loadHubConfig(path) };
  } catch (err) {
    if (err instanceof LmgwError) return { kind: 'invalid', path, code: err.code, message: err.message };
    throw err;
  }
}

/** What a first settings file looks like (written beside it as settings.example.json). */
export const SETTINGS_EXAMPLE = {
  listen: { host: '0.0.0.0', port: 8443 },
  tls: { ca: 'tls/ca.pem', cert: 'tls/server.pem', key: 'tls/server.key', crl: 'tls/crl.pem' },
  timeZone: 'Europe/Zurich',
  dataDir: 'data',
  sites: {},
  commands: { deadlineSeconds: 10 },
} as const satisfies Partial<Record<keyof HubConfig, unknown>>;

/** Writes settings.example.json into `dir` unless it is there (never touches settings.json). */
export function writeSettingsExample(dir: string): string {
  const path = join(dir, SETTINGS_EXAMPLE_FILE);
  if (!existsSync(path)) writeFileSync(path, `${JSON.stringify(SETTINGS_EXAMPLE, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** The settings in a few lines, for the Settings dialog. */
export function describeSettings(config: Readonly<HubConfig>): string {
  return [
    `Link: ${config.listen.host}:${config.listen.port}`,
    `TLS certificate: ${config.tls.cert}`,
    `CA certificate: ${config.tls.ca}`,
    `CRL: ${config.tls.crl}`,
    `CA directory: ${config.ca?.dir ?? 'none (certificates are managed with lmgw-ca elsewhere)'}`,
    `Time zone: ${config.timeZone}`,
    `Data: ${config.dataDir}`,
  ].join('\n');
}

const NOT_PLAIN = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/gu;

/**
 * The operator identity of the desktop app: the OS user running it (audited with every operation).
 * Falls back to USER / USERNAME when the account has no passwd entry; control characters and
 * bidirectional overrides are removed so the name cannot forge an audit line.
 */
export function desktopOperator(info: () => { username: string } = () => userInfo(), env: NodeJS.ProcessEnv = process.env): string {
  let name: string | undefined;
  try {
    name = info().username;
  } catch {
    name = env.USER ?? env.USERNAME;
  }
  const clean = (name ?? '').replace(NOT_PLAIN, '').trim().slice(0, 128);
  return clean || 'unknown-os-user';
}
