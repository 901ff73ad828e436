/**
 * The golden vectors: for each file golden/<name>.xml (exact bytes, no trailing newline) the message
 * it decodes to and encodes from. Changing a vector is a wire-format change: docs/protocol.md quotes
 * them.
 */
import type { Message } from '../../../shared/protocol/index.js';

export const GOLDEN: Readonly<Record<string, Message>> = {
  hello: {
    kind: 'hello',
    gatewayId: 'site-0001',
    minVersion: 1,
    maxVersion: 1,
    agentVersion: '0.1.0',
    siteName: 'Müller & Söhne',
    labels: ['north', 'zone-3'],
    viaProxy: true,
    devices: [
      {
        id: 'lm1',
        model: 'demo-4ch',
        health: 'ok',
        channels: [
          {
            id: 1,
            name: 'Boiler',
            priority: 1,
            sheddable: true,
            ratedKw: 3.5,
            minOnSeconds: 60,
            minOffSeconds: 60,
            maxOffSeconds: 3600,
            on: true,
          },
          {
            id: 2,
            name: 'Heat pump "WP 2"',
            priority: 5,
            sheddable: false,
            ratedKw: 12.25,
            minOnSeconds: 300,
            minOffSeconds: 600,
          },
        ],
      },
      { id: 'lm2', model: 'relay-8', health: 'degraded', channels: [] },
    ],
  },
  'hello-minimal': {
    kind: 'hello',
    gatewayId: 'gw-2',
    minVersion: 1,
    maxVersion: 1,
    agentVersion: '1.0.0-rc.1',
    labels: [],
    viaProxy: false,
    devices: [],
  },
  welcome: {
    kind: 'welcome',
    gatewayId: 'site-0001',
    serverTime: 1764100000000,
    pingIntervalSeconds: 15,
    telemetryIntervalSeconds: 1,
  },
  'command-shed-channels': {
    kind: 'command',
    id: 'c7Kq2',
    op: 'shed',
    deadline: 1764100060000,
    selector: { channels: [1, 2] },
    durationSeconds: 900,
  },
  'command-shed-priority': {
    kind: 'command',
    id: 'c7Kq3',
    op: 'shed',
    deadline: 1764100060000,
    selector: { maxPriority: 3 },
  },
  'command-restore-all': {
    kind: 'command',
    id: 'c7Kq4',
    op: 'restore',
    deadline: 1764100060000,
    selector: { all: true },
  },
  'command-restore-channels': {
    kind: 'command',
    id: 'c7Kq5',
    op: 'restore',
    deadline: 1764100060000,
    selector: { channels: [2] },
  },
  'command-read': { kind: 'command', id: 'c7Kq6', op: 'read', deadline: 1764100060000 },
  'result-ok': {
    kind: 'result',
    commandId: 'c7Kq2',
    status: 'ok',
    time: 1764100000500,
    measuredKw: 12.5,
    relays: [
      { channel: 1, on: false },
      { channel: 2, on: false },
      { channel: 3, on: true },
    ],
  },
  'result-rejected': {
    kind: 'result',
    commandId: 'c7Kq3',
    status: 'rejected',
    code: 'CMD_NOT_SHEDDABLE',
    time: 1764100000500,
    message: 'channel 3 is not sheddable',
  },
  'result-failed': {
    kind: 'result',
    commandId: 'c7Kq5',
    status: 'failed',
    code: 'CMD_LM_FAILED',
    time: 1764100000700,
    measuredKw: -0.75,
    relays: [{ channel: 2, on: false }],
    message: 'read-back: relay 2 still off',
  },
  telemetry: {
    kind: 'telemetry',
    seq: 42,
    samples: [
      {
        time: 1764100000000,
        kw: 12.34,
        kwh: 1234.5,
        relays: [
          { channel: 1, on: true },
          { channel: 2, on: false },
        ],
        channelKw: [
          { channel: 1, kw: 3.2 },
          { channel: 2, kw: 0 },
        ],
      },
      { time: 1764100001000, kw: -0.5, relays: [] },
    ],
  },
  ack: { kind: 'ack', seq: 42 },
  event: {
    kind: 'event',
    type: 'interception-suspected',
    severity: 'alarm',
    time: 1764100000000,
    details: [
      { key: 'subject', value: 'CN=mitmproxy' },
      { key: 'issuer', value: 'O="Evil & Co" <x>' },
      { key: 'fp', value: 'AB:CD:EF' },
    ],
  },
  'event-empty': { kind: 'event', type: 'link-up', severity: 'info', time: 0, details: [] },
  error: {
    kind: 'error',
    code: 'PROTO_BAD_FIELD',
    ref: 'c7Kq2',
    message: 'attribute dl of command: must be an integer',
  },
  'error-noref': { kind: 'error', code: 'PROTO_NOT_XML', message: "line one\nline two 'quoted'" },
};

/** Valid but not canonical frames: decode accepts them; encode writes the named golden vector instead. */
export const VARIANTS: readonly { name: string; frame: string; canonical: string }[] = [
  {
    name: 'declaration, CRLF, single quotes, attribute order, spaces',
    frame:
      '<?xml version="1.0" encoding="UTF-8"?>\r\n<command id=\'c7Kq2\' v=\'1\'\r\n  op = "shed" dur="900" dl="1764100060000" ch="1 2" />\n',
    canonical: 'command-shed-channels',
  },
  { name: 'numeric character references', frame: '<ack v="&#49;" seq="&#x34;2"/>', canonical: 'ack' },
  { name: 'end tag instead of empty-element tag', frame: '<ack v="1" seq="42"> </ack>', canonical: 'ack' },
  {
    name: 'pretty-printed telemetry, non-canonical decimals',
    frame:
      '<telemetry v="1" seq="42">\n  <s t="1764100000000" kw="12.340" kwh="1234.50" relays="1:1 2:0" chkw="1:3.2 2:-0"/>\n' +
      '  <s t="1764100001000" kw="-0.500" relays=""/>\n</telemetry>',
    canonical: 'telemetry',
  },
  {
    name: 'explicit proxy="0", labels=""',
    frame: '<hello v="1" gw="gw-2" vmin="1" vmax="1" agent="1.0.0-rc.1" labels="" proxy="0"></hello>',
    canonical: 'hello-minimal',
  },
  {
    name: 'message text split by character references',
    frame: '<error v="1" code="PROTO_NOT_XML">line one&#xA;line two \'quoted\'</error>',
    canonical: 'error-noref',
  },
];
