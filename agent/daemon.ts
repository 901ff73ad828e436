/**
 * The agent as a long-running service: the link (agent/link) and the site (agent/site.ts: the load
 * managers, command execution, telemetry) built from the config and wired together.
 *
 *   hub message ──link──▶ SiteController.handle ──▶ result ──link──▶ hub
 *   SiteController (telemetry, events) ──send──▶ link (false while it is down: telemetry waits on disk)
 *
 * Without devices in the config the agent runs the link only (no database, no hello devices).
 */
import type { Logger } from 'pino';
import {
  LIMITS,
  PROTOCOL_VERSIONS,
  type CommandMessage,
  type DeviceProfile,
  type EventMessage,
  type HelloMessage,
  type Message,
  type ResultMessage,
} from '../shared/protocol/index.js';
import { LmgwError } from '../shared/errors.js';
import { TypedEvents } from '../shared/typed-events.js';
import type { AgentConfig, AgentTls } from './config.js';
import { LinkClient, type LinkClientOptions } from './link/client.js';
import { describeTarget, ModbusBus } from './lm/bus.js';
import { LmDriver } from './lm/driver.js';
import type { DeviceSetup } from './lm/profile.js';
import { SiteController } from './site.js';
import { LMGW_VERSION } from '../shared/version.js';

/** The hello this agent sends: identity, versions, site, and the devices (none in link-only mode). */
export function helloFor(config: AgentConfig, devices: readonly DeviceProfile[] = []): HelloMessage {
  return {
    kind: 'hello',
    gatewayId: config.gatewayId,
    minVersion: Math.min(...PROTOCOL_VERSIONS),
    maxVersion: Math.max(...PROTOCOL_VERSIONS),
    agentVersion: LMGW_VERSION,
    ...(config.site.name !== undefined ? { siteName: config.site.name } : {}),
    labels: config.site.labels,
    viaProxy: false,
    devices,
  };
}

export interface AgentRuntime {
  logger: Logger;
  /** Log every frame (LMGW_TRACE=1). */
  trace?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** A LinkClient configured from the agent config (not started). `extra` replaces the hello or adds hooks. */
export function linkClientFor(config: AgentConfig, tls: AgentTls, runtime: AgentRuntime, extra: Partial<Pick<LinkClientOptions, 'hello' | 'onUndecodable'>> = {}): LinkClient {
  return new LinkClient({
    url: config.console.url,
    gatewayId: config.gatewayId,
    ...tls,
    ...(config.console.serverName !== undefined ? { servername: config.console.serverName } : {}),
    ...(config.proxy !== undefined ? { proxy: config.proxy } : {}),
    ...(runtime.env ? { env: runtime.env } : {}),
    backoff: { baseMs: config.link.backoffBaseMs, capMs: config.link.backoffCapMs },
    maxConnectionAgeMs: Math.round(config.link.maxConnectionAgeHours * 3_600_000),
    stableAfterMs: config.link.stableAfterSeconds * 1000,
    hello: () => helloFor(config),
    logger: runtime.logger,
    trace: runtime.trace ?? false,
    ...extra,
  });
}

export type AgentEvents = {
  /** A command from the hub was answered: its result, whether or not the link could carry it. */
  command: [command: CommandMessage, result: ResultMessage, ms: number];
};

export interface RunningAgent {
  readonly link: LinkClient;
  /** Undefined in link-only mode (no devices). */
  readonly site: SiteController | undefined;
  readonly events: TypedEvents<AgentEvents>;
  /** The local health and metrics endpoint (config `metrics`), when on. */
  readonly health: { readonly url: string } | undefined;
  /** Stops the site (a command in progress finishes and its result still goes out), then the link. */
  stop: () => Promise<void>;
}

/**
 * Opens the site (database, devices, timers, sampling), builds the link around it and starts it.
 * Throws what SiteController.open throws (e.g. CONFIG_INVALID for an unusable dataDir); nothing is
 * left running then.
 */
export async function startAgent(config: AgentConfig, tls: AgentTls, runtime: AgentRuntime): Promise<RunningAgent> {
  const log = runtime.logger;
  const events = new TypedEvents<AgentEvents>((err) => log.error({ err }, 'an agent event listener threw'));
  const answered = (command: CommandMessage, result: ResultMessage, ms: number): void => events.emit('command', command, result, ms);
  const ref: { link?: LinkClient } = {};
  const send = (message: Message): boolean => ref.link?.send(message) ?? false;

  let site: SiteController | undefined;
  if (config.deviceSetups.length > 0) {
    site = await SiteController.open({
      devices: config.deviceSetups,
      // loadAgentConfig refuses devices without a dataDir.
      dataDir: config.dataDir ?? '',
      send,
      telemetry: config.telemetry,
      linkLoss: config.linkLoss,
      logger: log,
    });
    logSite(site, log);
  } else {
    log.info('no devices configured: link-only mode (no load manager, no telemetry, no database)');
  }

  let link: LinkClient;
  try {
    link = linkClientFor(config, tls, runtime, {
      hello: () => helloFor(config, site?.helloDevices() ?? []),
      ...(site ? { onUndecodable: (err) => site.malformedCommand(err) } : {}),
    });
  } catch (err) {
    await site?.stop();
    throw err;
  }
  ref.link = link;

  if (site) {
    const s = site;
    link.events.on('connected', ({ welcome }) => {
      s.setHubClock(welcome.serverTime);
      s.setLinkUp(true);
    });
    link.events.on('disconnected', () => s.setLinkUp(false));
    link.events.on('message', (message) => void handleMessage(s, message, send, log, answered));
  } else {
    link.events.on('message', (message) => {
      if (message.kind === 'command') {
        // No load manager here: say so at once rather than leave the hub waiting for the deadline.
        const result: ResultMessage = { kind: 'result', commandId: message.id, status: 'rejected', code: 'CMD_UNKNOWN_CHANNEL', time: Date.now(), message: 'this gateway has no load manager configured (link-only mode)' };
        logCommand(log, message, result, 0, send(result));
        answered(message, result, 0);
      }
    });
  }
  link.start();

  // Loaded only when configured: a gateway without the endpoint does not hold prom-client in memory.
  let health: { url: string; close(): Promise<void> } | undefined;
  if (config.metrics) {
    try {
      const { startAgentHealth } = await import('./health.js');
      health = await startAgentHealth({ ...config.metrics, link, site, events, dataDir: config.dataDir, log });
    } catch (err) {
      await site?.stop();
      await link.stop();
      throw err;
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    link,
    site,
    events,
    health,
    stop: () =>
      (stopping ??= (async () => {
        await health?.close();
        // The site first: it stops taking commands and sampling, lets a command in progress finish
        // (its result still goes out on the open link) and closes the database. A stopped site
        // ignores the link's disconnect, so a clean stop does not start the link-loss clock.
        try {
          await site?.stop();
        } finally {
          await link.stop();
        }
      })()),
  };
}

/** One message from the hub: never throws, never leaves a command unanswered when it can help it. Exported for tests. */
export async function handleMessage(
  site: Pick<SiteController, 'handle'>,
  message: Message,
  send: (m: Message) => boolean,
  log: Logger,
  answered?: (command: CommandMessage, result: ResultMessage, ms: number) => void,
): Promise<void> {
  const started = Date.now();
  let reply: Message | undefined;
  try {
    reply = await site.handle(message);
  } catch (err) {
    log.error({ err, kind: message.kind, ...(message.kind === 'command' ? { id: message.id, op: message.op } : {}) }, 'handling a message from the console failed');
    if (message.kind !== 'command') return;
    // The hub's pending command resolves; the store keeps it "started" if the LM may have been touched,
    // so a repeat of the id is answered "outcome unknown", never executed twice.
    reply = {
      kind: 'result',
      commandId: message.id,
      status: 'failed',
      code: 'CMD_LM_FAILED',
      time: Date.now(),
      message: `the agent failed while executing this command (${(err instanceof Error ? err.message : String(err)).slice(0, 120)}); its outcome is unknown (send a read)`.slice(
        0,
        LIMITS.maxResultMessageLength,
      ),
    };
  }
  if (reply === undefined) return;
  let sent = false;
  try {
    sent = send(reply);
  } catch (err) {
    log.error({ err, kind: reply.kind }, 'sending the answer failed');
  }
  if (message.kind === 'command' && reply.kind === 'result') {
    const ms = Date.now() - started;
    logCommand(log, message, reply, ms, sent);
    answered?.(message, reply, ms);
  }
}

/** One line per command: what was asked, what came of it, and whether the hub got the result. */
function logCommand(log: Logger, command: CommandMessage, result: ResultMessage, ms: number, sent: boolean): void {
  const fields = {
    event: 'command',
    id: command.id,
    op: command.op,
    status: result.status,
    ...(result.status !== 'ok' ? { code: result.code } : {}),
    ...(result.measuredKw !== undefined ? { kw: result.measuredKw } : {}),
    ...(result.relays ? { relaysOff: result.relays.filter((r) => !r.on).map((r) => r.channel) } : {}),
    ms,
    sent,
  };
  const text = sent ? 'command result sent' : 'command result not sent (link down; a repeat of the id gets it)';
  if (result.status === 'ok') log.info(fields, text);
  else log.warn({ ...fields, ...(result.message !== undefined ? { reason: result.message } : {}) }, text);
}

/** The site's events (device health, auto-restore, dropped telemetry) as structured log lines. Exported for tests. */
export function logSite(site: Pick<SiteController, 'events'>, log: Logger): void {
  site.events.on('event', (event: EventMessage) => {
    const fields = { event: event.type, severity: event.severity, details: Object.fromEntries(event.details.map((d) => [d.key, d.value])) };
    const text = event.type === 'device-health' ? 'load manager health changed' : event.type;
    if (event.severity === 'alarm') log.error(fields, text);
    else if (event.severity === 'warning') log.warn(fields, text);
    else log.info(fields, text);
  });
}

export interface DeviceProbe {
  id: string;
  model: string;
  /** tcp://host:port or rtu:/dev/… */
  target: string;
  unitId: number;
  health: 'ok' | 'degraded' | 'offline';
  kw?: number;
  relays?: readonly { channel: number; on: boolean }[];
  error?: LmgwError;
}

/**
 * Reads every device once, as a command would (every attempt, no back-off), each on its own bus
 * connection; nothing is written and no database is opened, so a running agent is not disturbed
 * (except on a serial line, which only one program can hold).
 */
export async function probeDevices(devices: readonly DeviceSetup[], logger?: Logger): Promise<DeviceProbe[]> {
  const buses = new Map<string, ModbusBus>();
  try {
    return await Promise.all(
      devices.map(async ({ id, profile }): Promise<DeviceProbe> => {
        const target = describeTarget(profile.connection);
        let bus = buses.get(target);
        if (!bus) {
          bus = new ModbusBus({ connection: profile.connection, timeoutMs: profile.driver.timeoutMs, rtuGuardMs: profile.driver.rtuGuardMs, ...(logger ? { logger } : {}) });
          buses.set(target, bus);
        }
        const driver = new LmDriver({ id, profile, bus, ...(logger ? { logger } : {}) });
        const base = { id, model: profile.model, target, unitId: profile.connection.unitId };
        try {
          const reading = await driver.read({ urgent: true });
          return { ...base, health: driver.health, kw: reading.kw, relays: reading.relays, ...(driver.error ? { error: driver.error } : {}) };
        } catch (err) {
          const error = err instanceof LmgwError ? err : new LmgwError('MODBUS_CONNECT_FAILED', String(err));
          return { ...base, health: driver.health === 'ok' ? 'degraded' : driver.health, error };
        }
      }),
    );
  } finally {
    await Promise.all([...buses.values()].map((bus) => bus.close()));
  }
}
