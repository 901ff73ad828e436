import { describe, expect, it } from 'vitest';
import { OPERATOR_METHODS, validateCall } from '../../../../console/hub/operator/schemas.js';
import { LmgwError } from '../../../../shared/errors.js';
import { BAD_CALLS, GOOD_CALLS, RecordingService } from './recording-service.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = 1_700_000_000_000;

function refusal(method: string, params: unknown): string {
  try {
    validateCall(method, params);
  } catch (err) {
    expect(err).toBeInstanceOf(LmgwError);
    expect((err as LmgwError).code).toBe('OP_BAD_REQUEST');
    return (err as LmgwError).message;
  }
  throw new Error(`${method} accepted ${JSON.stringify(params)}`);
}

describe('OPERATOR_METHODS', () => {
  it('holds every method of the service but subscribe, watch and durable, operations apart from queries', () => {
    const serviceMethods = Object.keys(new RecordingService()).filter((k) => !['calls', 'listeners', 'failWith', 'durableCalls', 'durableFailsWith', 'subscribe', 'watch', 'watched', 'durable'].includes(k));
    expect(Object.keys(OPERATOR_METHODS).sort()).toEqual(serviceMethods.sort());
    const operations = Object.entries(OPERATOR_METHODS).flatMap(([m, spec]) => (spec.kind === 'operation' ? [m] : []));
    expect(operations.sort()).toEqual(['acknowledgeAlarm', 'cancelShed', 'command', 'commandMany', 'restoreAll', 'revokeCertificate', 'setTarget', 'startShed']);
  });
});

describe('validateCall', () => {
  it.each(GOOD_CALLS)('accepts a valid $method call', ({ method, params }) => {
    expect(validateCall(method, params)).toEqual({ method, params });
  });

  it.each(BAD_CALLS)('refuses $method with a bad $field, naming the method and the field', ({ method, params, field }) => {
    expect(refusal(method, params)).toMatch(new RegExp(`^${method}: ${field ? `${field.replace(/\./g, '\\.')}: ` : ''}`));
  });

  it('names every field at fault, not only the first', () => {
    const message = refusal('command', { gatewayId: 'GW', op: 'jump', extra: 1 });
    expect(message).toContain('gatewayId: must be a gateway id');
    expect(message).toContain('op: must be one of "shed", "restore", "read"');
    expect(message).toContain('extra: is not a known field');
  });

  it('says "is required" for a missing field and what type was expected for a wrong one', () => {
    expect(refusal('gateway', {})).toBe('gateway: gatewayId: is required');
    expect(refusal('gateway', { gatewayId: 7 })).toBe('gateway: gatewayId: must be a string');
    expect(refusal('setTarget', { targetKw: 'ten' })).toBe('setTarget: targetKw: must be a number');
  });

  it('treats absent params as {} and refuses anything but an object', () => {
    expect(validateCall('fleet', undefined)).toEqual({ method: 'fleet', params: {} });
    expect(refusal('restoreAll', null)).toBe('restoreAll: must be an object');
    expect(refusal('gateway', 'gw-1')).toBe('gateway: must be an object');
  });

  it('refuses unknown methods, inherited property names included', () => {
    for (const m of ['nope', 'subscribe', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(refusal(m, {})).toMatch(/is not an operator method/);
    }
    // A name that is not a plain identifier is not echoed back.
    expect(refusal('<script>', {})).toMatch(/^the name given is not an operator method/);
  });

  it('refuses a __proto__ key (JSON.parse makes it an own property) rather than passing it on', () => {
    const params: unknown = JSON.parse('{"gatewayId":"gw-1","__proto__":{"admin":true}}');
    expect(refusal('gateway', params)).toContain('__proto__: is not a known field');
  });

  it('returns only parsed data, never the caller\'s object', () => {
    const params = { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 2 }, durationSeconds: 60 };
    const call = validateCall('startShed', params);
    expect(call.params).toEqual(params);
    expect(call.params).not.toBe(params);
  });

  describe('load history ranges are bounded per resolution', () => {
    const cases: [resolution: string, max: number, words: string][] = [
      ['1s', 2 * HOUR, '2 h at 1s resolution (use 1m or 15m for longer ranges)'],
      ['1m', 7 * DAY, '7 days at 1m resolution (use 15m for longer ranges)'],
      ['15m', 400 * DAY, '400 days at 15m resolution'],
    ];
    it.each(cases)('%s: up to the bound is fine, a millisecond more is refused with the bound named', (resolution, max, words) => {
      expect(validateCall('loadHistory', { from: T0, to: T0 + max, resolution }).method).toBe('loadHistory');
      expect(refusal('loadHistory', { from: T0, to: T0 + max + 1, resolution })).toBe(`loadHistory: to: the range from..to may span at most ${words}`);
    });
    it('to must be after from', () => {
      expect(refusal('loadHistory', { from: T0, to: T0 - 1, resolution: '15m' })).toBe('loadHistory: to: must be later than from');
    });
  });

  it('bounds every selector the plan accepts', () => {
    const shed = (selector: unknown): unknown => ({ scope: { kind: 'gateway', gatewayId: 'gw-1' }, selector, durationSeconds: 1 });
    expect(validateCall('previewShed', shed({ kind: 'channels', channels: [1, 999] })).method).toBe('previewShed');
    expect(validateCall('previewShed', shed({ kind: 'priority', maxPriority: 99 })).method).toBe('previewShed');
    expect(validateCall('previewShed', shed({ kind: 'targetKw', kw: 0.001 })).method).toBe('previewShed');
    expect(refusal('previewShed', shed({ kind: 'priority', maxPriority: 0 }))).toBe('previewShed: selector.maxPriority: must be at least 1');
    expect(refusal('previewShed', shed({ kind: 'priority', maxPriority: 2.5 }))).toBe('previewShed: selector.maxPriority: must be a whole number');
    expect(refusal('previewShed', shed({ kind: 'everything' }))).toMatch(/^previewShed: selector\.kind: must have kind "channels", "priority" or "targetKw"/);
    expect(refusal('previewShed', shed({ kind: 'priority', maxPriority: 3, channels: [1] }))).toBe('previewShed: selector.channels: is not a known field');
    expect(refusal('previewShed', shed({ kind: 'channels', channels: Array.from({ length: 1000 }, (_, i) => i + 1) }))).toMatch(/selector\.channels/);
  });

  it('bounds the gateways a scope may name and refuses duplicates', () => {
    const shed = (gatewayIds: string[]): unknown => ({ scope: { kind: 'gateways', gatewayIds }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 1 });
    expect(validateCall('startShed', shed(Array.from({ length: 10_000 }, (_, i) => `gw-${i}`))).method).toBe('startShed');
    expect(refusal('startShed', shed(Array.from({ length: 10_001 }, (_, i) => `gw-${i}`)))).toBe('startShed: scope.gatewayIds: must name at most 10000');
    expect(refusal('startShed', shed(['gw-1', 'gw-1']))).toBe('startShed: scope.gatewayIds: must not name one twice');
  });
});
