import { useMemo, type ReactNode } from 'react';
import { routeHash } from '../logic/route.js';
import { useFleet } from '../state/context.js';

/**
 * A gateway that saw a certificate chain not from our CA is being intercepted (a DPI proxy or an
 * attacker): it refuses to talk, so it will look merely offline. Say it loudly on every view.
 */
export function InterceptionBanner(): ReactNode {
  const fleet = useFleet((s) => s.fleet);
  const alarms = useFleet((s) => s.alarms);
  // One pass over the fleet per change of it, not per render.
  const suspected = useMemo(() => fleet.list().filter((g) => g.interceptionSuspected).map((g) => g.gatewayId), [fleet]);
  const ids = new Set<string>(suspected);
  for (const a of alarms) if (a.code === 'LINK_INTERCEPTION_SUSPECTED' && a.clearedAt === undefined) ids.add(a.gatewayId ?? 'unknown gateway');
  if (ids.size === 0) return null;
  return (
    <div className="banner banner-interception" role="alert">
      <span className="banner-icon" aria-hidden="true">
        ⚠
      </span>
      <div>
        <strong>Interception suspected</strong> on {[...ids].join(', ')}: a certificate chain not from the LMGW CA was presented on
        the way to this console — an intercepting proxy or an attacker. The gateway refuses to connect through it.{' '}
        <a href={routeHash({ view: 'alarms' })}>Open the alarm list</a>
      </div>
    </div>
  );
}
