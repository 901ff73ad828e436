/**
 * A shed event in three steps, so a slip cannot switch off a town: the operator says where, what and
 * for how long; Review asks the hub what exactly that would do now (previewShed, which changes
 * nothing) and says it in one sentence, summarised however large the plan (gateways, loads and kW
 * per label, the first rows, the skipped loads grouped by reason); only then Confirm shed sends it.
 * Any change to the form after the review discards it.
 */
import { useId, useMemo, useState, type FormEvent, type ReactNode } from 'react';
import type { GatewaySummary, ShedEventAnswer, ShedPreview, ShedRequest } from '../../hub/operator/types.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import { formatKw, plural } from '../logic/format.js';
import { labelCounts } from '../logic/gateway-table.js';
import { buildShedRequest, EMPTY_SHED_FORM, type ScopeKind, type SelectorKind, type ShedForm } from '../logic/shed-form.js';
import { digestPlan, eventCountsText, shedEventOutcome, shedSummary, skipReasonText } from '../logic/summary.js';
import { useAnnounce, useClient, useFleet, useNow, useStore, useZone } from '../state/context.js';
import { CommandStateBadge } from './badges.js';
import { ErrorNote } from './error-note.js';
import { EventDetailDialog } from './event-detail-dialog.js';
import { Modal } from './modal.js';

export interface ShedPreset {
  gatewayId?: string;
}

type Step = { kind: 'edit' } | { kind: 'reviewing' } | { kind: 'review'; request: ShedRequest; preview: ShedPreview } | { kind: 'sending'; request: ShedRequest; preview: ShedPreview } | { kind: 'done'; event: ShedEventAnswer };

const SCOPES: ReadonlyArray<{ value: ScopeKind; label: string }> = [
  { value: 'gateway', label: 'One gateway' },
  { value: 'gateways', label: 'Selection' },
  { value: 'label', label: 'Label' },
  { value: 'fleet', label: 'Whole fleet' },
];

const SELECTORS: ReadonlyArray<{ value: SelectorKind; label: string; hint: string }> = [
  { value: 'channels', label: 'Channels', hint: 'these channel numbers' },
  { value: 'priority', label: 'Priority', hint: 'every sheddable load up to a priority' },
  { value: 'targetKw', label: 'Target kW', hint: 'least important loads first, until about this much is off' },
];

export function ShedDialog({ preset, onClose }: { preset: ShedPreset | null; onClose: () => void }): ReactNode {
  const client = useClient();
  const store = useStore();
  const announce = useAnnounce();
  const zone = useZone();
  const now = useNow();
  const fleet = useFleet((s) => s.fleet);
  const connected = useFleet((s) => s.counts.connected);
  const gateways = useMemo(() => fleet.list(), [fleet]);
  const [details, setDetails] = useState(false);
  const [form, setForm] = useState<ShedForm>(() =>
    preset?.gatewayId ? { ...EMPTY_SHED_FORM, scope: 'gateway', gatewayId: preset.gatewayId } : { ...EMPTY_SHED_FORM },
  );
  const [problems, setProblems] = useState<Partial<Record<keyof ShedForm, string>>>({});
  const [step, setStep] = useState<Step>({ kind: 'edit' });
  const [error, setError] = useState<OperatorError | null>(null);
  const [find, setFind] = useState('');
  const ids = { problems: useId(), summary: useId() };
  // Each list is built only for the scope that shows it, and again only when the fleet changed.
  const labels = useMemo(() => (form.scope === 'label' ? [...labelCounts(gateways)].sort((a, b) => (a[0] < b[0] ? -1 : 1)) : []), [gateways, form.scope]);
  // 20,000 options are built once per change of the fleet, not at every tick of the clock.
  const gatewayOptions = useMemo(
    () =>
      form.scope !== 'gateway'
        ? null
        : gateways.map((g) => (
            <option key={g.gatewayId} value={g.gatewayId}>
              {g.gatewayId} — {g.siteName}
              {g.state === 'offline' ? ' (offline)' : ''}
            </option>
          )),
    [gateways, form.scope],
  );

  const edit = (patch: Partial<ShedForm>): void => {
    setForm((f) => ({ ...f, ...patch }));
    // What was reviewed is no longer what would be sent.
    if (step.kind === 'review') setStep({ kind: 'edit' });
    setError(null);
  };

  const review = async (e?: FormEvent): Promise<void> => {
    e?.preventDefault();
    const built = buildShedRequest(form);
    if (!built.ok) {
      setProblems(built.problems);
      return;
    }
    setProblems({});
    setError(null);
    setStep({ kind: 'reviewing' });
    try {
      const preview = await client.previewShed(built.request);
      setStep({ kind: 'review', request: built.request, preview });
    } catch (err) {
      setError(toOperatorError(err));
      setStep({ kind: 'edit' });
    }
  };

  const confirm = async (): Promise<void> => {
    if (step.kind !== 'review') return;
    setStep({ kind: 'sending', request: step.request, preview: step.preview });
    setError(null);
    try {
      const event = await client.startShed(step.request);
      store.upsertEvent(event);
      const allOk = event.gatewayCount > 0 && (event.counts.confirmed ?? 0) === event.gatewayCount;
      announce(shedEventOutcome(event, zone, Date.now()), allOk ? 'ok' : 'warning');
      // All confirmed: the event is in the active list with its countdown, the outcome announced.
      // Anything less stays on screen, gateway by gateway, until the operator has read it.
      if (allOk) onClose();
      else setStep({ kind: 'done', event });
    } catch (err) {
      const e = toOperatorError(err);
      setError(e);
      announce(`Shed event refused (${e.code})`, 'error');
      setStep({ kind: 'review', request: step.request, preview: step.preview });
    }
  };

  // The answer names the first of them (NOT_CONFIRMED_MAX); the others are counted, all of them in "All outcomes".
  const notConfirmed = step.kind === 'done' ? step.event.notConfirmed : [];
  const notConfirmedMore = step.kind === 'done' ? Math.max(0, step.event.gatewayCount - (step.event.counts.confirmed ?? 0) - notConfirmed.length) : 0;
  const locked = step.kind === 'sending' || step.kind === 'done' || step.kind === 'reviewing';
  const visible = useMemo(() => (form.scope === 'gateways' ? findGateways(gateways, find, form.gatewayIds) : { shown: [], more: 0 }), [gateways, find, form.gatewayIds, form.scope]);
  const digest = useMemo(() => (step.kind === 'review' || step.kind === 'sending' ? digestPlan(step.preview.plan, (id) => fleet.get(id)?.labels) : null), [step, fleet]);
  // The event's counts as the stream updates them (the answer may come while commands are in flight).
  const liveEvent = useFleet((s) => (step.kind === 'done' ? s.activeEvents.find((e) => e.id === step.event.id) : undefined));
  const problem = (k: keyof ShedForm): ReactNode => (problems[k] ? <span className="field-problem">{problems[k]}</span> : null);

  return (
    <Modal title="Shed event" onClose={onClose} className="shed-dialog">
      <form onSubmit={(e) => void review(e)} noValidate aria-describedby={Object.keys(problems).length > 0 ? ids.problems : undefined}>
        <fieldset className="choice" disabled={locked}>
          <legend>Where</legend>
          <div className="radios">
            {SCOPES.map((s) => (
              <label key={s.value} className="radio">
                <input type="radio" name="scope" value={s.value} checked={form.scope === s.value} onChange={() => edit({ scope: s.value })} />
                {s.label}
              </label>
            ))}
          </div>
          {form.scope === 'gateway' && (
            <label className="field">
              <span>Gateway</span>
              <select value={form.gatewayId} onChange={(e) => edit({ gatewayId: e.target.value })} aria-invalid={problems.gatewayId !== undefined}>
                <option value="">Choose a gateway…</option>
                {gatewayOptions}
              </select>
              {problem('gatewayId')}
            </label>
          )}
          {form.scope === 'gateways' && (
            <div className="field">
              <label className="field field-inline">
                <span>Find gateway</span>
                <input type="search" value={find} onChange={(e) => setFind(e.target.value)} />
              </label>
              <fieldset className="checklist" aria-invalid={problems.gatewayIds !== undefined}>
                <legend className="sr-only">Gateways in the selection</legend>
                {visible.shown.map((g) => (
                  <label key={g.gatewayId} className="check">
                    <input
                      type="checkbox"
                      checked={form.gatewayIds.includes(g.gatewayId)}
                      onChange={(e) => edit({ gatewayIds: e.target.checked ? [...form.gatewayIds, g.gatewayId] : form.gatewayIds.filter((x) => x !== g.gatewayId) })}
                    />
                    <span>{g.gatewayId}</span> <span className="muted">{g.siteName}</span>
                    {g.state === 'offline' && <span className="badge badge-bad">offline</span>}
                  </label>
                ))}
              </fieldset>
              {visible.more > 0 && <span className="muted small">{plural(visible.more, 'more gateway matches', 'more gateways match')}: narrow the search. </span>}
              <span className="muted small">{plural(form.gatewayIds.length, 'gateway', 'gateways')} selected</span>
              {problem('gatewayIds')}
            </div>
          )}
          {form.scope === 'label' && (
            <label className="field">
              <span>Label</span>
              <select value={form.label} onChange={(e) => edit({ label: e.target.value })} aria-invalid={problems.label !== undefined}>
                <option value="">Choose a label…</option>
                {labels.map(([l, n]) => (
                  <option key={l} value={l}>
                    {l} ({n})
                  </option>
                ))}
              </select>
              {problem('label')}
            </label>
          )}
          {form.scope === 'fleet' && (
            <p className="note note-warn">
              Every gateway of the fleet: {plural(connected, 'connected gateway', 'connected gateways')} of {gateways.length}.
            </p>
          )}
        </fieldset>

        <fieldset className="choice" disabled={locked}>
          <legend>What to shed</legend>
          <div className="radios">
            {SELECTORS.map((s) => (
              <label key={s.value} className="radio" title={s.hint}>
                <input type="radio" name="selector" value={s.value} checked={form.selector === s.value} onChange={() => edit({ selector: s.value })} />
                {s.label}
              </label>
            ))}
          </div>
          {form.selector === 'channels' && (
            <label className="field">
              <span>Channels</span>
              <input type="text" value={form.channels} onChange={(e) => edit({ channels: e.target.value })} placeholder="e.g. 1, 2, 101-104" aria-invalid={problems.channels !== undefined} />
              {problem('channels')}
            </label>
          )}
          {form.selector === 'priority' && (
            <label className="field">
              <span>Highest priority</span>
              <input type="number" min={1} max={99} step={1} value={form.maxPriority} onChange={(e) => edit({ maxPriority: e.target.value })} aria-invalid={problems.maxPriority !== undefined} />
              <span className="muted small">sheds every sheddable load of priority 1 up to this (1 is shed first)</span>
              {problem('maxPriority')}
            </label>
          )}
          {form.selector === 'targetKw' && (
            <label className="field">
              <span>Target kW</span>
              <input type="number" min={0.1} step={0.1} value={form.targetKw} onChange={(e) => edit({ targetKw: e.target.value })} aria-invalid={problems.targetKw !== undefined} />
              <span className="muted small">the least important loads first, until about this much is off</span>
              {problem('targetKw')}
            </label>
          )}
        </fieldset>

        <div className="field-row">
          <label className="field">
            <span>Duration (minutes)</span>
            <input type="number" min={1} max={1440} step={1} value={form.durationMinutes} onChange={(e) => edit({ durationMinutes: e.target.value })} disabled={locked} aria-invalid={problems.durationMinutes !== undefined} />
            <span className="muted small">the gateways restore on their own after this</span>
            {problem('durationMinutes')}
          </label>
          <label className="field field-grow">
            <span>Note (optional)</span>
            <input type="text" maxLength={500} value={form.note} onChange={(e) => edit({ note: e.target.value })} disabled={locked} placeholder="peak event 14:30" />
            {problem('note')}
          </label>
        </div>
        {Object.keys(problems).length > 0 && (
          <p id={ids.problems} className="field-problem" role="alert">
            Check the marked fields.
          </p>
        )}

        <ErrorNote error={error} />

        {(step.kind === 'review' || step.kind === 'sending') && (
          <div className="review">
            <div className="review-summary" role="status" aria-label="Shed summary" id={ids.summary}>
              {shedSummary(step.preview, zone, now)}
            </div>
            {digest !== null && digest.byLabel.length > 0 && (
              <table className="data-table compact plan-labels" aria-label="Plan by label">
                <thead>
                  <tr>
                    <th scope="col">Label</th>
                    <th scope="col" className="num">
                      Gateways
                    </th>
                    <th scope="col" className="num">
                      Loads
                    </th>
                    <th scope="col" className="num">
                      kW
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {digest.byLabel.map((l) => (
                    <tr key={l.label}>
                      <td>{l.label === '' ? <span className="muted">no label</span> : <span className="chip">{l.label}</span>}</td>
                      <td className="num">{l.gateways}</td>
                      <td className="num">{l.loads}</td>
                      <td className="num">{formatKw(l.kw)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {digest !== null && digest.first.length > 0 && (
              <ul className="plan-list" aria-label="First gateways of the plan">
                {digest.first.map((p) => (
                  <li key={p.gatewayId}>
                    <strong>{p.gatewayId}</strong>: {p.channels.length === 1 ? 'channel' : 'channels'} {p.channels.join(', ')} <span className="muted">({formatKw(p.expectedKw)})</span>
                  </li>
                ))}
                {digest.more > 0 && <li className="muted">… and {plural(digest.more, 'more gateway', 'more gateways')}</li>}
              </ul>
            )}
            {digest !== null && digest.skipped.length > 0 && (
              <details className="skipped" open={step.preview.plan.skipped.length <= 8}>
                <summary>Skipped: {plural(step.preview.plan.skipped.length, 'item', 'items')}</summary>
                <ul aria-label="Skipped by reason">
                  {digest.skipped.map((s) => (
                    <li key={s.reason}>
                      <span className="chip">{skipReasonText(s.reason)}</span> {s.count}{' '}
                      <span className="muted small">
                        — e.g. <strong>{s.example.gatewayId}</strong>
                        {s.example.channel !== undefined ? ` channel ${s.example.channel}` : ''}: {s.example.detail}
                      </span>
                    </li>
                  ))}
                </ul>
              </details>
            )}
          </div>
        )}

        {step.kind === 'done' && (
          <div className="review">
            <p className="review-summary" aria-label="Event outcome">
              {eventCountsText(liveEvent ?? step.event)}
            </p>
            <p className="muted small">{shedEventOutcome(step.event, zone, now)}</p>
            {notConfirmed.length > 0 && (
              <ul className="plan-list">
                {notConfirmed.map((o) => (
                  <li key={o.commandId}>
                    <strong>{o.gatewayId}</strong>: {o.channels.join(', ')} <CommandStateBadge state={o.state} /> {o.code && <code className="code">{o.code}</code>} {o.message}
                  </li>
                ))}
                {notConfirmedMore > 0 && <li className="muted">and {notConfirmedMore} more not confirmed</li>}
              </ul>
            )}
            <button type="button" className="btn btn-small btn-quiet" onClick={() => setDetails(true)}>
              All outcomes
            </button>
          </div>
        )}

        <div className="modal-actions">
          {(step.kind === 'edit' || step.kind === 'reviewing') && (
            <button type="submit" className="btn btn-primary" disabled={step.kind === 'reviewing'}>
              {step.kind === 'reviewing' ? 'Reviewing…' : 'Review'}
            </button>
          )}
          {(step.kind === 'review' || step.kind === 'sending') && (
            <>
              <button type="button" className="btn btn-danger" onClick={() => void confirm()} disabled={step.kind === 'sending' || step.preview.loadCount === 0}>
                {step.kind === 'sending' ? 'Shedding… waiting for the gateways' : 'Confirm shed'}
              </button>
              <button type="button" className="btn btn-quiet" onClick={() => setStep({ kind: 'edit' })} disabled={step.kind === 'sending'}>
                Change
              </button>
            </>
          )}
          {step.kind === 'done' ? (
            <button type="button" className="btn" onClick={onClose}>
              Close
            </button>
          ) : (
            <button type="button" className="btn btn-quiet" onClick={onClose} disabled={step.kind === 'sending'}>
              Cancel
            </button>
          )}
        </div>
      </form>
      {details && step.kind === 'done' && <EventDetailDialog eventId={step.event.id} onClose={() => setDetails(false)} />}
    </Modal>
  );
}

/** Rows of a list shown at most (the selection's checklist, the outcomes not confirmed). */
const FIRST_ROWS = 200;

/** The checklist's rows: the selected ones and those matching the search, at most FIRST_ROWS. */
function findGateways(gateways: readonly GatewaySummary[], find: string, selected: readonly string[]): { shown: GatewaySummary[]; more: number } {
  const text = find.trim().toLowerCase();
  const chosen = new Set(selected);
  const matching = gateways.filter((g) => chosen.has(g.gatewayId) || text === '' || g.gatewayId.toLowerCase().includes(text) || g.siteName.toLowerCase().includes(text));
  return { shown: matching.slice(0, FIRST_ROWS), more: Math.max(0, matching.length - FIRST_ROWS) };
}
