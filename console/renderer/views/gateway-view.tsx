/**
 * One gateway: who it is, how it is connected, its certificate, its load and live curve, every
 * channel with per-channel Shed / Restore, and its recent commands as they change state.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { ChannelView, CommandRecord, GatewayDetail } from '../../hub/operator/types.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import { CommandStateBadge, SeverityBadge, StateBadge } from '../components/badges.js';
import { Countdown } from '../components/countdown.js';
import { DataTable, type Column } from '../components/data-table.js';
import { ErrorNote } from '../components/error-note.js';
import { LoadChart } from '../components/load-chart.js';
import { LoadTile } from '../components/load-tile.js';
import { useQuery } from '../components/use-query.js';
import { formatDuration, formatKw, formatMs, type ZonedTime } from '../logic/format.js';
import { LiveSeries } from '../logic/live-series.js';
import { routeHash } from '../logic/route.js';
import { parseDurationMinutes } from '../logic/shed-form.js';
import { commandOutcome } from '../logic/summary.js';
import { useAnnounce, useClient, useFleet, useZone } from '../state/context.js';
import { TargetForm } from './live-view.js';

const HOUR_MS = 3_600_000;
/** Channel figures (measured kW, relay state) come with telemetry; re-read the detail at most this often. */
const DETAIL_REFRESH_MS = 5_000;

function GatewayChart({ gatewayId, title }: { gatewayId: string; title: string }): ReactNode {
  const client = useClient();
  const figures = useFleet((s) => s.loads.get(gatewayId) ?? null);
  const timeZone = useFleet((s) => s.timeZone);
  const skew = useFleet((s) => s.skewMs);
  const series = useMemo(() => new LiveSeries(HOUR_MS), [gatewayId]);
  const listeners = useRef(new Set<() => void>());
  const [error, setError] = useState<OperatorError | null>(null);

  useEffect(() => {
    let live = true;
    const notify = (): void => {
      for (const l of [...listeners.current]) l();
    };
    const buffered: Array<{ time: number; kw: number | null }> = [];
    let filled = false;
    const unsubscribe = client.subscribe((e) => {
      if (e.type !== 'load') return;
      const f = e.gateways[gatewayId];
      if (f === undefined) return;
      if (!filled) buffered.push({ time: e.time, kw: f.currentKw });
      else if (series.append(e.time, f.currentKw)) notify();
    });
    const to = Date.now() + skew;
    client.loadHistory({ gatewayId, from: to - HOUR_MS, to, resolution: '1s' }).then(
      (points) => {
        if (!live) return;
        series.fill(points);
        for (const p of buffered) series.append(p.time, p.kw);
        filled = true;
        notify();
      },
      (err: unknown) => {
        if (!live) return;
        setError(toOperatorError(err));
        filled = true;
      },
    );
    return () => {
      live = false;
      unsubscribe();
    };
    // The skew at mount is enough for the history's window: not a dependency.
  }, [client, gatewayId, series]);

  const subscribe = useCallback((cb: () => void) => {
    listeners.current.add(cb);
    return () => listeners.current.delete(cb);
  }, []);
  const now = useCallback(() => Date.now() + skew, [skew]);
  return (
    <>
      <ErrorNote error={error} title="Load history" />
      <LoadChart title={`Load of ${title}`} series={series} subscribe={subscribe} figures={figures} timeZone={timeZone} now={now} height={260} />
    </>
  );
}

/**
 * One channel: its figures and Shed / Restore. Shed asks for a duration in a row that opens under
 * it (so the table keeps its width) and sends only on "Confirm shed"; Restore is the safe direction
 * and goes at once.
 */
function ChannelRow({
  channel: c,
  deviceId,
  multiDevice,
  columns,
  gatewayId,
  connected,
  confirming,
  setConfirming,
  onDone,
}: {
  channel: ChannelView;
  deviceId: string;
  multiDevice: boolean;
  columns: number;
  gatewayId: string;
  connected: boolean;
  confirming: boolean;
  setConfirming: (on: boolean) => void;
  onDone: (command: CommandRecord) => void;
}): ReactNode {
  const client = useClient();
  const announce = useAnnounce();
  const [minutes, setMinutes] = useState('15');
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState<'shed' | 'restore' | null>(null);
  const [error, setError] = useState<OperatorError | null>(null);
  const n = c.id;

  const run = async (op: 'shed' | 'restore', durationSeconds?: number): Promise<void> => {
    setBusy(op);
    setError(null);
    try {
      const command = await client.command({ gatewayId, op, channels: [n], ...(durationSeconds !== undefined ? { durationSeconds } : {}) });
      announce(commandOutcome(command), command.state === 'confirmed' ? 'ok' : 'error');
      onDone(command);
    } catch (err) {
      const e = toOperatorError(err);
      setError(e);
      announce(`${op === 'shed' ? 'Shed' : 'Restore'} of channel ${n} on ${gatewayId} refused (${e.code})`, 'error');
    } finally {
      setBusy(null);
      setConfirming(false);
    }
  };

  const submitShed = (e: FormEvent): void => {
    e.preventDefault();
    const seconds = parseDurationMinutes(minutes);
    if (typeof seconds === 'string') {
      setProblem(seconds);
      return;
    }
    setProblem(null);
    void run('shed', seconds);
  };

  const restoreIn = c.restoreAt !== undefined && (
    <div className="small">
      restores in <Countdown to={c.restoreAt} />
    </div>
  );
  return (
    <>
      <tr className={c.shedEventId ? 'row-shed' : confirming ? 'row-confirming' : undefined}>
        {multiDevice && <td>{deviceId}</td>}
        <td className="num">{c.id}</td>
        <td>{c.name || <span className="muted">—</span>}</td>
        <td>
          <span className={`badge ${c.on === true ? 'badge-ok' : c.on === false ? 'badge-off' : 'badge-info'}`}>
            <span className="dot" aria-hidden="true" />
            {c.on === true ? 'on' : c.on === false ? 'off' : 'unknown'}
          </span>
        </td>
        <td className="num">{c.priority}</td>
        <td className="num">{formatKw(c.ratedKw)}</td>
        <td className="num">{formatKw(c.kw)}</td>
        <td>{c.sheddable ? 'yes' : <span className="muted">no</span>}</td>
        <td>
          {formatDuration(c.minOnSeconds)} / {formatDuration(c.minOffSeconds)}
        </td>
        <td>
          {c.shedEventId ? <code>{c.shedEventId}</code> : c.restoreAt === undefined && <span className="muted">—</span>}
          {restoreIn}
        </td>
        <td>
          <div className="row-actions">
            <button
              type="button"
              className="btn btn-small btn-shed"
              disabled={!connected || !c.sheddable || busy !== null || confirming}
              title={!c.sheddable ? 'This channel is not sheddable' : !connected ? 'The gateway is offline' : undefined}
              onClick={() => setConfirming(true)}
              aria-label={`Shed channel ${n}`}
              aria-expanded={confirming}
            >
              Shed
            </button>
            <button type="button" className="btn btn-small btn-restore-outline" disabled={!connected || busy !== null} onClick={() => void run('restore')} aria-label={`Restore channel ${n}`}>
              {busy === 'restore' ? 'Restoring…' : 'Restore'}
            </button>
          </div>
          <ErrorNote error={error} />
        </td>
      </tr>
      {confirming && (
        <tr className="confirm-row">
          <td colSpan={columns}>
            <form
              className="inline-confirm"
              onSubmit={submitShed}
              aria-label={`Shed channel ${n}`}
              onKeyDown={(e) => {
                if (e.key === 'Escape' && busy === null) setConfirming(false);
              }}
            >
              <span>
                Shed channel <strong>{n}</strong>
                {c.name ? ` (${c.name})` : ''} on {gatewayId}
              </span>
              <label className="field field-inline field-narrow">
                <span>Duration (minutes)</span>
                <input type="number" min={1} max={1440} step={1} value={minutes} onChange={(e) => setMinutes(e.target.value)} aria-invalid={problem !== null} autoFocus />
              </label>
              <span className="muted small">then restored automatically</span>
              <span className="spacer" />
              <button type="submit" className="btn btn-small btn-danger" disabled={busy !== null}>
                {busy === 'shed' ? 'Shedding…' : `Confirm shed channel ${n}`}
              </button>
              <button type="button" className="btn btn-small btn-quiet" onClick={() => setConfirming(false)} disabled={busy !== null}>
                Cancel
              </button>
              {problem && <span className="field-problem">{problem}</span>}
            </form>
          </td>
        </tr>
      )}
    </>
  );
}

function ChannelsTable({ detail, onCommand }: { detail: GatewayDetail; onCommand: (c: CommandRecord) => void }): ReactNode {
  const [confirming, setConfirming] = useState<string | null>(null);
  const connected = detail.state === 'connected';
  const multiDevice = detail.devices.length > 1;
  const columns = multiDevice ? 11 : 10;
  return (
    <section className="panel" aria-labelledby="channels-title">
      <h3 id="channels-title" className="panel-title">
        Channels
      </h3>
      <div className="table-wrap">
        <table aria-label="Channels" className="data-table channels-table">
          <thead>
            <tr>
              {multiDevice && <th scope="col">Device</th>}
              <th scope="col" className="num">
                Channel
              </th>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col" className="num">
                Priority
              </th>
              <th scope="col" className="num">
                Rated
              </th>
              <th scope="col" className="num">
                Measured
              </th>
              <th scope="col">Sheddable</th>
              <th scope="col">Min on / off</th>
              <th scope="col">Held by</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {detail.devices.flatMap((d) =>
              d.channels.map((c) => {
                const key = `${d.id}:${c.id}`;
                return (
                  <ChannelRow
                    key={key}
                    channel={c}
                    deviceId={d.id}
                    multiDevice={multiDevice}
                    columns={columns}
                    gatewayId={detail.gatewayId}
                    connected={connected}
                    confirming={confirming === key}
                    setConfirming={(on) => setConfirming(on ? key : null)}
                    onDone={onCommand}
                  />
                );
              }),
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function commandWhat(c: CommandRecord): string {
  if (c.op === 'read') return 'read';
  const chans = c.all === true || c.channels === undefined ? 'all' : c.channels.join(', ');
  return `${c.op} ${chans}`;
}

function commandColumns(zone: ZonedTime): Column<CommandRecord>[] {
  return [
    { key: 'requested', header: 'Requested', cell: (c) => zone.time(c.requestedAt) },
    {
      key: 'command',
      header: 'Command',
      cell: (c) => (
        <>
          {commandWhat(c)}
          <div className="muted small">
            <code>{c.id}</code>
          </div>
        </>
      ),
    },
    { key: 'duration', header: 'Duration', cell: (c) => (c.durationSeconds !== undefined ? formatDuration(c.durationSeconds) : <span className="muted">—</span>) },
    { key: 'event', header: 'Event', cell: (c) => (c.eventId ? <code>{c.eventId}</code> : <span className="muted">—</span>) },
    { key: 'operator', header: 'Operator', cell: (c) => c.operator },
    { key: 'state', header: 'State', cell: (c) => <CommandStateBadge state={c.state} /> },
    {
      key: 'reason',
      header: 'Reason',
      cell: (c) =>
        c.code ? (
          <div className="cell-line" title={c.message}>
            <code className="code">{c.code}</code> <span className="small">{c.message}</span>
          </div>
        ) : (
          <span className="muted">—</span>
        ),
    },
    { key: 'took', header: 'Took', className: 'num', cell: (c) => (c.finishedAt !== undefined ? formatMs(c.finishedAt - c.requestedAt) : <span className="muted">…</span>) },
  ];
}

function CommandsTable({ commands, zone }: { commands: readonly CommandRecord[]; zone: ZonedTime }): ReactNode {
  const columns = useMemo(() => commandColumns(zone), [zone]);
  return (
    <section className="panel" aria-labelledby="commands-title">
      <h3 id="commands-title" className="panel-title">
        Recent commands
      </h3>
      <DataTable label="Recent commands" columns={columns} rows={commands} rowKey={(c) => c.id} rowHeight={52} maxHeight={480} empty="No command yet." />
    </section>
  );
}

function Facts({ items }: { items: Array<[string, ReactNode]> }): ReactNode {
  return (
    <dl className="facts">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function GatewayView({ gatewayId, onShed }: { gatewayId: string; onShed: (gatewayId: string) => void }): ReactNode {
  const client = useClient();
  const zone = useZone();
  const summary = useFleet((s) => s.fleet.get(gatewayId));
  const figures = useFleet((s) => s.loads.get(gatewayId) ?? null);
  const detail = useQuery(() => client.gateway(gatewayId), [client, gatewayId]);
  const [live, setLive] = useState<ReadonlyMap<string, CommandRecord>>(new Map());
  const lastLoad = useRef(0);
  const { reload } = detail;

  useEffect(() => setLive(new Map()), [gatewayId]);
  // The hub streams per-second figures only for watched gateways: this one, while it is open.
  useEffect(() => {
    client.watch('gateway-view', [gatewayId]);
    return () => client.watch('gateway-view', []);
  }, [client, gatewayId]);
  useEffect(() => {
    let pending: ReturnType<typeof setTimeout> | undefined;
    const soon = (): void => {
      clearTimeout(pending);
      pending = setTimeout(() => {
        lastLoad.current = Date.now();
        reload();
      }, 250);
    };
    const unsubscribe = client.subscribe((e) => {
      if (e.type === 'command' && e.command.gatewayId === gatewayId) {
        setLive((m) => new Map(m).set(e.command.id, e.command));
        if (e.command.state !== 'requested' && e.command.state !== 'sent') soon();
      } else if (e.type === 'gateways' && e.patches.some((p) => p.gatewayId === gatewayId)) soon();
      else if (e.type === 'load' && e.gateways[gatewayId] !== undefined && Date.now() - lastLoad.current > DETAIL_REFRESH_MS) {
        lastLoad.current = Date.now();
        reload();
      }
    });
    return () => {
      clearTimeout(pending);
      unsubscribe();
    };
  }, [client, gatewayId, reload]);

  const d = detail.data?.gatewayId === gatewayId ? detail.data : undefined;
  const commands = useMemo(() => {
    const byId = new Map<string, CommandRecord>();
    for (const c of d?.recentCommands ?? []) byId.set(c.id, c);
    // An event newer than the detail read wins (it carries the later state).
    for (const c of live.values()) {
      const known = byId.get(c.id);
      if (known === undefined || (c.finishedAt ?? 0) >= (known.finishedAt ?? 0)) byId.set(c.id, c);
    }
    return [...byId.values()].sort((a, b) => b.requestedAt - a.requestedAt).slice(0, 30);
  }, [d, live]);

  const g = summary ?? d;
  if (!g) {
    return (
      <div className="view">
        <p className="breadcrumb">
          <a href={routeHash({ view: 'fleet' })}>All gateways</a> / {gatewayId}
        </p>
        {detail.loading ? <p className="muted">Loading {gatewayId}…</p> : <ErrorNote error={detail.error} title={`Gateway ${gatewayId}`} />}
      </div>
    );
  }
  const channels = d?.devices.flatMap((x) => x.channels) ?? [];
  return (
    <div className="view">
      <p className="breadcrumb">
        <a href={routeHash({ view: 'fleet' })}>All gateways</a> / <span>{g.gatewayId}</span>
      </p>
      <h1 className="sr-only">Gateway {g.gatewayId}</h1>
      <div className="detail-head">
        <h2 className="view-title">{g.siteName}</h2>
        <StateBadge state={g.state} />
        {g.interceptionSuspected && <span className="badge badge-bad badge-strong">⚠ interception suspected</span>}
        <div className="spacer" />
        <button type="button" className="btn btn-primary" onClick={() => onShed(g.gatewayId)} disabled={g.state !== 'connected'}>
          Shed event for this gateway
        </button>
      </div>
      <ErrorNote error={detail.error} />
      <div className="detail-grid">
        <LoadTile title="Site load" figures={figures ?? g.load} label={`Load of ${g.siteName}`} level={3} />
        <section className="panel" aria-labelledby="identity-title">
          <h3 id="identity-title" className="panel-title">
            Identity and certificate
          </h3>
          <Facts
            items={[
              ['Gateway id', <code key="id">{g.gatewayId}</code>],
              ['Labels', g.labels.length > 0 ? g.labels.map((l: string) => <span key={l} className="chip">{l}</span>) : <span className="muted">none</span>],
              ['Agent', g.agentVersion ?? '—'],
              ['Load managers', d ? d.devices.map((x) => `${x.id}: ${x.model} (${x.health})`).join('; ') : '…'],
              ['Channels', `${g.channelCount} (${channels.filter((c) => c.sheddable).length} sheddable), ${formatKw(g.ratedKw)} rated`],
              ['Certificate', g.certificate ? g.certificate.subject : <span className="muted">none seen yet</span>],
              ['Serial', g.certificate ? <code key="s" className="serial">{g.certificate.serial}</code> : '—'],
              [
                'Expires',
                g.certificate ? `${zone.date(g.certificate.notAfter)} (${formatDuration((g.certificate.notAfter - Date.now()) / 1000)} left)` : '—',
              ],
            ]}
          />
        </section>
        <section className="panel" aria-labelledby="connection-title">
          <h3 id="connection-title" className="panel-title">
            Connection
          </h3>
          <Facts
            items={[
              ['State', `${g.state} since ${zone.dateTime(g.since)}`],
              ['Address', g.remoteAddress ?? '—'],
              ['Path', g.viaProxy ? 'through an HTTP proxy' : 'direct'],
              ['Round trip', formatMs(g.rttMs)],
              ['Last telemetry', zone.dateTime(g.lastTelemetryAt)],
              ['LM health', g.lmHealth ?? '—'],
              ['Interception', g.interceptionSuspected ? <strong key="i" className="tone-bad">suspected</strong> : 'none seen'],
              ['First seen', zone.dateTime(g.firstSeen)],
            ]}
          />
        </section>
      </div>
      {d && d.openAlarms.length > 0 && (
        <section className="panel" aria-labelledby="gw-alarms-title">
          <h3 id="gw-alarms-title" className="panel-title">
            Open alarms
          </h3>
          <ul className="alarm-list">
            {d.openAlarms.map((a) => (
              <li key={a.id} className={a.code === 'LINK_INTERCEPTION_SUSPECTED' ? 'alarm-interception' : undefined}>
                <SeverityBadge severity={a.severity} /> <code className="code">{a.code}</code> {a.message} <span className="muted small">{zone.dateTime(a.raisedAt)}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section className="panel chart-panel" aria-labelledby="gw-chart-title">
        <div className="panel-head">
          <h3 id="gw-chart-title" className="panel-title">
            Load, last hour
          </h3>
          <TargetForm gatewayId={g.gatewayId} current={(figures ?? g.load).targetKw} />
        </div>
        <GatewayChart gatewayId={g.gatewayId} title={g.siteName} />
      </section>
      {d ? <ChannelsTable detail={d} onCommand={(c) => {
        setLive((m) => new Map(m).set(c.id, c));
        reload();
      }} /> : <p className="muted">Loading channels…</p>}
      <CommandsTable commands={commands} zone={zone} />
    </div>
  );
}
