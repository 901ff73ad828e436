/**
 * Wall-clock time arithmetic for tariff intervals: the 15-minute metering intervals and the monthly
 * billing period are defined in the DSO's local time, not in UTC. Everything goes through
 * Intl.DateTimeFormat (no time-zone database of our own) so the same code runs in Node, Chromium and
 * Electron, and the answers follow whatever tz data the runtime ships.
 */

export const QUARTER_HOUR_MS = 900_000;

const SECOND_MS = 1_000;
const DAY_MS = 86_400_000;

/** One formatter per zone: constructing an Intl.DateTimeFormat costs far more than using one. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  const cached = formatters.get(timeZone);
  if (cached) return cached;
  // Node 22+ accepts offset zones such as '+01:00' (Node 20 did not). They are refused anyway: a
  // fixed offset has no DST, which is almost never what a DSO's tariff means.
  if (/^[+-]/.test(timeZone)) throw new RangeError(`unknown time zone '${timeZone}': use an IANA name such as 'Europe/Zurich'`);
  let formatter: Intl.DateTimeFormat;
  try {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      // h23, not hour12: false: some ICU versions render midnight as 24 with the latter.
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    throw new RangeError(`unknown time zone '${timeZone}': use an IANA name such as 'Europe/Zurich'`);
  }
  formatters.set(timeZone, formatter);
  return formatter;
}

/** True when `timeZone` is an IANA zone name this runtime knows ('UTC' included). */
export function isValidTimeZone(timeZone: string): boolean {
  if (typeof timeZone !== 'string' || timeZone === '') return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface WallTime {
  year: number;
  month: number; // 1..12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function assertTime(timeMs: number): void {
  if (!Number.isFinite(timeMs)) throw new RangeError(`not a valid time: ${timeMs}`);
}

function wallTime(timeMs: number, timeZone: string): WallTime {
  assertTime(timeMs);
  const wall: WallTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  let beforeChrist = false;
  for (const { type, value } of formatterFor(timeZone).formatToParts(timeMs)) {
    if (type === 'era') beforeChrist = value.startsWith('B');
    else if (type in wall) wall[type as keyof WallTime] = Number(value);
  }
  if (beforeChrist) wall.year = 1 - wall.year;
  if (wall.hour === 24) wall.hour = 0;
  return wall;
}

/** A wall time read as if it were UTC: the epoch ms a clock in UTC would need to show it. */
function wallAsUtcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  // Date.UTC maps years 0..99 to 1900..1999; setUTCFullYear does not.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

function mod(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}

/**
 * The zone's offset from UTC at that instant, ms (positive east of Greenwich: Europe/Zurich in summer
 * gives 7 200 000). Whole seconds: historical local mean times such as Africa/Monrovia's −0:44:30 are
 * kept exact.
 */
export function zoneOffsetMs(timeMs: number, timeZone: string): number {
  const w = wallTime(timeMs, timeZone);
  return wallAsUtcMs(w.year, w.month, w.day, w.hour, w.minute, w.second) - (timeMs - mod(timeMs, SECOND_MS));
}

/**
 * The first whole second in (after, atOrBefore] that already has `atOrBefore`'s offset. Callers make
 * sure exactly one offset change lies in between (tz data never has two within 15 minutes or a day).
 */
function offsetChangeBetween(after: number, atOrBefore: number, timeZone: string): number {
  const target = zoneOffsetMs(atOrBefore, timeZone);
  let lo = Math.floor(after / SECOND_MS);
  let hi = Math.floor(atOrBefore / SECOND_MS);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (zoneOffsetMs(mid * SECOND_MS, timeZone) === target) hi = mid;
    else lo = mid;
  }
  return hi * SECOND_MS;
}

/**
 * Start (epoch ms) of the quarter hour containing `timeMs`: the latest instant at or before it whose
 * local wall clock shows :00, :15, :30 or :45. Today's offsets are all multiples of 15 minutes, so this
 * is usually UTC floored to 900 s; it is computed from the offset so zones and dates where that does
 * not hold stay right. Where an offset change falls inside a quarter hour, the change itself starts a
 * new (shorter) interval, so intervals never overlap and never leave real time uncovered: a DST
 * fall-back's repeated hour is four more quarter hours with their own starts, a spring-forward skips
 * wall-clock labels but no elapsed time.
 */
export function quarterHourStart(timeMs: number, timeZone: string): number {
  return quarterHourOf(timeMs, timeZone).start;
}

/**
 * End (exclusive, epoch ms) of the quarter hour containing `timeMs`, which is the start of the next
 * one. Always `quarterHourStart(timeMs) + QUARTER_HOUR_MS` except where an offset change falls inside
 * the interval (only in historical data).
 */
export function quarterHourEnd(timeMs: number, timeZone: string): number {
  return quarterHourOf(timeMs, timeZone).end;
}

/**
 * [start, end) of an interval, the latest one computed per zone. The hub asks for the same quarter
 * hour and billing period of the same zone once a second per gateway (20,000 meters): each answer
 * from Intl costs a few formatToParts calls (≈ 3 µs per gateway per second, measured in the
 * fleet-shed benchmark's profile), an answer from here two comparisons. Intervals never overlap, so
 * an instant inside the cached one has exactly that answer.
 */
interface Span {
  start: number;
  end: number;
}

const quarterHours = new Map<string, Span>();
const billingPeriods = new Map<string, Span>();

function cachedSpan(cache: Map<string, Span>, timeMs: number, timeZone: string, compute: () => Span): Span {
  const span = cache.get(timeZone);
  if (span !== undefined && timeMs >= span.start && timeMs < span.end) return span;
  const fresh = compute();
  cache.set(timeZone, fresh);
  return fresh;
}

function quarterHourOf(timeMs: number, timeZone: string): Span {
  return cachedSpan(quarterHours, timeMs, timeZone, () => {
    const offset = zoneOffsetMs(timeMs, timeZone);
    const floor = timeMs - mod(timeMs + offset, QUARTER_HOUR_MS);
    const start = zoneOffsetMs(floor, timeZone) === offset ? floor : offsetChangeBetween(floor, timeMs, timeZone);
    const end = floor + QUARTER_HOUR_MS;
    return { start, end: zoneOffsetMs(end - 1, timeZone) === offset ? end : offsetChangeBetween(timeMs, end - 1, timeZone) };
  });
}

/**
 * The first instant of a local calendar day. Normally its midnight; where midnight is repeated (a
 * fall-back at 01:00 → 00:00, America/Havana) the first one; where midnight does not exist (a
 * spring-forward at 00:00 → 01:00, America/Asuncion, America/Santiago) the instant the clocks jump.
 */
function startOfLocalDay(year: number, month: number, day: number, timeZone: string): number {
  const wall = wallAsUtcMs(year, month, day);
  // Offsets are under a day, so these two bracket the moment: one before and one after any change.
  const before = wall - zoneOffsetMs(wall - DAY_MS, timeZone);
  const after = wall - zoneOffsetMs(wall + DAY_MS, timeZone);
  const earlier = Math.min(before, after);
  const later = Math.max(before, after);
  for (const candidate of [earlier, later]) {
    if (candidate + zoneOffsetMs(candidate, timeZone) === wall) return candidate;
  }
  // Midnight fell into a gap: the day begins where the clocks jump past it.
  return earlier === later ? earlier : offsetChangeBetween(earlier, later, timeZone);
}

/** Local midnight on the 1st of the calendar month containing `timeMs` (see startOfLocalDay for DST). */
export function billingPeriodStart(timeMs: number, timeZone: string): number {
  return billingPeriodOf(timeMs, timeZone).start;
}

/** Start of the billing period after the one containing `timeMs`: the end (exclusive) of this one. */
export function nextBillingPeriodStart(timeMs: number, timeZone: string): number {
  return billingPeriodOf(timeMs, timeZone).end;
}

function billingPeriodOf(timeMs: number, timeZone: string): Span {
  return cachedSpan(billingPeriods, timeMs, timeZone, () => {
    const w = wallTime(timeMs, timeZone);
    return {
      start: startOfLocalDay(w.year, w.month, 1, timeZone),
      end: w.month === 12 ? startOfLocalDay(w.year + 1, 1, 1, timeZone) : startOfLocalDay(w.year, w.month + 1, 1, timeZone),
    };
  });
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/**
 * 'YYYY-MM-DD HH:MM', local 24-hour time. Note the label is ambiguous inside a DST fall-back's
 * repeated hour; show the offset or the epoch time next to it where that matters.
 */
export function formatLocalTime(timeMs: number, timeZone: string): string {
  const w = wallTime(timeMs, timeZone);
  return `${pad(w.year, 4)}-${pad(w.month, 2)}-${pad(w.day, 2)} ${pad(w.hour, 2)}:${pad(w.minute, 2)}`;
}
