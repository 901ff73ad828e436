/**
 * The fleet as the UI holds it at 20,000 gateways: one Map from id to summary, patched in place by
 * the stream's `gateways` events, ids kept sorted, counts kept incrementally. Nothing here copies the
 * fleet per event: a patch costs one summary object and a few counter updates. Pure and DOM-free.
 */
import type { FleetCounts, GatewayPatch, GatewaySummary, LoadFigures } from '../../hub/operator/types.js';

export const EMPTY_COUNTS: FleetCounts = { total: 0, connected: 0, offline: 0, shedding: 0, alarms: 0 };

/** Load figures of a gateway nothing is known about yet (a patch never carries `load`). */
export const UNKNOWN_LOAD: LoadFigures = {
  currentKw: null,
  intervalStart: 0,
  intervalEnd: 0,
  averageKw: null,
  projectedKw: null,
  coverage: 0,
  peakKw: null,
  peakIntervalStart: null,
  targetKw: null,
};

/** The fields a patch must carry to stand for a gateway the UI has not seen (all of them, per the contract). */
const REQUIRED: ReadonlyArray<keyof GatewayPatch> = ['siteName', 'labels', 'state', 'since', 'channelCount', 'shedChannelCount', 'openAlarmCount'];

/** The gateway after the patch; undefined when it is unknown and the patch does not describe it whole. */
export function patchGateway(current: GatewaySummary | undefined, patch: GatewayPatch): GatewaySummary | undefined {
  if (current !== undefined) return { ...current, ...patch, load: current.load };
  if (REQUIRED.some((k) => patch[k] === undefined)) return undefined;
  const defaults: Omit<GatewaySummary, 'gatewayId' | 'load' | (typeof REQUIRED)[number]> = {
    firstSeen: 0,
    agentVersion: null,
    certificate: null,
    remoteAddress: null,
    rttMs: null,
    viaProxy: false,
    interceptionSuspected: false,
    lmHealth: null,
    ratedKw: 0,
    lastTelemetryAt: null,
  };
  return { ...defaults, ...(patch as Omit<GatewaySummary, 'load'>), load: UNKNOWN_LOAD };
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Adds (sign 1) or removes (sign -1) one gateway's share of the counts. */
function count(c: { -readonly [K in keyof FleetCounts]: number }, g: GatewaySummary, sign: 1 | -1): void {
  c.total += sign;
  if (g.state === 'connected') c.connected += sign;
  else c.offline += sign;
  if (g.shedChannelCount > 0) c.shedding += sign;
  if (g.openAlarmCount > 0) c.alarms += sign;
}

/** The counts as the hub defines them (FleetCounts), from the summaries. */
export function countFleet(gateways: Iterable<GatewaySummary>): FleetCounts {
  const c = { ...EMPTY_COUNTS };
  for (const g of gateways) count(c, g, 1);
  return c;
}

/** A read-only view of the fleet at one version: what components get from the store. */
export interface FleetView {
  /** Changes whenever any summary changed; memoise on it. */
  readonly version: number;
  readonly size: number;
  get(gatewayId: string): GatewaySummary | undefined;
  /** Every gateway in id order; one array per version, built on first use. */
  list(): readonly GatewaySummary[];
}

export class FleetIndex {
  readonly #byId = new Map<string, GatewaySummary>();
  #ids: string[] = [];
  #counts = { ...EMPTY_COUNTS };
  #version = 0;

  get version(): number {
    return this.#version;
  }

  get counts(): FleetCounts {
    return { ...this.#counts };
  }

  get(gatewayId: string): GatewaySummary | undefined {
    return this.#byId.get(gatewayId);
  }

  /** Replaces everything (a snapshot). */
  reset(gateways: readonly GatewaySummary[]): void {
    this.#byId.clear();
    for (const g of gateways) this.#byId.set(g.gatewayId, g);
    this.#ids = [...this.#byId.keys()].sort(compareIds);
    this.#counts = { ...countFleet(this.#byId.values()) };
    this.#version++;
  }

  /** Applies one patch; false when it changed nothing (an unknown gateway described in part). */
  apply(patch: GatewayPatch): boolean {
    const before = this.#byId.get(patch.gatewayId);
    const after = patchGateway(before, patch);
    if (after === undefined) return false;
    if (before === undefined) {
      // A new gateway: insert its id in order (rare; a binary search and one splice).
      let lo = 0;
      let hi = this.#ids.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((this.#ids[mid] ?? '') < after.gatewayId) lo = mid + 1;
        else hi = mid;
      }
      this.#ids.splice(lo, 0, after.gatewayId);
    } else count(this.#counts, before, -1);
    count(this.#counts, after, 1);
    this.#byId.set(after.gatewayId, after);
    this.#version++;
    return true;
  }

  /** A view at the current version. */
  view(): FleetView {
    const byId = this.#byId;
    const ids = this.#ids;
    let list: GatewaySummary[] | undefined;
    return {
      version: this.#version,
      size: ids.length,
      get: (id) => byId.get(id),
      list: () => (list ??= ids.map((id) => byId.get(id)).filter((g): g is GatewaySummary => g !== undefined)),
    };
  }
}
