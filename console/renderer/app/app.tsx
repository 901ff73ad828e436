/**
 * The console's frame: header (always: New shed event, Restore all), the interception banner, the
 * views' navigation, the view of the URL hash, the dialogs and the outcome announcements.
 */
import { useRef, useState, type ReactNode } from 'react';
import { Announcements } from '../components/announcements.js';
import { ErrorNote } from '../components/error-note.js';
import { Header } from '../components/header.js';
import { InterceptionBanner } from '../components/interception-banner.js';
import { Nav } from '../components/nav.js';
import { RestoreAllDialog } from '../components/restore-all-dialog.js';
import { StaleBanner } from '../components/stale-banner.js';
import { ShedDialog, type ShedPreset } from '../components/shed-dialog.js';
import type { Route } from '../logic/route.js';
import { useFleet, useStore } from '../state/context.js';
import { AlarmsView } from '../views/alarms-view.js';
import { AuditView } from '../views/audit-view.js';
import { CertificatesView } from '../views/certificates-view.js';
import { FleetView } from '../views/fleet-view.js';
import { GatewayView } from '../views/gateway-view.js';
import { LiveView } from '../views/live-view.js';
import { useRoute } from './use-route.js';

function NotConnected(): ReactNode {
  const error = useFleet((s) => s.error);
  const store = useStore();
  const unauthorized = error?.code === 'OP_UNAUTHORIZED';
  return (
    <section className="panel note-panel" aria-labelledby="not-connected-title">
      <h1 id="not-connected-title" className="panel-title">
        {unauthorized ? 'Not signed in' : 'The hub cannot be reached'}
      </h1>
      {unauthorized ? (
        <p>
          Open the login address that <code>lm-console</code> printed when it started (<code>…/login?token=…</code>). The token changes at every start of the hub, so an
          old address or cookie no longer works.
        </p>
      ) : (
        <p>The console keeps trying. Check that the hub is running.</p>
      )}
      <ErrorNote error={error} title="Last answer" />
      <button type="button" className="btn" onClick={() => void store.refresh(true)}>
        Try again
      </button>
    </section>
  );
}

function View({ route, onShed }: { route: Route; onShed: (gatewayId: string) => void }): ReactNode {
  switch (route.view) {
    case 'fleet':
      return <FleetView />;
    case 'live':
      return <LiveView />;
    case 'gateway':
      return <GatewayView gatewayId={route.gatewayId} onShed={onShed} />;
    case 'alarms':
      return <AlarmsView />;
    case 'audit':
      return <AuditView />;
    case 'certificates':
      return <CertificatesView />;
  }
}

export function App(): ReactNode {
  const route = useRoute();
  const status = useFleet((s) => s.status);
  const [shed, setShed] = useState<ShedPreset | null | undefined>(undefined);
  const [restoreAll, setRestoreAll] = useState(false);
  const main = useRef<HTMLElement>(null);

  return (
    <div className="shell">
      <button type="button" className="skip-link" onClick={() => main.current?.focus()}>
        Skip to the view
      </button>
      <Header onNewShed={() => setShed(null)} onRestoreAll={() => setRestoreAll(true)} />
      <StaleBanner />
      <InterceptionBanner />
      <div className="shell-body">
        <Nav current={route.view} />
        <main ref={main} tabIndex={-1} className="main">
          {status === 'error' ? <NotConnected /> : status === 'loading' ? <p className="muted loading">Reading the fleet…</p> : <View route={route} onShed={(gatewayId) => setShed({ gatewayId })} />}
        </main>
      </div>
      <Announcements />
      {shed !== undefined && <ShedDialog preset={shed} onClose={() => setShed(undefined)} />}
      {restoreAll && <RestoreAllDialog onClose={() => setRestoreAll(false)} />}
    </div>
  );
}
