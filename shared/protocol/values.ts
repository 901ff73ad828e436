/**
 * The wire syntax of field values, as parse/format pairs that decode.ts and encode.ts share, so both
 * directions enforce the same rules and ranges. Every check names the field by its path
 * (`command@dl`) and throws a ProtocolError; nothing here trusts its input's type. The parsers take
 * the path of an attribute in two parts (`command`, `dl`), joined only when there is an error to
 * report: decoding a message then builds no path strings at all.
 */
import { at, fieldError } from './errors.js';
import { LIMITS, type ChannelPower, type RelayState } from './messages.js';

// --- integers ------------------------------------------------------------------------------------

/**
 * Decimal digits, no sign, no leading zero, no exponent. Hand-written: this runs for most attributes
 * of every message and a regex would be the slowest part of decoding a command.
 */
export function parseInteger(raw: string, min: number, max: number, path: string, attribute?: string): number {
  const n = raw.length;
  // 16 digits cover every safe integer; anything longer is out of range or malformed.
  if (n === 0 || n > 16 || (n > 1 && raw.charCodeAt(0) === 0x30)) {
    throw fieldError('PROTO_BAD_FIELD', at(path, attribute), 'must be a decimal integer without leading zeros');
  }
  let value = 0;
  for (let i = 0; i < n; i++) {
    const d = raw.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) throw fieldError('PROTO_BAD_FIELD', at(path, attribute), 'must be a decimal integer without leading zeros');
    value = value * 10 + d;
  }
  if (value < min || value > max) throw fieldError('PROTO_BAD_FIELD', at(path, attribute), `must be in ${min}..${max}`);
  return value;
}

export function formatInteger(value: unknown, min: number, max: number, path: string): string {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw fieldError('PROTO_BAD_FIELD', path, 'must be an integer');
  }
  if (value < min || value > max) throw fieldError('PROTO_BAD_FIELD', path, `must be in ${min}..${max}`);
  return String(value);
}

// --- decimals (kW, kWh) --------------------------------------------------------------------------

const DECIMAL = /^-?(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,3})?$/;

/** An optional minus, digits, at most 3 decimals; no exponent, no `+`, no `.5`. */
export function parseDecimal(raw: string, min: number, max: number, path: string, attribute?: string): number {
  if (!DECIMAL.test(raw)) {
    throw fieldError('PROTO_BAD_FIELD', at(path, attribute), 'must be a decimal number with at most 3 decimals');
  }
  const value = Number(raw) + 0; // + 0 turns "-0" into 0
  if (value < min || value > max) throw fieldError('PROTO_BAD_FIELD', at(path, attribute), `must be in ${min}..${max}`);
  return value;
}

/**
 * Rounds to 3 decimals (1 W, 1 Wh) and writes the shortest form: `12.5`, `-3`, `0.001`. toFixed never
 * uses an exponent below 1e21, and the range check keeps values far below that.
 */
export function formatDecimal(value: unknown, min: number, max: number, path: string): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw fieldError('PROTO_BAD_FIELD', path, 'must be a finite number');
  }
  if (value < min || value > max) throw fieldError('PROTO_BAD_FIELD', path, `must be in ${min}..${max}`);
  let text = value.toFixed(LIMITS.kwDecimals);
  if (text.includes('.')) text = text.replace(/\.?0+$/, '');
  return text === '-0' ? '0' : text;
}

// --- flags and enumerations ----------------------------------------------------------------------

export function parseFlag(raw: string, path: string, attribute?: string): boolean {
  if (raw === '1') return true;
  if (raw === '0') return false;
  throw fieldError('PROTO_BAD_FIELD', at(path, attribute), 'must be 0 or 1');
}

export function formatFlag(value: unknown, path: string): string {
  if (typeof value !== 'boolean') throw fieldError('PROTO_BAD_FIELD', path, 'must be a boolean');
  return value ? '1' : '0';
}

export function checkEnum<T extends string>(value: unknown, allowed: readonly T[], path: string, attribute?: string): T {
  for (const a of allowed) if (value === a) return a;
  throw fieldError('PROTO_BAD_FIELD', at(path, attribute), `must be one of ${allowed.join(', ')}`);
}

// --- strings -------------------------------------------------------------------------------------

/** Anything outside the XML 1.0 Char production: C0 controls but tab/LF/CR, lone surrogates, U+FFFE/F. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/**
 * A free-text field on the way out. Decoded text needs no such check: the scanner and the reference
 * decoder admit only XML characters.
 */
export function checkText(value: unknown, maxLength: number, path: string): string {
  if (typeof value !== 'string') throw fieldError('PROTO_BAD_FIELD', path, 'must be a string');
  checkLength(value, maxLength, path);
  if (NOT_XML_CHAR.test(value)) {
    throw fieldError('PROTO_BAD_FIELD', path, 'holds a character XML cannot carry (a control character or a lone surrogate)');
  }
  return value;
}

export function checkLength(value: string, maxLength: number, path: string, attribute?: string): void {
  if (value.length > maxLength) throw fieldError('PROTO_BAD_FIELD', at(path, attribute), `must be at most ${maxLength} characters`);
}

/** An identifier-like field; the length bound sits in the pattern. */
export function checkPattern(value: unknown, pattern: RegExp, path: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw fieldError('PROTO_BAD_FIELD', path, `must match ${String(pattern)}`);
  }
  return value;
}

/** Space-separated tokens (`labels="north zone-3"`); '' is the empty list. */
export function parseTokens(raw: string, pattern: RegExp, max: number, path: string, attribute?: string): string[] {
  if (raw === '') return [];
  const tokens = raw.split(' ');
  if (tokens.length > max) throw fieldError('PROTO_TOO_MANY', at(path, attribute), `more than ${max} entries`);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    if (!pattern.test(token)) throw fieldError('PROTO_BAD_FIELD', at(path, attribute), `entry ${i + 1} must match ${String(pattern)}`);
    if (tokens.indexOf(token) !== i) throw fieldError('PROTO_DUPLICATE', at(path, attribute), `entry ${i + 1} appears twice`);
  }
  return tokens;
}

export function formatTokens(value: unknown, pattern: RegExp, max: number, path: string): string {
  if (!Array.isArray(value)) throw fieldError('PROTO_BAD_FIELD', path, 'must be an array');
  if (value.length > max) throw fieldError('PROTO_TOO_MANY', path, `more than ${max} entries`);
  const tokens: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const token: unknown = value[i];
    if (typeof token !== 'string' || !pattern.test(token)) {
      throw fieldError('PROTO_BAD_FIELD', path, `entry ${i + 1} must match ${String(pattern)}`);
    }
    if (tokens.includes(token)) throw fieldError('PROTO_DUPLICATE', path, `entry ${i + 1} appears twice`);
    tokens.push(token);
  }
  return tokens.join(' ');
}

// --- channel lists -------------------------------------------------------------------------------

/**
 * Duplicate detection for channel ids (1..999) without allocating: a channel is in the list being
 * parsed or formatted when its stamp equals `listStamp`, which every list takes afresh. Parsing and
 * formatting are synchronous and never nested, so one table serves every call.
 */
const channelStamps = new Uint32Array(LIMITS.maxChannelId + 1);
let listStamp = 0;

function newListStamp(): number {
  if (listStamp === 0xffff_ffff) {
    channelStamps.fill(0);
    listStamp = 0;
  }
  return ++listStamp;
}

/**
 * Counts the entries of a space-separated list and bounds them before any entry is parsed, so a
 * 64 KiB attribute costs one pass. Single spaces only: our peers write canonical lists, and an empty
 * entry (two spaces, a leading or trailing one) is malformed.
 */
function countEntries(raw: string, min: number, max: number, path: string, attribute: string | undefined): number {
  if (raw === '') {
    if (min > 0) throw fieldError('PROTO_BAD_FIELD', at(path, attribute), `must list at least ${min} channel`);
    return 0;
  }
  let count = 1;
  for (let at = raw.indexOf(' '); at !== -1; at = raw.indexOf(' ', at + 1)) count++;
  if (count > max) throw fieldError('PROTO_TOO_MANY', at(path, attribute), `more than ${max} entries`);
  return count;
}

/** Where the entry starting at `from` ends: the next space or the end of the list. */
function entryEnd(raw: string, from: number): number {
  const space = raw.indexOf(' ', from);
  return space === -1 ? raw.length : space;
}

/** Parses a channel id, `raw` from `from` to `to` (`12` or the `12` of `12:1`). */
function parseChannel(raw: string, from: number, to: number, path: string, attribute: string | undefined, index: number): number {
  const n = to - from;
  if (n === 0 || n > 3 || raw.charCodeAt(from) === 0x30) throw badEntry(path, attribute, index);
  let value = 0;
  for (let i = from; i < to; i++) {
    const d = raw.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) throw badEntry(path, attribute, index);
    value = value * 10 + d;
  }
  return value; // 1..999 by construction
}

/** Marks a channel as seen in the current list; throws when it already was. */
function once(channel: number, stamp: number, path: string, attribute: string | undefined): void {
  if (channelStamps[channel] === stamp) throw duplicate(path, attribute, channel);
  channelStamps[channel] = stamp;
}

/** The first `:` of the entry from..to, or -1. */
function colonIn(raw: string, from: number, to: number): number {
  const colon = raw.indexOf(':', from);
  return colon === -1 || colon >= to ? -1 : colon;
}

function badEntry(path: string, attribute: string | undefined, index: number): Error {
  return fieldError('PROTO_BAD_FIELD', at(path, attribute), `entry ${index + 1} is malformed`);
}

function duplicate(path: string, attribute: string | undefined, channel: number): Error {
  return fieldError('PROTO_DUPLICATE', at(path, attribute), `channel ${channel} appears twice`);
}

/** `ch="1 2"`: channel ids, unique. */
export function parseChannelList(raw: string, min: number, max: number, path: string, attribute?: string): number[] {
  const count = countEntries(raw, min, max, path, attribute);
  const stamp = newListStamp();
  const out: number[] = [];
  for (let i = 0, from = 0; i < count; i++) {
    const to = entryEnd(raw, from);
    const channel = parseChannel(raw, from, to, path, attribute, i);
    once(channel, stamp, path, attribute);
    out.push(channel);
    from = to + 1;
  }
  return out;
}

/** `relays="1:0 2:1"`: channel:on, unique channels. */
export function parseRelays(raw: string, path: string, attribute?: string): RelayState[] {
  const count = countEntries(raw, 0, LIMITS.maxChannelEntries, path, attribute);
  const stamp = newListStamp();
  const out: RelayState[] = [];
  for (let i = 0, from = 0; i < count; i++) {
    const to = entryEnd(raw, from);
    const colon = colonIn(raw, from, to);
    // The state is the one character after the first colon: `0` or `1`.
    const state = to - colon === 2 ? raw.charCodeAt(colon + 1) : -1;
    if (colon === -1 || (state !== 0x30 && state !== 0x31)) throw badEntry(path, attribute, i);
    const channel = parseChannel(raw, from, colon, path, attribute, i);
    once(channel, stamp, path, attribute);
    out.push({ channel, on: state === 0x31 });
    from = to + 1;
  }
  return out;
}

/** `chkw="1:3.2 2:0"`: channel:kW, unique channels. */
export function parseChannelPowers(raw: string, path: string, attribute?: string): ChannelPower[] {
  const count = countEntries(raw, 0, LIMITS.maxChannelEntries, path, attribute);
  const stamp = newListStamp();
  const out: ChannelPower[] = [];
  for (let i = 0, from = 0; i < count; i++) {
    const to = entryEnd(raw, from);
    const colon = colonIn(raw, from, to);
    if (colon === -1) throw badEntry(path, attribute, i);
    const channel = parseChannel(raw, from, colon, path, attribute, i);
    once(channel, stamp, path, attribute);
    const kw = parseDecimal(raw.slice(colon + 1, to), -LIMITS.maxAbsKw, LIMITS.maxAbsKw, path, attribute);
    out.push({ channel, kw });
    from = to + 1;
  }
  return out;
}

function checkList(value: unknown, min: number, max: number, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw fieldError('PROTO_BAD_FIELD', path, 'must be an array');
  if (value.length > max) throw fieldError('PROTO_TOO_MANY', path, `more than ${max} entries`);
  if (value.length < min) throw fieldError('PROTO_BAD_FIELD', path, `must list at least ${min} channel`);
  return value;
}

function formatChannel(value: unknown, path: string, stamp: number): string {
  const text = formatInteger(value, LIMITS.minChannelId, LIMITS.maxChannelId, path);
  once(value as number, stamp, path, undefined);
  return text;
}

/** Reads a property of a list entry without trusting the entry's type. */
function field(entry: unknown, name: string, path: string): unknown {
  if (typeof entry !== 'object' || entry === null) throw fieldError('PROTO_BAD_FIELD', path, 'entries must be objects');
  return (entry as Record<string, unknown>)[name];
}

export function formatChannelList(value: unknown, min: number, max: number, path: string): string {
  const list = checkList(value, min, max, path);
  const stamp = newListStamp();
  let out = '';
  for (let i = 0; i < list.length; i++) out += (i === 0 ? '' : ' ') + formatChannel(list[i], path, stamp);
  return out;
}

export function formatRelays(value: unknown, path: string): string {
  const list = checkList(value, 0, LIMITS.maxChannelEntries, path);
  const stamp = newListStamp();
  let out = '';
  for (let i = 0; i < list.length; i++) {
    const entry = list[i];
    const channel = formatChannel(field(entry, 'channel', path), path, stamp);
    out += `${i === 0 ? '' : ' '}${channel}:${formatFlag(field(entry, 'on', path), path)}`;
  }
  return out;
}

export function formatChannelPowers(value: unknown, path: string): string {
  const list = checkList(value, 0, LIMITS.maxChannelEntries, path);
  const stamp = newListStamp();
  let out = '';
  for (let i = 0; i < list.length; i++) {
    const entry = list[i];
    const channel = formatChannel(field(entry, 'channel', path), path, stamp);
    const kw = formatDecimal(field(entry, 'kw', path), -LIMITS.maxAbsKw, LIMITS.maxAbsKw, path);
    out += `${i === 0 ? '' : ' '}${channel}:${kw}`;
  }
  return out;
}
