/**
 * The default view during a peak event: counts, the fleet's load against peak and target, the active
 * shed events with their countdowns, and every gateway in one sortable, filterable table.
 */
import { memo, useMemo, useState, type ReactNode } from 'react';
import type { GatewaySummary, LoadFigures, ShedEventRecord } from '../../hub/operator/types.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import { CommandStateBadge, StateBadge } from '../components/badges.js';
import { Countdown } from '../components/countdown.js';
import { ErrorNote } from '../components/error-note.js';
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
import { cancelOutcome, describeScope, describeSelector } from '../logic/summary.js';
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

function CancelEventCell({ event }: { event: ShedEventRecord }): ReactNode {
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
              <th scope="col">Loads</th>
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
              const loads = e.outcomes.reduce((n, o) => n + o.channels.length, 0);
              const notOk = e.outcomes.filter((o) => o.state !== 'confirmed' && o.state !== 'sent' && o.state !== 'requested');
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
                    {plural(loads, 'load', 'loads')} on {plural(e.outcomes.length, 'gateway', 'gateways')}
                    <div className="muted small">{formatKw(e.plannedKw)} planned</div>
                    {notOk.length > 0 && (
                      <div className="small">
                        {notOk.map((o) => (
                          <span key={o.commandId}>
                            {o.gatewayId} <CommandStateBadge state={o.state} />{' '}
                          </span>
                        ))}
                      </div>
                    )}
                  </td>
                  <td className="countdown-cell">
                    <Countdown to={e.endsAt} />
                    <div className="muted small">
                      restores at {zone.time(e.endsAt)} ({formatDuration(e.durationSeconds)})
                    </div>
                  </td>
                  <td>
                    <CancelEventCell event={e} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

const COLUMNS: ReadonlyArray<{ key: GatewaySortKey | 'labels'; label: string; num?: boolean }> = [
  { key: 'gateway', label: 'Gateway' },
  { key: 'state', label: 'State' },
  { key: 'site', label: 'Site' },
  { key: 'labels', label: 'Labels' },
  { key: 'load', label: 'Load', num: true },
  { key: 'projection', label: 'Quarter-hour', num: true },
  { key: 'shed', label: 'Shed' },
  { key: 'alarms', label: 'Alarms' },
  { key: 'rtt', label: 'RTT', num: true },
  { key: 'certificate', label: 'Certificate' },
];

const DAY_MS = 86_400_000;

const GatewayRow = memo(function GatewayRow({ g, load, restoreAt, zone }: { g: GatewaySummary; load: LoadFigures; restoreAt: number | undefined; zone: ZonedTime }): ReactNode {
  const status = projectionStatus(load);
  const limit = load.targetKw ?? load.peakKw;
  const certDays = g.certificate ? Math.floor((g.certificate.notAfter - Date.now()) / DAY_MS) : null;
  return (
    <tr className={g.state === 'offline' ? 'row-offline' : g.interceptionSuspected ? 'row-alert' : undefined}>
      <td className="cell-gateway">
        <a href={routeHash({ view: 'gateway', gatewayId: g.gatewayId })}>{g.gatewayId}</a>
      </td>
      <td title={`${g.state} since ${zone.dateTime(g.since)}`}>
        <StateBadge state={g.state} />
      </td>
      <td className="cell-site">
        {g.siteName}
        {g.labels.length > 0 && (
          <div className="site-labels" aria-hidden="true">
            {g.labels.map((l) => (
              <span key={l} className="chip">
                {l}
              </span>
            ))}
          </div>
        )}
      </td>
      <td className="labels col-labels">
        {g.labels.map((l) => (
          <span key={l} className="chip">
            {l}
          </span>
        ))}
      </td>
      <td className="num load-cell">{formatKw(load.currentKw)}</td>
      <td className="num">
        <span className={`tone-${status.tone}`}>{formatKw(load.projectedKw)}</span>
        <div className="muted small">
          {limit === null ? 'no target' : `${load.targetKw !== null ? 'target' : 'peak'} ${formatKw(limit)}`}
          {status.tone === 'bad' && <span className="tone-bad"> ▲ over</span>}
        </div>
      </td>
      <td>
        {g.shedChannelCount > 0 ? (
          <>
            <span className="badge badge-shed">
              {g.shedChannelCount} of {g.channelCount} held
            </span>
            {restoreAt !== undefined && (
              <div className="small">
                restores in <Countdown to={restoreAt} />
              </div>
            )}
          </>
        ) : (
          <span className="muted">none</span>
        )}
      </td>
      <td>
        {g.interceptionSuspected && <span className="badge badge-bad badge-strong">⚠ interception</span>}
        {g.openAlarmCount > 0 ? <span className="badge badge-warn">{plural(g.openAlarmCount, 'alarm', 'alarms')}</span> : !g.interceptionSuspected && <span className="muted">none</span>}
        {g.lmHealth !== null && g.lmHealth !== 'ok' && <div className="small tone-warn">LM {g.lmHealth}</div>}
      </td>
      <td className="num">{formatMs(g.rttMs)}</td>
      <td>
        {g.certificate ? (
          <>
            {zone.date(g.certificate.notAfter)}
            <div className={`small ${certDays !== null && certDays < 30 ? 'tone-warn' : 'muted'}`}>{certDays !== null && certDays < 0 ? 'expired' : `${certDays} d left`}</div>
          </>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
    </tr>
  );
});

function GatewayTable(): ReactNode {
  const gateways = useFleet((s) => s.gateways);
  const loads = useFleet((s) => s.loads);
  const events = useFleet((s) => s.activeEvents);
  const zone = useZone();
  const [text, setText] = useState('');
  const [state, setState] = useState<StateFilter>('all');
  const [sort, setSort] = useState<GatewaySort>({ key: 'gateway', direction: 'ascending' });

  // When each gateway's loads come back: the earliest end among the active events that hold some.
  const restoreAt = useMemo(() => {
    const m = new Map<string, number>();
    for (const e of events) for (const o of e.outcomes) if (o.state === 'confirmed') m.set(o.gatewayId, Math.min(m.get(o.gatewayId) ?? Infinity, e.endsAt));
    return m;
  }, [events]);
  const filtered = useMemo(() => filterGateways(gateways, text, state), [gateways, text, state]);
  // Sorting by a live figure re-sorts each second; by anything else only when the fleet changes.
  const live = sort.key === 'load' || sort.key === 'projection';
  const rows = useMemo(() => sortGateways(filtered, sort, live ? loads : {}), [filtered, sort, live ? loads : null]);

  const toggle = (key: GatewaySortKey): void =>
    setSort((s) => (s.key === key ? { key, direction: s.direction === 'ascending' ? 'descending' : 'ascending' } : { key, direction: key === 'load' || key === 'projection' || key === 'alarms' || key === 'shed' ? 'descending' : 'ascending' }));

  return (
    <section className="panel" aria-labelledby="gateways-title">
      <div className="panel-head">
        <h2 id="gateways-title" className="panel-title">
          Gateways{' '}
          <span className="muted">
            ({rows.length === gateways.length ? gateways.length : `${rows.length} of ${gateways.length}`})
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
      <div className="table-wrap">
        <table aria-label="Gateways" className="data-table gateways-table">
          <thead>
            <tr>
              {COLUMNS.map(({ key, label, num }) =>
                key === 'labels' ? (
                  <th key={key} scope="col" className="col-labels">
                    {label}
                  </th>
                ) : (
                  <th key={key} scope="col" className={num ? 'num' : undefined} aria-sort={sort.key === key ? sort.direction : 'none'}>
                    <button type="button" className="sort-button" onClick={() => toggle(key)}>
                      {label}
                      <span className="sort-mark" aria-hidden="true">
                        {sort.key === key ? (sort.direction === 'ascending' ? '▲' : '▼') : '↕'}
                      </span>
                    </button>
                  </th>
                ),
              )}
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td colSpan={COLUMNS.length} className="empty">
                  {gateways.length === 0 ? 'No gateway has connected yet.' : 'No gateway matches the filter.'}
                </td>
              </tr>
            )}
            {rows.map((g) => (
              <GatewayRow key={g.gatewayId} g={g} load={loads[g.gatewayId] ?? g.load} restoreAt={restoreAt.get(g.gatewayId)} zone={zone} />
            ))}
          </tbody>
        </table>
      </div>
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
