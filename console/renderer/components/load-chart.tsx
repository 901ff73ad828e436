/**
 * The live load curve (uPlot): the last hour at 1 s, quarter-hours shaded alternately, the current
 * quarter-hour's average so far and its projection, the peak and the target as labelled lines.
 *
 * The uPlot instance is made once (and again only when the theme changes); every new point is an
 * append to the series' arrays and a `setData`, so a chart of 3,600 points costs a redraw a second,
 * not a rebuild. uPlot styles its elements through the CSSOM (element.style), which the console's
 * CSP (style-src 'self', no inline styles) allows.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import uPlot from 'uplot';
import type { LoadFigures } from '../../hub/operator/types.js';
import { formatKw, ZonedTime } from '../logic/format.js';
import { quarterHourBands, type LiveSeries } from '../logic/live-series.js';

export interface LoadChartProps {
  /** "Fleet load" or the site's name: the chart's accessible name starts with it. */
  title: string;
  series: LiveSeries;
  /** Calls back after each change of `series`; returns the unsubscribe. */
  subscribe: (onChange: () => void) => () => void;
  /** The latest figures (quarter-hour, projection, peak, target); read at each draw. */
  figures: LoadFigures | null;
  timeZone: string;
  /** Height in px; 'tall' takes about half the window (the Live load view, a wall display). */
  height?: number | 'tall';
  /** The hub's clock (ms) for the right edge of the window. */
  now: () => number;
}

interface Palette {
  line: string;
  fill: string;
  band: string;
  grid: string;
  axis: string;
  target: string;
  peak: string;
  projection: string;
  average: string;
  label: string;
}

function palette(): Palette {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string): string => css.getPropertyValue(name).trim() || fallback;
  return {
    line: v('--chart-line', '#4fb3ff'),
    fill: v('--chart-fill', 'rgba(79,179,255,0.12)'),
    band: v('--chart-band', 'rgba(255,255,255,0.04)'),
    grid: v('--chart-grid', 'rgba(255,255,255,0.08)'),
    axis: v('--text-muted', '#9aa7bd'),
    target: v('--chart-target', '#f5b83d'),
    peak: v('--chart-peak', '#ff6b6b'),
    projection: v('--chart-projection', '#c792ea'),
    average: v('--chart-average', '#7fdbca'),
    label: v('--text', '#e6edf7'),
  };
}

/** The theme in force, so the chart is rebuilt with the other palette when it changes. */
function useThemeKey(): string {
  const [theme, setTheme] = useState(() => document.documentElement.dataset['theme'] ?? '');
  useEffect(() => {
    const obs = new MutationObserver(() => setTheme(document.documentElement.dataset['theme'] ?? ''));
    obs.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => obs.disconnect();
  }, []);
  return theme;
}

const WINDOW_S = 3600;

export function LoadChart({ title, series, subscribe, figures, timeZone, height = 320, now }: LoadChartProps): ReactNode {
  const box = useRef<HTMLDivElement>(null);
  const figuresRef = useRef(figures);
  figuresRef.current = figures;
  const nowRef = useRef(now);
  nowRef.current = now;
  const theme = useThemeKey();

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const colors = palette();
    const zone = new ZonedTime(timeZone);
    // Text on the canvas follows the page's type size (larger on a wall display).
    const rootPx = parseFloat(getComputedStyle(document.documentElement).fontSize) || 15;
    const axisFont = `${Math.round(rootPx * 0.8)}px system-ui, sans-serif`;
    const chartHeight = (): number => (height === 'tall' ? Math.round(Math.min(1100, Math.max(300, window.innerHeight * 0.55))) : height);
    const xRange = (): [number, number] => {
      const f = figuresRef.current;
      const right = Math.max(nowRef.current(), f?.intervalEnd ?? 0, series.lastMs) / 1000;
      return [right - WINDOW_S, right];
    };
    const yMax = (dataMax: number): number => {
      const f = figuresRef.current;
      const refs = [dataMax, f?.targetKw, f?.peakKw, f?.projectedKw, f?.averageKw].filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
      const top = Math.max(1, ...refs) * 1.12;
      const mag = 10 ** Math.floor(Math.log10(top));
      return Math.ceil(top / (mag / 2)) * (mag / 2);
    };

    const hline = (u: uPlot, kw: number, x0: number, x1: number, color: string, dash: number[], label: string, labelLeft = false, below = false): void => {
      const ctx = u.ctx;
      const y = Math.round(u.valToPos(kw, 'y', true)) + 0.5;
      const left = Math.max(u.bbox.left, u.valToPos(x0, 'x', true));
      const right = Math.min(u.bbox.left + u.bbox.width, u.valToPos(x1, 'x', true));
      if (right <= left || y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
      ctx.save();
      ctx.strokeStyle = color;
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.setLineDash(dash.map((d) => d * devicePixelRatio));
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(right, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.font = `${Math.round(rootPx * 0.8 * devicePixelRatio)}px system-ui, sans-serif`;
      ctx.fillStyle = color;
      ctx.textBaseline = below ? 'top' : 'bottom';
      ctx.textAlign = labelLeft ? 'left' : 'right';
      ctx.fillText(label, labelLeft ? left + 4 * devicePixelRatio : right - 4 * devicePixelRatio, below ? y + 4 * devicePixelRatio : y - 3 * devicePixelRatio);
      ctx.restore();
    };

    const opts: uPlot.Options = {
      width: Math.max(300, el.clientWidth),
      height: chartHeight(),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone),
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true, range: () => xRange() },
        y: { range: (_u, _min, max) => [0, yMax(Number.isFinite(max) ? max : 0)] },
      },
      axes: [
        {
          stroke: colors.axis,
          font: axisFont,
          grid: { stroke: colors.grid, width: 1 },
          ticks: { stroke: colors.grid },
          // 24-hour times in the hub's zone; the date where a day begins.
          values: (_u, splits) => splits.map((s) => (zone.hm(s * 1000) === '00:00' ? zone.date(s * 1000).slice(5) : zone.hm(s * 1000))),
        },
        {
          stroke: colors.axis,
          font: axisFont,
          grid: { stroke: colors.grid, width: 1 },
          ticks: { stroke: colors.grid },
          size: Math.round(rootPx * 4.2),
          values: (_u, ticks) => ticks.map((t) => `${t} kW`),
        },
      ],
      series: [
        { value: '{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}' },
        {
          label: 'Load',
          stroke: colors.line,
          width: 2,
          fill: colors.fill,
          spanGaps: false,
          points: { show: false },
          value: (_u, v) => (v === null ? '—' : formatKw(v, 1)),
        },
      ],
      hooks: {
        drawClear: [
          (u) => {
            const f = figuresRef.current;
            if (!f) return;
            const [from, to] = [u.scales['x']?.min ?? 0, u.scales['x']?.max ?? 0];
            const ctx = u.ctx;
            ctx.save();
            ctx.fillStyle = colors.band;
            for (const b of quarterHourBands(from * 1000, to * 1000, f.intervalStart)) {
              if (!b.shaded) continue;
              const x0 = Math.max(u.bbox.left, u.valToPos(b.start / 1000, 'x', true));
              const x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(b.end / 1000, 'x', true));
              if (x1 > x0) ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
            }
            ctx.restore();
          },
        ],
        draw: [
          (u) => {
            const f = figuresRef.current;
            if (!f) return;
            const xMin = u.scales['x']?.min ?? 0;
            const xMax = u.scales['x']?.max ?? 0;
            const qs = f.intervalStart / 1000;
            const qe = f.intervalEnd / 1000;
            // The current quarter-hour, edged so it reads as "this one" among the bands.
            const ctx = u.ctx;
            const x0 = u.valToPos(qs, 'x', true);
            ctx.save();
            ctx.strokeStyle = colors.projection;
            ctx.globalAlpha = 0.5;
            ctx.lineWidth = 1 * devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(Math.round(x0) + 0.5, u.bbox.top);
            ctx.lineTo(Math.round(x0) + 0.5, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.restore();
            if (f.targetKw !== null) hline(u, f.targetKw, xMin, xMax, colors.target, [], `target ${formatKw(f.targetKw, 0)}`, true);
            if (f.peakKw !== null) hline(u, f.peakKw, xMin, xMax, colors.peak, [2, 4], `peak ${formatKw(f.peakKw, 1)}`, true);
            // The two lines of the quarter-hour are often close: the upper one's label goes above it,
            // the lower one's below, so they never overlap.
            const avgLower = f.averageKw !== null && f.projectedKw !== null && f.averageKw <= f.projectedKw;
            if (f.averageKw !== null) hline(u, f.averageKw, qs, Math.min(qe, nowRef.current() / 1000), colors.average, [6, 3], `avg ${formatKw(f.averageKw, 1)}`, true, avgLower);
            if (f.projectedKw !== null) hline(u, f.projectedKw, qs, qe, colors.projection, [8, 4], `projected ${formatKw(f.projectedKw, 1)}`, false, !avgLower && f.averageKw !== null);
          },
        ],
      },
    };
    const u = new uPlot(opts, [series.xs, series.ys], el);
    let frame = 0;
    const redraw = (): void => {
      // Several changes in one frame cost one draw.
      if (frame !== 0) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        u.setData([series.xs, series.ys]);
      });
    };
    const unsubscribe = subscribe(redraw);
    // The figures and the clock move even when no point arrives (an offline gateway): redraw each second.
    const tick = setInterval(redraw, 1000);
    const fit = (): void => u.setSize({ width: Math.max(300, el.clientWidth), height: chartHeight() });
    const resize = new ResizeObserver(fit);
    resize.observe(el);
    window.addEventListener('resize', fit);
    return () => {
      unsubscribe();
      clearInterval(tick);
      cancelAnimationFrame(frame);
      resize.disconnect();
      window.removeEventListener('resize', fit);
      u.destroy();
    };
  }, [series, subscribe, timeZone, height, theme]);

  const f = figures;
  const label = `${title}, last hour: now ${formatKw(f?.currentKw)}, quarter-hour average ${formatKw(f?.averageKw)}, projected ${formatKw(f?.projectedKw)}, peak ${formatKw(f?.peakKw)}, target ${f?.targetKw === null || f?.targetKw === undefined ? 'none' : formatKw(f.targetKw)}`;
  return (
    <figure className="chart">
      <div className="chart-canvas" ref={box} role="img" aria-label={label} />
      <figcaption className="chart-key">
        <span className="key key-line">load, 1 s</span>
        <span className="key key-band">quarter-hours</span>
        <span className="key key-average">average so far</span>
        <span className="key key-projection">quarter-hour projection</span>
        <span className="key key-peak">peak</span>
        <span className="key key-target">target</span>
      </figcaption>
    </figure>
  );
}
