/**
 * Message → frame. Deterministic: attributes in a fixed order, numbers in one canonical form, optional
 * fields omitted when absent. Every field is checked with the same rules decode applies (values.ts),
 * so what encode returns, decode accepts and turns back into an equal message. A message that breaks
 * a rule throws the ProtocolError decode would have thrown for it.
 */
import { isErrorCode, type ErrorCode } from '../errors.js';
import { isGatewayId } from '../ids.js';
import { fieldError, ProtocolError } from './errors.js';
import {
  AGENT_VERSION_PATTERN,
  COMMAND_ID_PATTERN,
  COMMAND_OPS,
  DETAIL_KEY_PATTERN,
  DEVICE_ID_PATTERN,
  EVENT_TYPE_PATTERN,
  HEALTHS,
  LABEL_PATTERN,
  LIMITS,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  RESULT_STATUSES,
  SEVERITIES,
  type AckMessage,
  type CommandMessage,
  type ErrorMessage,
  type EventMessage,
  type HelloMessage,
  type Message,
  type ResultMessage,
  type TelemetryMessage,
  type WelcomeMessage,
} from './messages.js';
import {
  checkEnum,
  checkPattern,
  checkText,
  formatChannelList,
  formatChannelPowers,
  formatDecimal,
  formatFlag,
  formatInteger,
  formatRelays,
  formatTokens,
} from './values.js';
import { utf8ByteLength } from './xml-scan.js';

/** Encodes one message as one frame, at most MAX_FRAME_BYTES of UTF-8. */
export function encode(message: Message): string {
  const frame = encodeMessage(message);
  if (frame.length * 3 > MAX_FRAME_BYTES && utf8ByteLength(frame) > MAX_FRAME_BYTES) {
    throw new ProtocolError('PROTO_TOO_LARGE', `${message.kind} would encode larger than ${MAX_FRAME_BYTES} bytes`, {
      path: message.kind,
    });
  }
  return frame;
}

function encodeMessage(message: Message): string {
  // Typed callers cannot get here with a non-object, but JavaScript callers and casts can.
  const kind: unknown = typeof message === 'object' && message !== null ? message.kind : undefined;
  switch (kind) {
    case 'hello':
      return encodeHello(message as HelloMessage);
    case 'welcome':
      return encodeWelcome(message as WelcomeMessage);
    case 'command':
      return encodeCommand(message as CommandMessage);
    case 'result':
      return encodeResult(message as ResultMessage);
    case 'telemetry':
      return encodeTelemetry(message as TelemetryMessage);
    case 'ack':
      return encodeAck(message as AckMessage);
    case 'event':
      return encodeEvent(message as EventMessage);
    case 'error':
      return encodeError(message as ErrorMessage);
    default:
      throw new ProtocolError('PROTO_UNKNOWN_KIND', 'not a message kind');
  }
}

const V = ` v="${PROTOCOL_VERSION}"`;

function encodeHello(m: HelloMessage): string {
  const p = 'hello';
  let out = `<hello${V}`;
  out += attr('gw', gateway(m.gatewayId, `${p}@gw`));
  out += attr('vmin', formatInteger(m.minVersion, LIMITS.minVersion, LIMITS.maxVersion, `${p}@vmin`));
  out += attr('vmax', formatInteger(m.maxVersion, LIMITS.minVersion, LIMITS.maxVersion, `${p}@vmax`));
  if (m.maxVersion < m.minVersion) throw fieldError('PROTO_BAD_FIELD', `${p}@vmax`, 'must not be below vmin');
  out += attr('agent', pattern(m.agentVersion, AGENT_VERSION_PATTERN, LIMITS.maxAgentVersionLength, `${p}@agent`));
  if (m.siteName !== undefined) out += attr('site', checkText(m.siteName, LIMITS.maxSiteNameLength, `${p}@site`));
  const labels = formatTokens(m.labels, LABEL_PATTERN, LIMITS.maxLabels, `${p}@labels`);
  if (labels !== '') out += attr('labels', labels);
  if (formatFlag(m.viaProxy, `${p}@proxy`) === '1') out += ' proxy="1"';

  const devices = list(m.devices, LIMITS.maxDevices, `${p}/dev`);
  if (devices.length === 0) return `${out}/>`;
  out += '>';
  const deviceIds = new Set<string>();
  const channelIds = new Set<number>();
  for (let d = 0; d < devices.length; d++) {
    const dp = `${p}/dev[${d}]`;
    const dev = record(devices[d], dp);
    const id = pattern(dev.id, DEVICE_ID_PATTERN, 32, `${dp}@id`);
    if (deviceIds.has(id)) throw fieldError('PROTO_DUPLICATE', `${dp}@id`, `device ${id} appears twice`);
    deviceIds.add(id);
    out += `<dev${attr('id', id)}${attr('model', checkText(dev.model, LIMITS.maxModelLength, `${dp}@model`))}`;
    out += attr('health', checkEnum(dev.health, HEALTHS, `${dp}@health`));
    const channels = list(dev.channels, LIMITS.maxChannelsPerDevice, `${dp}/ch`);
    if (channels.length === 0) {
      out += '/>';
      continue;
    }
    out += '>';
    for (let c = 0; c < channels.length; c++) {
      const cp = `${dp}/ch[${c}]`;
      const ch = record(channels[c], cp);
      const id = formatInteger(ch.id, LIMITS.minChannelId, LIMITS.maxChannelId, `${cp}@id`);
      if (channelIds.has(ch.id as number)) {
        throw fieldError('PROTO_DUPLICATE', `${cp}@id`, `channel ${id} appears twice in the hello`);
      }
      channelIds.add(ch.id as number);
      out += `<ch${attr('id', id)}`;
      out += attr('name', checkText(ch.name, LIMITS.maxChannelNameLength, `${cp}@name`));
      out += attr('prio', formatInteger(ch.priority, LIMITS.minPriority, LIMITS.maxPriority, `${cp}@prio`));
      out += attr('shed', formatFlag(ch.sheddable, `${cp}@shed`));
      out += attr('kw', formatDecimal(ch.ratedKw, 0, LIMITS.maxAbsKw, `${cp}@kw`));
      out += attr('minOn', formatInteger(ch.minOnSeconds, 0, LIMITS.maxProfileSeconds, `${cp}@minOn`));
      out += attr('minOff', formatInteger(ch.minOffSeconds, 0, LIMITS.maxProfileSeconds, `${cp}@minOff`));
      if (ch.maxOffSeconds !== undefined) {
        out += attr('maxOff', formatInteger(ch.maxOffSeconds, 0, LIMITS.maxProfileSeconds, `${cp}@maxOff`));
      }
      if (ch.on !== undefined) out += attr('on', formatFlag(ch.on, `${cp}@on`));
      out += '/>';
    }
    out += '</dev>';
  }
  return `${out}</hello>`;
}

function encodeWelcome(m: WelcomeMessage): string {
  const p = 'welcome';
  return (
    `<welcome${V}` +
    attr('gw', gateway(m.gatewayId, `${p}@gw`)) +
    attr('t', formatInteger(m.serverTime, 0, LIMITS.maxTimeMs, `${p}@t`)) +
    attr('ping', formatInteger(m.pingIntervalSeconds, LIMITS.minIntervalSeconds, LIMITS.maxIntervalSeconds, `${p}@ping`)) +
    attr('tel', formatInteger(m.telemetryIntervalSeconds, LIMITS.minIntervalSeconds, LIMITS.maxIntervalSeconds, `${p}@tel`)) +
    '/>'
  );
}

function encodeCommand(m: CommandMessage): string {
  const p = 'command';
  let out = `<command${V}`;
  out += safe('id', pattern(m.id, COMMAND_ID_PATTERN, 64, `${p}@id`));
  const op = checkEnum(m.op, COMMAND_OPS, `${p}@op`);
  out += safe('op', op);
  out += safe('dl', formatInteger(m.deadline, 0, LIMITS.maxTimeMs, `${p}@dl`));
  switch (m.op) {
    case 'shed': {
      const s = record(m.selector, `${p}@ch`);
      if (s.channels !== undefined && s.maxPriority !== undefined) {
        throw fieldError('PROTO_BAD_FIELD', `${p}@prio`, 'op=shed takes exactly one of ch, prio');
      }
      if (s.all !== undefined) throw fieldError('PROTO_BAD_FIELD', `${p}@all`, 'is not allowed with op=shed');
      if (s.channels !== undefined) {
        out += safe('ch', formatChannelList(s.channels, 1, LIMITS.maxCommandChannels, `${p}@ch`));
      } else if (s.maxPriority !== undefined) {
        out += safe('prio', formatInteger(s.maxPriority, LIMITS.minPriority, LIMITS.maxPriority, `${p}@prio`));
      } else {
        throw fieldError('PROTO_MISSING_FIELD', `${p}@ch`, 'op=shed needs ch or prio');
      }
      if (m.durationSeconds !== undefined) {
        out += safe('dur', formatInteger(m.durationSeconds, LIMITS.minShedSeconds, LIMITS.maxShedSeconds, `${p}@dur`));
      }
      break;
    }
    case 'restore': {
      const s = record(m.selector, `${p}@ch`);
      if (s.channels !== undefined && s.all !== undefined) {
        throw fieldError('PROTO_BAD_FIELD', `${p}@all`, 'op=restore takes exactly one of ch, all');
      }
      if (s.maxPriority !== undefined) throw fieldError('PROTO_BAD_FIELD', `${p}@prio`, 'is not allowed with op=restore');
      if (s.channels !== undefined) {
        out += safe('ch', formatChannelList(s.channels, 1, LIMITS.maxCommandChannels, `${p}@ch`));
      } else if (s.all === true) {
        out += ' all="1"';
      } else if (s.all !== undefined) {
        throw fieldError('PROTO_BAD_FIELD', `${p}@all`, 'must be true');
      } else {
        throw fieldError('PROTO_MISSING_FIELD', `${p}@ch`, 'op=restore needs ch or all');
      }
      break;
    }
    case 'read':
      break;
  }
  return `${out}/>`;
}

function encodeResult(m: ResultMessage): string {
  const p = 'result';
  let out = `<result${V}`;
  out += safe('id', pattern(m.commandId, COMMAND_ID_PATTERN, 64, `${p}@id`));
  const status = checkEnum(m.status, RESULT_STATUSES, `${p}@st`);
  out += safe('st', status);
  if (status === 'ok') {
    if (m.code !== undefined) throw fieldError('PROTO_BAD_FIELD', `${p}@code`, 'is not allowed with st=ok');
  } else {
    if (m.code === undefined) throw fieldError('PROTO_MISSING_FIELD', `${p}@code`, `is required with st=${status}`);
    out += safe('code', registeredCode(m.code, `${p}@code`));
  }
  out += safe('t', formatInteger(m.time, 0, LIMITS.maxTimeMs, `${p}@t`));
  if (m.measuredKw !== undefined) out += safe('kw', formatDecimal(m.measuredKw, -LIMITS.maxAbsKw, LIMITS.maxAbsKw, `${p}@kw`));
  if (m.relays !== undefined) out += safe('relays', formatRelays(m.relays, `${p}@relays`));
  if (m.message !== undefined) out += attr('msg', checkText(m.message, LIMITS.maxResultMessageLength, `${p}@msg`));
  return `${out}/>`;
}

function encodeTelemetry(m: TelemetryMessage): string {
  const p = 'telemetry';
  let out = `<telemetry${V}${safe('seq', formatInteger(m.seq, 1, LIMITS.maxSeq, `${p}@seq`))}>`;
  const samples = list(m.samples, LIMITS.maxSamples, `${p}/s`);
  if (samples.length === 0) throw fieldError('PROTO_MISSING_FIELD', `${p}/s`, 'needs at least one sample');
  for (let i = 0; i < samples.length; i++) {
    const sp = `${p}/s[${i}]`;
    const s = record(samples[i], sp);
    out += `<s${safe('t', formatInteger(s.time, 0, LIMITS.maxTimeMs, `${sp}@t`))}`;
    out += safe('kw', formatDecimal(s.kw, -LIMITS.maxAbsKw, LIMITS.maxAbsKw, `${sp}@kw`));
    if (s.kwh !== undefined) out += safe('kwh', formatDecimal(s.kwh, -LIMITS.maxAbsKwh, LIMITS.maxAbsKwh, `${sp}@kwh`));
    out += safe('relays', formatRelays(s.relays, `${sp}@relays`));
    if (s.channelKw !== undefined) out += safe('chkw', formatChannelPowers(s.channelKw, `${sp}@chkw`));
    out += '/>';
  }
  return `${out}</telemetry>`;
}

function encodeAck(m: AckMessage): string {
  return `<ack${V}${safe('seq', formatInteger(m.seq, 1, LIMITS.maxSeq, 'ack@seq'))}/>`;
}

function encodeEvent(m: EventMessage): string {
  const p = 'event';
  let out = `<event${V}`;
  out += attr('type', pattern(m.type, EVENT_TYPE_PATTERN, 48, `${p}@type`));
  out += attr('sev', checkEnum(m.severity, SEVERITIES, `${p}@sev`));
  out += attr('t', formatInteger(m.time, 0, LIMITS.maxTimeMs, `${p}@t`));
  const details = list(m.details, LIMITS.maxDetails, `${p}/d`);
  if (details.length === 0) return `${out}/>`;
  out += '>';
  const keys: string[] = [];
  for (let i = 0; i < details.length; i++) {
    const dp = `${p}/d[${i}]`;
    const d = record(details[i], dp);
    const key = pattern(d.key, DETAIL_KEY_PATTERN, 32, `${dp}@k`);
    if (keys.includes(key)) throw fieldError('PROTO_DUPLICATE', `${dp}@k`, `detail ${key} appears twice`);
    keys.push(key);
    out += element('d', attr('k', key), checkText(d.value, LIMITS.maxDetailValueLength, `${dp}#text`));
  }
  return `${out}</event>`;
}

function encodeError(m: ErrorMessage): string {
  const p = 'error';
  let attributes = V + attr('code', registeredCode(m.code, `${p}@code`));
  if (m.ref !== undefined) attributes += attr('ref', pattern(m.ref, COMMAND_ID_PATTERN, 64, `${p}@ref`));
  return element('error', attributes, checkText(m.message, LIMITS.maxErrorMessageLength, `${p}#text`));
}

// --- helpers -------------------------------------------------------------------------------------

/** Escapes the five XML specials, and tab/LF/CR so attribute normalisation cannot change them. */
const NEEDS_ESCAPE = /[&<>"'\t\n\r]/;
const ESCAPES = /[&<>"'\t\n\r]/g;
const ESCAPED: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

function escape(text: string): string {
  return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPES, (c) => ESCAPED[c] ?? c) : text;
}

function attr(name: string, value: string): string {
  return ` ${name}="${escape(value)}"`;
}

/**
 * An attribute whose value's syntax leaves no character to escape: numbers, flags, channel lists,
 * and ids or enumerations already checked against their patterns. Saves the escape test on the
 * frequent messages.
 */
function safe(name: string, value: string): string {
  return ` ${name}="${value}"`;
}

function element(name: string, attributes: string, text: string): string {
  return text === '' ? `<${name}${attributes}/>` : `<${name}${attributes}>${escape(text)}</${name}>`;
}

function list(value: unknown, max: number, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw fieldError('PROTO_BAD_FIELD', path, 'must be an array');
  if (value.length > max) throw fieldError('PROTO_TOO_MANY', path, `more than ${max} entries`);
  return value;
}

function record(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw fieldError('PROTO_BAD_FIELD', path, 'must be an object');
  return value as Record<string, unknown>;
}

function pattern(value: unknown, re: RegExp, maxLength: number, path: string): string {
  if (typeof value === 'string' && value.length > maxLength) {
    throw fieldError('PROTO_BAD_FIELD', path, `must match ${String(re)}`);
  }
  return checkPattern(value, re, path);
}

function gateway(value: unknown, path: string): string {
  if (typeof value !== 'string' || !isGatewayId(value)) throw fieldError('PROTO_BAD_FIELD', path, 'is not a valid gateway id');
  return value;
}

function registeredCode(value: unknown, path: string): ErrorCode {
  if (typeof value !== 'string' || !isErrorCode(value)) throw fieldError('PROTO_BAD_FIELD', path, 'is not a registered error code');
  return value;
}
