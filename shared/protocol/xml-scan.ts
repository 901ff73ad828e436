/**
 * The gate in front of the XML parser. One linear pass proves that a frame is a single well-formed,
 * DTD-free XML element within our limits, so the parser only ever sees input it handles exactly:
 * fast-xml-parser is lenient (it drops unmatched end tags, lets a repeated attribute overwrite the
 * first, reads `a="1"b="2"`), and its own DOCTYPE and entity code is attack surface we never reach.
 * Entities stay unexpanded in the parser; decodeAttribute / decodeText expand the five predefined
 * ones and numeric references here, and refuse everything else.
 */
import { at, clip, fieldError, ProtocolError, type ProtocolErrorCode } from './errors.js';
import { LIMITS, MAX_FRAME_BYTES } from './messages.js';

const LT = 0x3c; // <
const GT = 0x3e; // >
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;
const EQUALS = 0x3d;
const QUOT = 0x22;
const APOS = 0x27;
const RSQB = 0x5d; // ]

/**
 * Names that are own properties of Object.prototype (`__proto__`, `constructor`, `toString`, …) plus
 * `prototype`. The parser uses element and attribute names as object keys; it throws on some of these
 * and renames others, so they are refused here with a precise code before it runs.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/** UTF-8 length of a JavaScript string, counting a lone surrogate as the 3 bytes of U+FFFD. */
export function utf8ByteLength(text: string): number {
  const n = text.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 2; // 2 code units → 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** Throws PROTO_TOO_LARGE when the frame exceeds MAX_FRAME_BYTES; skips the count when it cannot. */
export function checkFrameSize(text: string): void {
  // Every code unit is 1..3 UTF-8 bytes, so the bounds decide most frames without counting.
  if (text.length * 3 <= MAX_FRAME_BYTES) return;
  if (text.length > MAX_FRAME_BYTES || utf8ByteLength(text) > MAX_FRAME_BYTES) {
    throw new ProtocolError('PROTO_TOO_LARGE', `frame is larger than ${MAX_FRAME_BYTES} bytes`);
  }
}

/**
 * Proves `input` is one well-formed element with only whitespace around it, an optional leading XML
 * declaration, no `<!…>` and no processing instruction, at most LIMITS.maxDepth deep, at most
 * LIMITS.maxElements elements and LIMITS.maxAttributesPerElement unique attributes per element, and
 * only XML 1.0 characters. Entity references are checked later, in the values that are used.
 */
export function scanXml(input: string): void {
  const n = input.length;
  let i = input.startsWith('<?xml') ? skipDeclaration(input) : 0;
  const open: string[] = [];
  const attributeNames: string[] = [];
  let elements = 0;
  let rootClosed = false;

  while (i < n) {
    const c = input.charCodeAt(i);
    if (c !== LT) {
      if (open.length === 0) {
        if (!isSpace(c)) fail('PROTO_NOT_XML', i, 'text outside the root element');
        i++;
      } else {
        i = scanCharData(input, i);
      }
      continue;
    }
    const c1 = input.charCodeAt(i + 1);
    if (c1 === BANG) {
      fail('PROTO_FORBIDDEN_MARKUP', i, 'DOCTYPE, ENTITY, comments and CDATA are not allowed');
    }
    if (c1 === QUESTION) fail('PROTO_FORBIDDEN_MARKUP', i, 'processing instructions are not allowed');
    if (c1 === SLASH) {
      const nameStart = i + 2;
      const nameEnd = scanName(input, nameStart);
      const name = input.slice(nameStart, nameEnd);
      if (open.length === 0 || open[open.length - 1] !== name) {
        fail('PROTO_NOT_XML', i, 'end tag does not match the open element');
      }
      let j = skipSpace(input, nameEnd);
      if (input.charCodeAt(j) !== GT) fail('PROTO_NOT_XML', j, 'end tag is not closed');
      j++;
      open.pop();
      if (open.length === 0) rootClosed = true;
      i = j;
      continue;
    }
    // Start tag or empty-element tag.
    if (rootClosed) fail('PROTO_NOT_XML', i, 'a second root element');
    elements++;
    if (elements > LIMITS.maxElements) fail('PROTO_TOO_MANY', i, `more than ${LIMITS.maxElements} elements`);
    const nameStart = i + 1;
    const nameEnd = scanName(input, nameStart);
    if (nameEnd === nameStart) fail('PROTO_NOT_XML', i, 'bad element name');
    const name = input.slice(nameStart, nameEnd);
    if (RESERVED_NAMES.has(name)) {
      if (open.length === 0) fail('PROTO_UNKNOWN_KIND', i, 'unknown message kind');
      fail('PROTO_UNKNOWN_FIELD', i, 'unknown element');
    }
    attributeNames.length = 0;
    let j = nameEnd;
    let selfClosing = false;
    for (;;) {
      const afterName = j;
      j = skipSpace(input, j);
      const d = input.charCodeAt(j);
      if (d === GT) {
        j++;
        break;
      }
      if (d === SLASH && input.charCodeAt(j + 1) === GT) {
        j += 2;
        selfClosing = true;
        break;
      }
      if (j >= n) fail('PROTO_NOT_XML', j, 'start tag is not closed');
      if (j === afterName) fail('PROTO_NOT_XML', j, 'attributes must be separated by whitespace');
      j = scanAttribute(input, j, attributeNames);
    }
    if (selfClosing) {
      if (open.length === 0) rootClosed = true;
    } else {
      open.push(name);
      if (open.length > LIMITS.maxDepth) fail('PROTO_TOO_DEEP', i, `elements nested deeper than ${LIMITS.maxDepth}`);
    }
    i = j;
  }
  if (!rootClosed) {
    fail('PROTO_NOT_XML', n, open.length > 0 ? `element <${clip(open[open.length - 1] ?? '')}> is not closed` : 'no root element');
  }
}

/** Reads `name="value"` (or single quotes) at i; returns the index after the closing quote. */
function scanAttribute(input: string, i: number, seen: string[]): number {
  const nameEnd = scanName(input, i);
  if (nameEnd === i) fail('PROTO_NOT_XML', i, 'bad attribute name');
  const name = input.slice(i, nameEnd);
  if (seen.length >= LIMITS.maxAttributesPerElement) {
    fail('PROTO_TOO_MANY', i, `more than ${LIMITS.maxAttributesPerElement} attributes on one element`);
  }
  // Quadratic, but bounded by maxAttributesPerElement.
  if (seen.includes(name)) fail('PROTO_DUPLICATE', i, `attribute ${clip(name)} appears twice`);
  if (RESERVED_NAMES.has(name)) fail('PROTO_UNKNOWN_FIELD', i, `unknown attribute ${clip(name)}`);
  seen.push(name);
  let j = skipSpace(input, nameEnd);
  if (input.charCodeAt(j) !== EQUALS) fail('PROTO_NOT_XML', j, 'attribute without a value');
  j = skipSpace(input, j + 1);
  const quote = input.charCodeAt(j);
  if (quote !== QUOT && quote !== APOS) fail('PROTO_NOT_XML', j, 'attribute value is not quoted');
  const n = input.length;
  for (j++; j < n; j++) {
    const c = input.charCodeAt(j);
    if (c === quote) return j + 1;
    if (c === LT) fail('PROTO_NOT_XML', j, '"<" in an attribute value');
    if (c < 0x20 || c >= 0xd800) j = checkChar(input, j);
  }
  return fail('PROTO_NOT_XML', j, 'attribute value is not closed');
}

/** Text inside an element, up to the next `<`. */
function scanCharData(input: string, i: number): number {
  const n = input.length;
  for (; i < n; i++) {
    const c = input.charCodeAt(i);
    if (c === LT) return i;
    if (c === GT && i >= 2 && input.charCodeAt(i - 1) === RSQB && input.charCodeAt(i - 2) === RSQB) {
      fail('PROTO_NOT_XML', i, '"]]>" in text');
    }
    if (c < 0x20 || c >= 0xd800) i = checkChar(input, i);
  }
  return i;
}

/**
 * Accepts `<?xml version="1.0" [encoding="UTF-8"] [standalone="yes|no"]?>` at the very start, the
 * only place XML allows it. The frame is already a decoded string, so only UTF-8 may be declared.
 */
const DECLARATION =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.0\1(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])(?:UTF|utf)-8\2)?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(?:yes|no)\3)?[ \t\r\n]*\?>/;
function skipDeclaration(input: string): number {
  // The declaration is tiny; matching a bounded prefix keeps the regex work constant.
  const m = DECLARATION.exec(input.slice(0, 128));
  if (m === null) fail('PROTO_FORBIDDEN_MARKUP', 0, 'malformed XML declaration');
  return m[0].length;
}

/**
 * Element and attribute names, restricted to ASCII: a letter, `_` or `:`, then also digits, `-` and
 * `.`. XML allows more, but our vocabulary is ASCII, and the parser splits tags at JavaScript's `\s`,
 * which also matches U+1680 and U+FEFF, characters XML counts as name characters: admitting them
 * would let the scanner and the parser read different attributes out of one tag.
 */
function scanName(input: string, i: number): number {
  const n = input.length;
  if (i >= n || !isNameStart(input.charCodeAt(i))) return i;
  for (i++; i < n; i++) {
    const c = input.charCodeAt(i);
    if (!isNameStart(c) && !(c >= 0x30 && c <= 0x39) && c !== 0x2d && c !== 0x2e) break;
  }
  return i;
}

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function skipSpace(input: string, i: number): number {
  while (i < input.length && isSpace(input.charCodeAt(i))) i++;
  return i;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * Checks the unusual code unit at i against the XML 1.0 Char production; returns the index of the
 * last code unit it consumed (i, or i + 1 for a surrogate pair).
 */
function checkChar(input: string, i: number): number {
  const c = input.charCodeAt(i);
  if (c < 0x20) {
    if (c === 0x09 || c === 0x0a || c === 0x0d) return i;
  } else if (c >= 0xd800 && c <= 0xdbff) {
    if (isLowSurrogate(input.charCodeAt(i + 1))) return i + 1;
  } else if (c < 0xd800 || (c >= 0xe000 && c <= 0xfffd)) {
    return i;
  }
  return fail('PROTO_NOT_XML', i, `character U+${c.toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML`);
}

function fail(code: ProtocolErrorCode, offset: number, problem: string): never {
  throw new ProtocolError(code, `${problem} (at offset ${offset})`, { path: '' });
}

// --- values ------------------------------------------------------------------------------------

const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** The longest reference we accept, `&#x10FFFF;` or `&#1114111;`, with room for a few leading zeros. */
const MAX_REFERENCE_LENGTH = 16;

/**
 * The value of an attribute as XML defines it: literal tab and newline become a space (the parser
 * has already turned CR and CRLF into LF), then references are expanded. A value holding a raw
 * newline therefore comes back with a space; encode writes `&#10;` to keep it.
 */
export function decodeAttribute(raw: string, path: string, attribute?: string): string {
  if (isLiteral(raw)) return raw;
  const normalised = raw.includes('\n') || raw.includes('\t') ? raw.replace(/[\t\n]/g, ' ') : raw;
  return decodeReferences(normalised, at(path, attribute));
}

/**
 * Whether a short attribute value holds no tab, newline or `&`, so it means its literal characters.
 * One pass in JavaScript beats three native searches on the short values of the frequent messages.
 */
function isLiteral(raw: string): boolean {
  const n = raw.length;
  if (n > 32) return false;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x26 || c === 0x09 || c === 0x0a) return false;
  }
  return true;
}

/** Text content: whitespace is kept as is, references are expanded. */
export function decodeText(raw: string, path: string): string {
  return decodeReferences(raw, path);
}

function decodeReferences(raw: string, path: string): string {
  let amp = raw.indexOf('&');
  if (amp === -1) return raw;
  let out = '';
  let from = 0;
  while (amp !== -1) {
    const semi = raw.indexOf(';', amp + 1);
    if (semi === -1 || semi - amp > MAX_REFERENCE_LENGTH) {
      throw fieldError('PROTO_BAD_ENTITY', path, '"&" does not start a reference');
    }
    out += raw.slice(from, amp) + expandReference(raw.slice(amp + 1, semi), path);
    from = semi + 1;
    amp = raw.indexOf('&', from);
  }
  return out + raw.slice(from);
}

function expandReference(name: string, path: string): string {
  if (Object.hasOwn(NAMED_ENTITIES, name)) return NAMED_ENTITIES[name] ?? '';
  let codePoint = Number.NaN;
  if (/^#[0-9]{1,14}$/.test(name)) codePoint = Number(name.slice(1));
  else if (/^#x[0-9A-Fa-f]{1,13}$/.test(name)) codePoint = Number.parseInt(name.slice(2), 16);
  if (!isXmlCodePoint(codePoint)) {
    throw fieldError('PROTO_BAD_ENTITY', path, `reference &${clip(name)}; is not allowed`);
  }
  return String.fromCodePoint(codePoint);
}

/** The XML 1.0 Char production. NaN is not a code point. */
export function isXmlCodePoint(cp: number): boolean {
  return (
    cp === 0x09 ||
    cp === 0x0a ||
    cp === 0x0d ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}
