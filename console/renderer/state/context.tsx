/**
 * What every component may reach: the client, the fleet store, the announcer, the hub's time zone.
 * One context, read through small hooks.
 */
import { createContext, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import type { OperatorClient } from '../api/operator-client.js';
import { ZonedTime } from '../logic/format.js';
import type { Announcer } from './announcer.js';
import { clockNow, subscribeClock } from './clock.js';
import type { FleetState, FleetStore } from './fleet-store.js';

export interface AppServices {
  client: OperatorClient;
  store: FleetStore;
  announcer: Announcer;
}

const AppContext = createContext<AppServices | null>(null);

export function AppProvider({ services, children }: { services: AppServices; children: ReactNode }): ReactNode {
  return <AppContext.Provider value={services}>{children}</AppContext.Provider>;
}

function useServices(): AppServices {
  const s = useContext(AppContext);
  if (s === null) throw new Error('useServices: no AppProvider above this component');
  return s;
}

export function useClient(): OperatorClient {
  return useServices().client;
}

export function useStore(): FleetStore {
  return useServices().store;
}

/** One slice of the fleet state; the selector must return a value already in the state (no new objects). */
export function useFleet<T>(selector: (s: FleetState) => T): T {
  const { store } = useServices();
  return useSyncExternalStore(store.subscribe, () => selector(store.getState()));
}

export function useAnnounce(): AppServices['announcer']['announce'] {
  return useServices().announcer.announce;
}

export function useAnnouncer(): Announcer {
  return useServices().announcer;
}

/** Formats times in the hub's time zone. */
export function useZone(): ZonedTime {
  const timeZone = useFleet((s) => s.timeZone);
  return useMemo(() => new ZonedTime(timeZone), [timeZone]);
}

/** The hub's current time (ms), re-rendering the caller once a second. */
export function useNow(): number {
  const skew = useFleet((s) => s.skewMs);
  return useSyncExternalStore(subscribeClock, clockNow) + skew;
}
