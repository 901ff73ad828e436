/**
 * The fleet's load over the last hour, second by second, against its quarter-hours, projection,
 * peak and target; the fleet target can be set here. The per-gateway share lists who draws the most.
 */
import { useCallback, useEffect, useMemo, useState, type FormEvent, type ReactNode } from 'react';
import type { GatewaySummary } from '../../hub/operator/types.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import { ErrorNote } from '../components/error-note.js';
import { LoadChart } from '../components/load-chart.js';
import { LoadTile } from '../components/load-tile.js';
import { formatKw } from '../logic/format.js';
import { routeHash } from '../logic/route.js';
import { useAnnounce, useClient, useFleet, useStore } from '../state/context.js';

/** Sets or clears a target (the fleet's, or one gateway's). */
export function TargetForm({ gatewayId, current, onSet }: { gatewayId?: string; current: number | null; onSet?: () => void }): ReactNode {
  const client = useClient();
  const store = useStore();
  const announce = useAnnounce();
  const [value, setValue] = useState('');
  const [error, setError] = useState<OperatorError | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const whose = gatewayId === undefined ? 'fleet' : gatewayId;

  const apply = async (targetKw: number | null): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await client.setTarget(gatewayId === undefined ? { targetKw } : { gatewayId, targetKw });
      announce(targetKw === null ? `Target of ${whose} cleared` : `Target of ${whose} set to ${formatKw(targetKw, 0)}`, 'ok');
      setValue('');
      onSet?.();
      void store.refresh();
    } catch (err) {
      setError(toOperatorError(err));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    const kw = Number(value.replace(',', '.'));
    if (value.trim() === '' || !Number.isFinite(kw) || kw <= 0 || kw > 1_000_000) {
      setProblem('a power in kW above 0');
      return;
    }
    setProblem(null);
    void apply(kw);
  };
  return (
    <form className="target-form" onSubmit={submit} aria-label={`Target of ${whose}`}>
      <label className="field field-inline">
        <span>{gatewayId === undefined ? 'Fleet target (kW)' : 'Site target (kW)'}</span>
        <input inputMode="decimal" value={value} onChange={(e) => setValue(e.target.value)} placeholder={current === null ? 'none' : String(current)} aria-invalid={problem !== null} />
      </label>
      <button type="submit" className="btn btn-small" disabled={busy}>
        Set target
      </button>
      {current !== null && (
        <button type="button" className="btn btn-small btn-quiet" disabled={busy} onClick={() => void apply(null)}>
          Clear target
        </button>
      )}
      {problem && <span className="field-problem">{problem}</span>}
      <ErrorNote error={error} />
    </form>
  );
}

function Contributors(): ReactNode {
  const fleet = useFleet((s) => s.fleet);
  const loads = useFleet((s) => s.loads);
  const loadVersion = useFleet((s) => s.loadVersion);
  // The hub streams figures for watched gateways only; the others count with their summary's figures.
  const rows = useMemo(() => {
    const top: Array<{ g: GatewaySummary; kw: number | null }> = [];
    for (const g of fleet.list()) {
      const kw = (loads.get(g.gatewayId) ?? g.load).currentKw;
      if (top.length < 12 || (kw ?? -1) > (top[top.length - 1]?.kw ?? -1)) {
        top.push({ g, kw });
        top.sort((a, b) => (b.kw ?? -1) - (a.kw ?? -1));
        if (top.length > 12) top.pop();
      }
    }
    return top;
  }, [fleet, loads, loadVersion]);
  const client = useClient();
  const ids = rows.map((r) => r.g.gatewayId).join(' ');
  // Keep the listed gateways' figures coming.
  useEffect(() => {
    client.watch('live-contributors', ids === '' ? [] : ids.split(' '));
  }, [client, ids]);
  useEffect(() => () => client.watch('live-contributors', []), [client]);
  const max = Math.max(1, ...rows.map((r) => r.kw ?? 0));
  return (
    <section className="panel" aria-labelledby="contributors-title">
      <h2 id="contributors-title" className="panel-title">
        Largest loads now
      </h2>
      <ul className="bars">
        {rows.map(({ g, kw }) => (
          <li key={g.gatewayId} className="bar-row">
            <a href={routeHash({ view: 'gateway', gatewayId: g.gatewayId })} className="bar-name">
              {g.siteName}
            </a>
            <span className="bar-track" aria-hidden="true">
              <span className={`bar-fill ${g.state === 'offline' ? 'bar-offline' : ''}`} style={{ width: `${(((kw ?? 0) / max) * 100).toFixed(1)}%` }} />
            </span>
            <span className="bar-value">{g.state === 'offline' ? 'offline' : formatKw(kw)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function LiveView(): ReactNode {
  const store = useStore();
  const fleetLoad = useFleet((s) => s.fleetLoad);
  const timeZone = useFleet((s) => s.timeZone);
  const skew = useFleet((s) => s.skewMs);
  const subscribe = useCallback((cb: () => void) => store.onSeries(cb), [store]);
  const now = useCallback(() => Date.now() + skew, [skew]);
  return (
    <div className="view">
      <h1 className="view-title">Live load</h1>
      <div className="live-grid">
        <section className="panel chart-panel" aria-labelledby="fleet-chart-title">
          <div className="panel-head">
            <h2 id="fleet-chart-title" className="panel-title">
              Fleet load, last hour
            </h2>
            <TargetForm current={fleetLoad?.targetKw ?? null} />
          </div>
          <LoadChart title="Fleet load" series={store.fleetSeries} subscribe={subscribe} figures={fleetLoad} timeZone={timeZone} now={now} height="tall" />
        </section>
        <div className="live-side">
          <LoadTile title="Fleet load" figures={fleetLoad} label="Fleet load figures" />
          <Contributors />
        </div>
      </div>
    </div>
  );
}
