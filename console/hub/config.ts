import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { parseJsonConfig, validateConfig } from '../../shared/config.js';
import { LmgwError } from '../../shared/errors.js';
import { GATEWAY_ID_PATTERN } from '../../shared/ids.js';
import { DEFAULT_HUB_PORT, LINK_DEFAULTS } from '../../shared/link.js';
import { isValidTimeZone } from '../../shared/load/quarter-hours.js';
import { LABEL_PATTERN } from '../../shared/protocol/messages.js';

function defaultTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** The hub's config file (`lm-console --headless --config FILE`). Paths are relative to the file. */
export const HubConfigSchema = z
  .object({
    listen: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(DEFAULT_HUB_PORT),
      })
      .strict()
      .default({ host: '0.0.0.0', port: DEFAULT_HUB_PORT }),
    tls: z
      .object({
        ca: z.string().min(1),
        cert: z.string().min(1),
        key: z.string().min(1),
        crl: z.string().min(1),
        ocspStaple: z.string().min(1).optional(),
      })
      .strict(),
    /**
     * The CA directory, when the console holds the CA: the certificates view and revocation from the
     * console. The passphrase comes from the environment (LMGW_CA_PASSPHRASE), never from this file.
     * Point tls.crl at `<dir>/crl.pem` so a revocation here takes effect on the link at once.
     */
    ca: z.object({ dir: z.string().min(1) }).strict().optional(),
    /**
     * The hub database and the operator token live here (created 0700). Absent: see
     * defaultDataDir (the schema's 'data' is only what a parse without a file gives).
     */
    dataDir: z.string().min(1).default('data'),
    /** IANA zone the quarter-hours and billing months follow. Default: the machine's zone. */
    timeZone: z
      .string()
      .min(1)
      .refine(isValidTimeZone, { message: 'is not an IANA time zone (for example Europe/Zurich)' })
      .default(defaultTimeZone()),
    operatorApi: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8480),
        /** The operator identity calls made with the token are audited under. */
        tokenName: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'must be 1–64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit')
          .default('operator'),
        /** The built operator UI to serve; default: the one next to the program. */
        uiDir: z.string().min(1).optional(),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 8480, tokenName: 'operator' }),
    /**
     * A listener of its own for /healthz, /readyz and /metrics (no token; they are on the operator
     * API too), for a Prometheus or load balancer on another host. Absent: none.
     */
    metrics: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(0).max(65535),
      })
      .strict()
      .optional(),
    /** What the DSO calls its sites, by gateway id; wins over what the agent says in hello. */
    sites: z
      .record(
        z.string(),
        z
          .object({
            name: z.string().min(1).max(128).optional(),
            labels: z.array(z.string().regex(LABEL_PATTERN, 'is not a label (a-z 0-9 . _ -)')).max(16).optional(),
            targetKw: z.number().positive().max(1_000_000).optional(),
          })
          .strict(),
      )
      .superRefine((sites, ctx) => {
        for (const id of Object.keys(sites)) {
          if (!GATEWAY_ID_PATTERN.test(id)) ctx.addIssue({ code: 'custom', path: [id], message: 'is not a gateway id (a-z 0-9 . _ -, as in its certificate)' });
        }
      })
      .default({}),
    fleet: z
      .object({ targetKw: z.number().positive().max(1_000_000_000).optional() })
      .strict()
      .default({}),
    commands: z
      .object({ deadlineSeconds: z.number().int().min(1).max(300).default(10) })
      .strict()
      .default({ deadlineSeconds: 10 }),
    link: z
      .object({
        pingIntervalSeconds: z.number().int().min(1).max(3600).default(LINK_DEFAULTS.pingIntervalMs / 1000),
        maxConnections: z.number().int().min(1).max(1_000_000).default(LINK_DEFAULTS.maxConnections),
        maxPendingHandshakes: z.number().int().min(1).max(100_000).default(LINK_DEFAULTS.maxPendingHandshakes),
        messagesPerSecond: z.number().int().min(1).max(10_000).default(LINK_DEFAULTS.messagesPerSecond),
        messageBurst: z.number().int().min(1).max(100_000).default(LINK_DEFAULTS.messageBurst),
        telemetryIntervalSeconds: z.number().int().min(1).max(3600).default(1),
      })
      .strict()
      .default({
        pingIntervalSeconds: LINK_DEFAULTS.pingIntervalMs / 1000,
        maxConnections: LINK_DEFAULTS.maxConnections,
        maxPendingHandshakes: LINK_DEFAULTS.maxPendingHandshakes,
        messagesPerSecond: LINK_DEFAULTS.messagesPerSecond,
        messageBurst: LINK_DEFAULTS.messageBurst,
        telemetryIntervalSeconds: 1,
      }),
  })
  .strict();

export type HubConfig = z.infer<typeof HubConfigSchema>;

/** Where the hub keeps its data when the config names no `dataDir`. */
export const SYSTEM_DATA_DIR = '/var/lib/lmgw-console';

/**
 * The data directory of a config at `configPath` that names none: the service's state directory
 * when systemd gives one (`StateDirectory=` sets STATE_DIRECTORY), /var/lib/lmgw-console for a
 * config under /etc (never a database under /etc), else `data` beside the config (the demo, tests,
 * a copy in a home directory).
 */
export function defaultDataDir(configPath: string, env: NodeJS.ProcessEnv = process.env): string {
  const state = env.STATE_DIRECTORY?.split(':')[0];
  if (state) return resolve(state);
  const config = resolve(configPath);
  if (config.startsWith('/etc/')) return SYSTEM_DATA_DIR;
  return join(dirname(config), 'data');
}

/** Loads and validates a hub config; file and directory paths come back absolute. */
export function loadHubConfig(path: string, env: NodeJS.ProcessEnv = process.env): Readonly<HubConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `cannot read the config ${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = parseJsonConfig(text, path);
  const raw = validateConfig(HubConfigSchema, parsed, path);
  const namesDataDir = typeof parsed === 'object' && parsed !== null && 'dataDir' in parsed;
  const base = dirname(resolve(path));
  const abs = (p: string): string => resolve(base, p);
  return validateConfig(
    HubConfigSchema,
    {
      ...raw,
      dataDir: namesDataDir ? abs(raw.dataDir) : defaultDataDir(path, env),
      ...(raw.ca ? { ca: { dir: abs(raw.ca.dir) } } : {}),
      operatorApi: { ...raw.operatorApi, ...(raw.operatorApi.uiDir ? { uiDir: abs(raw.operatorApi.uiDir) } : {}) },
      tls: {
        ca: abs(raw.tls.ca),
        cert: abs(raw.tls.cert),
        key: abs(raw.tls.key),
        crl: abs(raw.tls.crl),
        ...(raw.tls.ocspStaple ? { ocspStaple: abs(raw.tls.ocspStaple) } : {}),
      },
    },
    path,
  );
}
