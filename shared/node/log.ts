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
 * Keys whose value is a secret (compared in lower case): the operator token and the login URL that
 * carries it, passwords and passphrases (the CA's, a proxy's), private keys in PEM, and the HTTP
 * headers that carry credentials.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'token',
  'loginurl',
  'password',
  'passphrase',
  'capassphrase',
  'keypem',
  'privatekey',
  'secret',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
]);

/** How far below a line's top secrets are looked for: `req.headers.authorization` is two levels down. */
const SEARCH_DEPTH = 3;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** What an object inside itself is written as (pino's own word for it). */
const CIRCULAR = '[Circular]';

/**
 * `value`, below the objects and arrays of `path` (the line's top first), with its secrets redacted;
 * itself when it holds none. An object inside itself becomes CIRCULAR: below copies of it, the
 * original would no longer look circular to pino and be written, secrets and all, past SEARCH_DEPTH.
 */
function redactValue(value: unknown, path: unknown[]): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (path.includes(value)) return CIRCULAR;
  if (path.length > SEARCH_DEPTH) return value;
  if (isPlainObject(value)) return redactFields(value, path);
  if (!Array.isArray(value)) return value;
  const items: readonly unknown[] = value;
  path.push(items);
  let copy: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item === null || typeof item !== 'object') continue; // most arrays logged: ids, channels
    const next = redactValue(item, path);
    if (next !== item) {
      copy ??= [...items];
      copy[i] = next;
    }
  }
  path.pop();
  return copy ?? items;
}

function redactFields(fields: Record<string, unknown>, path: unknown[]): Record<string, unknown> {
  path.push(fields);
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    const next = SECRET_KEYS.has(key.toLowerCase()) ? REDACTED : redactValue(value, path);
    if (next !== value) {
      copy ??= { ...fields };
      copy[key] = next;
    }
  }
  path.pop();
  return copy ?? fields;
}

/**
 * `fields` with every value under a secret key replaced by REDACTED, at its top and in plain objects
 * and arrays up to SEARCH_DEPTH levels down (not in class instances; an Error under `err` is searched
 * once pino has serialised it, see createLogger). The caller's object is never changed: what holds a
 * secret is copied. Why not pino's `redact` paths: "one level down, any parent" takes a wildcard
 * path per key, and 14 of them made a line cost 35 µs instead of 3 µs (the hub logs one per
 * connection; a reconnect storm is 20,000); this walk costs well under 1 µs, and only for a line
 * that is written (pino calls no formatter below the level).
 */
export function redactSecrets(fields: Record<string, unknown>): Record<string, unknown> {
  return redactFields(fields, []);
}

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

/** pino's `err` serializer (type, message, stack and the error's own fields), its result searched for secrets. */
function serializeError(err: unknown): unknown {
  const fields: unknown = pino.stdSerializers.err(err as Error); // anything but an error comes back as it was
  return fields !== null && typeof fields === 'object' ? redactSecrets(fields as Record<string, unknown>) : fields;
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
    formatters: {
      level: (label: string) => ({ level: label }),
      // What each call logs. A child's bindings (`log.child({ component })`) are not searched: pino
      // applies no formatter to them; they name a component, a gateway, a device — never a secret.
      log: (fields: Record<string, unknown>) => redactSecrets(fields),
    },
    // pino turns an Error under `err` into an object of its fields after the formatter above has
    // run (an error's own fields: a library's `headers`, `options`); they are searched here.
    serializers: { err: serializeError },
    // pino's default base (pid, hostname) is replaced by a custom one, so it is kept here.
    ...(options.base ? { base: { pid: process.pid, hostname: hostname(), ...options.base } } : {}),
  };
  return stream === undefined ? pino(settings) : pino(settings, stream);
}

