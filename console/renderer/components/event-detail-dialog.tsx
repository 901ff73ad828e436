/**
 * One shed event in full: its outcome per gateway (read with `shedEvent(id)` when the dialog opens —
 * lists and the stream carry only counts) in a virtualised table, failures first, and what was
 * skipped, grouped by reason. The counts on top follow the stream while the dialog is open; the rows
 * are read again once the event's commands have all ended.
 */
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import type { ShedEventRecord, ShedOutcome } from '../../hub/operator/types.js';
import { formatKw, plural } from '../logic/format.js';
import { routeHash } from '../logic/route.js';
import { describeScope, describeSelector, eventCountsText, eventSettled, skipReasonText } from '../logic/summary.js';
import { sortRows } from '../logic/table.js';
import { useClient, useFleet, useZone } from '../state/context.js';
import { CommandStateBadge } from './badges.js';
import { DataTable, type Column } from './data-table.js';
import { ErrorNote } from './error-note.js';
import { Modal } from './modal.js';
import { useQuery } from './use-query.js';

const COLUMNS: readonly Column<ShedOutcome>[] = [
  { key: 'gateway', header: 'Gateway', cell: (o) => <a href={routeHash({ view: 'gateway', gatewayId: o.gatewayId })}>{o.gatewayId}</a> },
  { key: 'channels', header: 'Channels', cell: (o) => o.channels.join(', ') },
  { key: 'kw', header: 'Expected', className: 'num', cell: (o) => formatKw(o.expectedKw) },
  { key: 'state', header: 'State', cell: (o) => <CommandStateBadge state={o.state} /> },
  {
    key: 'reason',
    header: 'Reason',
    cell: (o) =>
      o.code ? (
        <div className="cell-line" title={o.message}>
          <code className="code">{o.code}</code> <span className="small">{o.message}</span>
        </div>
      ) : (
        <span className="muted">—</span>
      ),
  },
];

/** Failures first, then in flight, then confirmed; by gateway within each. */
const STATE_RANK: Record<ShedOutcome['state'], number> = { 'timed-out': 0, failed: 1, rejected: 2, expired: 3, requested: 4, sent: 5, cancelled: 6, confirmed: 7 };

/** Skipped rows shown per reason; the count says how many more. */
const SKIPPED_EXAMPLES = 5;

export function EventDetailDialog({ eventId, onClose, initial }: { eventId: string; onClose: () => void; initial?: ShedEventRecord }): ReactNode {
  const client = useClient();
  const zone = useZone();
  const live = useFleet((s) => s.activeEvents.find((e) => e.id === eventId));
  const settled = live === undefined || eventSettled(live);
  const [readAfterSettled, setReadAfterSettled] = useState(false);
  const query = useQuery(() => (initial !== undefined && !readAfterSettled ? Promise.resolve(initial) : client.shedEvent(eventId)), [client, eventId, readAfterSettled]);
  // Commands still in flight when the rows were read: read them again once all have ended.
  useEffect(() => {
    if (settled && query.data !== undefined && !eventSettled(query.data)) setReadAfterSettled(true);
  }, [settled, query.data]);

  const record = query.data;
  const summary = live ?? record;
  const outcomes = useMemo(() => (record ? sortRows(record.outcomes, (o) => STATE_RANK[o.state], 'ascending') : []), [record]);
  const skipped = useMemo(() => {
    const by = new Map<string, ShedEventRecord['skipped']>();
    for (const s of record?.skipped ?? []) by.set(s.reason, [...(by.get(s.reason) ?? []), s]);
    return [...by].sort((a, b) => b[1].length - a[1].length);
  }, [record]);

  return (
    <Modal title={`Shed event ${eventId}`} onClose={onClose} className="event-dialog">
      {summary && (
        <div className="review">
          <p className="review-summary" aria-label="Event outcome">
            {describeScope(summary.scope)}, {describeSelector(summary.selector).toLowerCase()}: {eventCountsText(summary)}
          </p>
          <p className="muted small">
            {summary.state} · started {zone.dateTime(summary.createdAt)} by {summary.operator} · ends {zone.time(summary.endsAt)} · {formatKw(summary.confirmedKw)} of{' '}
            {formatKw(summary.plannedKw)} confirmed{summary.note ? ` · ${summary.note}` : ''}
          </p>
        </div>
      )}
      <ErrorNote error={query.error} title="Outcomes" />
      {record === undefined && query.loading ? (
        <p className="muted">Reading the outcomes…</p>
      ) : (
        <DataTable
          label="Outcomes"
          columns={COLUMNS}
          rows={outcomes}
          rowKey={(o) => o.commandId}
          rowHeight={40}
          maxHeight={360}
          empty="No gateway was sent a command."
        />
      )}
      {skipped.length > 0 && (
        <details className="skipped">
          <summary>Skipped: {plural(record?.skipped.length ?? 0, 'item', 'items')}</summary>
          <ul>
            {skipped.map(([reason, rows]) => (
              <li key={reason}>
                <span className="chip">{skipReasonText(rows[0]?.reason ?? 'no-channels')}</span> {rows.length}
                <span className="muted small">
                  {' '}
                  — {rows.slice(0, SKIPPED_EXAMPLES).map((s) => `${s.gatewayId}${s.channel !== undefined ? `/${s.channel}` : ''}`).join(', ')}
                  {rows.length > SKIPPED_EXAMPLES ? ', …' : ''}
                </span>
              </li>
            ))}
          </ul>
        </details>
      )}
      <div className="modal-actions">
        <button type="button" className="btn" onClick={onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}
