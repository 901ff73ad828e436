/**
 * Inputs known to hurt XML parsers (fast-xml-parser's advisories among them). Each must be refused
 * with its own code, quickly, and without touching Object.prototype.
 */
import { describe, expect, it } from 'vitest';
import { decode, MAX_FRAME_BYTES, ProtocolError, type ProtocolErrorCode } from '../../../shared/protocol/index.js';

function codeOf(input: string): ProtocolErrorCode | 'decoded' {
  try {
    decode(input);
    return 'decoded';
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return error.code;
  }
}

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<error v="1" code="PROTO_NOT_XML">&lol9;</error>`;

/** An ack with as many distinct attributes as fit just under MAX_FRAME_BYTES. */
function manyAttributes(): string {
  let frame = '<ack v="1" seq="1"';
  for (let i = 0; frame.length < MAX_FRAME_BYTES - 16; i++) frame += ` a${i}="x"`;
  return `${frame}/>`;
}

const CASES: readonly [string, string, ProtocolErrorCode][] = [
  ['billion laughs (DOCTYPE with entities)', BILLION_LAUGHS, 'PROTO_FORBIDDEN_MARKUP'],
  [
    'external entity',
    '<!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><error v="1" code="PROTO_NOT_XML">&xxe;</error>',
    'PROTO_FORBIDDEN_MARKUP',
  ],
  ['DOCTYPE after the declaration', '<?xml version="1.0"?><!DOCTYPE ack><ack v="1" seq="1"/>', 'PROTO_FORBIDDEN_MARKUP'],
  ['DOCTYPE inside the root', '<ack v="1" seq="1"><!DOCTYPE x></ack>', 'PROTO_FORBIDDEN_MARKUP'],
  ['comment', '<ack v="1" seq="1"><!-- hi --></ack>', 'PROTO_FORBIDDEN_MARKUP'],
  ['CDATA', '<error v="1" code="PROTO_NOT_XML"><![CDATA[x]]></error>', 'PROTO_FORBIDDEN_MARKUP'],
  ['processing instruction', '<ack v="1" seq="1"><?php echo 1; ?></ack>', 'PROTO_FORBIDDEN_MARKUP'],
  ['xml-stylesheet before the root', '<?xml-stylesheet href="x"?><ack v="1" seq="1"/>', 'PROTO_FORBIDDEN_MARKUP'],
  ['declaration not at the start', ' <?xml version="1.0"?><ack v="1" seq="1"/>', 'PROTO_FORBIDDEN_MARKUP'],
  ['declaration of another encoding', '<?xml version="1.0" encoding="ISO-8859-1"?><ack v="1" seq="1"/>', 'PROTO_FORBIDDEN_MARKUP'],
  ['__proto__ as root', '<__proto__ v="1"/>', 'PROTO_UNKNOWN_KIND'],
  ['constructor as root', '<constructor v="1"><prototype/></constructor>', 'PROTO_UNKNOWN_KIND'],
  ['__proto__ as a child', '<event v="1" type="x-y" sev="info" t="1"><__proto__ polluted="1"/></event>', 'PROTO_UNKNOWN_FIELD'],
  ['prototype as a child', '<event v="1" type="x-y" sev="info" t="1"><prototype/></event>', 'PROTO_UNKNOWN_FIELD'],
  ['constructor as a child', '<telemetry v="1" seq="1"><constructor/></telemetry>', 'PROTO_UNKNOWN_FIELD'],
  ['__proto__ as an attribute', '<ack v="1" seq="1" __proto__="x"/>', 'PROTO_UNKNOWN_FIELD'],
  ['constructor as an attribute', '<ack v="1" seq="1" constructor="x"/>', 'PROTO_UNKNOWN_FIELD'],
  ['hasOwnProperty as an attribute', '<ack v="1" seq="1" hasOwnProperty="x"/>', 'PROTO_UNKNOWN_FIELD'],
  ['toString as an attribute', '<ack toString="1" v="1" seq="1"/>', 'PROTO_UNKNOWN_FIELD'],
  ['deep nesting, 10,000 levels', '<a>'.repeat(10_000), 'PROTO_TOO_DEEP'],
  ['deep nesting, closed', `${'<a>'.repeat(9)}${'</a>'.repeat(9)}`, 'PROTO_TOO_DEEP'],
  ['deep nesting inside a message', `<hello v="1">${'<dev>'.repeat(10_000)}`, 'PROTO_TOO_DEEP'],
  ['huge attribute over 64 KiB', `<error v="1" code="PROTO_NOT_XML" ref="${'a'.repeat(70_000)}"/>`, 'PROTO_TOO_LARGE'],
  ['64 KiB of multi-byte text', `<error v="1" code="PROTO_NOT_XML">${'é'.repeat(33_000)}</error>`, 'PROTO_TOO_LARGE'],
  [
    'just under 64 KiB with many attributes',
    manyAttributes(),
    'PROTO_TOO_MANY',
  ],
  [
    'just under 64 KiB of elements',
    `<telemetry v="1" seq="1">${'<s/>'.repeat(16_000)}</telemetry>`,
    'PROTO_TOO_MANY',
  ],
  ['unclosed root', '<telemetry v="1" seq="1"><s t="1" kw="1" relays=""/>', 'PROTO_NOT_XML'],
  ['unclosed start tag', '<ack v="1" seq="1"', 'PROTO_NOT_XML'],
  ['unclosed attribute value', '<ack v="1" seq="1/>', 'PROTO_NOT_XML'],
  ['mismatched end tag', '<event v="1" type="x-y" sev="info" t="1"><d k="a">x</e></event>', 'PROTO_NOT_XML'],
  ['stray end tag', '<ack v="1" seq="1"></ack></ack>', 'PROTO_NOT_XML'],
  ['two roots', '<ack v="1" seq="1"/><ack v="1" seq="2"/>', 'PROTO_NOT_XML'],
  ['text after the root', '<ack v="1" seq="1"/>junk', 'PROTO_NOT_XML'],
  ['unquoted attribute', '<ack v=1 seq="1"/>', 'PROTO_NOT_XML'],
  ['attributes without whitespace', '<ack v="1"seq="1"/>', 'PROTO_NOT_XML'],
  ['boolean attribute', '<ack v="1" seq="1" proxy/>', 'PROTO_NOT_XML'],
  ['"<" in an attribute', '<ack v="1" seq="<1"/>', 'PROTO_NOT_XML'],
  ['NUL character', '<ack v="1" seq="1"\u0000/>', 'PROTO_NOT_XML'],
  ['lone surrogate', '<error v="1" code="PROTO_NOT_XML">\uD800</error>', 'PROTO_NOT_XML'],
  ['U+FFFE', '<error v="1" code="PROTO_NOT_XML">\uFFFE</error>', 'PROTO_NOT_XML'],
  ['byte order mark', '\uFEFF<ack v="1" seq="1"/>', 'PROTO_NOT_XML'],
  ['empty frame', '', 'PROTO_NOT_XML'],
  ['duplicated attribute', '<ack v="1" seq="1" seq="2"/>', 'PROTO_DUPLICATE'],
  // JavaScript's \s (used by the parser to split tags) is wider than XML's whitespace: a character in
  // the gap must not let the parser see an attribute the scanner did not, here a second seq.
  ['U+3000 inside an element name', '<ack\u3000x v="1" seq="1"/>', 'PROTO_NOT_XML'],
  ['U+1680 smuggling a second attribute', '<ack v="1" seq="1" x\u1680seq="2"/>', 'PROTO_NOT_XML'],
  ['U+FEFF smuggling a second attribute', '<ack v="1" seq="1" x\uFEFFseq="2"/>', 'PROTO_NOT_XML'],
  ['U+00A0 between attributes', '<ack v="1"\u00A0seq="1"/>', 'PROTO_NOT_XML'],
  ['non-ASCII element name', '<hëllo v="1"/>', 'PROTO_NOT_XML'],
  ['duplicated attribute, other quotes', `<ack v="1" seq="1" seq='1'/>`, 'PROTO_DUPLICATE'],
  ['unknown entity', '<error v="1" code="PROTO_NOT_XML">&unknown;</error>', 'PROTO_BAD_ENTITY'],
  ['HTML entity', '<error v="1" code="PROTO_NOT_XML">&nbsp;</error>', 'PROTO_BAD_ENTITY'],
  ['&#0;', '<error v="1" code="PROTO_NOT_XML">&#0;</error>', 'PROTO_BAD_ENTITY'],
  ['&#xD800;', '<error v="1" code="PROTO_NOT_XML">&#xD800;</error>', 'PROTO_BAD_ENTITY'],
  ['&#x110000;', '<error v="1" code="PROTO_NOT_XML">&#x110000;</error>', 'PROTO_BAD_ENTITY'],
  ['&#1; in an attribute', '<error v="1" code="PROTO_NOT_XML" ref="a&#1;"/>', 'PROTO_BAD_ENTITY'],
  ['bare ampersand', '<error v="1" code="PROTO_NOT_XML">fish & chips</error>', 'PROTO_BAD_ENTITY'],
  ['entity in the version', '<ack v="&one;" seq="1"/>', 'PROTO_BAD_ENTITY'],
];

describe('known attack inputs', () => {
  for (const [name, input, expected] of CASES) {
    it(`${name} → ${expected}`, () => {
      const before = Object.getOwnPropertyNames(Object.prototype).sort();
      const started = performance.now();
      expect(codeOf(input)).toBe(expected);
      expect(performance.now() - started).toBeLessThan(250);
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  }

  it('tests the limits it claims: the many-attributes frame is just under 64 KiB', () => {
    const entry = CASES.find(([name]) => name === 'just under 64 KiB with many attributes');
    const size = Buffer.byteLength(entry?.[1] ?? '');
    expect(size).toBeGreaterThan(MAX_FRAME_BYTES - 16);
    expect(size).toBeLessThanOrEqual(MAX_FRAME_BYTES);
  });

  it('accepts a frame of exactly MAX_FRAME_BYTES', () => {
    const head = '<error v="1" code="PROTO_NOT_XML" ref="x">';
    const tail = '</error>';
    const frame = head + ' '.repeat(MAX_FRAME_BYTES - head.length - tail.length) + tail;
    expect(Buffer.byteLength(frame)).toBe(MAX_FRAME_BYTES);
    // The text is too long for an error message, but the frame itself passes the size gate.
    expect(codeOf(frame)).toBe('PROTO_BAD_FIELD');
    expect(codeOf(frame.replace('x">', 'x"> '))).toBe('PROTO_TOO_LARGE');
  });

  it('refuses a non-string frame with a ProtocolError', () => {
    expect(codeOf(Buffer.from('<ack v="1" seq="1"/>') as unknown as string)).toBe('PROTO_NOT_XML');
    expect(codeOf(undefined as unknown as string)).toBe('PROTO_NOT_XML');
  });
});
