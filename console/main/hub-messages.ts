/**
 * The messages between the main process and the hub's utilityProcess (hub-entry.ts), one object per
 * `postMessage`, structured-cloned. Both ends are ours, but each still checks the shape of what it
 * receives: a message it cannot read is dropped and logged, never acted on half-understood.
 */
import type { BridgeReply } from '../../shared/operator-bridge.js';
import type { HubConfig } from '../hub/config.js';

/** main → hub: start the hub with these settings (validated by main, validated again by the hub). */
export interface StartMessage {
  type: 'start';
  config: HubConfig;
  /** Who operations are audited under: the OS user running the app. */
  operator: string;
  /** LMGW_CA_PASSPHRASE as main found it, when the settings name a CA directory. */
  caPassphrase?: string;
  /** The hub's JSON log (pino); omit for none. */
  logFile?: string;
}

/** main → hub: one operator call, validated by main already; answered by a ReplyMessage with the same id. */
export interface CallMessage {
  type: 'call';
  id: number;
  method: string;
  params: unknown;
}

/** main → hub: close the hub (link, store) and exit. */
export interface StopMessage {
  type: 'stop';
}

export type MainToHub = StartMessage | CallMessage | StopMessage;

export interface ReadyMessage {
  type: 'ready';
  linkUrl: string;
  databasePath: string;
  timeZone: string;
}

/** The hub could not start (bad TLS file, port in use, database newer than this app, …). */
export interface FailedMessage {
  type: 'failed';
  error: { code: string; message: string };
}

export interface ReplyMessage {
  type: 'reply';
  id: number;
  reply: BridgeReply;
}

/** One OperatorEvent, as the service emitted it. */
export interface EventMessage {
  type: 'event';
  event: unknown;
}

export interface StoppedMessage {
  type: 'stopped';
}

export type HubToMain = ReadyMessage | FailedMessage | ReplyMessage | EventMessage | StoppedMessage;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isError(value: unknown): value is { code: string; message: string } {
  return isRecord(value) && typeof value.code === 'string' && typeof value.message === 'string';
}

export function isBridgeReply(value: unknown): value is BridgeReply {
  if (!isRecord(value)) return false;
  if (value.ok === true) return 'result' in value;
  return value.ok === false && isError(value.error);
}

const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** A message from the hub, or undefined when it is not one. */
export function parseHubToMain(value: unknown): HubToMain | undefined {
  if (!isRecord(value)) return undefined;
  switch (value.type) {
    case 'ready':
      return typeof value.linkUrl === 'string' && typeof value.databasePath === 'string' && typeof value.timeZone === 'string'
        ? { type: 'ready', linkUrl: value.linkUrl, databasePath: value.databasePath, timeZone: value.timeZone }
        : undefined;
    case 'failed':
      return isError(value.error) ? { type: 'failed', error: { code: value.error.code, message: value.error.message } } : undefined;
    case 'reply':
      return isId(value.id) && isBridgeReply(value.reply) ? { type: 'reply', id: value.id, reply: value.reply } : undefined;
    case 'event':
      return 'event' in value ? { type: 'event', event: value.event } : undefined;
    case 'stopped':
      return { type: 'stopped' };
    default:
      return undefined;
  }
}

/** A message from main, or undefined when it is not one (the config inside a start is checked by the hub). */
export function parseMainToHub(value: unknown): MainToHub | undefined {
  if (!isRecord(value)) return undefined;
  switch (value.type) {
    case 'start':
      if (!isRecord(value.config) || typeof value.operator !== 'string') return undefined;
      if (value.caPassphrase !== undefined && typeof value.caPassphrase !== 'string') return undefined;
      if (value.logFile !== undefined && typeof value.logFile !== 'string') return undefined;
      return {
        type: 'start',
        // The hub validates it with HubConfigSchema before use (hub-host.ts).
        config: value.config as unknown as HubConfig,
        operator: value.operator,
        ...(typeof value.caPassphrase === 'string' ? { caPassphrase: value.caPassphrase } : {}),
        ...(typeof value.logFile === 'string' ? { logFile: value.logFile } : {}),
      };
    case 'call':
      return isId(value.id) && typeof value.method === 'string' ? { type: 'call', id: value.id, method: value.method, params: value.params } : undefined;
    case 'stop':
      return { type: 'stop' };
    default:
      return undefined;
  }
}
