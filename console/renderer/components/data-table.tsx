/**
 * The console's one table: a real <table> (rows, column headers, aria-sort on sortable headers with a
 * button each, so screen readers and keyboard users get table semantics) that renders only the rows
 * in view. Rows have one fixed height, so the rows above and below the viewport are two spacer rows
 * and scrolling 20,000 gateways costs what ~30 rows cost. `aria-rowcount` / `aria-rowindex` tell
 * assistive technology where the rendered rows sit in the whole.
 *
 * The scroll box is focusable: arrow keys, Page Up/Down, Home and End scroll it.
 */
import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, type ReactNode, type UIEvent } from 'react';
import { visibleRange, type SortDirection } from '../logic/table.js';

export interface Column<T> {
  key: string;
  /** The header's text (also the sort button's name). */
  header: string;
  /** The header is for screen readers only (an actions column). */
  hiddenHeader?: boolean;
  /** Shows a sort button and aria-sort. */
  sortable?: boolean;
  /** On both the header and the cells ('num', 'col-labels', …). */
  className?: string;
  cell: (row: T) => ReactNode;
}

export interface TableSort {
  key: string;
  direction: SortDirection;
}

export interface DataTableProps<T> {
  /** The table's accessible name (the e2e contract finds tables by it). */
  label: string;
  columns: readonly Column<T>[];
  rows: readonly T[];
  rowKey: (row: T) => string;
  /** Every row's height in px (the CSS keeps rows to it: one or two short lines). */
  rowHeight: number;
  rowClassName?: (row: T) => string | undefined;
  sort?: TableSort;
  onSort?: (key: string) => void;
  /** What an empty table says. */
  empty: ReactNode;
  /** The scroll box's height limit in px; the box is shorter when the rows need less. */
  maxHeight?: number;
  /** The rows rendered now (in view, plus a few either side), after every scroll or change of rows. */
  onVisibleRows?: (rows: readonly T[]) => void;
  className?: string;
}

/** Rows rendered beyond each edge of the viewport, so a short scroll shows no blank rows. */
const OVERSCAN = 8;
const DEFAULT_MAX_HEIGHT = 560;

interface RowProps<T> {
  row: T;
  columns: readonly Column<T>[];
  index: number;
  height: number;
  className: string | undefined;
}

function RowInner<T>({ row, columns, index, height, className }: RowProps<T>): ReactNode {
  return (
    <tr className={className} aria-rowindex={index + 2} style={{ height }}>
      {columns.map((c) => (
        <td key={c.key} className={c.className}>
          {c.cell(row)}
        </td>
      ))}
    </tr>
  );
}
// A row re-renders only when its record (or the columns) changed: a patch to one gateway re-renders one row.
const Row = memo(RowInner) as typeof RowInner;

function Spacer({ height, columns }: { height: number; columns: number }): ReactNode {
  if (height <= 0) return null;
  return (
    <tr className="vt-spacer" aria-hidden="true">
      <td colSpan={columns} style={{ height }} />
    </tr>
  );
}

export function DataTable<T>({ label, columns, rows, rowKey, rowHeight, rowClassName, sort, onSort, empty, maxHeight = DEFAULT_MAX_HEIGHT, onVisibleRows, className }: DataTableProps<T>): ReactNode {
  const box = useRef<HTMLDivElement>(null);
  const head = useRef<HTMLTableSectionElement>(null);
  const [view, setView] = useState({ top: 0, height: maxHeight, header: 40 });
  const frame = useRef<number | undefined>(undefined);

  const measure = useCallback(() => {
    const el = box.current;
    if (el === null) return;
    const header = head.current?.offsetHeight ?? 40;
    setView((v) => (v.top === el.scrollTop && v.height === el.clientHeight && v.header === header ? v : { top: el.scrollTop, height: el.clientHeight || maxHeight, header }));
  }, [maxHeight]);

  useLayoutEffect(() => {
    measure();
    const el = box.current;
    if (el === null || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => measure());
    observer.observe(el);
    return () => observer.disconnect();
  }, [measure]);

  const onScroll = (_e: UIEvent<HTMLDivElement>): void => {
    // One measurement per frame however many scroll events arrive.
    if (frame.current !== undefined) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = undefined;
      measure();
    });
  };
  useEffect(() => () => (frame.current === undefined ? undefined : cancelAnimationFrame(frame.current)), []);

  // Rows shrank below the scroll position (a filter): scroll back so the table does not show blank.
  const total = rows.length * rowHeight;
  useLayoutEffect(() => {
    const el = box.current;
    if (el !== null && el.scrollTop > total) {
      el.scrollTop = Math.max(0, total - el.clientHeight);
      measure();
    }
  }, [total, measure]);

  const { start, end } = visibleRange(rows.length, rowHeight, Math.max(0, view.top - view.header), view.height, OVERSCAN);
  const shown = rows.slice(start, end);

  const visibleRef = useRef(onVisibleRows);
  visibleRef.current = onVisibleRows;
  useEffect(() => {
    visibleRef.current?.(shown);
    // `shown` is a new array each render; what matters is which rows, i.e. the range and the rows.
  }, [rows, start, end]);

  return (
    <div className="table-wrap vt-scroll" ref={box} onScroll={onScroll} style={{ maxHeight }} tabIndex={0} role="region" aria-label={`${label}, scrollable`}>
      <table aria-label={label} aria-rowcount={rows.length + 1} className={`data-table vt-table ${className ?? ''}`}>
        <thead ref={head}>
          <tr aria-rowindex={1}>
            {columns.map((c) => {
              const cls = c.className;
              if (c.hiddenHeader) {
                return (
                  <th key={c.key} scope="col" className={cls}>
                    <span className="sr-only">{c.header}</span>
                  </th>
                );
              }
              if (!c.sortable || onSort === undefined) {
                return (
                  <th key={c.key} scope="col" className={cls}>
                    {c.header}
                  </th>
                );
              }
              const active = sort?.key === c.key;
              return (
                <th key={c.key} scope="col" className={cls} aria-sort={active ? sort.direction : 'none'}>
                  <button type="button" className="sort-button" onClick={() => onSort(c.key)}>
                    {c.header}
                    <span className="sort-mark" aria-hidden="true">
                      {active ? (sort.direction === 'ascending' ? '▲' : '▼') : '↕'}
                    </span>
                  </button>
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={columns.length} className="empty">
                {empty}
              </td>
            </tr>
          ) : (
            <>
              <Spacer height={start * rowHeight} columns={columns.length} />
              {shown.map((r, i) => (
                <Row key={rowKey(r)} row={r} columns={columns} index={start + i} height={rowHeight} className={rowClassName?.(r)} />
              ))}
              <Spacer height={(rows.length - end) * rowHeight} columns={columns.length} />
            </>
          )}
        </tbody>
      </table>
    </div>
  );
}
