/**
 * The views are addressed by the URL hash (#/fleet, #/gateway/bakery-muller, …) so an operator can
 * bookmark or share one; hash routes also work from file:// in the desktop app. Pure.
 */

export type Route =
  | { view: 'fleet' }
  | { view: 'live' }
  | { view: 'gateway'; gatewayId: string }
  | { view: 'alarms' }
  | { view: 'audit' }
  | { view: 'certificates' };

export type ViewName = Route['view'];

/** The views in the navigation, in order, with their link text (an e2e contract: keep the names). */
export const NAV_VIEWS: ReadonlyArray<{ view: Exclude<ViewName, 'gateway'>; label: string }> = [
  { view: 'fleet', label: 'Fleet' },
  { view: 'live', label: 'Live load' },
  { view: 'alarms', label: 'Alarms' },
  { view: 'audit', label: 'Audit log' },
  { view: 'certificates', label: 'Certificates' },
];

const SIMPLE: ReadonlySet<string> = new Set(['fleet', 'live', 'alarms', 'audit', 'certificates']);
/** A gateway id as the hub accepts it (docs/operator-api.md). */
const GATEWAY_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The route of a location hash; anything unknown is the fleet overview. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const [head = '', ...rest] = path.split('/');
  if (head === 'gateway' && rest.length === 1) {
    let id: string;
    try {
      id = decodeURIComponent(rest[0] ?? '');
    } catch {
      return { view: 'fleet' };
    }
    return GATEWAY_ID.test(id) ? { view: 'gateway', gatewayId: id } : { view: 'fleet' };
  }
  if (rest.length === 0 && SIMPLE.has(head)) return { view: head as Exclude<ViewName, 'gateway'> };
  return { view: 'fleet' };
}

/** The hash of a route ("#/gateway/bakery-muller"). */
export function routeHash(route: Route): string {
  return route.view === 'gateway' ? `#/gateway/${encodeURIComponent(route.gatewayId)}` : `#/${route.view}`;
}
