/**
 * What the whole UI shows about the fleet, kept current by the event stream: gateway summaries,
 * counts, live load figures, the fleet's load curve, active shed events and open alarms.
 *
 * Components read it with useSyncExternalStore through `useFleet(selector)`. Load figures arrive
 * every second for every gateway: they live in their own field, so a 'load' event re-renders the
 * tiles and rows that show load and nothing else, and the chart appends to its arrays in place.
 */
import type {
  AlarmRecord,
  FleetCounts,
  GatewaySummary,
  HubInfo,
  LoadFigures,
  OperatorEvent,
  ShedEventRecord,
} from '../../hub/operator/types.js';
import { LiveSeries } from '../logic/live-series.js';
import type { OperatorClient } from '../api/operator-client.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import type { StreamState } from '../api/carrier.js';

export interface FleetState {
  /** 'loading' until the first fleet snapshot; 'error' when it could not be read (see `error`). */
  status: 'loading' | 'ready' | 'error';
  error: OperatorError | null;
  info: HubInfo | null;
  timeZone: string;
  /** Sorted by gateway id. */
  gateways: readonly GatewaySummary[];
  counts: FleetCounts;
  fleetLoad: LoadFigures | null;
  /** Latest figures per gateway from the 'load' events (fresher than `gateways[i].load`). */
  loads: Readonly<Record<string, LoadFigures>>;
  activeEvents: readonly ShedEventRecord[];
  /** Open (unacknowledged) alarms, newest first. */
  alarms: readonly AlarmRecord[];
  stream: StreamState;
  /** Hub clock minus this browser's clock, ms (countdowns use the hub's time). */
  skewMs: number;
}

const EMPTY_COUNTS: FleetCounts = { total: 0, connected: 0, offline: 0, shedding: 0, alarms: 0 };
const HOUR_MS = 3_600_000;
const FRESH_BUCKETS_MS = 3_000;

function byId(a: { gatewayId: string }, b: { gatewayId: string }): number {
  return a.gatewayId < b.gatewayId ? -1 : a.gatewayId > b.gatewayId ? 1 : 0;
}

/** The counts as the hub defines them (FleetCounts), from the summaries. */
export function countFleet(gateways: readonly GatewaySummary[]): FleetCounts {
  const c = { ...EMPTY_COUNTS, total: gateways.length };
  for (const g of gateways) {
    if (g.state === 'connected') c.connected++;
    else c.offline++;
    if (g.shedChannelCount > 0) c.shedding++;
    if (g.openAlarmCount > 0) c.alarms++;
  }
  return c;
}

function sortAlarms(alarms: AlarmRecord[]): AlarmRecord[] {
  return alarms.sort((a, b) => b.raisedAt - a.raisedAt);
}

export class FleetStore {
  #state: FleetState = {
    status: 'loading',
    error: null,
    info: null,
    timeZone: 'UTC',
    gateways: [],
    counts: EMPTY_COUNTS,
    fleetLoad: null,
    loads: {},
    activeEvents: [],
    alarms: [],
    stream: 'connecting',
    skewMs: 0,
  };
  readonly #listeners = new Set<() => void>();
  readonly #seriesListeners = new Set<() => void>();
  /** The fleet aggregate, last hour at 1 s. */
  readonly fleetSeries = new LiveSeries(HOUR_MS);
  #unsubscribe: Array<() => void> = [];
  #wasOpen = false;
  #refreshing: Promise<void> | undefined;
  #duringRefresh: Map<string, GatewaySummary> | undefined;

  constructor(readonly client: OperatorClient) {}

  getState = (): FleetState => this.#state;

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  /** Called after each point appended to `fleetSeries` (or after it was refilled). */
  onSeries(listener: () => void): () => void {
    this.#seriesListeners.add(listener);
    return () => this.#seriesListeners.delete(listener);
  }

  /** Reads everything and follows the event stream. */
  start(): void {
    this.#unsubscribe.push(
      this.client.subscribe((e) => this.apply(e)),
      this.client.onStreamState((stream) => {
        this.#set({ stream });
        // The stream has no replay: after a gap, read again what it would have told us.
        if (stream === 'open' && this.#wasOpen) void this.refresh(true);
        if (stream === 'open') this.#wasOpen = true;
        // A stream that cannot connect does not say why; a call does (the hub is down, or it restarted
        // with a new token: OP_UNAUTHORIZED). The stream's back-off paces these calls.
        if (stream === 'reconnecting') void this.refresh();
      }),
    );
    void this.refresh(true);
  }

  stop(): void {
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
  }

  /** Reads fleet, events and alarms again (and the load history when `history`). */
  refresh(history = false): Promise<void> {
    this.#refreshing ??= this.#refresh(history).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(history: boolean): Promise<void> {
    // Gateway events that arrive while the snapshot is on its way are newer than it: kept below.
    this.#duringRefresh = new Map();
    try {
      const [info, fleet, events, alarms] = await Promise.all([
        this.client.info(),
        this.client.fleet(),
        this.client.shedEvents({ activeOnly: true }),
        this.client.alarms({}),
      ]);
      const newer = this.#duringRefresh;
      const gateways = [...fleet.gateways.filter((g) => !newer.has(g.gatewayId)), ...newer.values()].sort(byId);
      const loads: Record<string, LoadFigures> = {};
      for (const g of gateways) loads[g.gatewayId] = g.load;
      this.#set({
        status: 'ready',
        error: null,
        info,
        timeZone: fleet.timeZone,
        gateways,
        counts: countFleet(gateways),
        fleetLoad: fleet.load,
        loads,
        activeEvents: events.filter((e) => e.state === 'active'),
        alarms: sortAlarms(alarms.filter((a) => a.acknowledgedAt === undefined)),
        skewMs: this.#skew(fleet.time),
      });
      if (history) await this.#loadHistory(fleet.time);
    } catch (err) {
      const error = toOperatorError(err);
      this.#set({ status: this.#state.status === 'ready' ? 'ready' : 'error', error });
    } finally {
      this.#duringRefresh = undefined;
    }
  }

  async #loadHistory(nowMs: number): Promise<void> {
    // The last seconds' fleet buckets are still filling (a gateway whose sample for that second has
    // not arrived yet adds nothing): leave them to the live events.
    const points = await this.client.loadHistory({ from: nowMs - HOUR_MS, to: nowMs - FRESH_BUCKETS_MS, resolution: '1s' });
    // Events that arrived while the history was on its way are newer: keep them.
    const later = this.fleetSeries.xs.map((x, i) => ({ time: x * 1000, kw: this.fleetSeries.ys[i] ?? null })).filter((p) => p.time >= nowMs - FRESH_BUCKETS_MS);
    this.fleetSeries.fill(points);
    for (const p of later) this.fleetSeries.append(p.time, p.kw);
    for (const l of [...this.#seriesListeners]) l();
  }

  /** Folds one event into the state. */
  apply(e: OperatorEvent): void {
    switch (e.type) {
      case 'load': {
        this.#set({ fleetLoad: e.fleet, loads: { ...this.#state.loads, ...e.gateways }, skewMs: this.#skew(e.time) });
        if (this.fleetSeries.append(e.time, e.fleet.currentKw)) for (const l of [...this.#seriesListeners]) l();
        return;
      }
      case 'gateway': {
        this.#duringRefresh?.set(e.gateway.gatewayId, e.gateway);
        const others = this.#state.gateways.filter((g) => g.gatewayId !== e.gateway.gatewayId);
        const gateways = [...others, e.gateway].sort(byId);
        this.#set({ gateways, counts: countFleet(gateways) });
        return;
      }
      case 'shed-event': {
        const others = this.#state.activeEvents.filter((x) => x.id !== e.event.id);
        const activeEvents = e.event.state === 'active' ? [e.event, ...others].sort((a, b) => b.createdAt - a.createdAt) : others;
        this.#set({ activeEvents });
        return;
      }
      case 'alarm': {
        const others = this.#state.alarms.filter((a) => a.id !== e.alarm.id);
        const alarms = e.alarm.acknowledgedAt === undefined ? sortAlarms([e.alarm, ...others]) : others;
        this.#set({ alarms });
        return;
      }
      case 'command':
      case 'security':
        return;
    }
  }

  /** For operations that answer with the new record before its event arrives. */
  upsertEvent(event: ShedEventRecord): void {
    this.apply({ type: 'shed-event', event });
  }

  upsertAlarm(alarm: AlarmRecord): void {
    this.apply({ type: 'alarm', alarm });
  }

  /** The hub's clock against ours; kept unless it moved by more than half a second (no flicker). */
  #skew(hubTime: number): number {
    const skew = hubTime - Date.now();
    return Math.abs(skew - this.#state.skewMs) > 500 ? skew : this.#state.skewMs;
  }

  #set(patch: Partial<FleetState>): void {
    this.#state = { ...this.#state, ...patch };
    for (const l of [...this.#listeners]) l();
  }
}
