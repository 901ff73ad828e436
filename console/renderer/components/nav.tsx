import type { ReactNode } from 'react';
import { NAV_VIEWS, routeHash, type ViewName } from '../logic/route.js';
import { useFleet } from '../state/context.js';

/** The views, as links to their hash routes (bookmarkable). Counts are decoration, hidden from names. */
export function Nav({ current }: { current: ViewName }): ReactNode {
  const alarms = useFleet((s) => s.alarms.length);
  const active = current === 'gateway' ? 'fleet' : current;
  return (
    <nav className="app-nav" aria-label="Views">
      <ul>
        {NAV_VIEWS.map((v) => (
          <li key={v.view}>
            <a href={routeHash({ view: v.view })} aria-current={active === v.view ? 'page' : undefined} className="nav-link">
              <span className={`nav-icon nav-icon-${v.view}`} aria-hidden="true" />
              <span>{v.label}</span>
              {v.view === 'alarms' && alarms > 0 && (
                <span className="nav-count" aria-hidden="true">
                  {alarms}
                </span>
              )}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
