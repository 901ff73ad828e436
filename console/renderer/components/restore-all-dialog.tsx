/**
 * Restore all: every channel the hub shed, on every connected gateway, now, and every active event
 * ended. The dialog says how much that is before the operator confirms; the outcome is announced,
 * and the dialog stays open with the gateways that did not confirm, if any.
 */
import { useMemo, useState, type ReactNode } from 'react';
import type { CommandRecord } from '../../hub/operator/types.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import { plural } from '../logic/format.js';
import { restoreAllOutcome } from '../logic/summary.js';
import { useAnnounce, useClient, useFleet, useStore } from '../state/context.js';
import { CommandStateBadge } from './badges.js';
import { ErrorNote } from './error-note.js';
import { Modal } from './modal.js';

/** Commands listed at most; the sentence above counts them all. */
const FIRST_ROWS = 20;

export function RestoreAllDialog({ onClose }: { onClose: () => void }): ReactNode {
  const client = useClient();
  const store = useStore();
  const announce = useAnnounce();
  const shedding = useFleet((s) => s.counts.shedding);
  const events = useFleet((s) => s.activeEvents.length);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<OperatorError | null>(null);
  const [result, setResult] = useState<CommandRecord[] | null>(null);
  // At 20,000 gateways the answer is 20,000 commands: list only what did not confirm, the first of them.
  const notConfirmed = useMemo(() => (result ?? []).filter((c) => c.state !== 'confirmed'), [result]);

  const restore = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const commands = await client.restoreAll();
      const ok = commands.every((c) => c.state === 'confirmed');
      announce(restoreAllOutcome(commands), ok ? 'ok' : 'warning');
      void store.refresh();
      // Everything back on: the announcement says so. Otherwise show which gateways did not confirm.
      if (ok) onClose();
      else setResult(commands);
    } catch (err) {
      const e = toOperatorError(err);
      setError(e);
      announce(`Restore all refused (${e.code})`, 'error');
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title="Restore all" onClose={onClose}>
      {result === null ? (
        <>
          <p>
            Switch back on <strong>every load the console has shed</strong>, on every connected gateway, and end every active shed event.
          </p>
          <p className="restore-scope">
            Now: {plural(shedding, 'gateway', 'gateways')} shedding, {plural(events, 'active event', 'active events')}.
          </p>
          <p className="muted">During a peak this raises the load at once.</p>
        </>
      ) : (
        <div className="review">
          <p className="review-summary">{restoreAllOutcome(result)}</p>
          {notConfirmed.length > 0 && (
            <ul className="plan-list">
              {notConfirmed.slice(0, FIRST_ROWS).map((c) => (
                <li key={c.id}>
                  <strong>{c.gatewayId}</strong> <CommandStateBadge state={c.state} /> {c.code && <code className="code">{c.code}</code>} {c.message}
                </li>
              ))}
              {notConfirmed.length > FIRST_ROWS && <li className="muted">… and {plural(notConfirmed.length - FIRST_ROWS, 'more gateway', 'more gateways')} not confirmed</li>}
            </ul>
          )}
        </div>
      )}
      <ErrorNote error={error} />
      <div className="modal-actions">
        {result === null && (
          <button type="button" className="btn btn-restore" onClick={() => void restore()} disabled={busy}>
            {busy ? 'Restoring…' : 'Confirm restore all'}
          </button>
        )}
        <button type="button" className={result === null ? 'btn btn-quiet' : 'btn'} onClick={onClose} disabled={busy}>
          {result === null ? 'Cancel' : 'Close'}
        </button>
      </div>
    </Modal>
  );
}
