/**
 * Sorting and filtering the fleet table. Pure: the table hands in the summaries and the latest load
 * figures (which arrive every second, apart from the summaries) and gets the rows in order.
 */
import type { GatewaySummary, LoadFigures } from '../../hub/operator/types.js';

export type GatewaySortKey = 'gateway' | 'state' | 'site' | 'load' | 'projection' | 'shed' | 'alarms' | 'rtt' | 'certificate';
export type SortDirection = 'ascending' | 'descending';
export interface GatewaySort {
  key: GatewaySortKey;
  direction: SortDirection;
}

export type StateFilter = 'all' | 'connected' | 'offline' | 'shedding' | 'alarms';
export const STATE_FILTERS: ReadonlyArray<{ value: StateFilter; label: string }> = [
  { value: 'all', label: 'All states' },
  { value: 'connected', label: 'Connected' },
  { value: 'offline', label: 'Offline' },
  { value: 'shedding', label: 'Shedding' },
  { value: 'alarms', label: 'With alarms' },
];

export type LoadsById = Readonly<Record<string, LoadFigures | undefined>>;

function loadOf(g: GatewaySummary, loads: LoadsById): LoadFigures {
  return loads[g.gatewayId] ?? g.load;
}

/** Where a gateway's quarter-hour projection stands against its limit (target, else peak): 0..∞, null when unknown. */
export function projectionRatio(load: LoadFigures): number | null {
  const limit = load.targetKw ?? load.peakKw;
  if (load.projectedKw === null || limit === null || limit <= 0) return null;
  return load.projectedKw / limit;
}

function sortValue(g: GatewaySummary, key: GatewaySortKey, loads: LoadsById): string | number | null {
  switch (key) {
    case 'gateway':
      return g.gatewayId;
    case 'site':
      return g.siteName.toLowerCase();
    case 'state':
      // Problems first when ascending: offline, then connected.
      return g.state === 'offline' ? 0 : 1;
    case 'load':
      return loadOf(g, loads).currentKw;
    case 'projection':
      return loadOf(g, loads).projectedKw;
    case 'shed':
      return g.shedChannelCount;
    case 'alarms':
      return g.openAlarmCount + (g.interceptionSuspected ? 1000 : 0);
    case 'rtt':
      return g.rttMs;
    case 'certificate':
      return g.certificate?.notAfter ?? null;
  }
}

function compareValues(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return 0;
}

/**
 * The rows in order. Unknown values (no load yet, no certificate) go last in either direction; ties
 * fall back to the gateway id so rows do not jump about as live figures change.
 */
export function sortGateways(gateways: readonly GatewaySummary[], sort: GatewaySort, loads: LoadsById = {}): GatewaySummary[] {
  const sign = sort.direction === 'ascending' ? 1 : -1;
  return [...gateways].sort((x, y) => {
    const a = sortValue(x, sort.key, loads);
    const b = sortValue(y, sort.key, loads);
    if (a === null && b !== null) return 1;
    if (b === null && a !== null) return -1;
    const c = compareValues(a, b) * sign;
    if (c !== 0) return c;
    return x.gatewayId < y.gatewayId ? -1 : x.gatewayId > y.gatewayId ? 1 : 0;
  });
}

/** Whether the gateway passes the state filter. */
export function matchesState(g: GatewaySummary, filter: StateFilter): boolean {
  switch (filter) {
    case 'all':
      return true;
    case 'connected':
      return g.state === 'connected';
    case 'offline':
      return g.state === 'offline';
    case 'shedding':
      return g.shedChannelCount > 0;
    case 'alarms':
      return g.openAlarmCount > 0 || g.interceptionSuspected;
  }
}

/**
 * Whether the gateway matches the filter text: every word must occur (case-insensitive) in its id,
 * site name, one of its labels or its state ("north offline" finds offline gateways labelled north).
 */
export function matchesText(g: GatewaySummary, text: string): boolean {
  const words = text.toLowerCase().split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return true;
  const hay = [g.gatewayId, g.siteName, g.state, ...g.labels].map((s) => s.toLowerCase());
  return words.every((w) => hay.some((h) => h.includes(w)));
}

export function filterGateways(gateways: readonly GatewaySummary[], text: string, state: StateFilter): GatewaySummary[] {
  return gateways.filter((g) => matchesState(g, state) && matchesText(g, text));
}

/** Every label used in the fleet, sorted (for the shed dialog's label scope). */
export function fleetLabels(gateways: readonly GatewaySummary[]): string[] {
  return [...new Set(gateways.flatMap((g) => g.labels))].sort();
}
