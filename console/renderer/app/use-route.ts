import { useSyncExternalStore } from 'react';
import { parseRoute, routeHash, type Route } from '../logic/route.js';

function subscribe(listener: () => void): () => void {
  window.addEventListener('hashchange', listener);
  return () => window.removeEventListener('hashchange', listener);
}

function hash(): string {
  return window.location.hash;
}

/** The current view from the URL hash. */
export function useRoute(): Route {
  return parseRoute(useSyncExternalStore(subscribe, hash));
}

export function navigate(route: Route): void {
  window.location.hash = routeHash(route);
}
