import { describe, expect, it } from 'vitest';
import { formatCountdown, formatDuration, formatKw, formatNumber, formatRelative, plural, ZonedTime } from '../../../console/renderer/logic/format.js';

describe('power and counts', () => {
  it('writes kW with one decimal and a dash when unknown', () => {
    expect(formatKw(57.56)).toBe('57.6 kW');
    expect(formatKw(0)).toBe('0.0 kW');
    expect(formatKw(12.345, 2)).toBe('12.35 kW');
    expect(formatKw(null)).toBe('—');
    expect(formatKw(undefined)).toBe('—');
    expect(formatKw(Number.NaN)).toBe('—');
  });

  it('groups thousands and writes a true minus, but never −0.0', () => {
    expect(formatNumber(1234567.89, 1)).toBe('1\u202f234\u202f567.9');
    expect(formatNumber(-12.5, 1)).toBe('−12.5');
    expect(formatNumber(-0.01, 1)).toBe('0.0');
    expect(formatNumber(999, 0)).toBe('999');
  });

  it('says one load, two loads', () => {
    expect(plural(1, 'load', 'loads')).toBe('1 load');
    expect(plural(0, 'load', 'loads')).toBe('0 loads');
    expect(plural(9, 'load', 'loads')).toBe('9 loads');
  });
});

describe('durations and countdowns', () => {
  it('writes a duration in the largest sensible units', () => {
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(900)).toBe('15 min');
    expect(formatDuration(930)).toBe('15 min 30 s');
    expect(formatDuration(5400)).toBe('1 h 30 min');
    expect(formatDuration(7200)).toBe('2 h');
    expect(formatDuration(86_400 * 2 + 3600 * 4 + 59)).toBe('2 d 4 h');
    expect(formatDuration(-5)).toBe('0 s');
  });

  it('counts down as m:ss or h:mm:ss, rounding up so it never reads 0:00 early', () => {
    expect(formatCountdown(245_000)).toBe('4:05');
    expect(formatCountdown(244_001)).toBe('4:05');
    expect(formatCountdown(3_723_000)).toBe('1:02:03');
    expect(formatCountdown(500)).toBe('0:01');
    expect(formatCountdown(0)).toBe('0:00');
    expect(formatCountdown(-10_000)).toBe('0:00');
  });

  it('says how long ago or until', () => {
    expect(formatRelative(10_000 + 3 * 86_400_000, 10_000)).toBe('in 3 d');
    expect(formatRelative(0, 300_000)).toBe('5 min ago');
    expect(formatRelative(1000, 1200)).toBe('now');
  });
});

describe('times in the hub time zone', () => {
  // 2026-07-01 12:00:00 UTC is 14:00 in Zurich (CEST, +2) and 08:00 in New York (EDT, −4).
  const t = Date.UTC(2026, 6, 1, 12, 0, 5);

  it('formats in the zone given, not the machine zone, 24-hour and ISO-like', () => {
    expect(new ZonedTime('Europe/Zurich').dateTime(t)).toBe('2026-07-01 14:00:05');
    expect(new ZonedTime('America/New_York').time(t)).toBe('08:00:05');
    expect(new ZonedTime('UTC').hm(t)).toBe('12:00');
    expect(new ZonedTime('Asia/Kathmandu').hm(t)).toBe('17:45');
  });

  it('writes midnight as 00, not 24', () => {
    expect(new ZonedTime('UTC').time(Date.UTC(2026, 0, 1, 0, 0, 0))).toBe('00:00:00');
  });

  it('shows the date only when it is not today in that zone', () => {
    const zone = new ZonedTime('Europe/Zurich');
    const now = Date.UTC(2026, 6, 1, 21, 0);
    expect(zone.moment(Date.UTC(2026, 6, 1, 21, 30), now)).toBe('23:30');
    expect(zone.moment(Date.UTC(2026, 6, 1, 22, 30), now)).toBe('2026-07-02 00:30');
  });

  it('falls back to UTC for an unknown zone instead of failing', () => {
    const zone = new ZonedTime('Mars/Olympus_Mons');
    expect(zone.timeZone).toBe('UTC');
    expect(zone.hm(t)).toBe('12:00');
  });

  it('writes a dash for a missing time', () => {
    expect(new ZonedTime('UTC').dateTime(null)).toBe('—');
  });

  it('reads a datetime-local value as wall-clock time in the zone, across DST', () => {
    const zone = new ZonedTime('Europe/Zurich');
    expect(zone.fromInput('2026-07-01T14:00')).toBe(Date.UTC(2026, 6, 1, 12, 0));
    expect(zone.fromInput('2026-01-15T14:00')).toBe(Date.UTC(2026, 0, 15, 13, 0));
    expect(zone.fromInput('2026-01-15T14:00:30')).toBe(Date.UTC(2026, 0, 15, 13, 0, 30));
    // 2026-10-25 02:30 happens twice in Zurich: the first (CEST) one.
    expect(zone.fromInput('2026-10-25T02:30')).toBe(Date.UTC(2026, 9, 25, 0, 30));
    // 2026-03-29 02:30 does not exist in Zurich (02:00 CET jumps to 03:00 CEST): read with CET.
    expect(zone.fromInput('2026-03-29T02:30')).toBe(Date.UTC(2026, 2, 29, 1, 30));
    expect(zone.toInput(Date.UTC(2026, 6, 1, 12, 0))).toBe('2026-07-01T14:00');
    expect(zone.fromInput('yesterday')).toBeUndefined();
  });
});
