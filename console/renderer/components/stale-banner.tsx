import type { ReactNode } from 'react';
import { useFleet } from '../state/context.js';

/**
 * Figures on screen that are no longer live must say so: an operator deciding on a shed from a frozen
 * number is worse off than one who sees none.
 */
export function StaleBanner(): ReactNode {
  const health = useFleet((s) => s.health);
  const status = useFleet((s) => s.status);
  const error = useFleet((s) => s.error);
  if (status !== 'ready' || (health !== 'reconnecting' && health !== 'stale' && error === null)) return null;
  const unauthorized = error?.code === 'OP_UNAUTHORIZED';
  return (
    <div className="banner banner-stale" role="alert">
      <span className="banner-icon" aria-hidden="true">
        ⚠
      </span>
      <div>
        <strong>{unauthorized ? 'Signed out: ' : 'Live updates interrupted: '}</strong>
        {unauthorized
          ? 'the hub no longer accepts this session (it restarted with a new token). Open the new login address lm-console printed. '
          : health === 'stale'
            ? 'nothing has been heard from the hub for over 3 seconds; the figures below are frozen. '
            : 'the figures below may be out of date while the console reconnects. '}
        {error && (
          <span className="small">
            Last answer: <code className="code">{error.code}</code> {error.message}
          </span>
        )}
      </div>
    </div>
  );
}
