/**
 * How the console writes numbers, durations and times. Pure and DOM-free (unit-tested in Node).
 *
 * Times are always shown in the hub's time zone (FleetSnapshot.timeZone), not the browser's: an
 * operator on a laptop in another zone must read the same quarter-hours as the control room. The
 * layout is ISO-like and 24-hour ("2026-11-25 14:45:07") whatever the browser's locale, so a time
 * read aloud in the control room is never ambiguous.
 */

const DASH = '—';

/** "57.6 kW"; a dash when unknown. */
export function formatKw(kw: number | null | undefined, digits = 1): string {
  if (kw === null || kw === undefined || !Number.isFinite(kw)) return DASH;
  return `${formatNumber(kw, digits)} kW`;
}

/** A fixed number of decimals, grouping thousands with a thin space (no locale surprises). */
export function formatNumber(value: number, digits = 1): string {
  const fixed = Math.abs(value).toFixed(digits);
  const [int = '0', frac] = fixed.split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
  // -0.0 reads as 0.0.
  const negative = value < 0 && Number(fixed) !== 0;
  return `${negative ? '−' : ''}${grouped}${frac !== undefined ? `.${frac}` : ''}`;
}

/** "1 load", "3 loads". */
export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A length of time for people: "45 s", "15 min", "1 h 30 min", "2 d 4 h". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return DASH;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = s % 60;
    return rest === 0 ? `${m} min` : `${m} min ${rest} s`;
  }
  if (s < 86_400) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return m === 0 ? `${h} h` : `${h} h ${m} min`;
  }
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  return h === 0 ? `${d} d` : `${d} d ${h} h`;
}

/** A countdown clock: "4:05", "1:02:03"; "0:00" once it has passed. Rounds up, so it never shows 0:00 early. */
export function formatCountdown(remainingMs: number): string {
  const total = Number.isFinite(remainingMs) ? Math.max(0, Math.ceil(remainingMs / 1000)) : 0;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** "in 3 d", "5 min ago", relative to `now`. */
export function formatRelative(timeMs: number, nowMs: number): string {
  const diff = timeMs - nowMs;
  const text = formatDuration(Math.abs(diff) / 1000);
  if (Math.abs(diff) < 1000) return 'now';
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

/** "36 ms"; a dash when unknown. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  return `${Math.round(ms)} ms`;
}

/** 0..1 → "42 %". */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return DASH;
  return `${Math.round(fraction * 100)} %`;
}

interface Parts {
  year: string;
  month: string;
  day: string;
  hour: string;
  minute: string;
  second: string;
}

/**
 * Formats epoch ms in one time zone. Build one per zone and keep it: Intl.DateTimeFormat is costly
 * to construct and cheap to use.
 */
export class ZonedTime {
  readonly timeZone: string;
  readonly #format: Intl.DateTimeFormat;

  constructor(timeZone: string) {
    let zone = timeZone;
    let format: Intl.DateTimeFormat;
    try {
      format = ZonedTime.#formatter(zone);
    } catch {
      // An unknown zone name must not take the whole UI down: fall back to UTC and say so (timeZone).
      zone = 'UTC';
      format = ZonedTime.#formatter(zone);
    }
    this.timeZone = zone;
    this.#format = format;
  }

  static #formatter(timeZone: string): Intl.DateTimeFormat {
    return new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  }

  parts(timeMs: number): Parts {
    const out: Parts = { year: '', month: '', day: '', hour: '', minute: '', second: '' };
    for (const p of this.#format.formatToParts(new Date(timeMs))) {
      if (p.type in out) out[p.type as keyof Parts] = p.value;
    }
    // Some engines print midnight as 24 even with h23.
    if (out.hour === '24') out.hour = '00';
    return out;
  }

  /** "14:45:07" */
  time(timeMs: number | null | undefined): string {
    if (!isTime(timeMs)) return DASH;
    const p = this.parts(timeMs);
    return `${p.hour}:${p.minute}:${p.second}`;
  }

  /** "14:45" */
  hm(timeMs: number | null | undefined): string {
    if (!isTime(timeMs)) return DASH;
    const p = this.parts(timeMs);
    return `${p.hour}:${p.minute}`;
  }

  /** "2026-11-25" */
  date(timeMs: number | null | undefined): string {
    if (!isTime(timeMs)) return DASH;
    const p = this.parts(timeMs);
    return `${p.year}-${p.month}-${p.day}`;
  }

  /** "2026-11-25 14:45:07" */
  dateTime(timeMs: number | null | undefined): string {
    if (!isTime(timeMs)) return DASH;
    const p = this.parts(timeMs);
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
  }

  /** "14:45" today, "2026-11-26 14:45" on another day (as seen from `nowMs`). */
  moment(timeMs: number | null | undefined, nowMs: number): string {
    if (!isTime(timeMs)) return DASH;
    return this.date(timeMs) === this.date(nowMs) ? this.hm(timeMs) : `${this.date(timeMs)} ${this.hm(timeMs)}`;
  }

  /** The value of an `<input type="datetime-local">` ("2026-11-25T14:45") for this instant in this zone. */
  toInput(timeMs: number): string {
    const p = this.parts(timeMs);
    return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
  }

  /** Zone offset at this instant, ms (local wall clock minus UTC). */
  offsetMs(timeMs: number): number {
    const p = this.parts(timeMs);
    const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
    return wall - Math.floor(timeMs / 1000) * 1000;
  }

  /**
   * Epoch ms of a wall-clock time in this zone ("2026-11-25T14:45" or with ":ss"), or undefined when
   * the text is not one. In the hour a DST change repeats, the first occurrence; a time in the hour
   * it skips is read with the offset before the change.
   */
  fromInput(text: string): number | undefined {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
    if (!m) return undefined;
    const [, y, mo, d, h, mi, s] = m;
    const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? '0'));
    if (!Number.isFinite(wall)) return undefined;
    // The offsets in force half a day either side cover both readings of an hour a DST change repeats.
    const before = wall - this.offsetMs(wall - 43_200_000);
    const after = wall - this.offsetMs(wall + 43_200_000);
    const candidates = [before, after].filter((t) => this.toInput(t) === `${y}-${mo}-${d}T${h}:${mi}`);
    return candidates.length > 0 ? Math.min(...candidates) : before;
  }
}

function isTime(t: number | null | undefined): t is number {
  return t !== null && t !== undefined && Number.isFinite(t);
}
