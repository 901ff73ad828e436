import { describe, expect, it } from 'vitest';
import {
  billingPeriodStart,
  formatLocalTime,
  isValidTimeZone,
  nextBillingPeriodStart,
  QUARTER_HOUR_MS,
  quarterHourEnd,
  quarterHourStart,
  zoneOffsetMs,
} from '../../../shared/load/index.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const at = (iso: string): number => Date.parse(iso);

/** The distinct quarter hours touched by one probe per minute over [from, to), as epoch starts. */
function quarterHoursBetween(from: number, to: number, timeZone: string): number[] {
  const starts = new Set<number>();
  for (let t = from; t < to; t += MINUTE) starts.add(quarterHourStart(t, timeZone));
  return [...starts];
}

describe('isValidTimeZone', () => {
  it('accepts IANA names and UTC, refuses anything else', () => {
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Europe/Zurich')).toBe(true);
    expect(isValidTimeZone('Asia/Kathmandu')).toBe(true);
    expect(isValidTimeZone('Europe/Atlantis')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
    // An offset zone would silently drop DST; Node 22+ would accept it, we refuse it on every Node.
    expect(isValidTimeZone('+01:00')).toBe(false);
  });

  it('makes the other functions throw a RangeError naming the zone', () => {
    expect(() => quarterHourStart(0, 'Mars/Olympus')).toThrow(/Mars\/Olympus/);
    expect(() => quarterHourStart(Number.NaN, 'UTC')).toThrow(RangeError);
  });
});

describe('zoneOffsetMs', () => {
  it('follows DST and keeps odd offsets exact', () => {
    expect(zoneOffsetMs(at('2026-01-15T12:00:00Z'), 'Europe/Zurich')).toBe(1 * HOUR);
    expect(zoneOffsetMs(at('2026-07-15T12:00:00Z'), 'Europe/Zurich')).toBe(2 * HOUR);
    expect(zoneOffsetMs(at('2026-07-15T12:00:00Z'), 'Asia/Kathmandu')).toBe(5 * HOUR + 45 * MINUTE);
    expect(zoneOffsetMs(at('2026-01-15T12:00:00Z'), 'America/St_Johns')).toBe(-(3 * HOUR + 30 * MINUTE));
    expect(zoneOffsetMs(at('1971-06-01T12:00:00Z'), 'Africa/Monrovia')).toBe(-(44 * MINUTE + 30_000));
    expect(zoneOffsetMs(at('2026-07-15T12:00:00.999Z'), 'UTC')).toBe(0);
  });
});

describe('quarterHourStart / quarterHourEnd', () => {
  it('UTC: floors to 15 minutes, the end is 15 minutes later', () => {
    const t = at('2026-05-05T10:29:59.999Z');
    expect(quarterHourStart(t, 'UTC')).toBe(at('2026-05-05T10:15:00Z'));
    expect(quarterHourEnd(t, 'UTC')).toBe(at('2026-05-05T10:30:00Z'));
    expect(quarterHourStart(at('2026-05-05T10:30:00Z'), 'UTC')).toBe(at('2026-05-05T10:30:00Z'));
  });

  it('Europe/Zurich spring-forward 2026-03-29: 02:xx labels are skipped, no elapsed time is', () => {
    const starts = quarterHoursBetween(at('2026-03-29T00:00:00Z'), at('2026-03-29T02:00:00Z'), 'Europe/Zurich');
    expect(starts).toHaveLength(8);
    starts.forEach((start, i) => expect(start).toBe(at('2026-03-29T00:00:00Z') + i * QUARTER_HOUR_MS));
    expect(starts.map((s) => formatLocalTime(s, 'Europe/Zurich').slice(11))).toEqual([
      '01:00', '01:15', '01:30', '01:45', '03:00', '03:15', '03:30', '03:45',
    ]);
    // The last winter quarter hour ends exactly when the first summer one starts.
    expect(quarterHourEnd(at('2026-03-29T00:59:59Z'), 'Europe/Zurich')).toBe(at('2026-03-29T01:00:00Z'));
  });

  it('Europe/Zurich fall-back 2026-10-25: the repeated 02:00–03:00 hour is 4 + 4 distinct quarter hours', () => {
    const starts = quarterHoursBetween(at('2026-10-25T00:00:00Z'), at('2026-10-25T02:00:00Z'), 'Europe/Zurich');
    expect(starts).toHaveLength(8);
    starts.forEach((start, i) => expect(start).toBe(at('2026-10-25T00:00:00Z') + i * QUARTER_HOUR_MS));
    const labels = starts.map((s) => formatLocalTime(s, 'Europe/Zurich').slice(11));
    expect(labels).toEqual(['02:00', '02:15', '02:30', '02:45', '02:00', '02:15', '02:30', '02:45']);
    // Same label, different intervals: 02:15 CEST and 02:15 CET are an hour apart.
    expect(starts[5]! - starts[1]!).toBe(HOUR);
  });

  it('Asia/Kathmandu (+05:45): aligned to the local wall clock', () => {
    const t = at('2026-06-01T06:20:00Z'); // 12:05 local
    expect(formatLocalTime(quarterHourStart(t, 'Asia/Kathmandu'), 'Asia/Kathmandu')).toBe('2026-06-01 12:00');
    expect(quarterHourStart(t, 'Asia/Kathmandu')).toBe(at('2026-06-01T06:15:00Z'));
  });

  it('America/St_Johns (−03:30, −02:30 in summer): aligned to the local wall clock, across its DST start', () => {
    const t = at('2026-01-10T14:44:00Z'); // 11:14 local
    expect(quarterHourStart(t, 'America/St_Johns')).toBe(at('2026-01-10T14:30:00Z'));
    expect(formatLocalTime(at('2026-01-10T14:30:00Z'), 'America/St_Johns')).toBe('2026-01-10 11:00');
    // 2026-03-08 02:00 NST → 03:00 NDT at 05:30Z.
    const starts = quarterHoursBetween(at('2026-03-08T05:00:00Z'), at('2026-03-08T06:00:00Z'), 'America/St_Johns');
    expect(starts.map((s) => formatLocalTime(s, 'America/St_Johns').slice(11))).toEqual(['01:30', '01:45', '03:00', '03:15']);
  });

  it('follows odd historical offsets, and an offset change inside a quarter hour starts a short one', () => {
    // Liberia ran on −0:44:30 until 1972-01-07 00:00 local (00:44:30Z), then on GMT.
    const zone = 'Africa/Monrovia';
    expect(quarterHourStart(at('1971-06-01T12:00:00Z'), zone)).toBe(at('1971-06-01T11:59:30Z'));
    expect(formatLocalTime(at('1971-06-01T11:59:30Z'), zone)).toBe('1971-06-01 11:15');
    // The old zone's last quarter hour ends at the change; GMT's first one is 30 s long.
    expect(quarterHourEnd(at('1972-01-07T00:40:00Z'), zone)).toBe(at('1972-01-07T00:44:30Z'));
    expect(quarterHourStart(at('1972-01-07T00:44:40Z'), zone)).toBe(at('1972-01-07T00:44:30Z'));
    expect(quarterHourEnd(at('1972-01-07T00:44:40Z'), zone)).toBe(at('1972-01-07T00:45:00Z'));
    expect(quarterHourStart(at('1972-01-07T00:45:00Z'), zone)).toBe(at('1972-01-07T00:45:00Z'));
  });

  it('tiles time: each end is the next start, on a walk through DST changes in several zones', () => {
    for (const zone of ['Europe/Zurich', 'America/St_Johns', 'Asia/Kathmandu', 'Africa/Monrovia']) {
      const from = zone === 'Africa/Monrovia' ? at('1972-01-06T22:00:00Z') : at('2026-03-07T00:00:00Z');
      let start = quarterHourStart(from, zone);
      for (let i = 0; i < 400; i++) {
        const end = quarterHourEnd(start, zone);
        expect(end).toBeGreaterThan(start);
        expect(end - start).toBeLessThanOrEqual(QUARTER_HOUR_MS);
        expect(quarterHourStart(end - 1, zone)).toBe(start);
        expect(quarterHourStart(end, zone)).toBe(end);
        start = end;
      }
    }
  });
});

describe('the per-zone interval cache', () => {
  it('answers the same whatever was asked before: ascending, descending and shuffled walks through DST changes and month ends', () => {
    const probes: Array<[number, string]> = [];
    const walks: Array<[string, string, string]> = [
      ['Europe/Zurich', '2026-10-24T23:00:00Z', '2026-10-25T04:00:00Z'],
      ['America/St_Johns', '2026-03-07T23:00:00Z', '2026-03-08T08:00:00Z'],
      ['Africa/Monrovia', '1972-01-06T23:50:00Z', '1972-01-07T01:30:00Z'],
      ['Europe/Zurich', '2026-10-31T21:00:00Z', '2026-11-01T01:00:00Z'],
      ['America/Havana', '2026-10-31T02:00:00Z', '2026-11-01T09:00:00Z'],
    ];
    for (const [zone, from, to] of walks) for (let t = at(from); t < at(to); t += 7 * MINUTE + 13_000) probes.push([t, zone]);
    const answers = (order: Array<[number, string]>): Map<string, number[]> =>
      new Map(order.map(([t, zone]) => [`${zone} ${t}`, [quarterHourStart(t, zone), quarterHourEnd(t, zone), billingPeriodStart(t, zone), nextBillingPeriodStart(t, zone)]]));
    const ascending = answers(probes);
    // A fixed shuffle (multiplicative hashing), so a failure can be replayed.
    const shuffled = probes.map((p, i) => [(i * 2_654_435_761) % 4_294_967_296, p] as const).sort((a, b) => a[0] - b[0]).map(([, p]) => p);
    for (const order of [[...probes].reverse(), shuffled]) {
      const other = answers(order);
      for (const [key, expected] of ascending) expect(other.get(key), key).toEqual(expected);
    }
    // And each answer contains its instant.
    for (const [t, zone] of probes) {
      expect(quarterHourStart(t, zone)).toBeLessThanOrEqual(t);
      expect(quarterHourEnd(t, zone)).toBeGreaterThan(t);
      expect(billingPeriodStart(t, zone)).toBeLessThanOrEqual(t);
      expect(nextBillingPeriodStart(t, zone)).toBeGreaterThan(t);
    }
  });

  it('still refuses a time that is not a number', () => {
    quarterHourStart(at('2026-06-01T12:00:00Z'), 'UTC');
    expect(() => quarterHourStart(Number.NaN, 'UTC')).toThrow(RangeError);
    expect(() => billingPeriodStart(Number.POSITIVE_INFINITY, 'UTC')).toThrow(RangeError);
  });
});

describe('billingPeriodStart / nextBillingPeriodStart', () => {
  it('is local midnight on the 1st: 2026-11-01 00:00 Europe/Zurich = 2026-10-31T23:00Z', () => {
    const nov = at('2026-10-31T23:00:00Z');
    expect(billingPeriodStart(at('2026-11-15T10:00:00Z'), 'Europe/Zurich')).toBe(nov);
    expect(billingPeriodStart(nov, 'Europe/Zurich')).toBe(nov);
    // One ms earlier is still October local time, whose month began in summer time.
    expect(billingPeriodStart(nov - 1, 'Europe/Zurich')).toBe(at('2026-09-30T22:00:00Z'));
    expect(nextBillingPeriodStart(nov - 1, 'Europe/Zurich')).toBe(nov);
    expect(nextBillingPeriodStart(nov, 'Europe/Zurich')).toBe(at('2026-11-30T23:00:00Z'));
  });

  it('crosses the year boundary', () => {
    const jan = at('2026-12-31T23:00:00Z');
    expect(nextBillingPeriodStart(at('2026-12-31T22:59:59Z'), 'Europe/Zurich')).toBe(jan);
    expect(billingPeriodStart(at('2027-01-20T00:00:00Z'), 'Europe/Zurich')).toBe(jan);
    expect(billingPeriodStart(at('2026-12-31T23:30:00Z'), 'UTC')).toBe(at('2026-12-01T00:00:00Z'));
    expect(nextBillingPeriodStart(at('2026-12-31T23:30:00Z'), 'UTC')).toBe(at('2027-01-01T00:00:00Z'));
    expect(billingPeriodStart(at('2026-01-05T00:00:00Z'), 'Asia/Kathmandu')).toBe(at('2025-12-31T18:15:00Z'));
  });

  it('where midnight does not exist, the month starts when the clocks jump (America/Asuncion 2023-10-01)', () => {
    // 2023-09-30 23:59:59 −04 is followed by 2023-10-01 01:00:00 −03.
    const oct = at('2023-10-01T04:00:00Z');
    expect(billingPeriodStart(at('2023-10-10T12:00:00Z'), 'America/Asuncion')).toBe(oct);
    expect(nextBillingPeriodStart(at('2023-09-10T12:00:00Z'), 'America/Asuncion')).toBe(oct);
    expect(billingPeriodStart(oct - 1, 'America/Asuncion')).toBe(at('2023-09-01T04:00:00Z'));
  });

  it('where midnight happens twice, the month starts at the first (America/Havana 2026-11-01)', () => {
    // 01:00 CDT falls back to 00:00 CST: 00:00 local is both 04:00Z and 05:00Z.
    expect(billingPeriodStart(at('2026-11-20T12:00:00Z'), 'America/Havana')).toBe(at('2026-11-01T04:00:00Z'));
    expect(billingPeriodStart(at('2026-11-01T04:30:00Z'), 'America/Havana')).toBe(at('2026-11-01T04:00:00Z'));
  });
});

describe('formatLocalTime', () => {
  it('renders local 24-hour time', () => {
    expect(formatLocalTime(at('2026-07-01T22:05:00Z'), 'Europe/Zurich')).toBe('2026-07-02 00:05');
    expect(formatLocalTime(at('2026-07-01T13:05:59Z'), 'UTC')).toBe('2026-07-01 13:05');
    expect(formatLocalTime(at('2026-01-01T00:00:00Z'), 'America/St_Johns')).toBe('2025-12-31 20:30');
  });
});
