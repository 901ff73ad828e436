import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { parseJsonConfig, validateConfig } from '../../shared/config.js';
import { LmgwError } from '../../shared/errors.js';
import { DEFAULT_HUB_PORT, LINK_DEFAULTS } from '../../shared/link.js';

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
    link: z
      .object({
        pingIntervalSeconds: z.number().int().min(1).max(3600).default(LINK_DEFAULTS.pingIntervalMs / 1000),
        maxConnections: z.number().int().min(1).max(1_000_000).default(LINK_DEFAULTS.maxConnections),
        messagesPerSecond: z.number().int().min(1).max(10_000).default(LINK_DEFAULTS.messagesPerSecond),
        messageBurst: z.number().int().min(1).max(100_000).default(LINK_DEFAULTS.messageBurst),
        telemetryIntervalSeconds: z.number().int().min(1).max(3600).default(1),
      })
      .strict()
      .default({
        pingIntervalSeconds: LINK_DEFAULTS.pingIntervalMs / 1000,
        maxConnections: LINK_DEFAULTS.maxConnections,
        messagesPerSecond: LINK_DEFAULTS.messagesPerSecond,
        messageBurst: LINK_DEFAULTS.messageBurst,
        telemetryIntervalSeconds: 1,
      }),
  })
  .strict();

export type HubConfig = z.infer<typeof HubConfigSchema>;

/** Loads and validates a hub config; TLS paths come back absolute. */
export function loadHubConfig(path: string): Readonly<HubConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `cannot read the config ${path}: ${(err as Error).message}`, { cause: err });
  }
  const raw = validateConfig(HubConfigSchema, parseJsonConfig(text, path), path);
  const base = dirname(resolve(path));
  const abs = (p: string): string => resolve(base, p);
  return validateConfig(
    HubConfigSchema,
    {
      ...raw,
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
