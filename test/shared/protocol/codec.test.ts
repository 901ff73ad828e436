/**
 * Field-level rules of decode and encode: each refusal has its code and names the field, both
 * directions agree, and a refused command can be answered with ProtocolError.toWire().
 */
import { describe, expect, it } from 'vitest';
import { LmgwError } from '../../../shared/errors.js';
import {
  decode,
  encode,
  LIMITS,
  MAX_FRAME_BYTES,
  ProtocolError,
  type ChannelProfile,
  type CommandMessage,
  type HelloMessage,
  type Message,
  type ProtocolErrorCode,
} from '../../../shared/protocol/index.js';
import { GOLDEN } from './golden.js';

function refusal(run: () => unknown): ProtocolError {
  try {
    run();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error('expected a ProtocolError, got none');
}

function expectRefused(frame: string, code: ProtocolErrorCode, path?: string): ProtocolError {
  const error = refusal(() => decode(frame));
  expect(error.code, error.message).toBe(code);
  if (path !== undefined) expect(error.path).toBe(path);
  return error;
}

function aChannel(override: Partial<ChannelProfile> = {}): ChannelProfile {
  return { id: 1, name: 'Boiler', priority: 1, sheddable: true, ratedKw: 3.5, minOnSeconds: 60, minOffSeconds: 60, ...override };
}

function aHello(override: Partial<HelloMessage> = {}): HelloMessage {
  return {
    kind: 'hello',
    gatewayId: 'site-0001',
    minVersion: 1,
    maxVersion: 1,
    agentVersion: '0.1.0',
    labels: [],
    viaProxy: false,
    devices: [{ id: 'lm1', model: 'demo', health: 'ok', channels: [aChannel()] }],
    ...override,
  };
}

const CMD = '<command v="1" id="c7Kq2" op="shed" dl="1764100060000"';

describe('envelope and version', () => {
  it('requires v on a known kind', () => {
    expectRefused('<ack seq="1"/>', 'PROTO_MISSING_FIELD', 'ack@v');
  });
  it('refuses another version, before looking at the kind', () => {
    expectRefused('<ack v="2" seq="1"/>', 'PROTO_UNSUPPORTED_VERSION', 'ack@v');
    expectRefused('<handshake2 v="2"/>', 'PROTO_UNSUPPORTED_VERSION');
  });
  it('refuses a malformed version as a bad field', () => {
    expectRefused('<ack v="01" seq="1"/>', 'PROTO_BAD_FIELD', 'ack@v');
    expectRefused('<ack v="0" seq="1"/>', 'PROTO_BAD_FIELD', 'ack@v');
    expectRefused('<ack v="1.0" seq="1"/>', 'PROTO_BAD_FIELD', 'ack@v');
  });
  it('refuses unknown kinds', () => {
    expectRefused('<ping v="1"/>', 'PROTO_UNKNOWN_KIND', 'ping');
    expectRefused('<Ack v="1" seq="1"/>', 'PROTO_UNKNOWN_KIND');
  });
});

describe('command', () => {
  it('names the field and the command id in the error, and answers with it on the wire', () => {
    const error = expectRefused(`<command v="1" id="c7Kq2" op="shed" dl="soon" ch="1"/>`, 'PROTO_BAD_FIELD', 'command@dl');
    expect(error).toBeInstanceOf(LmgwError);
    expect(error.ref).toBe('c7Kq2');
    expect(error.message).toMatch(/^attribute dl of command: /);
    const wire = error.toWire();
    expect(wire).toEqual({ kind: 'error', code: 'PROTO_BAD_FIELD', ref: 'c7Kq2', message: error.message });
    expect(decode(encode(wire))).toStrictEqual(wire);
  });
  it('has no ref when the id itself is bad', () => {
    const error = expectRefused('<command v="1" id="c 7" op="read" dl="1"/>', 'PROTO_BAD_FIELD', 'command@id');
    expect(error.ref).toBeUndefined();
    expect(error.toWire()).not.toHaveProperty('ref');
  });
  it('refuses unknown attributes instead of ignoring them', () => {
    expectRefused(`${CMD} ch="1" duration="60"/>`, 'PROTO_UNKNOWN_FIELD', 'command@duration');
  });
  it('refuses text and child elements', () => {
    expectRefused(`${CMD} ch="1">now</command>`, 'PROTO_UNKNOWN_FIELD', 'command#text');
    expectRefused(`${CMD} ch="1"><ch>2</ch></command>`, 'PROTO_UNKNOWN_FIELD', 'command/ch');
  });
  it('shed takes exactly one selector', () => {
    expectRefused(`${CMD} ch="1" prio="3"/>`, 'PROTO_BAD_FIELD', 'command@prio');
    expectRefused(`${CMD}/>`, 'PROTO_MISSING_FIELD', 'command@ch');
    expectRefused(`${CMD} all="1"/>`, 'PROTO_BAD_FIELD', 'command@all');
  });
  it('restore takes ch or all="1", and no dur', () => {
    const restore = '<command v="1" id="r1" op="restore" dl="1"';
    expectRefused(`${restore}/>`, 'PROTO_MISSING_FIELD', 'command@ch');
    expectRefused(`${restore} ch="1" all="1"/>`, 'PROTO_BAD_FIELD', 'command@all');
    expectRefused(`${restore} all="0"/>`, 'PROTO_BAD_FIELD', 'command@all');
    expectRefused(`${restore} all="1" dur="60"/>`, 'PROTO_BAD_FIELD', 'command@dur');
    expectRefused(`${restore} prio="1"/>`, 'PROTO_BAD_FIELD', 'command@prio');
  });
  it('read takes no selector', () => {
    expectRefused('<command v="1" id="r" op="read" dl="1" ch="1"/>', 'PROTO_BAD_FIELD', 'command@ch');
  });
  it('checks channel lists', () => {
    expectRefused(`${CMD} ch=""/>`, 'PROTO_BAD_FIELD', 'command@ch');
    expectRefused(`${CMD} ch="1 1"/>`, 'PROTO_DUPLICATE', 'command@ch');
    expectRefused(`${CMD} ch="0"/>`, 'PROTO_BAD_FIELD');
    expectRefused(`${CMD} ch="1000"/>`, 'PROTO_BAD_FIELD');
    expectRefused(`${CMD} ch="01"/>`, 'PROTO_BAD_FIELD');
    expectRefused(`${CMD} ch="1  2"/>`, 'PROTO_BAD_FIELD');
    expectRefused(`${CMD} ch=" 1"/>`, 'PROTO_BAD_FIELD');
    const many = Array.from({ length: LIMITS.maxCommandChannels + 1 }, (_, i) => i + 1).join(' ');
    expectRefused(`${CMD} ch="${many}"/>`, 'PROTO_TOO_MANY', 'command@ch');
  });
  it('checks ranges', () => {
    expectRefused(`${CMD} prio="100"/>`, 'PROTO_BAD_FIELD', 'command@prio');
    expectRefused(`${CMD} prio="1" dur="0"/>`, 'PROTO_BAD_FIELD', 'command@dur');
    expectRefused(`${CMD} prio="1" dur="86401"/>`, 'PROTO_BAD_FIELD', 'command@dur');
    expectRefused('<command v="1" id="x" op="read" dl="-1"/>', 'PROTO_BAD_FIELD', 'command@dl');
    expectRefused('<command v="1" id="x" op="read" dl="8640000000000001"/>', 'PROTO_BAD_FIELD', 'command@dl');
    expectRefused('<command v="1" id="x" op="reboot" dl="1"/>', 'PROTO_BAD_FIELD', 'command@op');
  });
  it('makes two selectors unrepresentable in TypeScript and refuses them at run time', () => {
    // @ts-expect-error a shed selector is channels or maxPriority, never both
    const both: CommandMessage = { kind: 'command', id: 'a', op: 'shed', deadline: 1, selector: { channels: [1], maxPriority: 2 } };
    expect(refusal(() => encode(both)).code).toBe('PROTO_BAD_FIELD');
    // @ts-expect-error restore has no priority selector
    const restoreByPrio: CommandMessage = { kind: 'command', id: 'a', op: 'restore', deadline: 1, selector: { maxPriority: 2 } };
    expect(refusal(() => encode(restoreByPrio)).code).toBe('PROTO_BAD_FIELD');
  });
});

describe('result', () => {
  const R = '<result v="1" id="c1" t="1"';
  it('code is required iff st is not ok, and must be registered', () => {
    expectRefused(`${R} st="ok" code="CMD_STALE"/>`, 'PROTO_BAD_FIELD', 'result@code');
    expectRefused(`${R} st="failed"/>`, 'PROTO_MISSING_FIELD', 'result@code');
    expectRefused(`${R} st="rejected" code="CMD_NOPE"/>`, 'PROTO_BAD_FIELD', 'result@code');
    expectRefused(`${R} st="rejected" code="__proto__"/>`, 'PROTO_BAD_FIELD', 'result@code');
    expect(decode(`${R} st="rejected" code="CMD_MALFORMED"/>`)).toMatchObject({ status: 'rejected', code: 'CMD_MALFORMED' });
  });
  it('checks relays and kW', () => {
    expectRefused(`${R} st="ok" relays="1:2"/>`, 'PROTO_BAD_FIELD', 'result@relays');
    expectRefused(`${R} st="ok" relays="1:1 1:0"/>`, 'PROTO_DUPLICATE', 'result@relays');
    expectRefused(`${R} st="ok" relays="1"/>`, 'PROTO_BAD_FIELD', 'result@relays');
    for (const kw of ['1e3', '1.2345', '+1', '.5', '1.', '1000000.001', '-1000000.001', 'Infinity', '0x10']) {
      expectRefused(`${R} st="ok" kw="${kw}"/>`, 'PROTO_BAD_FIELD', 'result@kw');
    }
    expect(decode(`${R} st="ok" kw="-1000000"/>`)).toMatchObject({ measuredKw: -1_000_000 });
  });
  it('limits msg', () => {
    expectRefused(`${R} st="ok" msg="${'x'.repeat(LIMITS.maxResultMessageLength + 1)}"/>`, 'PROTO_BAD_FIELD', 'result@msg');
  });
});

describe('hello', () => {
  it('channel ids are unique across devices', () => {
    const frame = encode(aHello()).replace('</dev>', '</dev><dev id="lm2" model="m" health="ok"><ch id="1" name="x" prio="1" shed="1" kw="1" minOn="0" minOff="0"/></dev>');
    expectRefused(frame, 'PROTO_DUPLICATE', 'hello/dev[1]/ch[0]@id');
    expect(refusal(() => encode(aHello({ devices: [...aHello().devices, { id: 'lm2', model: 'm', health: 'ok', channels: [aChannel()] }] }))).path).toBe(
      'hello/dev[1]/ch[0]@id',
    );
  });
  it('device ids are unique', () => {
    const dev = { id: 'lm1', model: 'm', health: 'ok' as const, channels: [] };
    expect(refusal(() => encode(aHello({ devices: [dev, dev] }))).code).toBe('PROTO_DUPLICATE');
  });
  it('limits devices, channels and labels', () => {
    const devices = Array.from({ length: LIMITS.maxDevices + 1 }, (_, i) => ({ id: `d${i}`, model: 'm', health: 'ok' as const, channels: [] }));
    expect(refusal(() => encode(aHello({ devices }))).code).toBe('PROTO_TOO_MANY');
    const frame = `<hello v="1" gw="g" vmin="1" vmax="1" agent="1.0.0">${devices.map((d) => `<dev id="${d.id}" model="m" health="ok"/>`).join('')}</hello>`;
    expectRefused(frame, 'PROTO_TOO_MANY', 'hello/dev');
    const channels = Array.from({ length: LIMITS.maxChannelsPerDevice + 1 }, (_, i) => aChannel({ id: i + 1 }));
    expect(refusal(() => encode(aHello({ devices: [{ id: 'd', model: 'm', health: 'ok', channels }] }))).code).toBe('PROTO_TOO_MANY');
    const labels = Array.from({ length: LIMITS.maxLabels + 1 }, (_, i) => `l${i}`);
    expectRefused(`<hello v="1" gw="g" vmin="1" vmax="1" agent="1.0.0" labels="${labels.join(' ')}"/>`, 'PROTO_TOO_MANY', 'hello@labels');
  });
  it('checks ids, versions and names', () => {
    const h = (attrs: string) => `<hello v="1" ${attrs}/>`;
    expectRefused(h('gw="Site_1" vmin="1" vmax="1" agent="1.0.0"'), 'PROTO_BAD_FIELD', 'hello@gw');
    expectRefused(h('gw="g" vmin="2" vmax="1" agent="1.0.0"'), 'PROTO_BAD_FIELD', 'hello@vmax');
    expectRefused(h('gw="g" vmin="1" vmax="1" agent="latest"'), 'PROTO_BAD_FIELD', 'hello@agent');
    expectRefused(h('gw="g" vmin="1" vmax="1" agent="1.0.0" labels="North"'), 'PROTO_BAD_FIELD', 'hello@labels');
    expectRefused(h(`gw="g" vmin="1" vmax="1" agent="1.0.0" site="${'s'.repeat(129)}"`), 'PROTO_BAD_FIELD', 'hello@site');
    expectRefused(h('gw="g" vmin="1" agent="1.0.0"'), 'PROTO_MISSING_FIELD', 'hello@vmax');
    expectRefused(h('gw="g" vmin="1" vmax="1" agent="1.0.0" proxy="yes"'), 'PROTO_BAD_FIELD', 'hello@proxy');
  });
  it('refuses stray text and unknown elements', () => {
    expectRefused('<hello v="1" gw="g" vmin="1" vmax="1" agent="1.0.0">hi</hello>', 'PROTO_UNKNOWN_FIELD', 'hello#text');
    expectRefused('<hello v="1" gw="g" vmin="1" vmax="1" agent="1.0.0"><device/></hello>', 'PROTO_UNKNOWN_FIELD', 'hello/device');
  });
  it('a hello of 16 devices × 40 channels fits a frame and round-trips', () => {
    // The frame, not the element limit, bounds a hello: about 75 bytes per channel.
    const devices = Array.from({ length: LIMITS.maxDevices }, (_, d) => ({
      id: `lm${d}`,
      model: 'm',
      health: 'ok' as const,
      channels: Array.from({ length: 40 }, (_, c) => aChannel({ id: d * 40 + c + 1, name: `c${c}` })),
    }));
    const hello = aHello({ devices });
    expect(decode(encode(hello))).toStrictEqual(hello);
  });
  it('a hello that would exceed MAX_FRAME_BYTES is refused by encode, not sent', () => {
    const devices = Array.from({ length: 8 }, (_, d) => ({
      id: `lm${d}`,
      model: 'm',
      health: 'ok' as const,
      channels: Array.from({ length: 64 }, (_, c) => aChannel({ id: d * 64 + c + 1, name: '&'.repeat(64) })),
    }));
    const error = refusal(() => encode(aHello({ devices })));
    expect(error.code).toBe('PROTO_TOO_LARGE');
  });
});

describe('telemetry, ack, event, error', () => {
  it('telemetry needs 1..600 samples and refers to its seq', () => {
    const error = expectRefused('<telemetry v="1" seq="42"></telemetry>', 'PROTO_MISSING_FIELD', 'telemetry/s');
    expect(error.ref).toBe('42');
    const s = '<s t="1" kw="1" relays=""/>';
    expectRefused(`<telemetry v="1" seq="1">${s.repeat(LIMITS.maxSamples + 1)}</telemetry>`, 'PROTO_TOO_MANY', 'telemetry/s');
    expect(decode(`<telemetry v="1" seq="1">${s.repeat(LIMITS.maxSamples)}</telemetry>`)).toMatchObject({ seq: 1 });
    expectRefused('<telemetry v="1" seq="1"><s t="1" kw="1"/></telemetry>', 'PROTO_MISSING_FIELD', 'telemetry/s[0]@relays');
    expectRefused('<telemetry v="1" seq="1"><s t="1" kw="1" relays="" chkw="1:1 1:2"/></telemetry>', 'PROTO_DUPLICATE');
  });
  it('seq is a positive safe integer', () => {
    expectRefused('<ack v="1" seq="0"/>', 'PROTO_BAD_FIELD', 'ack@seq');
    expectRefused('<ack v="1" seq="9007199254740992"/>', 'PROTO_BAD_FIELD', 'ack@seq');
    expect(decode('<ack v="1" seq="9007199254740991"/>')).toEqual({ kind: 'ack', seq: Number.MAX_SAFE_INTEGER });
  });
  it('event details have unique keys, are limited and hold text only', () => {
    const e = '<event v="1" type="x-y" sev="info" t="1">';
    expectRefused(`${e}<d k="a">1</d><d k="a">2</d></event>`, 'PROTO_DUPLICATE', 'event/d[1]@k');
    const many = Array.from({ length: LIMITS.maxDetails + 1 }, (_, i) => `<d k="k${i}"/>`).join('');
    expectRefused(`${e}${many}</event>`, 'PROTO_TOO_MANY', 'event/d');
    expectRefused(`${e}<d k="a">1<b/></d></event>`, 'PROTO_UNKNOWN_FIELD', 'event/d[0]/b');
    expectRefused(`${e}<d k="a">${'x'.repeat(1025)}</d></event>`, 'PROTO_BAD_FIELD', 'event/d[0]#text');
    expectRefused(`${e}<d>1</d></event>`, 'PROTO_MISSING_FIELD', 'event/d[0]@k');
    expectRefused('<event v="1" type="X" sev="info" t="1"/>', 'PROTO_BAD_FIELD', 'event@type');
    expectRefused('<event v="1" type="x-y" sev="fatal" t="1"/>', 'PROTO_BAD_FIELD', 'event@sev');
  });
  it('a detail key may be any word, even one that names an Object.prototype member', () => {
    expect(decode('<event v="1" type="x-y" sev="info" t="1"><d k="constructor">c</d></event>')).toMatchObject({
      details: [{ key: 'constructor', value: 'c' }],
    });
  });
  it('error needs a registered code and a well-formed ref', () => {
    expectRefused('<error v="1" code="EVIL">x</error>', 'PROTO_BAD_FIELD', 'error@code');
    expectRefused('<error v="1" code="PROTO_NOT_XML" ref="a b">x</error>', 'PROTO_BAD_FIELD', 'error@ref');
    expectRefused('<error v="1">x</error>', 'PROTO_MISSING_FIELD', 'error@code');
  });
});

describe('text and whitespace', () => {
  it('normalises literal whitespace in attributes as XML does; references survive', () => {
    const frame = (site: string) => `<hello v="1" gw="g" vmin="1" vmax="1" agent="1.0.0" site="${site}"/>`;
    expect(decode(frame('a\nb\tc\r\nd'))).toMatchObject({ siteName: 'a b c d' });
    expect(decode(frame('a&#10;b&#9;c&#13;d'))).toMatchObject({ siteName: 'a\nb\tc\rd' });
  });
  it('reads unescaped >, quotes and / where XML allows them raw', () => {
    const hello = '<hello v="1" gw="g" vmin="1" vmax="1" agent="1.0.0"';
    expect(decode(`${hello} site="a>b 'q' /"/>`)).toMatchObject({ siteName: "a>b 'q' /" });
    expect(decode(`${hello} site='a"b/'/>`)).toMatchObject({ siteName: 'a"b/' });
    expect(decode(`<error v="1" code="CA_IO">a>b "c" 'd' /></error>`)).toMatchObject({ message: `a>b "c" 'd' />` });
  });
  it('keeps whitespace in text content, turning CRLF into LF as XML does', () => {
    expect(decode('<error v="1" code="CA_IO">  a\r\nb  </error>')).toMatchObject({ message: '  a\nb  ' });
  });
  it('encode escapes every special and round-trips astral characters', () => {
    const m: Message = { kind: 'error', code: 'CA_IO', message: `<&>"'\t\n\r 😀 ü` };
    expect(encode(m)).toBe('<error v="1" code="CA_IO">&lt;&amp;&gt;&quot;&apos;&#9;&#10;&#13; 😀 ü</error>');
    expect(decode(encode(m))).toStrictEqual(m);
  });
  it('encode refuses characters XML cannot carry', () => {
    for (const bad of ['\u0000', '\u0001', '\u001f', '\uD800', 'a\uDC00', '\uFFFE', '\uFFFF']) {
      const error = refusal(() => encode(aHello({ siteName: bad })));
      expect(error.code).toBe('PROTO_BAD_FIELD');
      expect(error.path).toBe('hello@site');
    }
  });
});

describe('numbers on the way out', () => {
  function resultKw(kw: number): string {
    return encode({ kind: 'result', commandId: 'c', status: 'ok', time: 1, measuredKw: kw });
  }
  it('writes kW with at most 3 decimals and no exponent', () => {
    expect(resultKw(12.3456)).toContain('kw="12.346"');
    expect(resultKw(1e-7)).toContain('kw="0"');
    expect(resultKw(-1e-7)).toContain('kw="0"');
    expect(resultKw(-0)).toContain('kw="0"');
    expect(resultKw(1_000_000)).toContain('kw="1000000"');
    expect(resultKw(0.001)).toContain('kw="0.001"');
    expect(resultKw(-12.5)).toContain('kw="-12.5"');
  });
  it('refuses non-finite and out-of-range values', () => {
    for (const kw of [Number.NaN, Infinity, 1_000_000.5, -2e6]) {
      expect(refusal(() => resultKw(kw)).code).toBe('PROTO_BAD_FIELD');
    }
    expect(refusal(() => encode({ kind: 'ack', seq: 1.5 })).code).toBe('PROTO_BAD_FIELD');
    expect(refusal(() => encode({ kind: 'ack', seq: 0 })).code).toBe('PROTO_BAD_FIELD');
  });
  it('refuses an object that is not a message', () => {
    expect(refusal(() => encode({ kind: 'hug' } as unknown as Message)).code).toBe('PROTO_UNKNOWN_KIND');
    expect(refusal(() => encode(null as unknown as Message)).code).toBe('PROTO_UNKNOWN_KIND');
  });
});

describe('ProtocolError', () => {
  it('clips its wire message to the limit without splitting a surrogate pair', () => {
    const long = `${'x'.repeat(LIMITS.maxErrorMessageLength - 1)}😀tail`;
    const wire = new ProtocolError('PROTO_BAD_FIELD', long).toWire();
    expect(wire.message).toBe('x'.repeat(LIMITS.maxErrorMessageLength - 1));
    expect(() => encode(wire)).not.toThrow();
  });
  it('every golden vector is shorter than a frame', () => {
    for (const m of Object.values(GOLDEN)) expect(encode(m).length).toBeLessThan(MAX_FRAME_BYTES);
  });
});
