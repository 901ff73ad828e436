import { useSyncExternalStore, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import { useAnnouncer, useZone } from '../state/context.js';

/**
 * Command outcomes as toasts, in one polite live region: a screen reader reads each new one, the
 * operator sees the last few until dismissed. Beside the app (a portal), so it stays audible while a
 * modal hides the app.
 */
export function Announcements(): ReactNode {
  const announcer = useAnnouncer();
  const zone = useZone();
  const items = useSyncExternalStore(announcer.subscribe, announcer.getItems);
  return createPortal(
    <div className="toasts" role="status" aria-live="polite" aria-label="Outcomes">
      {items.map((a) => (
        <div key={a.id} className={`toast toast-${a.tone}`}>
          <span className="toast-time">{zone.time(a.time)}</span>
          <span className="toast-text">{a.text}</span>
          <button type="button" className="toast-close" aria-label="Dismiss" onClick={() => announcer.dismiss(a.id)}>
            ×
          </button>
        </div>
      ))}
    </div>,
    document.body,
  );
}
