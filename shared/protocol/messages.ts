/**
 * The LMGW protocol vocabulary: one TypeScript type per message kind, the limits every message obeys
 * and the versions this codec speaks. The wire form of each field is in docs/protocol.md; the codec
 * (decode.ts, encode.ts) is the only code that knows the compact wire names.
 */
import type { ErrorCode } from '../errors.js';

/** Versions this codec reads and writes. A hello offers a range; the welcome names the one chosen. */
export const PROTOCOL_VERSIONS: readonly number[] = [1];

/** The version written into the `v` attribute of every message this codec encodes. */
export const PROTOCOL_VERSION = 1;

/** Largest frame, in UTF-8 bytes, that decode accepts and encode produces. */
export const MAX_FRAME_BYTES = 64 * 1024;

/**
 * Every bound the codec enforces. Set explicitly so no limit is a library default. Lengths of text
 * fields are in UTF-16 code units (JavaScript `string.length`).
 */
export const LIMITS = {
  /** Element nesting; the vocabulary needs 3 (hello/dev/ch), the slack lets wrong elements get a precise code. */
  maxDepth: 8,
  /** Elements per frame; the largest legal hello has 1 + 16 + 999. */
  maxElements: 1024,
  maxAttributesPerElement: 16,

  minVersion: 1,
  maxVersion: 999,
  maxAgentVersionLength: 32,
  maxSiteNameLength: 128,
  maxLabels: 16,
  maxDevices: 16,
  maxChannelsPerDevice: 64,
  maxModelLength: 64,
  maxChannelNameLength: 64,
  minChannelId: 1,
  maxChannelId: 999,
  minPriority: 1,
  maxPriority: 99,
  /** minOn, minOff, maxOff of a channel profile: up to one week. */
  maxProfileSeconds: 604_800,

  minIntervalSeconds: 1,
  maxIntervalSeconds: 3600,

  /** Channels one command may name. */
  maxCommandChannels: 64,
  minShedSeconds: 1,
  maxShedSeconds: 86_400,
  /** Entries of a relay or per-channel power list (at most one per channel id). */
  maxChannelEntries: 999,

  maxResultMessageLength: 256,
  maxSamples: 600,

  maxDetails: 32,
  maxDetailValueLength: 1024,
  maxErrorMessageLength: 1024,

  /** Power in kW: |x| ≤ 1e6, written with at most 3 decimals (1 W). */
  maxAbsKw: 1_000_000,
  /** Energy in kWh: |x| ≤ 1e9, so a meter register does not overflow within a site's lifetime. */
  maxAbsKwh: 1_000_000_000,
  kwDecimals: 3,
  /** Milliseconds since the Unix epoch, up to the largest valid JavaScript Date. */
  maxTimeMs: 8_640_000_000_000_000,
  maxSeq: Number.MAX_SAFE_INTEGER,
} as const;

/** Command ids and error refs. */
export const COMMAND_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Hello labels: short lower-case tokens an operator filters the fleet by. */
export const LABEL_PATTERN = /^[a-z0-9][a-z0-9._-]{0,31}$/;
/** Device ids inside one gateway. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
/** Agent versions are semver-like: 1.2.3, 1.2.3-rc.1, 1.2.3+build.5. */
export const AGENT_VERSION_PATTERN = /^[0-9]{1,5}\.[0-9]{1,5}\.[0-9]{1,5}(?:[-+][0-9A-Za-z.+-]*)?$/;
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9-]{1,47}$/;
export const DETAIL_KEY_PATTERN = /^[a-zA-Z][a-zA-Z0-9_-]{0,31}$/;

export const MESSAGE_KINDS = ['hello', 'welcome', 'command', 'result', 'telemetry', 'ack', 'event', 'error'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

export const HEALTHS = ['ok', 'degraded', 'offline'] as const;
export type Health = (typeof HEALTHS)[number];

export const COMMAND_OPS = ['shed', 'restore', 'read'] as const;
export type CommandOp = (typeof COMMAND_OPS)[number];

export const RESULT_STATUSES = ['ok', 'rejected', 'failed'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

export const SEVERITIES = ['info', 'warning', 'alarm'] as const;
export type Severity = (typeof SEVERITIES)[number];

// --- hello ---------------------------------------------------------------------------------------

/** One relay output of a load manager, as the agent's device profile declares it. */
export interface ChannelProfile {
  /** 1..999, unique across the whole gateway. */
  id: number;
  name: string;
  /** 1..99; a shed by priority N sheds every sheddable channel with priority ≤ N. */
  priority: number;
  sheddable: boolean;
  ratedKw: number;
  minOnSeconds: number;
  minOffSeconds: number;
  /** The agent restores the channel after this long off, whatever the hub says. */
  maxOffSeconds?: number;
  /** Current relay state (true = load on), when known. */
  on?: boolean;
}

export interface DeviceProfile {
  id: string;
  model: string;
  health: Health;
  channels: readonly ChannelProfile[];
}

/** agent → hub, first message of a session. */
export interface HelloMessage {
  kind: 'hello';
  gatewayId: string;
  minVersion: number;
  maxVersion: number;
  agentVersion: string;
  siteName?: string;
  /** Empty when the agent has none. */
  labels: readonly string[];
  /** The agent reached the hub through an HTTP CONNECT proxy. */
  viaProxy: boolean;
  devices: readonly DeviceProfile[];
}

// --- welcome -------------------------------------------------------------------------------------

/** hub → agent, answers hello. The accepted version is the `v` the welcome is written in. */
export interface WelcomeMessage {
  kind: 'welcome';
  gatewayId: string;
  /** Hub clock, ms since the epoch, so the agent can report its skew. */
  serverTime: number;
  pingIntervalSeconds: number;
  telemetryIntervalSeconds: number;
}

// --- command -------------------------------------------------------------------------------------

/** Channels by id; `?: never` keeps TypeScript from accepting two selectors in one object. */
export interface ChannelSelector {
  channels: readonly number[];
  maxPriority?: never;
  all?: never;
}
/** Every sheddable channel with priority ≤ maxPriority. */
export interface PrioritySelector {
  maxPriority: number;
  channels?: never;
  all?: never;
}
/** Every channel the agent has shed. */
export interface AllSelector {
  all: true;
  channels?: never;
  maxPriority?: never;
}
export type ShedSelector = ChannelSelector | PrioritySelector;
export type RestoreSelector = ChannelSelector | AllSelector;

interface CommandBase {
  kind: 'command';
  /** Unique per command; the agent executes an id at most once and answers repeats from memory. */
  id: string;
  /** ms since the epoch; the agent rejects the command with CMD_STALE after it. */
  deadline: number;
}

export interface ShedCommand extends CommandBase {
  op: 'shed';
  selector: ShedSelector;
  /** Auto-restore after this many seconds (1..86400); without it the profile's maxOff applies. */
  durationSeconds?: number;
}

export interface RestoreCommand extends CommandBase {
  op: 'restore';
  selector: RestoreSelector;
}

/** Read back relay states and power; changes nothing. */
export interface ReadCommand extends CommandBase {
  op: 'read';
}

/** hub → agent. */
export type CommandMessage = ShedCommand | RestoreCommand | ReadCommand;

// --- result --------------------------------------------------------------------------------------

export interface RelayState {
  channel: number;
  on: boolean;
}

export interface ChannelPower {
  channel: number;
  kw: number;
}

interface ResultBase {
  kind: 'result';
  /** The id of the command answered. */
  commandId: string;
  /** Agent clock when the command finished, ms since the epoch. */
  time: number;
  /** Read-back relay states; absent when the agent never reached the LM. */
  relays?: readonly RelayState[];
  measuredKw?: number;
  message?: string;
}

export interface OkResult extends ResultBase {
  status: 'ok';
  code?: never;
}

export interface NotOkResult extends ResultBase {
  status: 'rejected' | 'failed';
  /** Why: a registered code, usually a CMD_ reason. */
  code: ErrorCode;
}

/** agent → hub, exactly one per command id. */
export type ResultMessage = OkResult | NotOkResult;

// --- telemetry / ack -----------------------------------------------------------------------------

export interface TelemetrySample {
  time: number;
  kw: number;
  /** Meter register, when the LM has one. */
  kwh?: number;
  relays: readonly RelayState[];
  channelKw?: readonly ChannelPower[];
}

/** agent → hub. The hub stores it and acks the seq; the agent replays until acked. */
export interface TelemetryMessage {
  kind: 'telemetry';
  /** Positive safe integer, increasing per gateway; (gateway, seq) is stored exactly once. */
  seq: number;
  samples: readonly TelemetrySample[];
}

/** hub → agent: telemetry batch `seq` is stored durably. */
export interface AckMessage {
  kind: 'ack';
  seq: number;
}

// --- event / error -------------------------------------------------------------------------------

export interface EventDetail {
  key: string;
  value: string;
}

/** Either way, mostly agent → hub alarms such as `interception-suspected`. */
export interface EventMessage {
  kind: 'event';
  type: string;
  severity: Severity;
  time: number;
  /** Keys unique; an array, not a record, so a key like `constructor` is plain data. */
  details: readonly EventDetail[];
}

/** Either way: the peer's last frame (or the command / telemetry batch `ref`) was refused. */
export interface ErrorMessage {
  kind: 'error';
  code: ErrorCode;
  /** Command id or telemetry seq the error is about. */
  ref?: string;
  message: string;
}

export type Message =
  | HelloMessage
  | WelcomeMessage
  | CommandMessage
  | ResultMessage
  | TelemetryMessage
  | AckMessage
  | EventMessage
  | ErrorMessage;
