/**
 * Alarms (open until acknowledged, even when the condition has cleared) and the security events of
 * the link: refused certificates, identity mismatches, interception reported by an agent.
 */
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import type { AlarmRecord, SecurityEventRecord } from '../../hub/operator/types.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import { SeverityBadge } from '../components/badges.js';
import { DataTable, type Column } from '../components/data-table.js';
import { ErrorNote } from '../components/error-note.js';
import { useQuery } from '../components/use-query.js';
import type { ZonedTime } from '../logic/format.js';
import { routeHash } from '../logic/route.js';
import { useAnnounce, useClient, useFleet, useStore, useZone } from '../state/context.js';

/** Alarm codes that mean someone may be attacking the link: shown loudest. */
const SECURITY_ALARMS: ReadonlySet<string> = new Set(['LINK_INTERCEPTION_SUSPECTED', 'LINK_CERT_REVOKED', 'LINK_UNKNOWN_CA', 'LINK_IDENTITY_MISMATCH', 'LINK_SERVER_IDENTITY', 'LINK_SERVER_REVOKED']);

function AckButton({ alarm }: { alarm: AlarmRecord }): ReactNode {
  const client = useClient();
  const store = useStore();
  const announce = useAnnounce();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<OperatorError | null>(null);
  const ack = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const acked = await client.acknowledgeAlarm(alarm.id);
      store.upsertAlarm(acked);
      announce(`Alarm ${alarm.code}${alarm.gatewayId ? ` on ${alarm.gatewayId}` : ''} acknowledged`, 'ok');
    } catch (err) {
      setError(toOperatorError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className="btn btn-small" onClick={() => void ack()} disabled={busy} aria-describedby={`alarm-${alarm.id}`}>
        Acknowledge
      </button>
      <ErrorNote error={error} />
    </>
  );
}

function alarmRowClass(a: AlarmRecord): string | undefined {
  return a.code === 'LINK_INTERCEPTION_SUSPECTED' ? 'row-interception' : SECURITY_ALARMS.has(a.code) || a.severity === 'alarm' ? 'row-alert' : undefined;
}

function columnsOfAlarms(zone: ZonedTime): Column<AlarmRecord>[] {
  return [
    { key: 'severity', header: 'Severity', cell: (a) => <SeverityBadge severity={a.severity} /> },
    {
      key: 'code',
      header: 'Code',
      cell: (a) => (
        <>
          {a.code === 'LINK_INTERCEPTION_SUSPECTED' && (
            <span className="badge badge-bad badge-strong">
              <span aria-hidden="true">⚠ </span>interception
            </span>
          )}{' '}
          <code className="code">{a.code}</code>
        </>
      ),
    },
    { key: 'gateway', header: 'Gateway', cell: (a) => (a.gatewayId ? <a href={routeHash({ view: 'gateway', gatewayId: a.gatewayId })}>{a.gatewayId}</a> : <span className="muted">console</span>) },
    {
      key: 'message',
      header: 'Message',
      cell: (a) => (
        <div id={`alarm-${a.id}`} className="cell-clamp" title={a.message}>
          {a.message}
          {a.code === 'LINK_INTERCEPTION_SUSPECTED' && <div className="small tone-bad">A certificate chain not from the LMGW CA was presented to the gateway: an intercepting proxy or an attacker between it and this console.</div>}
        </div>
      ),
    },
    { key: 'raised', header: 'Raised', cell: (a) => zone.dateTime(a.raisedAt) },
    { key: 'cleared', header: 'Cleared', cell: (a) => (a.clearedAt !== undefined ? zone.dateTime(a.clearedAt) : <span className="tone-warn">active</span>) },
    {
      key: 'actions',
      header: 'Actions',
      hiddenHeader: true,
      cell: (a) =>
        a.acknowledgedAt !== undefined ? (
          <span className="muted small">
            acknowledged by {a.acknowledgedBy ?? '?'} at {zone.time(a.acknowledgedAt)}
          </span>
        ) : (
          <AckButton alarm={a} />
        ),
    },
  ];
}

function AlarmsTable(): ReactNode {
  const open = useFleet((s) => s.alarms);
  const zone = useZone();
  const client = useClient();
  const [showAll, setShowAll] = useState(false);
  const all = useQuery(() => (showAll ? client.alarms({ openOnly: false }) : Promise.resolve(null)), [client, showAll, open]);
  const rows = useMemo(() => (showAll && all.data ? [...all.data].sort((a, b) => b.raisedAt - a.raisedAt) : open), [showAll, all.data, open]);
  const alarmColumns = useMemo(() => columnsOfAlarms(zone), [zone]);
  return (
    <section className="panel" aria-labelledby="alarms-title">
      <div className="panel-head">
        <h2 id="alarms-title" className="panel-title">
          {showAll ? 'All alarms' : 'Open alarms'} <span className="muted">({rows.length})</span>
        </h2>
        <label className="check">
          <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} /> Show acknowledged
        </label>
      </div>
      <ErrorNote error={all.error} />
      <DataTable label="Alarms" columns={alarmColumns} rows={rows} rowKey={(a) => a.id} rowHeight={64} maxHeight={560} rowClassName={alarmRowClass} empty="No open alarm. All clear." />
    </section>
  );
}

function SecurityEvents(): ReactNode {
  const client = useClient();
  const zone = useZone();
  const initial = useQuery(() => client.securityEvents({ limit: 200 }), [client]);
  const [live, setLive] = useState<SecurityEventRecord[]>([]);
  useEffect(() => client.subscribe((e) => e.type === 'security' && setLive((l) => [e.event, ...l].slice(0, 200))), [client]);
  const rows = useMemo(() => {
    const byId = new Map<number, SecurityEventRecord>();
    for (const r of [...live, ...(initial.data ?? [])]) if (!byId.has(r.id)) byId.set(r.id, r);
    return [...byId.values()].sort((a, b) => b.time - a.time).slice(0, 200);
  }, [live, initial.data]);
  return (
    <section className="panel" aria-labelledby="security-title">
      <h2 id="security-title" className="panel-title">
        Security events <span className="muted">({rows.length})</span>
      </h2>
      <ErrorNote error={initial.error} />
      <div className="table-wrap">
        <table aria-label="Security events" className="data-table">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Code</th>
              <th scope="col">Address</th>
              <th scope="col">Gateway</th>
              <th scope="col">Subject</th>
              <th scope="col">Serial</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td colSpan={7} className="empty">
                  {initial.loading ? 'Loading…' : 'No security event recorded.'}
                </td>
              </tr>
            )}
            {rows.map((r) => (
              <tr key={r.id} className={r.code === 'LINK_INTERCEPTION_SUSPECTED' ? 'row-interception' : undefined}>
                <td>{zone.dateTime(r.time)}</td>
                <td>
                  <code className="code">{r.code}</code>
                </td>
                <td>{r.remoteAddress}</td>
                <td>{r.gatewayId ?? <span className="muted">—</span>}</td>
                <td>{r.subject ?? <span className="muted">—</span>}</td>
                <td>{r.serial ? <code className="serial">{r.serial}</code> : <span className="muted">—</span>}</td>
                <td className="detail-cell">{r.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function AlarmsView(): ReactNode {
  return (
    <div className="view">
      <h1 className="view-title">Alarms and security events</h1>
      <AlarmsTable />
      <SecurityEvents />
    </div>
  );
}
