/**
 * Load figures at a glance: the power now in big digits, the quarter-hour's average and where it
 * ends up (projection) against the peak and the target, and how far the quarter-hour has run.
 */
import type { ReactNode } from 'react';
import type { LoadFigures } from '../../hub/operator/types.js';
import { formatCountdown, formatKw, formatNumber } from '../logic/format.js';
import { useNow, useZone } from '../state/context.js';

/** "over target", "near target", "within target": the projection against the limit, in words. */
export function projectionStatus(f: LoadFigures): { tone: 'ok' | 'warn' | 'bad' | 'none'; text: string } {
  const limit = f.targetKw ?? f.peakKw;
  const limitName = f.targetKw !== null ? 'target' : 'peak';
  if (f.projectedKw === null) return { tone: 'none', text: 'Projection: not enough samples yet' };
  if (limit === null) return { tone: 'none', text: 'No target or peak to compare with yet' };
  const ratio = f.projectedKw / limit;
  if (ratio > 1) return { tone: 'bad', text: `Projection over ${limitName} by ${formatKw(f.projectedKw - limit)}` };
  if (ratio > 0.9) return { tone: 'warn', text: `Projection near ${limitName} (${Math.round(ratio * 100)} %)` };
  return { tone: 'ok', text: `Projection within ${limitName} (${Math.round(ratio * 100)} %)` };
}

export function LoadTile({ title, figures, label, level = 2 }: { title: string; figures: LoadFigures | null; label: string; level?: 2 | 3 }): ReactNode {
  const now = useNow();
  const Heading = level === 2 ? 'h2' : 'h3';
  const zone = useZone();
  if (figures === null) {
    return (
      <section className="tile load-tile" aria-label={label}>
        <Heading className="tile-title">{title}</Heading>
        <p className="muted">Waiting for the first figures…</p>
      </section>
    );
  }
  const f = figures;
  const span = f.intervalEnd - f.intervalStart;
  const elapsed = Math.min(span, Math.max(0, now - f.intervalStart));
  const status = projectionStatus(f);
  const limit = f.targetKw ?? f.peakKw;
  const scale = Math.max(limit ?? 0, f.projectedKw ?? 0, f.averageKw ?? 0, f.peakKw ?? 0, 1) * 1.1;
  const pct = (kw: number | null): string => `${Math.min(100, Math.max(0, ((kw ?? 0) / scale) * 100)).toFixed(1)}%`;
  return (
    <section className="tile load-tile" aria-label={label}>
      <Heading className="tile-title">{title}</Heading>
      <div className="load-now">
        <span className="big-number">{f.currentKw === null ? '—' : formatNumber(f.currentKw, 1)}</span>
        <span className="unit">kW now</span>
      </div>
      <dl className="figures">
        <div>
          <dt>Quarter-hour average</dt>
          <dd>{formatKw(f.averageKw)}</dd>
        </div>
        <div>
          <dt>Projected</dt>
          <dd className={`tone-${status.tone}`}>{formatKw(f.projectedKw)}</dd>
        </div>
        <div>
          <dt>Peak this period</dt>
          <dd>{formatKw(f.peakKw)}</dd>
        </div>
        <div>
          <dt>Target</dt>
          <dd>{f.targetKw === null ? 'none' : formatKw(f.targetKw)}</dd>
        </div>
      </dl>
      <div className="projection-bar" aria-hidden="true">
        <span className={`projection-fill tone-bg-${status.tone}`} style={{ width: pct(f.projectedKw) }} />
        {f.peakKw !== null && <span className="projection-mark mark-peak" style={{ left: pct(f.peakKw) }} />}
        {f.targetKw !== null && <span className="projection-mark mark-target" style={{ left: pct(f.targetKw) }} />}
      </div>
      <p className={`projection-status tone-${status.tone}`}>
        <span className="icon" aria-hidden="true">
          {status.tone === 'bad' ? '▲' : status.tone === 'warn' ? '◆' : status.tone === 'ok' ? '✓' : '·'}
        </span>
        {status.text}
      </p>
      <div className="quarter">
        <label className="quarter-label">
          <span>
            Quarter-hour {zone.hm(f.intervalStart)}–{zone.hm(f.intervalEnd)}
          </span>
          <span className="muted">{formatCountdown(f.intervalEnd - now)} left</span>
          <progress max={span} value={elapsed} aria-label={`Quarter-hour elapsed, ${formatCountdown(f.intervalEnd - now)} left`} />
        </label>
      </div>
    </section>
  );
}
