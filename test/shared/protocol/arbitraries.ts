/**
 * fast-check arbitraries for every message kind, spanning each field's full legal range, including
 * text with the XML specials, whitespace and non-ASCII (astral characters too). Sizes of lists are
 * kept modest so one frame stays far below MAX_FRAME_BYTES; the limits have their own tests.
 */
import fc from 'fast-check';
import { ERROR_CODES, type ErrorCode } from '../../../shared/errors.js';
import { GATEWAY_ID_PATTERN } from '../../../shared/ids.js';
import {
  AGENT_VERSION_PATTERN,
  COMMAND_ID_PATTERN,
  DETAIL_KEY_PATTERN,
  DEVICE_ID_PATTERN,
  EVENT_TYPE_PATTERN,
  HEALTHS,
  LABEL_PATTERN,
  LIMITS,
  SEVERITIES,
  type AckMessage,
  type ChannelPower,
  type ChannelProfile,
  type CommandMessage,
  type DeviceProfile,
  type ErrorMessage,
  type EventMessage,
  type HelloMessage,
  type Message,
  type RelayState,
  type RestoreSelector,
  type ResultMessage,
  type ShedCommand,
  type ShedSelector,
  type TelemetryMessage,
  type TelemetrySample,
  type WelcomeMessage,
} from '../../../shared/protocol/index.js';

/** One character XML can carry, biased towards the ones an encoder gets wrong. */
const xmlChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('&', '<', '>', '"', "'", ' ', '\t', '\n', '\r', ';', '#', '=', ']') },
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.constantFrom('é', 'ü', 'ß', 'Ø', '中', '😀', '\u00a0', '\u200b', '\u0085', '\ufffd') },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: 'binary', minLength: 1, maxLength: 1 })
      .filter((c) => /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]$/u.test(c)),
  },
);

export function xmlText(maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: xmlChar, maxLength }).filter((s) => s.length <= maxLength);
}

/** fast-check makes null-prototype records by default; messages from decode are plain objects. */
const PLAIN = { noNullPrototype: true } as const;

const ids = {
  gateway: fc.stringMatching(GATEWAY_ID_PATTERN),
  command: fc.stringMatching(COMMAND_ID_PATTERN),
  device: fc.stringMatching(DEVICE_ID_PATTERN),
  label: fc.stringMatching(LABEL_PATTERN),
  eventType: fc.stringMatching(EVENT_TYPE_PATTERN),
  detailKey: fc.stringMatching(DETAIL_KEY_PATTERN),
  agentVersion: fc.stringMatching(AGENT_VERSION_PATTERN).filter((s) => s.length <= LIMITS.maxAgentVersionLength),
};

const safeNat = fc.maxSafeNat();
export const time = fc.oneof(fc.constantFrom(0, LIMITS.maxTimeMs, 1764100000000), safeNat.map((n) => n % (LIMITS.maxTimeMs + 1)));
const seq = fc.oneof(fc.constantFrom(1, LIMITS.maxSeq), safeNat.filter((n) => n >= 1));
const channelId = fc.integer({ min: LIMITS.minChannelId, max: LIMITS.maxChannelId });
const priority = fc.integer({ min: LIMITS.minPriority, max: LIMITS.maxPriority });
const profileSeconds = fc.integer({ min: 0, max: LIMITS.maxProfileSeconds });
const interval = fc.integer({ min: LIMITS.minIntervalSeconds, max: LIMITS.maxIntervalSeconds });
const version = fc.integer({ min: LIMITS.minVersion, max: LIMITS.maxVersion });

/** kW with at most 3 decimals: integer watts / 1000, so the value is exactly what the wire can say. */
export const kw = fc.integer({ min: -LIMITS.maxAbsKw * 1000, max: LIMITS.maxAbsKw * 1000 }).map((w) => w / 1000);
const ratedKw = fc.integer({ min: 0, max: LIMITS.maxAbsKw * 1000 }).map((w) => w / 1000);
const kwh = fc.oneof(
  fc.constantFrom(LIMITS.maxAbsKwh, -LIMITS.maxAbsKwh, 0),
  fc.maxSafeInteger().map((wh) => (wh % (LIMITS.maxAbsKwh * 1000)) / 1000 + 0),
);
const errorCode = fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[]));

const relay = fc.record({ channel: channelId, on: fc.boolean() }, PLAIN);
const relays: fc.Arbitrary<RelayState[]> = fc.uniqueArray(relay, { selector: (r) => r.channel, maxLength: 12 });
const power = fc.record({ channel: channelId, kw }, PLAIN);
const channelKw: fc.Arbitrary<ChannelPower[]> = fc.uniqueArray(power, { selector: (r) => r.channel, maxLength: 12 });
const channelList = fc.uniqueArray(channelId, { minLength: 1, maxLength: LIMITS.maxCommandChannels });
const byChannels = fc.record({ channels: channelList }, PLAIN);

// --- hello ---------------------------------------------------------------------------------------

const channelProfileWithoutId = fc.record(
  {
    name: xmlText(LIMITS.maxChannelNameLength),
    priority,
    sheddable: fc.boolean(),
    ratedKw,
    minOnSeconds: profileSeconds,
    minOffSeconds: profileSeconds,
    maxOffSeconds: profileSeconds,
    on: fc.boolean(),
  },
  { ...PLAIN, requiredKeys: ['name', 'priority', 'sheddable', 'ratedKw', 'minOnSeconds', 'minOffSeconds'] },
);

const device = fc.record(
  {
    id: ids.device,
    model: xmlText(LIMITS.maxModelLength),
    health: fc.constantFrom(...HEALTHS),
    channels: fc.array(channelProfileWithoutId, { maxLength: 6 }),
  },
  PLAIN,
);

export const hello: fc.Arbitrary<HelloMessage> = fc
  .record(
    {
      gatewayId: ids.gateway,
      versions: fc.tuple(version, version),
      agentVersion: ids.agentVersion,
      siteName: xmlText(LIMITS.maxSiteNameLength),
      labels: fc.uniqueArray(ids.label, { maxLength: LIMITS.maxLabels }),
      viaProxy: fc.boolean(),
      devices: fc.uniqueArray(device, { selector: (d) => d.id, maxLength: 4 }),
      channelIds: fc.uniqueArray(channelId, { minLength: 24, maxLength: 24 }),
    },
    { ...PLAIN, requiredKeys: ['gatewayId', 'versions', 'agentVersion', 'labels', 'viaProxy', 'devices', 'channelIds'] },
  )
  .map((r) => {
    // Channel ids are unique across the whole hello: hand them out from one unique list.
    let next = 0;
    const devices: DeviceProfile[] = r.devices.map((d) => ({
      id: d.id,
      model: d.model,
      health: d.health,
      channels: d.channels.map((c): ChannelProfile => ({ id: r.channelIds[next++] ?? 0, ...c })),
    }));
    const message: HelloMessage = {
      kind: 'hello',
      gatewayId: r.gatewayId,
      minVersion: Math.min(...r.versions),
      maxVersion: Math.max(...r.versions),
      agentVersion: r.agentVersion,
      labels: r.labels,
      viaProxy: r.viaProxy,
      devices,
    };
    if (r.siteName !== undefined) message.siteName = r.siteName;
    return message;
  });

export const welcome: fc.Arbitrary<WelcomeMessage> = fc.record(
  {
    kind: fc.constant('welcome'),
    gatewayId: ids.gateway,
    serverTime: time,
    pingIntervalSeconds: interval,
    telemetryIntervalSeconds: interval,
  },
  PLAIN,
);

// --- command / result ----------------------------------------------------------------------------

const shedSelector: fc.Arbitrary<ShedSelector> = fc.oneof(byChannels, fc.record({ maxPriority: priority }, PLAIN));
const restoreSelector: fc.Arbitrary<RestoreSelector> = fc.oneof(byChannels, fc.constant({ all: true as const }));
const shedSeconds = fc.integer({ min: LIMITS.minShedSeconds, max: LIMITS.maxShedSeconds });

export const command: fc.Arbitrary<CommandMessage> = fc.oneof(
  fc
    .tuple(ids.command, time, shedSelector, fc.option(shedSeconds, { nil: undefined }))
    .map(([id, deadline, selector, durationSeconds]) => {
      const shed: ShedCommand = { kind: 'command', id, op: 'shed', deadline, selector };
      if (durationSeconds !== undefined) shed.durationSeconds = durationSeconds;
      return shed;
    }),
  fc
    .tuple(ids.command, time, restoreSelector)
    .map(([id, deadline, selector]): CommandMessage => ({ kind: 'command', id, op: 'restore', deadline, selector })),
  fc.tuple(ids.command, time).map(([id, deadline]): CommandMessage => ({ kind: 'command', id, op: 'read', deadline })),
);

const resultOptional = {
  relays,
  measuredKw: kw,
  message: xmlText(LIMITS.maxResultMessageLength),
};

export const result: fc.Arbitrary<ResultMessage> = fc.oneof(
  fc.record(
    { kind: fc.constant('result'), commandId: ids.command, status: fc.constant('ok'), time, ...resultOptional },
    { ...PLAIN, requiredKeys: ['kind', 'commandId', 'status', 'time'] },
  ),
  fc.record(
    {
      kind: fc.constant('result'),
      commandId: ids.command,
      status: fc.constantFrom('rejected', 'failed'),
      code: errorCode,
      time,
      ...resultOptional,
    },
    { ...PLAIN, requiredKeys: ['kind', 'commandId', 'status', 'code', 'time'] },
  ),
);

// --- telemetry / ack / event / error -------------------------------------------------------------

const sample: fc.Arbitrary<TelemetrySample> = fc.record(
  { time, kw, kwh, relays, channelKw },
  { ...PLAIN, requiredKeys: ['time', 'kw', 'relays'] },
);

export const telemetry: fc.Arbitrary<TelemetryMessage> = fc.record(
  {
    kind: fc.constant('telemetry'),
    seq,
    samples: fc.array(sample, { minLength: 1, maxLength: 20 }),
  },
  PLAIN,
);

export const ack: fc.Arbitrary<AckMessage> = fc.record({ kind: fc.constant('ack'), seq }, PLAIN);

const detail = fc.record({ key: ids.detailKey, value: xmlText(LIMITS.maxDetailValueLength) }, PLAIN);

export const event: fc.Arbitrary<EventMessage> = fc.record(
  {
    kind: fc.constant('event'),
    type: ids.eventType,
    severity: fc.constantFrom(...SEVERITIES),
    time,
    details: fc.uniqueArray(detail, { selector: (d) => d.key, maxLength: LIMITS.maxDetails }),
  },
  PLAIN,
);

export const error: fc.Arbitrary<ErrorMessage> = fc.record(
  { kind: fc.constant('error'), code: errorCode, ref: ids.command, message: xmlText(LIMITS.maxErrorMessageLength) },
  { ...PLAIN, requiredKeys: ['kind', 'code', 'message'] },
);

export const ARBITRARIES: Readonly<Record<Message['kind'], fc.Arbitrary<Message>>> = {
  hello,
  welcome,
  command,
  result,
  telemetry,
  ack,
  event,
  error,
};

export const message: fc.Arbitrary<Message> = fc.oneof(...Object.values(ARBITRARIES));
