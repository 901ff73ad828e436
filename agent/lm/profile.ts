/**
 * Device profiles: what one load manager (LM) looks like on Modbus — how to reach it, which relay
 * switches each channel, where its measurements live and how they are encoded. A profile is a JSON
 * file validated by one zod schema holding every default; a bad field fails with CONFIG_INVALID
 * naming the field (`lm4.json: channels.2.relay.address: must be at most 65535`). The same profile
 * drives the agent's driver and `lm-sim`, so both always agree on the register map.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { intField, parseJsonConfig, typeError, validateConfig } from '../../shared/config.js';
import { LmgwError } from '../../shared/errors.js';
import { DEVICE_ID_PATTERN, LIMITS } from '../../shared/protocol/index.js';

export const VALUE_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

/** Register tables a measurement may live in (function codes 3 and 4). */
export const REGISTER_FUNCTIONS = ['holding', 'input'] as const;

const text = (max: number) => z.string({ error: typeError('a string') }).min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
const address = intField(0, 65_535);
const seconds = intField(0, LIMITS.maxProfileSeconds);

const TcpConnectionSchema = z.strictObject(
  {
    type: z.literal('tcp'),
    host: text(253),
    port: intField(1, 65_535).default(502),
    /** TCP gateways route by unit id; 255 or 1 for a device that ignores it. */
    unitId: intField(0, 255).default(1),
  },
  { error: typeError('an object { type: "tcp", host, port, unitId }') },
);

const RtuConnectionSchema = z.strictObject(
  {
    type: z.literal('rtu'),
    /** Serial device, e.g. /dev/ttyUSB0 or one end of a socat pty pair. */
    path: text(4096),
    baudRate: intField(300, 921_600).default(19_200),
    /** Modbus over serial line (V1.02 §2.5.1): even parity is the default. */
    parity: z.enum(['none', 'even', 'odd'], { error: typeError('"none", "even" or "odd"') }).default('even'),
    stopBits: z.union([z.literal(1), z.literal(2)], { error: typeError('1 or 2') }).default(1),
    dataBits: z.union([z.literal(7), z.literal(8)], { error: typeError('7 or 8') }).default(8),
    /** 1..247 (0 is broadcast, which never answers). */
    unitId: intField(1, 247).default(1),
  },
  { error: typeError('an object { type: "rtu", path, baudRate, parity, stopBits, dataBits, unitId }') },
);

export const ConnectionSchema = z.discriminatedUnion('type', [TcpConnectionSchema, RtuConnectionSchema], {
  error: (issue) => (issue.input === undefined ? 'is required' : 'must be { type: "tcp", … } or { type: "rtu", … }'),
});
export type Connection = z.infer<typeof ConnectionSchema>;
export type TcpConnection = z.infer<typeof TcpConnectionSchema>;
export type RtuConnection = z.infer<typeof RtuConnectionSchema>;

export const DRIVER_DEFAULTS = Object.freeze({ timeoutMs: 1_000, retries: 2, rtuGuardMs: 100, backoffBaseMs: 1_000, backoffCapMs: 30_000 });

const DriverSchema = z
  .strictObject(
    {
      /** Every request must be answered within this (modbus-serial has no timeout by default). */
      timeoutMs: intField(50, 30_000).default(DRIVER_DEFAULTS.timeoutMs),
      /** Further attempts after a timeout or a broken reply (an exception reply is not retried). */
      retries: intField(0, 10).default(DRIVER_DEFAULTS.retries),
      /** RTU only: quiet time after a timeout before the next request, so a late reply dies first. */
      rtuGuardMs: intField(0, 5_000).default(DRIVER_DEFAULTS.rtuGuardMs),
      /** Reconnect back-off of an offline device: full jitter, base and cap. */
      backoffBaseMs: intField(100, 60_000).default(DRIVER_DEFAULTS.backoffBaseMs),
      backoffCapMs: intField(1_000, 600_000).default(DRIVER_DEFAULTS.backoffCapMs),
    },
    { error: typeError('an object') },
  )
  .default(DRIVER_DEFAULTS);

const RelaySchema = z
  .strictObject(
    {
      /** A coil (FC 1/5) or a holding register (FC 3/6). */
      type: z.enum(['coil', 'holding'], { error: typeError('"coil" or "holding"') }),
      address,
      /** Value meaning "load on" (coil: 0 or 1; many LMs energise the relay to shed, so on = 0). */
      on: intField(0, 65_535).optional(),
      /** Value meaning "load off". */
      off: intField(0, 65_535).optional(),
    },
    { error: typeError('an object { type, address, on, off }') },
  )
  .superRefine((relay, ctx) => {
    if (relay.type === 'coil') {
      for (const key of ['on', 'off'] as const) {
        const value = relay[key];
        if (value !== undefined && value > 1) ctx.addIssue({ code: 'custom', path: [key], message: 'must be 0 or 1 for a coil' });
      }
    } else {
      for (const key of ['on', 'off'] as const) {
        if (relay[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'is required for a holding register relay' });
      }
    }
  })
  .transform((relay) => {
    const on = relay.on ?? (relay.off === undefined ? 1 : 1 - relay.off);
    const off = relay.off ?? (relay.type === 'coil' ? 1 - on : 0);
    return { type: relay.type, address: relay.address, on, off };
  })
  .refine((relay) => relay.on !== relay.off, { message: 'on and off must differ', path: ['off'] });
export type Relay = z.infer<typeof RelaySchema>;

const ChannelSchema = z
  .strictObject(
    {
      id: intField(LIMITS.minChannelId, LIMITS.maxChannelId),
      name: text(LIMITS.maxChannelNameLength),
      relay: RelaySchema,
      /** 1 = shed first. */
      priority: intField(LIMITS.minPriority, LIMITS.maxPriority),
      sheddable: z.boolean({ error: typeError('true or false') }),
      ratedKw: z.number({ error: typeError('a number') }).positive('must be above 0').max(LIMITS.maxAbsKw, `must be at most ${LIMITS.maxAbsKw}`),
      minOnSeconds: seconds.default(0),
      minOffSeconds: seconds.default(0),
      /** The agent restores a channel it shed after this long off, whatever the hub says. */
      maxOffSeconds: intField(1, LIMITS.maxProfileSeconds).optional(),
    },
    { error: typeError('an object') },
  )
  .refine((c) => c.maxOffSeconds === undefined || c.maxOffSeconds >= c.minOffSeconds, {
    message: 'must be at least minOffSeconds',
    path: ['maxOffSeconds'],
  });
export type Channel = z.infer<typeof ChannelSchema>;

const MeasurementSchema = z.strictObject(
  {
    /** FC 3 (holding) or FC 4 (input). */
    function: z.enum(REGISTER_FUNCTIONS, { error: typeError('"holding" or "input"') }).default('input'),
    /** First register (0-based PDU address). */
    register: address,
    type: z.enum(VALUE_TYPES, { error: typeError(VALUE_TYPES.map((t) => `"${t}"`).join(', ')) }),
    /** 32-bit values: "big" = high word first (Modbus convention), "little" = low word first. */
    wordOrder: z.enum(['big', 'little'], { error: typeError('"big" or "little"') }).default('big'),
    /** Physical value = raw × scale (e.g. 0.01 for an int16 in tens of watts). */
    scale: z.number({ error: typeError('a number') }).refine((s) => s !== 0 && Number.isFinite(s), 'must be a non-zero finite number').default(1),
  },
  { error: typeError('an object { function, register, type, wordOrder, scale }') },
);
export type Measurement = z.infer<typeof MeasurementSchema>;

const ChannelMeasurementSchema = MeasurementSchema.extend({ channel: intField(LIMITS.minChannelId, LIMITS.maxChannelId) });
export type ChannelMeasurement = z.infer<typeof ChannelMeasurementSchema>;

const MeasurementsSchema = z.strictObject(
  {
    /** Total active power of the site, kW (negative when the site feeds in). */
    totalKw: MeasurementSchema,
    /** Active power per channel, kW. */
    channelKw: z.array(ChannelMeasurementSchema, { error: typeError('an array') }).optional(),
    /** Energy counter, kWh. */
    energyKwh: MeasurementSchema.optional(),
  },
  { error: typeError('an object { totalKw, channelKw?, energyKwh? }') },
);

export const ProfileSchema = z
  .strictObject(
    {
      /** Shown to the operator (hello `model`). */
      model: text(LIMITS.maxModelLength),
      /** Free text for people (wiring notes, firmware version); not used by the agent. */
      description: z.string({ error: typeError('a string') }).max(1_000, 'must be at most 1000 characters').optional(),
      connection: ConnectionSchema,
      driver: DriverSchema,
      channels: z
        .array(ChannelSchema, { error: typeError('an array') })
        .min(1, 'must list at least one channel')
        .max(LIMITS.maxChannelsPerDevice, `must have at most ${LIMITS.maxChannelsPerDevice} channels`),
      measurements: MeasurementsSchema,
    },
    { error: typeError('a JSON object') },
  )
  .superRefine(checkProfile);
export type Profile = z.infer<typeof ProfileSchema>;

/** Words (registers) a value of this type occupies. */
export function wordsOf(type: ValueType): 1 | 2 {
  return type === 'int16' || type === 'uint16' ? 1 : 2;
}

/** Cross-field rules: unique channel ids, no two things on one address, channelKw for known channels. */
function checkProfile(profile: { channels: readonly Channel[]; measurements: z.infer<typeof MeasurementsSchema> }, ctx: z.RefinementCtx): void {
  const ids = new Map<number, number>();
  profile.channels.forEach((channel, i) => {
    const first = ids.get(channel.id);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['channels', i, 'id'], message: `repeats the id ${channel.id} of channels.${first}` });
    else ids.set(channel.id, i);
  });

  // Every register and coil belongs to one thing; `owner` names it in the error.
  const owners = new Map<string, string>();
  const claim = (table: string, from: number, words: number, owner: string, path: (string | number)[]): void => {
    if (from + words - 1 > 65_535) {
      ctx.addIssue({ code: 'custom', path, message: `runs past register 65535` });
      return;
    }
    for (let a = from; a < from + words; a++) {
      const key = `${table}:${a}`;
      const other = owners.get(key);
      if (other !== undefined) {
        ctx.addIssue({ code: 'custom', path, message: `${table} ${a} is already used by ${other}` });
        return;
      }
      owners.set(key, owner);
    }
  };
  profile.channels.forEach((channel, i) => claim(channel.relay.type, channel.relay.address, 1, `channels.${i}.relay`, ['channels', i, 'relay', 'address']));
  const m = profile.measurements;
  claim(m.totalKw.function, m.totalKw.register, wordsOf(m.totalKw.type), 'measurements.totalKw', ['measurements', 'totalKw', 'register']);
  if (m.energyKwh) claim(m.energyKwh.function, m.energyKwh.register, wordsOf(m.energyKwh.type), 'measurements.energyKwh', ['measurements', 'energyKwh', 'register']);
  const seen = new Set<number>();
  m.channelKw?.forEach((cm, i) => {
    if (!ids.has(cm.channel)) ctx.addIssue({ code: 'custom', path: ['measurements', 'channelKw', i, 'channel'], message: `names no channel of this profile (${cm.channel})` });
    if (seen.has(cm.channel)) ctx.addIssue({ code: 'custom', path: ['measurements', 'channelKw', i, 'channel'], message: `repeats channel ${cm.channel}` });
    seen.add(cm.channel);
    claim(cm.function, cm.register, wordsOf(cm.type), `measurements.channelKw.${i}`, ['measurements', 'channelKw', i, 'register']);
  });
}

/** Validates a parsed profile; `source` names it in errors. */
export function parseProfile(value: unknown, source: string): Readonly<Profile> {
  return validateConfig(ProfileSchema, value, source);
}

/** Reads and validates a profile file: CONFIG_INVALID naming the file and the field. */
export function loadProfile(path: string): Readonly<Profile> {
  const source = resolve(path);
  let textContent: string;
  try {
    textContent = readFileSync(source, 'utf8');
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `cannot read the device profile ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return parseProfile(parseJsonConfig(textContent, source), source);
}

/**
 * One device in the agent config: an id for the hello and a profile file; `connection` and
 * `driver` override the profile's (the profile describes the model, the config the site).
 */
export const DeviceEntrySchema = z.strictObject(
  {
    id: z.string({ error: typeError('a string') }).regex(DEVICE_ID_PATTERN, 'must be 1–32 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit'),
    profile: text(4096),
    connection: ConnectionSchema.optional(),
    driver: z
      .strictObject(
        {
          timeoutMs: intField(50, 30_000).optional(),
          retries: intField(0, 10).optional(),
          rtuGuardMs: intField(0, 5_000).optional(),
          backoffBaseMs: intField(100, 60_000).optional(),
          backoffCapMs: intField(1_000, 600_000).optional(),
        },
        { error: typeError('an object') },
      )
      .optional(),
  },
  { error: typeError('an object { id, profile, connection?, driver? }') },
);
export type DeviceEntry = z.infer<typeof DeviceEntrySchema>;

/** A device ready to drive: its id and its profile with the site's overrides applied. */
export interface DeviceSetup {
  id: string;
  profile: Readonly<Profile>;
}

/**
 * Loads the profile of every device entry (paths relative to `baseDir`) and checks what no single
 * profile can: device ids and channel ids unique across the whole gateway.
 */
export function loadDevices(entries: readonly DeviceEntry[], baseDir: string, source = 'devices'): DeviceSetup[] {
  const devices: DeviceSetup[] = [];
  const deviceIds = new Set<string>();
  const channelOwner = new Map<number, string>();
  entries.forEach((entry, i) => {
    if (deviceIds.has(entry.id)) throw new LmgwError('CONFIG_INVALID', `${source}.${i}.id: repeats the device id "${entry.id}"`);
    deviceIds.add(entry.id);
    let loaded: Readonly<Profile>;
    try {
      loaded = loadProfile(resolve(baseDir, entry.profile));
    } catch (err) {
      // Name the config field that points at the file, then what is wrong with the file.
      if (err instanceof LmgwError) throw new LmgwError(err.code, `${source}.${i}.profile: ${err.message}`, { cause: err });
      throw err;
    }
    const profile = parseProfile(
      {
        ...loaded,
        ...(entry.connection ? { connection: entry.connection } : {}),
        driver: { ...loaded.driver, ...entry.driver },
      },
      `${source}.${i}`,
    );
    for (const channel of profile.channels) {
      const other = channelOwner.get(channel.id);
      if (other !== undefined) throw new LmgwError('CONFIG_INVALID', `${source}.${i}: channel id ${channel.id} is already used by device "${other}"; channel ids must be unique across the gateway`);
      channelOwner.set(channel.id, entry.id);
    }
    devices.push({ id: entry.id, profile });
  });
  return devices;
}
