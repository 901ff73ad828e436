/**
 * The agent's config file (`lmgw-agent run --config FILE`): one zod schema holding every default,
 * paths relative to the file, the key file's permissions checked, the result frozen. The only
 * environment overrides are the proxy variables (HTTPS_PROXY, NO_PROXY), read when `proxy` is absent.
 *
 * The site fields (`devices`, `dataDir`, `telemetry`, `linkLoss`) come from agent/site.ts; the
 * device profiles are loaded here too, so a bad profile fails the config like any other field. An
 * unknown top-level key is an error, so a misspelt field never goes unnoticed.
 *
 * Without `devices` the agent runs the link only (no load manager, no database): `dataDir`,
 * `telemetry` and `linkLoss` are then accepted but unused. With `devices`, `dataDir` is required.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { intField, parseJsonConfig, typeError, validateConfig } from '../shared/config.js';
import { checkKeyPermissions } from '../certs/key-file.js';
import { LmgwError } from '../shared/errors.js';
import { isLoopbackHost } from '../shared/health.js';
import { GATEWAY_ID_PATTERN, gatewayIdFromUri } from '../shared/ids.js';
import { LINK_DEFAULTS } from '../shared/link.js';
import { LABEL_PATTERN, LIMITS } from '../shared/protocol/index.js';
import { loadDevices, type DeviceSetup } from './lm/profile.js';
import { SITE_CONFIG_FIELDS } from './site.js';

function isWssUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'wss:' && url.hostname !== '' && url.username === '' && url.password === '' && url.hash === '';
  } catch {
    return false;
  }
}

function isProxyUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' && url.hostname !== '' && url.pathname === '/' && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}

const filePath = z.string({ error: typeError('a file path') }).min(1, 'must not be empty');

const LINK_CONFIG_DEFAULTS = {
  backoffBaseMs: 1_000,
  backoffCapMs: 60_000,
  maxConnectionAgeHours: LINK_DEFAULTS.maxConnectionAgeMs / 3_600_000,
  stableAfterSeconds: LINK_DEFAULTS.stableAfterMs / 1000,
};

export const AgentConfigSchema = z.strictObject(
  {
    /** This gateway's id: the CN / SAN URI of its certificate. */
    gatewayId: z
      .string({ error: typeError('a string') })
      .regex(GATEWAY_ID_PATTERN, 'must be 1–64 characters of a-z, 0-9, ".", "_", "-", starting with a letter or digit'),
    console: z.strictObject(
      {
        /** `wss://host:port[/lmgw/v1]`. */
        url: z.string({ error: typeError('a string') }).refine(isWssUrl, 'must be a wss:// URL (wss://host:port/lmgw/v1)'),
        /** The name the console certificate must carry when it differs from the URL's host. */
        serverName: z.string({ error: typeError('a string') }).min(1, 'must not be empty').max(253, 'is too long').optional(),
      },
      { error: typeError('an object { url, serverName? }') },
    ),
    tls: z.strictObject(
      {
        /** The LMGW CA certificate (ca.pem): the only trust anchor. */
        ca: filePath,
        /** This gateway's certificate (from `lmgw-ca sign`). */
        cert: filePath,
        /** This gateway's private key (from `lmgw-agent enroll`); mode 0600. */
        key: filePath,
      },
      { error: typeError('an object { ca, cert, key }') },
    ),
    /** `http://[user:pass@]host:port`; null = never a proxy, whatever the environment says; absent = HTTPS_PROXY / NO_PROXY. */
    proxy: z
      .string({ error: typeError('an http:// URL or null') })
      .refine(isProxyUrl, 'must be an http://[user:password@]host:port URL or null')
      .nullable()
      .optional(),
    site: z
      .strictObject(
        {
          name: z.string({ error: typeError('a string') }).min(1, 'must not be empty').max(LIMITS.maxSiteNameLength, `must be at most ${LIMITS.maxSiteNameLength} characters`).optional(),
          labels: z
            .array(z.string({ error: typeError('a string') }).regex(LABEL_PATTERN, 'must be a lower-case token of a-z, 0-9, ".", "_", "-" (at most 32)'), {
              error: typeError('an array of strings'),
            })
            .max(LIMITS.maxLabels, `must have at most ${LIMITS.maxLabels} entries`)
            .refine((labels) => new Set(labels).size === labels.length, 'must not repeat a label')
            .default([]),
        },
        { error: typeError('an object { name?, labels? }') },
      )
      .default({ labels: [] }),
    link: z
      .strictObject(
        {
          backoffBaseMs: intField(100, 60_000).default(LINK_CONFIG_DEFAULTS.backoffBaseMs),
          backoffCapMs: intField(1_000, 3_600_000).default(LINK_CONFIG_DEFAULTS.backoffCapMs),
          maxConnectionAgeHours: z
            .number({ error: typeError('a number') })
            .min(0.1, 'must be at least 0.1')
            .max(168, 'must be at most 168 (one week)')
            .default(LINK_CONFIG_DEFAULTS.maxConnectionAgeHours),
          stableAfterSeconds: intField(1, 3_600).default(LINK_CONFIG_DEFAULTS.stableAfterSeconds),
        },
        { error: typeError('an object') },
      )
      .refine((l) => l.backoffCapMs >= l.backoffBaseMs, { message: 'must not be below backoffBaseMs', path: ['backoffCapMs'] })
      .default(LINK_CONFIG_DEFAULTS),
    /** The load managers (absent: link-only mode); profile paths are relative to the config file. */
    devices: SITE_CONFIG_FIELDS.devices.optional(),
    /** The agent's database directory (telemetry queue, command ids, timers); relative to the config file. */
    dataDir: SITE_CONFIG_FIELDS.dataDir.optional(),
    telemetry: SITE_CONFIG_FIELDS.telemetry,
    linkLoss: SITE_CONFIG_FIELDS.linkLoss,
    /**
     * The local health and metrics endpoint (/healthz, /readyz, /metrics), on loopback only: it has no
     * token. Absent: off.
     */
    metrics: z
      .strictObject(
        {
          host: z
            .string({ error: typeError('a string') })
            .refine(isLoopbackHost, 'must be a loopback address (127.0.0.1, ::1 or localhost): the endpoint answers without a token')
            .default('127.0.0.1'),
          port: intField(0, 65535),
        },
        { error: typeError('an object { host?, port }') },
      )
      .optional(),
  },
  { error: typeError('a JSON object') },
);

export type AgentConfigFile = z.infer<typeof AgentConfigSchema>;

/** The validated config: paths absolute, frozen. */
export type AgentConfig = Readonly<AgentConfigFile> & {
  readonly source: string;
  /** Each entry of `devices` with its profile loaded and the site overrides applied; empty in link-only mode. */
  readonly deviceSetups: readonly DeviceSetup[];
};

/** The TLS material the link needs, read from the files the config names. */
export interface AgentTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * Reads and validates an agent config. Throws CONFIG_INVALID naming the field and its problem, or
 * LINK_KEY_PERMISSIONS naming the key file when group or others may read it. `env` supplies
 * HTTPS_PROXY / https_proxy, which must be a valid proxy URL when set and the config has no `proxy`.
 */
export function loadAgentConfig(path: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const source = resolve(path);
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `cannot read the config ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const raw = validateConfig(AgentConfigSchema, parseJsonConfig(text, source), source);
  const base = dirname(source);
  const config = validateConfig(
    AgentConfigSchema,
    {
      ...raw,
      tls: { ca: resolve(base, raw.tls.ca), cert: resolve(base, raw.tls.cert), key: resolve(base, raw.tls.key) },
      ...(raw.dataDir !== undefined ? { dataDir: resolve(base, raw.dataDir) } : {}),
    },
    source,
  );
  if (config.proxy === undefined) {
    for (const name of ['HTTPS_PROXY', 'https_proxy'] as const) {
      const value = env[name];
      if (value !== undefined && value.trim() !== '' && !isProxyUrl(value.trim())) {
        throw new LmgwError('CONFIG_INVALID', `environment ${name}: must be an http://[user:password@]host:port URL`);
      }
    }
  }
  if (config.devices !== undefined && config.dataDir === undefined) {
    throw new LmgwError('CONFIG_INVALID', `${source}: dataDir: is required when devices are configured (e.g. "/var/lib/lmgw-agent")`);
  }
  checkKeyPermissions(config.tls.key);
  let deviceSetups: DeviceSetup[] = [];
  if (config.devices !== undefined) {
    try {
      deviceSetups = loadDevices(config.devices, base);
    } catch (err) {
      // loadDevices names the field (devices.0.profile: …); add the file, as for every other field.
      if (err instanceof LmgwError && err.code === 'CONFIG_INVALID') throw new LmgwError('CONFIG_INVALID', `${source}: ${err.message}`, { cause: err });
      throw err;
    }
  }
  return Object.freeze({ ...config, source, deviceSetups: Object.freeze(deviceSetups) });
}

/**
 * Reads the CA, certificate and key, and checks they belong together: the key is the certificate's,
 * the certificate is for this gateway id. Errors name the field.
 */
export function readAgentTls(config: AgentConfig): AgentTls {
  const read = (field: 'ca' | 'cert' | 'key'): string => {
    const file = config.tls[field];
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new LmgwError('CONFIG_INVALID', `tls.${field}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  };
  const caPem = read('ca');
  const certPem = read('cert');
  const keyPem = read('key');
  const certificate = (field: 'ca' | 'cert', pem: string): X509Certificate => {
    try {
      return new X509Certificate(pem);
    } catch {
      throw new LmgwError('CONFIG_INVALID', `tls.${field}: ${config.tls[field]} is not a PEM certificate`);
    }
  };
  certificate('ca', caPem);
  const cert = certificate('cert', certPem);
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new LmgwError('CONFIG_INVALID', `tls.key: ${config.tls.key} is not a PEM private key (an encrypted key cannot be loaded unattended)`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new LmgwError('CONFIG_INVALID', `tls.key: ${config.tls.key} is not the key of the certificate ${config.tls.cert}`);
  }
  const id = certificateGatewayId(cert);
  if (id !== config.gatewayId) {
    throw new LmgwError('CONFIG_INVALID', `gatewayId: is "${config.gatewayId}" but the certificate ${config.tls.cert} is for "${id ?? '(no gateway id)'}"`);
  }
  return { caPem, certPem, keyPem };
}

/** The gateway id a certificate carries: its SAN URI, else its CN (as the hub reads it). */
function certificateGatewayId(cert: X509Certificate): string | undefined {
  for (const entry of (cert.subjectAltName ?? '').split(/,\s*/)) {
    if (entry.startsWith('URI:')) {
      const id = gatewayIdFromUri(entry.slice(4));
      if (id !== undefined) return id;
    }
  }
  return /^CN=(.*)$/m.exec(cert.subject)?.[1];
}
