/**
 * The site: every load manager of this gateway, command execution, and telemetry — what the link
 * carries messages for. The link (agent/link) knows nothing of Modbus; it hands this controller
 * the hub's messages and sends what the controller gives back or emits:
 *
 *   const site = await SiteController.open({ devices, dataDir, send: (m) => link.send(m) });
 *   hello: () => ({ ..., devices: site.helloDevices() })
 *   link.events.on('connected', ({ welcome }) => { site.setHubClock(welcome.serverTime); site.setLinkUp(true); });
 *   link.events.on('disconnected', () => site.setLinkUp(false));
 *   link.events.on('message', (m) => void site.handle(m).then((reply) => reply && link.send(reply)));
 *
 * A dead load manager never blocks the link: every Modbus request is bounded by its timeout, each
 * bus has its own queue, and nothing here is synchronous beyond a SQLite commit.
 */
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { z } from 'zod';
import { intField, typeError } from '../shared/config.js';
import { LmgwError } from '../shared/errors.js';
import {
  COMMAND_ID_PATTERN,
  LIMITS,
  type ChannelProfile,
  type DeviceProfile,
  type EventMessage,
  type Message,
  type ProtocolError,
  type ResultMessage,
  type Severity,
  type TelemetrySample,
} from '../shared/protocol/index.js';
import { TypedEvents } from '../shared/typed-events.js';
import { getMeta, openAgentDb, setMeta, type AgentDb } from './db.js';
import { describeTarget, ModbusBus } from './lm/bus.js';
import { LmDriver, type DeviceReading, type HealthChange } from './lm/driver.js';
import { DeviceEntrySchema, type DeviceSetup } from './lm/profile.js';
import { CommandExecutor, type LinkLossPolicy } from './ops/executor.js';
import { OpsStore } from './ops/store.js';
import { TelemetryPump } from './telemetry/pump.js';
import { TelemetryStore, type TrimReport } from './telemetry/store.js';

// --- config --------------------------------------------------------------------------------------

export const TELEMETRY_DEFAULTS = Object.freeze({ intervalSeconds: 1, batchSeconds: 1, retentionDays: 7, maxInFlight: 32, ackTimeoutSeconds: 30 });

/**
 * The agent config fields of the site (to spread into the agent's config schema): `devices` with
 * their profiles, `dataDir` for the database, `telemetry`, `linkLoss`.
 */
export const SITE_CONFIG_FIELDS = {
  /** The load managers; profile paths are relative to the config file. */
  devices: z
    .array(DeviceEntrySchema, { error: typeError('an array of { id, profile }') })
    .min(1, 'must list at least one device')
    .max(LIMITS.maxDevices, `must have at most ${LIMITS.maxDevices} devices`),
  /** Where the agent keeps its database (telemetry queue, command ids, timers); relative to the config file. */
  dataDir: z.string({ error: typeError('a directory path') }).min(1, 'must not be empty'),
  telemetry: z
    .strictObject(
      {
        intervalSeconds: intField(1, 3_600).default(TELEMETRY_DEFAULTS.intervalSeconds),
        /** While the link is up, one telemetry message per this many seconds. */
        batchSeconds: intField(1, 600).default(TELEMETRY_DEFAULTS.batchSeconds),
        /** Unacknowledged telemetry older than this is dropped (with an event). */
        retentionDays: z.number({ error: typeError('a number') }).min(0.01, 'must be at least 0.01').max(366, 'must be at most 366').default(TELEMETRY_DEFAULTS.retentionDays),
        maxInFlight: intField(1, 1_000).default(TELEMETRY_DEFAULTS.maxInFlight),
        ackTimeoutSeconds: intField(1, 3_600).default(TELEMETRY_DEFAULTS.ackTimeoutSeconds),
      },
      { error: typeError('an object') },
    )
    .default(TELEMETRY_DEFAULTS),
  /** While the hub is unreachable: "hold" shed channels, or "restore" them after afterSeconds. */
  linkLoss: z
    .discriminatedUnion(
      'mode',
      [
        z.strictObject({ mode: z.literal('hold') }),
        z.strictObject({ mode: z.literal('restore'), afterSeconds: intField(1, LIMITS.maxProfileSeconds) }),
      ],
      { error: (issue) => (issue.input === undefined ? 'is required' : 'must be { "mode": "hold" } or { "mode": "restore", "afterSeconds": N }') },
    )
    .default({ mode: 'hold' }),
};

export const SiteConfigSchema = z.strictObject(SITE_CONFIG_FIELDS, { error: typeError('a JSON object') });
export type SiteConfig = z.infer<typeof SiteConfigSchema>;

// --- controller ----------------------------------------------------------------------------------

export interface SiteOptions {
  devices: readonly DeviceSetup[];
  /** Directory of the agent database (created if needed). */
  dataDir: string;
  /** Hands a message to the link; false when the link is down (telemetry then waits on disk). */
  send: (message: Message) => boolean;
  telemetry?: Partial<SiteConfig['telemetry']>;
  linkLoss?: LinkLossPolicy;
  logger?: Logger;
  now?: () => number;
}

export type SiteEvents = {
  health: [change: HealthChange];
  /** An event message for the hub (also sent, or queued while the link is down). */
  event: [event: EventMessage];
};

/** How long open() waits for the first reading of the devices. */
const INITIAL_READ_WAIT_MS = 1_000;
/** Events waiting for the link, at most (the oldest go first). */
const MAX_QUEUED_EVENTS = 100;
/** Bytes one sample may take in a telemetry frame, per channel, generously (relay + power entry). */
const BYTES_PER_CHANNEL = 24;

export class SiteController {
  readonly events: TypedEvents<SiteEvents>;
  readonly drivers: readonly LmDriver[];
  private readonly db: AgentDb;
  private readonly buses: ModbusBus[];
  private readonly executor: CommandExecutor;
  private readonly pump: TelemetryPump;
  private readonly send: (message: Message) => boolean;
  private readonly log: Logger;
  private readonly now: () => number;
  private hubOffsetMs = 0;
  /** A sample waits this long for the devices (just under the interval). */
  private readonly sampleBudgetMs: number;
  /** Device reads in progress (one per device at a time). */
  private readonly reads = new Map<LmDriver, Promise<DeviceReading>>();
  private linkUp = false;
  private readonly queuedEvents: EventMessage[] = [];
  private stopped = false;

  private constructor(options: SiteOptions) {
    if (options.devices.length === 0) throw new LmgwError('CONFIG_INVALID', 'devices: must list at least one device');
    this.send = options.send;
    this.now = options.now ?? Date.now;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'site' });
    this.events = new TypedEvents<SiteEvents>((err) => this.log.error({ err }, 'a site event listener threw'));

    // Devices on one TCP endpoint or one serial line share a bus: one request in flight on it.
    const buses = new Map<string, ModbusBus>();
    this.drivers = options.devices.map((device) => {
      const { profile } = device;
      const target = describeTarget(profile.connection);
      let bus = buses.get(target);
      if (!bus) {
        bus = new ModbusBus({ connection: profile.connection, timeoutMs: profile.driver.timeoutMs, rtuGuardMs: profile.driver.rtuGuardMs, logger: this.log });
        buses.set(target, bus);
      }
      return new LmDriver({ id: device.id, profile, bus, logger: this.log, now: this.now });
    });
    this.buses = [...buses.values()];

    this.db = openAgentDb(join(resolve(options.dataDir), 'agent.sqlite'));
    try {
      this.executor = new CommandExecutor({
        drivers: this.drivers,
        store: new OpsStore(this.db),
        ...(options.linkLoss ? { linkLoss: options.linkLoss } : {}),
        now: this.now,
        logger: this.log,
        linkState: {
          load: () => {
            const value = getMeta(this.db, 'link.downSince');
            return value === undefined ? undefined : Number(value);
          },
          save: (since) => setMeta(this.db, 'link.downSince', since === undefined ? undefined : String(since)),
        },
      });
    } catch (err) {
      this.db.close();
      throw err;
    }
    const t = { ...SiteConfigSchema.shape.telemetry.parse(undefined), ...options.telemetry };
    this.sampleBudgetMs = Math.max(100, t.intervalSeconds * 1_000 - 50);
    const channels = this.drivers.reduce((n, d) => n + d.profile.channels.length, 0);
    this.pump = new TelemetryPump({
      store: new TelemetryStore(this.db),
      sample: () => this.sample(),
      send: (message) => this.send(message),
      intervalMs: t.intervalSeconds * 1_000,
      batchMs: t.batchSeconds * 1_000,
      // A full batch must fit one frame (64 KiB) with room to spare.
      maxBatchSamples: Math.max(1, Math.min(LIMITS.maxSamples, Math.floor(40_000 / (64 + channels * BYTES_PER_CHANNEL)))),
      maxInFlight: t.maxInFlight,
      ackTimeoutMs: t.ackTimeoutSeconds * 1_000,
      retentionMs: t.retentionDays * 86_400_000,
      now: this.now,
      logger: this.log,
    });

    for (const driver of this.drivers) {
      driver.events.on('health', (change) => {
        this.events.emit('health', change);
        const severity: Severity = change.to === 'ok' ? 'info' : change.to === 'degraded' ? 'warning' : 'alarm';
        this.emitEvent({
          kind: 'event',
          type: 'device-health',
          severity,
          time: change.time,
          details: [
            { key: 'device', value: change.device },
            { key: 'from', value: change.from },
            { key: 'to', value: change.to },
            ...(change.error ? [{ key: 'code', value: change.error.code }, { key: 'message', value: change.error.message.slice(0, LIMITS.maxDetailValueLength) }] : []),
          ],
        });
      });
    }
    this.executor.events.on('event', (event) => this.emitEvent(event));
    this.pump.events.on('dropped', (report: TrimReport) =>
      this.emitEvent({
        kind: 'event',
        type: 'telemetry-dropped',
        severity: 'warning',
        time: this.now(),
        details: [
          { key: 'batches', value: String(report.batches) },
          { key: 'samples', value: String(report.samples) },
          { key: 'fromSeq', value: String(report.fromSeq) },
          { key: 'toSeq', value: String(report.toSeq) },
        ],
      }),
    );
  }

  /**
   * Opens the database, restores channel states and timers (a timer that fell due while the agent
   * was down fires now), reads every device once (bounded by its timeouts) and starts sampling.
   */
  static async open(options: SiteOptions): Promise<SiteController> {
    const site = new SiteController(options);
    try {
      site.executor.start();
      // A first reading of each device, so the hello has health and relay states; a slow or dead
      // device is not waited for beyond a second (sampling catches up with it).
      await site.readAll(INITIAL_READ_WAIT_MS);
      site.pump.start();
    } catch (err) {
      await site.stop();
      throw err;
    }
    return site;
  }

  /** The devices for the hello: profiles, health and known relay states. */
  helloDevices(): DeviceProfile[] {
    const states = this.executor.channelStates();
    return this.drivers.map((driver) => ({
      id: driver.id,
      model: driver.profile.model,
      health: driver.health,
      channels: driver.profile.channels.map((c): ChannelProfile => {
        const on = states.get(c.id)?.on;
        return {
          id: c.id,
          name: c.name,
          priority: c.priority,
          sheddable: c.sheddable,
          ratedKw: c.ratedKw,
          minOnSeconds: c.minOnSeconds,
          minOffSeconds: c.minOffSeconds,
          ...(c.maxOffSeconds === undefined ? {} : { maxOffSeconds: c.maxOffSeconds }),
          ...(on === undefined ? {} : { on }),
        };
      }),
    }));
  }

  /**
   * A message from the hub. Commands resolve to their result (send it); acks trim the telemetry
   * queue; a welcome sets the hub clock. Anything else is logged and answered with nothing.
   */
  async handle(message: Message): Promise<Message | undefined> {
    switch (message.kind) {
      case 'command':
        if (this.stopped) return undefined;
        return this.executor.execute(message, this.hubOffsetMs);
      case 'ack':
        this.pump.ack(message.seq);
        return undefined;
      case 'welcome':
        this.setHubClock(message.serverTime);
        return undefined;
      case 'error':
        this.log.warn({ code: message.code, ref: message.ref, err: message.message }, 'the hub refused a message');
        return undefined;
      case 'event':
        this.log.info({ type: message.type, severity: message.severity }, 'event from the hub');
        return undefined;
      case 'hello':
      case 'result':
      case 'telemetry':
        this.log.warn({ kind: message.kind }, 'a message of the wrong direction');
        return undefined;
    }
  }

  /**
   * The answer to a frame that did not decode but whose command id could be read (docs/protocol.md:
   * CMD_MALFORMED, so the hub's pending command resolves at once); undefined for any other frame.
   */
  malformedCommand(error: ProtocolError): ResultMessage | undefined {
    if (!error.path.startsWith('command') || error.ref === undefined || !COMMAND_ID_PATTERN.test(error.ref)) return undefined;
    return this.executor.malformed(error.ref, `${error.code}: ${error.message}`);
  }

  /** The hub's clock from its welcome: deadlines are judged on it. */
  setHubClock(serverTimeMs: number, receivedAt: number = this.now()): void {
    this.hubOffsetMs = serverTimeMs - receivedAt;
    if (Math.abs(this.hubOffsetMs) > 5_000) this.log.warn({ offsetMs: this.hubOffsetMs }, 'the hub clock and the agent clock differ by more than 5 s');
  }

  /** The link came up (after a welcome) or went down: replay telemetry, flush events, link-loss policy. */
  setLinkUp(up: boolean): void {
    if (this.stopped) return;
    this.linkUp = up;
    this.executor.setLinkUp(up);
    this.pump.setLinkUp(up);
    if (up) {
      for (const event of this.queuedEvents.splice(0)) {
        if (!this.send(event)) {
          this.queuedEvents.push(event);
          break;
        }
      }
    }
  }

  /** Telemetry waiting for an ack. */
  telemetryBacklog(): { batches: number; samples: number } {
    return this.pump.backlog();
  }

  private emitEvent(event: EventMessage): void {
    this.events.emit('event', event);
    if (this.linkUp && this.send(event)) return;
    this.queuedEvents.push(event);
    if (this.queuedEvents.length > MAX_QUEUED_EVENTS) this.queuedEvents.shift();
  }

  /**
   * Reads every device, waiting at most `budgetMs`: a device still busy (timing out) is left out of
   * this round, and its read is not started again while it runs — so a dead device costs the
   * others nothing. Every reading that completes updates the known relay states.
   */
  private async readAll(budgetMs: number): Promise<DeviceReading[]> {
    const results: (DeviceReading | undefined)[] = this.drivers.map(() => undefined);
    const all = this.drivers.map((driver, i) =>
      this.readDevice(driver).then(
        (reading) => void (results[i] = reading),
        () => undefined,
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(all), new Promise((r) => (timer = setTimeout(r, budgetMs)))]);
    clearTimeout(timer);
    return results.filter((r): r is DeviceReading => r !== undefined);
  }

  private readDevice(driver: LmDriver): Promise<DeviceReading> {
    const running = this.reads.get(driver);
    if (running) return running;
    const generation = this.executor.generation;
    const read = driver
      .read()
      .then((reading) => {
        this.executor.observe([reading], generation);
        return reading;
      })
      .finally(() => this.reads.delete(driver));
    this.reads.set(driver, read);
    return read;
  }

  /** One telemetry sample from every device that answers within the sampling interval. */
  private async sample(): Promise<TelemetrySample | undefined> {
    const readings = await this.readAll(this.sampleBudgetMs);
    if (readings.length === 0) return undefined;
    const kw = Math.round(readings.reduce((sum, r) => sum + r.kw, 0) * 1_000) / 1_000;
    const allMetered = readings.length === this.drivers.length && readings.every((r) => r.kwh !== undefined);
    const channelKw = readings.flatMap((r) => r.channelKw ?? []);
    return {
      time: this.now(),
      kw: Math.max(-LIMITS.maxAbsKw, Math.min(LIMITS.maxAbsKw, kw)),
      ...(allMetered ? { kwh: Math.round(readings.reduce((sum, r) => sum + (r.kwh ?? 0), 0) * 1_000) / 1_000 } : {}),
      relays: readings.flatMap((r) => r.relays).sort((a, b) => a.channel - b.channel),
      ...(channelKw.length > 0 ? { channelKw: channelKw.sort((a, b) => a.channel - b.channel) } : {}),
    };
  }

  /** Stops sampling and the timers, closes the buses and the database. Shed channels stay as they are. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.linkUp = false;
    this.executor.stop();
    await this.pump.stop();
    await this.executor.idle();
    await Promise.all(this.buses.map((bus) => bus.close()));
    this.db.close();
  }
}
