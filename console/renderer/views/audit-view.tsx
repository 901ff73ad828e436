/**
 * The audit log: who did what, when, and how it ended, filtered by operator, operation and time (in
 * the hub's time zone), exported as CSV for the regulator or an incident review.
 */
import { useMemo, useState, type FormEvent, type ReactNode } from 'react';
import type { AuditQuery, AuditRecord } from '../../hub/operator/types.js';
import { DataTable, type Column } from '../components/data-table.js';
import { ErrorNote } from '../components/error-note.js';
import { useQuery } from '../components/use-query.js';
import { auditCsv, auditFileName } from '../logic/csv.js';
import type { ZonedTime } from '../logic/format.js';
import { useClient, useZone } from '../state/context.js';

const OPERATIONS = ['command', 'shed-event', 'cancel-event', 'restore-all', 'ack-alarm', 'set-target', 'revoke-certificate'] as const;
const LIMITS = [200, 1000, 10_000] as const;

interface Filters {
  operator: string;
  operation: string;
  from: string;
  to: string;
  limit: number;
}

const EMPTY: Filters = { operator: '', operation: '', from: '', to: '', limit: 200 };

/**
 * "parameters" as one short line: `gatewayId=bakery-muller op=shed channels=[1,2]`; a long list
 * (a read-back of 16 relays) is summarised — the CSV export and the tooltip have it whole.
 */
function parametersText(p: Record<string, unknown>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : Array.isArray(v) && v.length > 4 ? `[${v.length} items]` : JSON.stringify(v)}`)
    .join(' ');
}

function outcomeTone(outcome: string): string {
  if (outcome === 'ok' || outcome === 'confirmed') return 'ok';
  if (outcome === 'requested' || outcome === 'sent' || outcome === 'cancelled') return 'info';
  if (outcome === 'rejected' || outcome === 'expired') return 'warn';
  return 'bad';
}

const NO_ROWS: AuditRecord[] = [];

function auditColumns(zone: ZonedTime): Column<AuditRecord>[] {
  return [
    { key: 'time', header: 'Time', className: 'nowrap', cell: (r) => zone.dateTime(r.time) },
    { key: 'operator', header: 'Operator', cell: (r) => r.operator },
    { key: 'operation', header: 'Operation', cell: (r) => r.operation },
    { key: 'outcome', header: 'Outcome', cell: (r) => <span className={`badge badge-${outcomeTone(r.outcome)}`}>{r.outcome}</span> },
    { key: 'ref', header: 'Ref', cell: (r) => (r.ref ? <code>{r.ref}</code> : <span className="muted">—</span>) },
    {
      key: 'parameters',
      header: 'Parameters',
      className: 'params-cell',
      // One line; the tooltip and the CSV export have it whole.
      cell: (r) => (
        <div className="cell-line" title={JSON.stringify(r.parameters)}>
          <code>{parametersText(r.parameters)}</code>
        </div>
      ),
    },
  ];
}

function download(text: string, name: string): void {
  // A UTF-8 BOM so spreadsheet programs read the umlauts of site names correctly.
  const blob = new Blob(['\ufeff', text], { type: 'text/csv;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function AuditView(): ReactNode {
  const client = useClient();
  const zone = useZone();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [problem, setProblem] = useState<string | null>(null);

  const query = useQuery((): Promise<AuditRecord[]> => {
    const q: AuditQuery = { limit: applied.limit };
    if (applied.operator.trim() !== '') q.operator = applied.operator.trim();
    if (applied.operation !== '') q.operation = applied.operation;
    const from = applied.from === '' ? undefined : zone.fromInput(applied.from);
    const to = applied.to === '' ? undefined : zone.fromInput(applied.to);
    if (from !== undefined) q.from = from;
    if (to !== undefined) q.to = to;
    return client.audit(q);
  }, [client, applied, zone]);

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const from = draft.from === '' ? undefined : zone.fromInput(draft.from);
    const to = draft.to === '' ? undefined : zone.fromInput(draft.to);
    if (draft.from !== '' && from === undefined) return setProblem('"From" is not a date and time');
    if (draft.to !== '' && to === undefined) return setProblem('"To" is not a date and time');
    if (from !== undefined && to !== undefined && to <= from) return setProblem('"To" must be later than "From"');
    setProblem(null);
    // A new object even when nothing changed: Apply also means "read again".
    setApplied({ ...draft });
  };

  const rows = query.data ?? NO_ROWS;
  const columns = useMemo(() => auditColumns(zone), [zone]);
  return (
    <div className="view">
      <h1 className="view-title">Audit log</h1>
      <section className="panel">
        <form className="filters filters-wrap" onSubmit={submit} aria-label="Audit filters">
          <label className="field">
            <span>Operator</span>
            <input type="text" value={draft.operator} onChange={(e) => setDraft({ ...draft, operator: e.target.value })} maxLength={128} />
          </label>
          <label className="field">
            <span>Operation</span>
            <select value={draft.operation} onChange={(e) => setDraft({ ...draft, operation: e.target.value })}>
              <option value="">All operations</option>
              {OPERATIONS.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>From ({zone.timeZone})</span>
            <input type="datetime-local" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
          </label>
          <label className="field">
            <span>To ({zone.timeZone})</span>
            <input type="datetime-local" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
          </label>
          <label className="field">
            <span>Rows</span>
            <select value={draft.limit} onChange={(e) => setDraft({ ...draft, limit: Number(e.target.value) })}>
              {LIMITS.map((l) => (
                <option key={l} value={l}>
                  newest {l.toLocaleString('en-US')}
                </option>
              ))}
            </select>
          </label>
          <div className="filter-buttons">
            <button type="submit" className="btn">
              Apply filters
            </button>
            <button
              type="button"
              className="btn btn-quiet"
              onClick={() => {
                setDraft(EMPTY);
                setApplied({ ...EMPTY });
                setProblem(null);
              }}
            >
              Clear filters
            </button>
          </div>
          {problem && (
            <p className="field-problem" role="alert">
              {problem}
            </p>
          )}
        </form>
      </section>
      <section className="panel" aria-labelledby="audit-title">
        <div className="panel-head">
          <h2 id="audit-title" className="panel-title">
            Records <span className="muted">({query.loading && rows.length === 0 ? '…' : rows.length})</span>
          </h2>
          <button type="button" className="btn" disabled={rows.length === 0} onClick={() => download(auditCsv(rows, zone), auditFileName(Date.now(), zone))}>
            Export CSV
          </button>
        </div>
        <ErrorNote error={query.error} />
        <DataTable label="Audit log" columns={columns} rows={rows} rowKey={(r) => String(r.id)} rowHeight={40} maxHeight={640} empty={query.loading ? 'Loading…' : 'No record matches.'} />
      </section>
    </div>
  );
}
