/**
 * The one logger factory of every LMGW process that logs: `lm-console` (and the desktop app's main
 * and hub processes), `lmgw-agent run`, the `lm-sim fleet` workers. JSON lines (pino) with what
 * journald, Loki and a human reading `journalctl` expect: ISO 8601 times in UTC, level names, the
 * program's name, and one list of secrets that never reach a log line, whoever logs the object.
 *
 * Node only (pino, process.env): shared/node/ is shared/'s Node layer, never imported by shared/
 * itself, the renderer or the preload (scripts/check-deps.mjs).
 */
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';
import { LmgwError } from '../errors.js';

/** The levels LMGW_LOG_LEVEL accepts, most verbose first; `silent` logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The environment variable that sets the level of every LMGW process. */
export const LOG_LEVEL_ENV = 'LMGW_LOG_LEVEL';

/** Shown instead of a redacted value. */
export const REDACTED = '[redacted]';

/**
 * Keys whose value is a secret wherever they appear at the top of a logged object or one level
 * down (`{ token }`, `{ api: { token } }`): the operator token and the login URL that carries it,
 * passwords and passphrases (the CA's, a proxy's), private keys in PEM, cookies and Authorization
 * headers.
 */
const SECRET_KEYS = ['token', 'loginUrl', 'password', 'passphrase', 'caPassphrase', 'keyPem', 'privateKey', 'secret', 'authorization', 'cookie'] as const;
/** HTTP headers that carry credentials, as pino's request serialiser and Node's IncomingMessage name them. */
const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization'] as const;

/** Every path redacted from every log line (pino path syntax). */
export const REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`]),
  ...SECRET_HEADERS.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`]),
];

function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * The level named by `variable` in `env` (default LMGW_LOG_LEVEL), `fallback` when it is unset or
 * empty. Any case is accepted (`DEBUG`); anything else is a CLI_USAGE error naming the variable, the
 * bad value and the allowed ones — a command exits 2 on it, never with a stack trace.
 */
export function logLevelFrom(env: NodeJS.ProcessEnv = process.env, variable: string = LOG_LEVEL_ENV, fallback: LogLevel = 'info'): LogLevel {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') return fallback;
  const wanted = raw.trim().toLowerCase();
  if (!isLogLevel(wanted)) throw new LmgwError('CLI_USAGE', `${variable} must be one of ${LOG_LEVELS.join(', ')}, not "${raw}"`);
  return wanted;
}

export interface LoggerOptions {
  /** The program, in every line as `name` (e.g. `lm-console`, `lmgw-agent`). */
  name: string;
  /** From logLevelFrom(); validated there, so a bad value never reaches pino. */
  level: LogLevel;
  /** Further fields in every line (e.g. `{ process: 'hub' }`). Every line also has `pid` and `hostname`. */
  base?: Record<string, unknown>;
  /** Where the lines go: default stdout. A `file` is appended to (its directory made), written asynchronously. */
  destination?: DestinationStream | { file: string };
}

/**
 * A logger writing one JSON object per line, e.g.
 * `{"level":"info","time":"2026-05-04T09:12:03.415Z","pid":812,"hostname":"dso-1","name":"lm-console","component":"link","gatewayId":"site-0001",…,"msg":"gateway connected"}`.
 */
export function createLogger(options: LoggerOptions): Logger {
  const { destination } = options;
  const stream = destination === undefined ? undefined : 'file' in destination ? pino.destination({ dest: destination.file, mkdir: true, sync: false }) : destination;
  const settings = {
    name: options.name,
    level: options.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    // pino's default base (pid, hostname) is replaced by a custom one, so it is kept here.
    ...(options.base ? { base: { pid: process.pid, hostname: hostname(), ...options.base } } : {}),
  };
  return stream === undefined ? pino(settings) : pino(settings, stream);
}

