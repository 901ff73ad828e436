/**
 * The default view during a peak event: counts, the fleet's load against peak and target, the active
 * shed events with their countdowns and outcome counts, and every gateway in one sortable, filterable,
 * virtualised table (only the rows in view are rendered; the hub sends live figures for those).
 */
import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { GatewaySummary, ShedEventSummary } from '../../hub/operator/types.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import { StateBadge } from '../components/badges.js';
import { Countdown } from '../components/countdown.js';
import { DataTable, type Column } from '../components/data-table.js';
import { ErrorNote } from '../components/error-note.js';
import { EventDetailDialog } from '../components/event-detail-dialog.js';
import { LoadTile, projectionStatus } from '../components/load-tile.js';
import { formatDuration, formatKw, formatMs, plural, type ZonedTime } from '../logic/format.js';
import {
  filterGateways,
  sortGateways,
  STATE_FILTERS,
  type GatewaySort,
  type GatewaySortKey,
  type StateFilter,
} from '../logic/gateway-table.js';
import { routeHash } from '../logic/route.js';
import { cancelOutcome, describeScope, describeSelector, eventCountsText, eventSettled } from '../logic/summary.js';
import { useAnnounce, useClient, useFleet, useStore, useZone } from '../state/context.js';

function CountTiles(): ReactNode {
  const counts = useFleet((s) => s.counts);
  const tiles: Array<{ label: string; value: number; tone: string; hint: string }> = [
    { label: 'Connected gateways', value: counts.connected, tone: 'ok', hint: `of ${counts.total}` },
    { label: 'Offline gateways', value: counts.offline, tone: counts.offline > 0 ? 'bad' : 'quiet', hint: counts.offline > 0 ? 'not reachable' : 'none' },
    { label: 'Shedding gateways', value: counts.shedding, tone: counts.shedding > 0 ? 'shed' : 'quiet', hint: counts.shedding > 0 ? 'loads held off' : 'nothing shed' },
    { label: 'Gateways with alarms', value: counts.alarms, tone: counts.alarms > 0 ? 'warn' : 'quiet', hint: counts.alarms > 0 ? 'need attention' : 'all clear' },
  ];
  return (
    <div className="count-tiles">
      {tiles.map((t) => (
        <div key={t.label} className={`tile count-tile count-${t.tone}`} role="status" aria-label={`${t.label}: ${t.value}`}>
          <span className="count-value">{t.value}</span>
          <span className="count-label">{t.label}</span>
          <span className="count-hint">{t.hint}</span>
        </div>
      ))}
    </div>
  );
}

function CancelEventCell({ event }: { event: ShedEventSummary }): ReactNode {
  const client = useClient();
  const store = useStore();
  const announce = useAnnounce();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<OperatorError | null>(null);
  const cancel = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const ended = await client.cancelShed(event.id);
      store.upsertEvent(ended);
      announce(cancelOutcome(ended), ended.state === 'cancelled' ? 'ok' : 'warning');
    } catch (err) {
      const e = toOperatorError(err);
      setError(e);
      announce(`Cancel of shed event ${event.id} refused: ${e.code}`, 'error');
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };
  if (!confirming) {
    return (
      <>
        <button type="button" className="btn btn-small btn-danger-outline" onClick={() => setConfirming(true)} disabled={busy}>
          Cancel event
        </button>
        <ErrorNote error={error} />
      </>
    );
  }
  return (
    <div className="inline-confirm" role="group" aria-label={`Cancel shed event ${event.id}`}>
      <span>Restore its loads now?</span>
      <button type="button" className="btn btn-small btn-danger" onClick={() => void cancel()} disabled={busy}>
        {busy ? 'Restoring…' : 'Confirm cancel event'}
      </button>
      <button type="button" className="btn btn-small btn-quiet" onClick={() => setConfirming(false)} disabled={busy}>
        Keep event
      </button>
    </div>
  );
}

export function ActiveEvents(): ReactNode {
  const events = useFleet((s) => s.activeEvents);
  const zone = useZone();
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section className="panel" aria-labelledby="active-events-title">
      <h2 id="active-events-title" className="panel-title">
        Active shed events <span className="muted">({events.length})</span>
      </h2>
      <div className="table-wrap">
        <table aria-label="Active shed events" className="data-table">
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">What</th>
              <th scope="col">Outcomes</th>
              <th scope="col">Time left</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {events.length === 0 && (
              <tr>
                <td colSpan={5} className="empty">
                  No shed event is active.
                </td>
              </tr>
            )}
            {events.map((e) => {
              const settled = eventSettled(e);
              const allOk = (e.counts.confirmed ?? 0) === e.gatewayCount;
              return (
                <tr key={e.id}>
                  <td>
                    <code>{e.id}</code>
                    <div className="muted small">
                      {zone.time(e.createdAt)} by {e.operator}
                      {e.note ? ` · ${e.note}` : ''}
                    </div>
                  </td>
                  <td>
                    {describeScope(e.scope)}
                    <div className="muted small">{describeSelector(e.selector)}</div>
                  </td>
                  <td>
                    <span className={allOk ? 'tone-ok' : settled ? 'tone-warn' : undefined}>{eventCountsText(e)}</span>
                    <div className="muted small">
                      {formatKw(e.confirmedKw)} of {formatKw(e.plannedKw)} planned
                      {e.skippedCount > 0 ? ` · ${plural(e.skippedCount, 'load', 'loads')} skipped` : ''}
                    </div>
                  </td>
                  <td className="countdown-cell">
                    <Countdown to={e.endsAt} />
                    <div className="muted small">
                      restores at {zone.time(e.endsAt)} ({formatDuration(e.durationSeconds)})
                    </div>
                  </td>
                  <td>
                    <div className="row-actions">
                      <button type="button" className="btn btn-small btn-quiet" onClick={() => setOpen(e.id)} aria-label={`Details of shed event ${e.id}`}>
                        Details
                      </button>
                      <CancelEventCell event={e} />
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {open !== null && <EventDetailDialog eventId={open} onClose={() => setOpen(null)} />}
    </section>
  );
}

const DAY_MS = 86_400_000;
/** Two short lines per row; the CSS keeps cells to them. */
const GATEWAY_ROW_HEIGHT = 52;

function Chips({ labels }: { labels: readonly string[] }): ReactNode {
  return labels.map((l) => (
    <span key={l} className="chip">
      {l}
    </span>
  ));
}

/** The live cells read their own figures from the store, so a 'load' event re-renders them, not the rows. */
function LoadCell({ g }: { g: GatewaySummary }): ReactNode {
  const load = useFleet((s) => s.loads.get(g.gatewayId)) ?? g.load;
  return formatKw(load.currentKw);
}

function ProjectionCell({ g }: { g: GatewaySummary }): ReactNode {
  const load = useFleet((s) => s.loads.get(g.gatewayId)) ?? g.load;
  const status = projectionStatus(load);
  const limit = load.targetKw ?? load.peakKw;
  return (
    <>
      <span className={`tone-${status.tone}`}>{formatKw(load.projectedKw)}</span>
      <div className="muted small">
        {limit === null ? 'no target' : `${load.targetKw !== null ? 'target' : 'peak'} ${formatKw(limit)}`}
        {status.tone === 'bad' && <span className="tone-bad"> ▲ over</span>}
      </div>
    </>
  );
}

function gatewayColumns(zone: ZonedTime): Column<GatewaySummary>[] {
  return [
    {
      key: 'gateway',
      header: 'Gateway',
      sortable: true,
      className: 'cell-gateway',
      cell: (g) => <a href={routeHash({ view: 'gateway', gatewayId: g.gatewayId })}>{g.gatewayId}</a>,
    },
    { key: 'state', header: 'State', sortable: true, cell: (g) => <StateBadge state={g.state} /> },
    {
      key: 'site',
      header: 'Site',
      sortable: true,
      className: 'cell-site',
      cell: (g) => (
        <>
          <div className="cell-line">{g.siteName}</div>
          {g.labels.length > 0 && (
            <div className="site-labels cell-line" aria-hidden="true">
              <Chips labels={g.labels} />
            </div>
          )}
        </>
      ),
    },
    { key: 'labels', header: 'Labels', className: 'labels col-labels', cell: (g) => <div className="cell-line"><Chips labels={g.labels} /></div> },
    { key: 'load', header: 'Load', sortable: true, className: 'num load-cell', cell: (g) => <LoadCell g={g} /> },
    { key: 'projection', header: 'Quarter-hour', sortable: true, className: 'num', cell: (g) => <ProjectionCell g={g} /> },
    {
      key: 'shed',
      header: 'Shed',
      sortable: true,
      cell: (g) =>
        g.shedChannelCount > 0 ? (
          <span className="badge badge-shed">
            {g.shedChannelCount} of {g.channelCount} held
          </span>
        ) : (
          <span className="muted">none</span>
        ),
    },
    {
      key: 'alarms',
      header: 'Alarms',
      sortable: true,
      cell: (g) => (
        <>
          {g.interceptionSuspected && <span className="badge badge-bad badge-strong">⚠ interception</span>}
          {g.openAlarmCount > 0 ? <span className="badge badge-warn">{plural(g.openAlarmCount, 'alarm', 'alarms')}</span> : !g.interceptionSuspected && <span className="muted">none</span>}
          {g.lmHealth !== null && g.lmHealth !== 'ok' && <div className="small tone-warn">LM {g.lmHealth}</div>}
        </>
      ),
    },
    { key: 'rtt', header: 'RTT', sortable: true, className: 'num', cell: (g) => formatMs(g.rttMs) },
    {
      key: 'certificate',
      header: 'Certificate',
      sortable: true,
      cell: (g) => {
        if (!g.certificate) return <span className="muted">—</span>;
        const days = Math.floor((g.certificate.notAfter - Date.now()) / DAY_MS);
        return (
          <>
            {zone.date(g.certificate.notAfter)}
            <div className={`small ${days < 30 ? 'tone-warn' : 'muted'}`}>{days < 0 ? 'expired' : `${days} d left`}</div>
          </>
        );
      },
    },
  ];
}

function rowClass(g: GatewaySummary): string | undefined {
  return g.state === 'offline' ? 'row-offline' : g.interceptionSuspected ? 'row-alert' : undefined;
}

function gatewayKey(g: GatewaySummary): string {
  return g.gatewayId;
}

const LIVE_KEYS: ReadonlySet<GatewaySortKey> = new Set(['load', 'projection']);

function GatewayTable(): ReactNode {
  const client = useClient();
  const fleet = useFleet((s) => s.fleet);
  const loads = useFleet((s) => s.loads);
  // Sorting by a live figure re-sorts when figures arrive (once a second); by anything else only when the fleet changes.
  const live = useFleet((s) => s.loadVersion);
  const zone = useZone();
  const [text, setText] = useState('');
  const [state, setState] = useState<StateFilter>('all');
  const [sort, setSort] = useState<GatewaySort>({ key: 'gateway', direction: 'ascending' });
  const liveSort = LIVE_KEYS.has(sort.key);

  const all = useMemo(() => fleet.list(), [fleet]);
  const filtered = useMemo(() => filterGateways(all, text, state), [all, text, state]);
  const rows = useMemo(() => sortGateways(filtered, sort, loads), [filtered, sort, loads, liveSort ? live : 0]);
  const columns = useMemo(() => gatewayColumns(zone), [zone]);

  const toggle = useCallback(
    (key: string): void =>
      setSort((s) =>
        s.key === key
          ? { key: s.key, direction: s.direction === 'ascending' ? 'descending' : 'ascending' }
          : { key: key as GatewaySortKey, direction: key === 'load' || key === 'projection' || key === 'alarms' || key === 'shed' ? 'descending' : 'ascending' },
      ),
    [],
  );
  // The hub sends per-second figures only for the gateways on screen.
  const onVisibleRows = useCallback((shown: readonly GatewaySummary[]) => client.watch('fleet-table', shown.map(gatewayKey)), [client]);
  useEffect(() => () => client.watch('fleet-table', []), [client]);

  return (
    <section className="panel" aria-labelledby="gateways-title">
      <div className="panel-head">
        <h2 id="gateways-title" className="panel-title">
          Gateways{' '}
          <span className="muted">
            ({rows.length === all.length ? all.length : `${rows.length} of ${all.length}`})
          </span>
        </h2>
        <div className="filters">
          <label className="field field-inline">
            <span>Filter gateways</span>
            <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="id, site, label…" />
          </label>
          <label className="field field-inline">
            <span>State</span>
            <select value={state} onChange={(e) => setState(e.target.value as StateFilter)}>
              {STATE_FILTERS.map((f) => (
                <option key={f.value} value={f.value}>
                  {f.label}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      <DataTable
        label="Gateways"
        className="gateways-table"
        columns={columns}
        rows={rows}
        rowKey={gatewayKey}
        rowHeight={GATEWAY_ROW_HEIGHT}
        rowClassName={rowClass}
        sort={sort}
        onSort={toggle}
        onVisibleRows={onVisibleRows}
        maxHeight={640}
        empty={all.length === 0 ? 'No gateway has connected yet.' : 'No gateway matches the filter.'}
      />
    </section>
  );
}

export function FleetView(): ReactNode {
  const fleetLoad = useFleet((s) => s.fleetLoad);
  return (
    <div className="view">
      <h1 className="view-title">Fleet</h1>
      <CountTiles />
      <div className="overview">
        <LoadTile title="Fleet load" figures={fleetLoad} label="Fleet load" />
        <ActiveEvents />
      </div>
      <GatewayTable />
    </div>
  );
}
