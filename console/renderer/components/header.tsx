/**
 * The bar on every view: what the console is connected to, the hub's clock, and the two actions an
 * operator must always reach during a peak event — a new shed event and restore all.
 */
import { useState, type ReactNode } from 'react';
import { currentTheme, saveTheme, type Theme } from '../app/theme.js';
import { useFleet, useNow, useZone } from '../state/context.js';

function StreamIndicator(): ReactNode {
  const health = useFleet((s) => s.health);
  const status = useFleet((s) => s.status);
  const [tone, text, title] =
    status === 'error'
      ? ['bad', 'Hub unreachable', 'The hub does not answer']
      : health === 'live'
        ? ['ok', 'Live', 'The hub\'s event stream is live (a heartbeat every second)']
        : health === 'stale'
          ? ['bad', 'Stale', 'Nothing heard from the hub for over 3 seconds: the figures are frozen']
          : health === 'connecting'
            ? ['info', 'Connecting…', 'Opening the hub\'s event stream']
            : ['warn', 'Reconnecting…', 'The hub\'s event stream is down; reconnecting'];
  return (
    <span className={`stream stream-${tone}`} title={title} role="status" aria-label={`Event stream: ${text}`}>
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function HubClock(): ReactNode {
  const now = useNow();
  const zone = useZone();
  return (
    <span className="clock" aria-label={`Hub time ${zone.time(now)} ${zone.timeZone}`}>
      <span className="clock-time">{zone.time(now)}</span>
      <span className="clock-zone">{zone.timeZone}</span>
    </span>
  );
}

function ThemeToggle(): ReactNode {
  const [theme, setTheme] = useState<Theme>(currentTheme);
  const next: Theme = theme === 'dark' ? 'light' : 'dark';
  return (
    <button
      type="button"
      className="btn btn-quiet theme-toggle"
      onClick={() => {
        saveTheme(next);
        setTheme(next);
      }}
    >
      <span aria-hidden="true">{next === 'dark' ? '☾' : '☀'}</span> {next === 'dark' ? 'Dark theme' : 'Light theme'}
    </button>
  );
}

export function Header({ onNewShed, onRestoreAll }: { onNewShed: () => void; onRestoreAll: () => void }): ReactNode {
  const info = useFleet((s) => s.info);
  return (
    <header className="app-header">
      <div className="brand">
        <span className="brand-mark" aria-hidden="true">
          ⚡
        </span>
        <span className="brand-name">LMGW</span>
        <span className="brand-sub">Load management console</span>
      </div>
      <div className="header-status">
        <StreamIndicator />
        <HubClock />
        {info && <span className="muted small hub-version">hub {info.version}</span>}
      </div>
      <div className="header-actions">
        <button type="button" className="btn btn-primary" onClick={onNewShed}>
          New shed event
        </button>
        <button type="button" className="btn btn-restore" onClick={onRestoreAll}>
          Restore all
        </button>
        <ThemeToggle />
      </div>
    </header>
  );
}
