import { describe, expect, it } from 'vitest';
import { buildShedRequest, EMPTY_SHED_FORM, parseChannelList, parseDurationMinutes } from '../../../console/renderer/logic/shed-form.js';

describe('channel lists', () => {
  it('reads numbers and ranges, sorted and without duplicates', () => {
    expect(parseChannelList('3, 1 2;1')).toEqual([1, 2, 3]);
    expect(parseChannelList('101-104, 1')).toEqual([1, 101, 102, 103, 104]);
  });

  it('says what is wrong', () => {
    expect(parseChannelList('')).toBe('name at least one channel');
    expect(parseChannelList('1, x')).toBe('"x" is not a channel number or range');
    expect(parseChannelList('0')).toBe('"0": channels are 1 to 999');
    expect(parseChannelList('5-2')).toBe('"5-2": channels are 1 to 999');
  });
});

describe('the shed form', () => {
  it('builds the request the hub takes', () => {
    const r = buildShedRequest({ ...EMPTY_SHED_FORM, scope: 'gateways', gatewayIds: ['a', 'b', 'a'], selector: 'targetKw', targetKw: '42,5', durationMinutes: '15', note: ' peak 14:30 ' });
    expect(r).toEqual({
      ok: true,
      request: { scope: { kind: 'gateways', gatewayIds: ['a', 'b'] }, selector: { kind: 'targetKw', kw: 42.5 }, durationSeconds: 900, note: 'peak 14:30' },
    });
    expect(buildShedRequest({ ...EMPTY_SHED_FORM })).toEqual({ ok: true, request: { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 900 } });
  });

  it('names each field at fault and sends nothing', () => {
    const r = buildShedRequest({ ...EMPTY_SHED_FORM, scope: 'gateway', gatewayId: '', selector: 'priority', maxPriority: '100', durationMinutes: '0', note: 'a\u202eb' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(Object.keys(r.problems).sort()).toEqual(['durationMinutes', 'gatewayId', 'maxPriority', 'note']);
  });

  it('wants a label for a label scope and channels for a channel selector', () => {
    const r = buildShedRequest({ ...EMPTY_SHED_FORM, scope: 'label', selector: 'channels', channels: '' });
    expect(r.ok ? [] : Object.keys(r.problems).sort()).toEqual(['channels', 'label']);
  });

  it('caps the duration at 24 h', () => {
    expect(buildShedRequest({ ...EMPTY_SHED_FORM, durationMinutes: '1441' }).ok).toBe(false);
    expect(parseDurationMinutes('1440')).toBe(86_400);
    expect(parseDurationMinutes('0.5')).toBe(30);
    expect(typeof parseDurationMinutes('-1')).toBe('string');
  });
});
