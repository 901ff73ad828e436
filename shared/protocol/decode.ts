/**
 * Frame → Message. Three gates, each refusing with a ProtocolError: the size and markup scan
 * (xml-scan.ts), fast-xml-parser with everything clever switched off, then a strict walk over the
 * parser's output that reads only own properties and builds every result object field by field.
 *
 * The frequent messages usually come as plain XML (plain-xml.ts): for those a single pass builds the
 * tree the parser would build, and the same walk validates it. Whatever that fast path does not
 * accept outright, it hands to the full path, so every refusal comes from the full path.
 */
import { XMLParser, type EntityDecoderOptions, type X2jOptions } from 'fast-xml-parser';
import { isErrorCode, type ErrorCode } from '../errors.js';
import { isGatewayId } from '../ids.js';
import { at, clip, fieldError, ProtocolError } from './errors.js';
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
  MESSAGE_KINDS,
  PROTOCOL_VERSIONS,
  RESULT_STATUSES,
  SEVERITIES,
  type AckMessage,
  type ChannelProfile,
  type CommandMessage,
  type DeviceProfile,
  type ErrorMessage,
  type EventDetail,
  type EventMessage,
  type HelloMessage,
  type Message,
  type MessageKind,
  type ResultMessage,
  type TelemetryMessage,
  type TelemetrySample,
  type WelcomeMessage,
} from './messages.js';
import {
  checkEnum,
  checkLength,
  parseChannelList,
  parseChannelPowers,
  parseDecimal,
  parseFlag,
  parseInteger,
  parseRelays,
  parseTokens,
} from './values.js';
import { readPlain, type PlainElement, type PlainRule } from './plain-xml.js';
import { checkFrameSize, decodeAttribute, decodeText, scanXml } from './xml-scan.js';

/**
 * The parser's entity decoder: one that knows no entities and is never asked (processEntities is
 * off; the scanner refuses DOCTYPE, so no document can declare any). Without it fast-xml-parser
 * builds a fresh decoder with merged entity tables for every document, for nothing.
 */
const NO_ENTITIES: EntityDecoderOptions = Object.freeze({
  setExternalEntities(): void {},
  addInputEntities(): void {
    throw new Error('entity declarations are not allowed');
  },
  reset(): void {},
  decode: (text: string): string => text,
  setXmlVersion(): void {},
});

/**
 * fast-xml-parser (≥ 5.5.7) with no entity or DTD processing and no value coercion: we decode
 * references and check every type ourselves. preserveOrder gives every element the same shape
 * (`{name: children[], ':@': attributes}`), whether it occurs once or many times. The scanner has
 * already refused DOCTYPE and processing instructions; ignoreDeclaration drops the `<?xml?>`.
 * Exported for the benchmark, which measures the bare parser as the floor.
 */
export const XML_PARSER_OPTIONS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  allowBooleanAttributes: false,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  removeNSPrefix: false,
  stopNodes: [],
  unpairedTags: [],
  commentPropName: false,
  cdataPropName: false,
  maxNestedTags: LIMITS.maxDepth + 1,
  jPath: false,
  entityDecoder: NO_ENTITIES,
} as const satisfies X2jOptions;
const PARSER = new XMLParser(XML_PARSER_OPTIONS);

const TEXT = '#text';
const ATTRIBUTES = ':@';
const NO_ATTRIBUTES: Readonly<Record<string, unknown>> = Object.freeze(Object.create(null) as Record<string, unknown>);
const NO_CHILDREN: readonly unknown[] = Object.freeze([]);

/**
 * One element, with the path used in error messages: from the parser's output (`attributes` and
 * `children` in its shape), or read by the fast path (`plain`; then those two are empty). The
 * helpers below read either the same way.
 */
interface XmlElement {
  readonly name: string;
  readonly path: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly children: readonly unknown[];
  readonly plain: PlainElement | undefined;
}

/**
 * Decodes one frame. Throws only ProtocolError, whatever `input` is; the error's `code` says why,
 * its `path` where, and `toWire()` is the error message to send back.
 */
export function decode(input: string): Message {
  if (typeof input !== 'string') throw new ProtocolError('PROTO_NOT_XML', 'a frame must be a text frame');
  checkFrameSize(input);
  const plain = readPlain(input, PLAIN_ROOTS);
  if (plain !== undefined) {
    const message = decodePlainRoot(plain);
    if (message !== undefined) return message;
  }
  scanXml(input);
  return decodeRoot(parseRoot(input));
}

/**
 * The full path alone: scanner, fast-xml-parser, validation. `decode` returns what this returns and
 * throws what this throws; exported as the reference for the differential test and the benchmark.
 */
export function decodeFull(input: string): Message {
  if (typeof input !== 'string') throw new ProtocolError('PROTO_NOT_XML', 'a frame must be a text frame');
  checkFrameSize(input);
  scanXml(input);
  return decodeRoot(parseRoot(input));
}

/**
 * The fast path alone: the message when the frame is plain XML (plain-xml.ts) and valid, else
 * undefined — never an error. Exported for the differential test.
 */
export function decodePlain(input: string): Message | undefined {
  // Plain XML is ASCII, so its length is its size in bytes.
  if (typeof input !== 'string' || input.length > MAX_FRAME_BYTES) return undefined;
  const plain = readPlain(input, PLAIN_ROOTS);
  return plain === undefined ? undefined : decodePlainRoot(plain);
}

function decodePlainRoot(plain: PlainElement): Message | undefined {
  try {
    return decodeRoot(plainElement(plain, plain.rule.name));
  } catch {
    // Invalid, or not what the fast path expected: the full path decides and reports.
    return undefined;
  }
}

function parseRoot(input: string): XmlElement {
  let tree: unknown;
  try {
    tree = PARSER.parse(input);
  } catch (cause) {
    // The scanner admits only input the parser handles; this is defence in depth.
    throw new ProtocolError('PROTO_NOT_XML', 'the XML parser refused the frame', { cause });
  }
  if (Array.isArray(tree)) {
    for (const node of tree) {
      const name = nodeName(node);
      if (name !== undefined && name !== TEXT) return toElement(node, name, name);
    }
  }
  throw new ProtocolError('PROTO_NOT_XML', 'no root element');
}

function decodeRoot(root: XmlElement): Message {
  const v = optionalAttribute(root, 'v');
  // The version decides before the kind: a newer peer may send kinds this version does not know.
  if (v !== undefined && /^[1-9][0-9]{0,5}$/.test(v) && !PROTOCOL_VERSIONS.includes(Number(v))) {
    throw new ProtocolError(
      'PROTO_UNSUPPORTED_VERSION',
      `protocol version ${v} is not supported (supported: ${PROTOCOL_VERSIONS.join(', ')})`,
      { path: `${root.path}@v` },
    );
  }
  const kind = messageKind(root.name);
  if (kind === undefined) {
    throw new ProtocolError('PROTO_UNKNOWN_KIND', `unknown message kind <${clip(root.name)}>`, { path: root.path });
  }
  if (v === undefined) throw fieldError('PROTO_MISSING_FIELD', `${root.path}@v`, 'is required');
  parseInteger(v, LIMITS.minVersion, LIMITS.maxVersion, root.path, 'v');
  switch (kind) {
    case 'hello':
      return decodeHello(root);
    case 'welcome':
      return decodeWelcome(root);
    case 'command':
      return decodeCommand(root);
    case 'result':
      return decodeResult(root);
    case 'telemetry':
      return decodeTelemetry(root);
    case 'ack':
      return decodeAck(root);
    case 'event':
      return decodeEvent(root);
    case 'error':
      return decodeError(root);
  }
}

function messageKind(name: string): MessageKind | undefined {
  for (const kind of MESSAGE_KINDS) if (kind === name) return kind;
  return undefined;
}

// --- hello ---------------------------------------------------------------------------------------

const HELLO_ATTRIBUTES = ['v', 'gw', 'vmin', 'vmax', 'agent', 'site', 'labels', 'proxy'];
const DEVICE_ATTRIBUTES = ['id', 'model', 'health'];
const CHANNEL_ATTRIBUTES = ['id', 'name', 'prio', 'shed', 'kw', 'minOn', 'minOff', 'maxOff', 'on'];

function decodeHello(el: XmlElement): HelloMessage {
  checkAttributes(el, HELLO_ATTRIBUTES);
  const gatewayId = gateway(el, 'gw');
  const minVersion = integer(el, 'vmin', LIMITS.minVersion, LIMITS.maxVersion);
  const maxVersion = integer(el, 'vmax', LIMITS.minVersion, LIMITS.maxVersion);
  if (maxVersion < minVersion) throw fieldError('PROTO_BAD_FIELD', `${el.path}@vmax`, 'must not be below vmin');
  const agentVersion = pattern(el, 'agent', AGENT_VERSION_PATTERN, LIMITS.maxAgentVersionLength);
  const siteName = optionalText(el, 'site', LIMITS.maxSiteNameLength);
  const labelsText = optionalAttribute(el, 'labels');
  const labels = labelsText === undefined ? [] : parseTokens(labelsText, LABEL_PATTERN, LIMITS.maxLabels, el.path, 'labels');
  const proxy = optionalAttribute(el, 'proxy');
  const viaProxy = proxy === undefined ? false : parseFlag(proxy, el.path, 'proxy');

  const devices: DeviceProfile[] = [];
  const deviceIds = new Set<string>();
  const channelIds = new Set<number>();
  for (const dev of childElements(el, 'dev', LIMITS.maxDevices)) {
    checkAttributes(dev, DEVICE_ATTRIBUTES);
    const id = pattern(dev, 'id', DEVICE_ID_PATTERN, 32);
    if (deviceIds.has(id)) throw fieldError('PROTO_DUPLICATE', `${dev.path}@id`, `device ${id} appears twice`);
    deviceIds.add(id);
    const model = text(dev, 'model', LIMITS.maxModelLength);
    const health = enumeration(dev, 'health', HEALTHS);
    const channels: ChannelProfile[] = [];
    for (const ch of childElements(dev, 'ch', LIMITS.maxChannelsPerDevice)) {
      const channel = decodeChannelProfile(ch);
      if (channelIds.has(channel.id)) {
        throw fieldError('PROTO_DUPLICATE', `${ch.path}@id`, `channel ${channel.id} appears twice in the hello`);
      }
      channelIds.add(channel.id);
      channels.push(channel);
    }
    devices.push({ id, model, health, channels });
  }

  const hello: HelloMessage = { kind: 'hello', gatewayId, minVersion, maxVersion, agentVersion, labels, viaProxy, devices };
  if (siteName !== undefined) hello.siteName = siteName;
  return hello;
}

function decodeChannelProfile(ch: XmlElement): ChannelProfile {
  checkAttributes(ch, CHANNEL_ATTRIBUTES);
  noContent(ch);
  const channel: ChannelProfile = {
    id: integer(ch, 'id', LIMITS.minChannelId, LIMITS.maxChannelId),
    name: text(ch, 'name', LIMITS.maxChannelNameLength),
    priority: integer(ch, 'prio', LIMITS.minPriority, LIMITS.maxPriority),
    sheddable: flag(ch, 'shed'),
    ratedKw: decimal(ch, 'kw', 0, LIMITS.maxAbsKw),
    minOnSeconds: integer(ch, 'minOn', 0, LIMITS.maxProfileSeconds),
    minOffSeconds: integer(ch, 'minOff', 0, LIMITS.maxProfileSeconds),
  };
  const maxOff = optionalAttribute(ch, 'maxOff');
  if (maxOff !== undefined) channel.maxOffSeconds = parseInteger(maxOff, 0, LIMITS.maxProfileSeconds, ch.path, 'maxOff');
  const on = optionalAttribute(ch, 'on');
  if (on !== undefined) channel.on = parseFlag(on, ch.path, 'on');
  return channel;
}

// --- welcome -------------------------------------------------------------------------------------

const WELCOME_ATTRIBUTES = ['v', 'gw', 't', 'ping', 'tel'];

function decodeWelcome(el: XmlElement): WelcomeMessage {
  checkAttributes(el, WELCOME_ATTRIBUTES);
  noContent(el);
  return {
    kind: 'welcome',
    gatewayId: gateway(el, 'gw'),
    serverTime: integer(el, 't', 0, LIMITS.maxTimeMs),
    pingIntervalSeconds: integer(el, 'ping', LIMITS.minIntervalSeconds, LIMITS.maxIntervalSeconds),
    telemetryIntervalSeconds: integer(el, 'tel', LIMITS.minIntervalSeconds, LIMITS.maxIntervalSeconds),
  };
}

// --- command -------------------------------------------------------------------------------------

const COMMAND_ATTRIBUTES = ['v', 'id', 'op', 'dl', 'ch', 'prio', 'all', 'dur'];

function decodeCommand(el: XmlElement): CommandMessage {
  checkAttributes(el, COMMAND_ATTRIBUTES);
  const id = pattern(el, 'id', COMMAND_ID_PATTERN, 64);
  try {
    return decodeCommandBody(el, id);
  } catch (error) {
    throw withRef(error, id);
  }
}

function decodeCommandBody(el: XmlElement, id: string): CommandMessage {
  noContent(el);
  const op = enumeration(el, 'op', COMMAND_OPS);
  const deadline = integer(el, 'dl', 0, LIMITS.maxTimeMs);
  const ch = optionalAttribute(el, 'ch');
  const prio = optionalAttribute(el, 'prio');
  const all = optionalAttribute(el, 'all');
  const dur = optionalAttribute(el, 'dur');
  switch (op) {
    case 'shed': {
      notWith(el, 'all', all, op);
      const one = exactlyOne(el, 'ch', ch, 'prio', prio, op);
      const command: CommandMessage = {
        kind: 'command',
        id,
        op,
        deadline,
        selector:
          one === 'ch'
            ? { channels: parseChannelList(ch ?? '', 1, LIMITS.maxCommandChannels, el.path, 'ch') }
            : { maxPriority: parseInteger(prio ?? '', LIMITS.minPriority, LIMITS.maxPriority, el.path, 'prio') },
      };
      if (dur !== undefined) {
        command.durationSeconds = parseInteger(dur, LIMITS.minShedSeconds, LIMITS.maxShedSeconds, el.path, 'dur');
      }
      return command;
    }
    case 'restore': {
      notWith(el, 'prio', prio, op);
      notWith(el, 'dur', dur, op);
      const one = exactlyOne(el, 'ch', ch, 'all', all, op);
      if (one === 'all' && all !== '1') throw fieldError('PROTO_BAD_FIELD', `${el.path}@all`, 'must be 1');
      return {
        kind: 'command',
        id,
        op,
        deadline,
        selector:
          one === 'ch' ? { channels: parseChannelList(ch ?? '', 1, LIMITS.maxCommandChannels, el.path, 'ch') } : { all: true },
      };
    }
    case 'read':
      notWith(el, 'ch', ch, op);
      notWith(el, 'prio', prio, op);
      notWith(el, 'all', all, op);
      notWith(el, 'dur', dur, op);
      return { kind: 'command', id, op, deadline };
  }
}

function notWith(el: XmlElement, name: string, value: string | undefined, op: string): void {
  if (value !== undefined) throw fieldError('PROTO_BAD_FIELD', `${el.path}@${name}`, `is not allowed with op=${op}`);
}

/** Which of two mutually exclusive selectors is present; throws unless exactly one is. */
function exactlyOne<A extends string, B extends string>(
  el: XmlElement,
  a: A,
  aValue: string | undefined,
  b: B,
  bValue: string | undefined,
  op: string,
): A | B {
  if (aValue !== undefined && bValue !== undefined) {
    throw fieldError('PROTO_BAD_FIELD', `${el.path}@${b}`, `op=${op} takes exactly one of ${a}, ${b}`);
  }
  if (aValue !== undefined) return a;
  if (bValue !== undefined) return b;
  throw fieldError('PROTO_MISSING_FIELD', `${el.path}@${a}`, `op=${op} needs ${a} or ${b}`);
}

// --- result --------------------------------------------------------------------------------------

const RESULT_ATTRIBUTES = ['v', 'id', 'st', 'code', 't', 'kw', 'relays', 'msg'];

function decodeResult(el: XmlElement): ResultMessage {
  checkAttributes(el, RESULT_ATTRIBUTES);
  const commandId = pattern(el, 'id', COMMAND_ID_PATTERN, 64);
  try {
    return decodeResultBody(el, commandId);
  } catch (error) {
    throw withRef(error, commandId);
  }
}

function decodeResultBody(el: XmlElement, commandId: string): ResultMessage {
  noContent(el);
  const status = enumeration(el, 'st', RESULT_STATUSES);
  const code = optionalAttribute(el, 'code');
  const time = integer(el, 't', 0, LIMITS.maxTimeMs);
  let result: ResultMessage;
  if (status === 'ok') {
    if (code !== undefined) throw fieldError('PROTO_BAD_FIELD', `${el.path}@code`, 'is not allowed with st=ok');
    result = { kind: 'result', commandId, status, time };
  } else {
    if (code === undefined) throw fieldError('PROTO_MISSING_FIELD', `${el.path}@code`, `is required with st=${status}`);
    result = { kind: 'result', commandId, status, code: registeredCode(code, el.path, 'code'), time };
  }
  const kw = optionalAttribute(el, 'kw');
  if (kw !== undefined) result.measuredKw = parseDecimal(kw, -LIMITS.maxAbsKw, LIMITS.maxAbsKw, el.path, 'kw');
  const relays = optionalAttribute(el, 'relays');
  if (relays !== undefined) result.relays = parseRelays(relays, el.path, 'relays');
  const message = optionalText(el, 'msg', LIMITS.maxResultMessageLength);
  if (message !== undefined) result.message = message;
  return result;
}

// --- telemetry / ack -----------------------------------------------------------------------------

const TELEMETRY_ATTRIBUTES = ['v', 'seq'];
const SAMPLE_ATTRIBUTES = ['t', 'kw', 'kwh', 'relays', 'chkw'];

function decodeTelemetry(el: XmlElement): TelemetryMessage {
  checkAttributes(el, TELEMETRY_ATTRIBUTES);
  const seq = integer(el, 'seq', 1, LIMITS.maxSeq);
  try {
    const samples: TelemetrySample[] = [];
    for (const s of childElements(el, 's', LIMITS.maxSamples)) {
      checkAttributes(s, SAMPLE_ATTRIBUTES);
      noContent(s);
      const sample: TelemetrySample = {
        time: integer(s, 't', 0, LIMITS.maxTimeMs),
        kw: decimal(s, 'kw', -LIMITS.maxAbsKw, LIMITS.maxAbsKw),
        relays: parseRelays(requiredAttribute(s, 'relays'), s.path, 'relays'),
      };
      const kwh = optionalAttribute(s, 'kwh');
      if (kwh !== undefined) sample.kwh = parseDecimal(kwh, -LIMITS.maxAbsKwh, LIMITS.maxAbsKwh, s.path, 'kwh');
      const chkw = optionalAttribute(s, 'chkw');
      if (chkw !== undefined) sample.channelKw = parseChannelPowers(chkw, s.path, 'chkw');
      samples.push(sample);
    }
    if (samples.length === 0) throw fieldError('PROTO_MISSING_FIELD', `${el.path}/s`, 'needs at least one sample');
    return { kind: 'telemetry', seq, samples };
  } catch (error) {
    throw withRef(error, String(seq));
  }
}

const ACK_ATTRIBUTES = ['v', 'seq'];

function decodeAck(el: XmlElement): AckMessage {
  checkAttributes(el, ACK_ATTRIBUTES);
  noContent(el);
  return { kind: 'ack', seq: integer(el, 'seq', 1, LIMITS.maxSeq) };
}

// --- event / error -------------------------------------------------------------------------------

const EVENT_ATTRIBUTES = ['v', 'type', 'sev', 't'];
const DETAIL_ATTRIBUTES = ['k'];

function decodeEvent(el: XmlElement): EventMessage {
  checkAttributes(el, EVENT_ATTRIBUTES);
  const type = pattern(el, 'type', EVENT_TYPE_PATTERN, 48);
  const severity = enumeration(el, 'sev', SEVERITIES);
  const time = integer(el, 't', 0, LIMITS.maxTimeMs);
  const details: EventDetail[] = [];
  for (const d of childElements(el, 'd', LIMITS.maxDetails)) {
    checkAttributes(d, DETAIL_ATTRIBUTES);
    const key = pattern(d, 'k', DETAIL_KEY_PATTERN, 32);
    for (const seen of details) {
      if (seen.key === key) throw fieldError('PROTO_DUPLICATE', `${d.path}@k`, `detail ${key} appears twice`);
    }
    details.push({ key, value: textContent(d, LIMITS.maxDetailValueLength) });
  }
  return { kind: 'event', type, severity, time, details };
}

const ERROR_ATTRIBUTES = ['v', 'code', 'ref'];

function decodeError(el: XmlElement): ErrorMessage {
  checkAttributes(el, ERROR_ATTRIBUTES);
  const code = registeredCode(requiredAttribute(el, 'code'), el.path, 'code');
  const ref = optionalAttribute(el, 'ref');
  if (ref !== undefined && !COMMAND_ID_PATTERN.test(ref)) {
    throw fieldError('PROTO_BAD_FIELD', `${el.path}@ref`, `must match ${String(COMMAND_ID_PATTERN)}`);
  }
  const message = textContent(el, LIMITS.maxErrorMessageLength);
  return ref === undefined ? { kind: 'error', code, message } : { kind: 'error', code, ref, message };
}

function registeredCode(value: string, path: string, attribute: string): ErrorCode {
  if (!isErrorCode(value)) throw fieldError('PROTO_BAD_FIELD', at(path, attribute), 'is not a registered error code');
  return value;
}

// --- reading the parser's output -----------------------------------------------------------------

function nodeName(node: unknown): string | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  for (const key of Object.keys(node)) if (key !== ATTRIBUTES) return key;
  return undefined;
}

function ownProperty(object: unknown, key: string): unknown {
  return typeof object === 'object' && object !== null && Object.hasOwn(object, key)
    ? (object as Record<string, unknown>)[key]
    : undefined;
}

function toElement(node: unknown, name: string, path: string): XmlElement {
  const children = ownProperty(node, name);
  const attributes = ownProperty(node, ATTRIBUTES);
  if (!Array.isArray(children) || (attributes !== undefined && (typeof attributes !== 'object' || attributes === null))) {
    throw new ProtocolError('PROTO_NOT_XML', `${path}: unexpected parser output`, { path });
  }
  return { name, path, attributes: (attributes ?? NO_ATTRIBUTES) as Record<string, unknown>, children, plain: undefined };
}

function plainElement(plain: PlainElement, path: string): XmlElement {
  return { name: plain.rule.name, path, attributes: NO_ATTRIBUTES, children: NO_CHILDREN, plain };
}

/**
 * Content the fast path leaves to the full path (text where elements belong, or the reverse). Its
 * message is never seen: decodePlainRoot catches it and the full path decides.
 */
function notPlain(el: XmlElement): ProtocolError {
  return new ProtocolError('PROTO_NOT_XML', `${el.path}: left to the full path`, { path: el.path });
}

/** Unknown attributes are refused, not ignored: a misspelt `dur` must not silently mean "no limit". */
function checkAttributes(el: XmlElement, allowed: readonly string[]): void {
  const plain = el.plain;
  if (plain !== undefined) {
    // The fast path read only its rule's names, which are normally this very list.
    const names = plain.rule.attributes;
    if (names === allowed) return;
    for (let k = 0; k < names.length; k++) {
      if (plain.values[k] !== undefined && !allowed.includes(names[k] ?? '')) throw notPlain(el);
    }
    return;
  }
  // for…in rather than Object.keys: no array per element. The parser builds plain objects, and the
  // hasOwn check keeps anything enumerable on a prototype out.
  for (const name in el.attributes) {
    if (!Object.hasOwn(el.attributes, name)) continue;
    if (!allowed.includes(name)) {
      throw fieldError('PROTO_UNKNOWN_FIELD', `${el.path}@${clip(name)}`, `is not part of <${el.name}>`);
    }
  }
}

/** Child elements, all named `childName`; whitespace between them is allowed, other text is not. */
function childElements(el: XmlElement, childName: string, max: number): XmlElement[] {
  const out: XmlElement[] = [];
  const plain = el.plain;
  if (plain !== undefined) {
    if (plain.text !== '') throw notPlain(el);
    for (const child of plain.children) {
      if (child.rule.name !== childName || out.length >= max) throw notPlain(el);
      out.push(plainElement(child, `${el.path}/${childName}[${out.length}]`));
    }
    return out;
  }
  for (const node of el.children) {
    const name = nodeName(node);
    if (name === TEXT) {
      checkWhitespace(el, ownProperty(node, TEXT));
      continue;
    }
    if (name !== childName) {
      throw fieldError('PROTO_UNKNOWN_FIELD', `${el.path}/${clip(name ?? '?')}`, `is not allowed in <${el.name}>`);
    }
    if (out.length >= max) throw fieldError('PROTO_TOO_MANY', `${el.path}/${childName}`, `more than ${max} <${childName}> elements`);
    out.push(toElement(node, name, `${el.path}/${childName}[${out.length}]`));
  }
  return out;
}

function noContent(el: XmlElement): void {
  if (el.plain !== undefined) {
    if (el.plain.children.length > 0 || el.plain.text !== '') throw notPlain(el);
    return;
  }
  if (el.children.length > 0) childElements(el, '', 0);
}

function checkWhitespace(el: XmlElement, value: unknown): void {
  if (typeof value !== 'string' || !/^[ \t\n\r]*$/.test(value)) {
    throw fieldError('PROTO_UNKNOWN_FIELD', `${el.path}#text`, `text is not allowed in <${el.name}>`);
  }
}

/** The text content of a text-only element; no child elements. */
function textContent(el: XmlElement, maxLength: number): string {
  let raw = '';
  if (el.plain !== undefined) {
    if (el.plain.children.length > 0) throw notPlain(el);
    raw = el.plain.text;
  }
  for (const node of el.children) {
    const name = nodeName(node);
    const value = ownProperty(node, TEXT);
    if (name !== TEXT || typeof value !== 'string') {
      throw fieldError('PROTO_UNKNOWN_FIELD', `${el.path}/${clip(name ?? '?')}`, `is not allowed in <${el.name}>`);
    }
    raw += value;
  }
  const value = decodeText(raw, `${el.path}#text`);
  checkLength(value, maxLength, `${el.path}#text`);
  return value;
}

function optionalAttribute(el: XmlElement, name: string): string | undefined {
  const raw = el.plain !== undefined ? el.plain.attribute(name) : ownProperty(el.attributes, name);
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new ProtocolError('PROTO_NOT_XML', `${el.path}@${name}: unexpected parser output`);
  return decodeAttribute(raw, el.path, name);
}

function requiredAttribute(el: XmlElement, name: string): string {
  const value = optionalAttribute(el, name);
  if (value === undefined) throw fieldError('PROTO_MISSING_FIELD', `${el.path}@${name}`, 'is required');
  return value;
}

function integer(el: XmlElement, name: string, min: number, max: number): number {
  return parseInteger(requiredAttribute(el, name), min, max, el.path, name);
}

function decimal(el: XmlElement, name: string, min: number, max: number): number {
  return parseDecimal(requiredAttribute(el, name), min, max, el.path, name);
}

function flag(el: XmlElement, name: string): boolean {
  return parseFlag(requiredAttribute(el, name), el.path, name);
}

function text(el: XmlElement, name: string, maxLength: number): string {
  const value = requiredAttribute(el, name);
  checkLength(value, maxLength, el.path, name);
  return value;
}

function optionalText(el: XmlElement, name: string, maxLength: number): string | undefined {
  const value = optionalAttribute(el, name);
  if (value !== undefined) checkLength(value, maxLength, el.path, name);
  return value;
}

/** The length check comes first, so no pattern ever runs on a long value. */
function pattern(el: XmlElement, name: string, re: RegExp, maxLength: number): string {
  const value = requiredAttribute(el, name);
  if (value.length > maxLength || !re.test(value)) {
    throw fieldError('PROTO_BAD_FIELD', `${el.path}@${name}`, `must match ${String(re)}`);
  }
  return value;
}

function gateway(el: XmlElement, name: string): string {
  const value = requiredAttribute(el, name);
  if (!isGatewayId(value)) throw fieldError('PROTO_BAD_FIELD', `${el.path}@${name}`, 'is not a valid gateway id');
  return value;
}

function enumeration<T extends string>(el: XmlElement, name: string, allowed: readonly T[]): T {
  return checkEnum(requiredAttribute(el, name), allowed, el.path, name);
}

/** Adds the command id or seq to an error raised after it was read, so the reply can reference it. */
function withRef(error: unknown, ref: string): unknown {
  if (!(error instanceof ProtocolError) || error.ref !== undefined) return error;
  return new ProtocolError(error.code, error.message, { path: error.path, ref, cause: error.cause });
}

/**
 * The frequent kinds, as plain XML can carry them (see plain-xml.ts); the attribute lists are the
 * ones the validation allows. Hello is here too: it is not frequent, but every connection starts
 * with one, and the full path allocates ≈ 7 KB per hello (fast-xml-parser builds a parser per
 * document) — 14 MB of garbage when 2,000 gateways reconnect. The rest stay on the full path.
 * Exported for the tests.
 */
export const PLAIN_ROOTS: readonly PlainRule[] = [
  { name: 'result', attributes: RESULT_ATTRIBUTES },
  { name: 'telemetry', attributes: TELEMETRY_ATTRIBUTES, child: { name: 's', attributes: SAMPLE_ATTRIBUTES } },
  { name: 'ack', attributes: ACK_ATTRIBUTES },
  { name: 'event', attributes: EVENT_ATTRIBUTES, child: { name: 'd', attributes: DETAIL_ATTRIBUTES, text: true } },
  // Last: once per connection, so the per-exchange kinds are tried first.
  { name: 'hello', attributes: HELLO_ATTRIBUTES, child: { name: 'dev', attributes: DEVICE_ATTRIBUTES, child: { name: 'ch', attributes: CHANNEL_ATTRIBUTES } } },
];
