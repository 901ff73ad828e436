/**
 * What the whole UI shows about the fleet, kept current by the event stream: gateway summaries,
 * counts, live load figures, the fleet's load curve, active shed events, open alarms, and whether the
 * stream is live.
 *
 * Built for 20,000 gateways: `gateways` patches are applied in place to one index (a Map, counts
 * kept incrementally — no copy of the fleet per event), and React hears of changes at most every
 * NOTIFY_MS, however many events arrived; components memoise on `fleet.version` / `loadVersion`.
 * Components read it with useSyncExternalStore through `useFleet(selector)`.
 */
import type {
  AlarmRecord,
  FleetCounts,
  GatewayPatch,
  HubInfo,
  LoadFigures,
  OperatorEvent,
  ShedEventAnswer,
  ShedEventRecord,
  ShedEventSummary,
} from '../../hub/operator/types.js';
import { LiveSeries } from '../logic/live-series.js';
import { EMPTY_COUNTS, FleetIndex, type FleetView } from '../logic/fleet-index.js';
import { streamHealth, type StreamHealth } from '../logic/stream-health.js';
import type { OperatorClient } from '../api/operator-client.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import type { StreamState } from '../api/carrier.js';

export interface FleetState {
  /** 'loading' until the first fleet snapshot; 'error' when it could not be read (see `error`). */
  status: 'loading' | 'ready' | 'error';
  error: OperatorError | null;
  info: HubInfo | null;
  timeZone: string;
  /** Every gateway summary; a new view (and version) whenever one changed. */
  fleet: FleetView;
  counts: FleetCounts;
  fleetLoad: LoadFigures | null;
  /** Latest figures from the 'load' events for the watched gateways (fresher than their summary's `load`). */
  loads: ReadonlyMap<string, LoadFigures>;
  /** Changes with every 'load' event folded in. */
  loadVersion: number;
  activeEvents: readonly ShedEventSummary[];
  /** Open (unacknowledged) alarms, newest first. */
  alarms: readonly AlarmRecord[];
  stream: StreamState;
  /** 'stale' when the open stream has been silent for over STALE_AFTER_MS (no heartbeat). */
  health: StreamHealth;
  /** Hub clock minus this browser's clock, ms (countdowns use the hub's time). */
  skewMs: number;
}

export interface FleetStoreOptions {
  /** React is told of changes at most this often (default 250 ms: ≤ 4 renders a second). */
  notifyMs?: number;
  /** How often the stream's silence is checked (default 500 ms). */
  healthCheckMs?: number;
  now?: () => number;
}

const HOUR_MS = 3_600_000;
const FRESH_BUCKETS_MS = 3_000;

function sortAlarms(alarms: AlarmRecord[]): AlarmRecord[] {
  return alarms.sort((a, b) => b.raisedAt - a.raisedAt);
}

/** The active ones of `events` with `later` (newer word on some of them) applied, newest first. */
function withEvents(events: readonly ShedEventSummary[], later: Iterable<ShedEventSummary>): ShedEventSummary[] {
  const byId = new Map(events.map((e) => [e.id, e]));
  for (const e of later) byId.set(e.id, e);
  return [...byId.values()].filter((e) => e.state === 'active').sort((a, b) => b.createdAt - a.createdAt);
}

/** The open ones of `alarms` with `later` applied, newest first. */
function withAlarms(alarms: readonly AlarmRecord[], later: Iterable<AlarmRecord>): AlarmRecord[] {
  const byId = new Map(alarms.map((a) => [a.id, a]));
  for (const a of later) byId.set(a.id, a);
  return sortAlarms([...byId.values()].filter((a) => a.acknowledgedAt === undefined));
}

/** An event's summary without its per-gateway rows (a record has them all, an answer of startShed/cancelShed those not confirmed). */
export function summaryOf(event: ShedEventSummary | ShedEventRecord | ShedEventAnswer): ShedEventSummary {
  if ('outcomes' in event) {
    const { outcomes: _o, skipped: _s, ...summary } = event;
    return summary;
  }
  if ('notConfirmed' in event) {
    const { notConfirmed: _n, ...summary } = event;
    return summary;
  }
  return event;
}

/**
 * What the stream (and the operations' answers) told while the snapshots were on their way. The hub
 * read the snapshots at some moment after the refresh began, so what was heard since may be newer
 * than they are, and the UI already shows it: the last word per gateway, event and alarm is applied
 * on top of the snapshots, never taken back by them. (One heard before the hub read them is also
 * replaced, in the stream's order, by the word that follows it.)
 */
interface DuringRefresh {
  patches: GatewayPatch[];
  loads: Map<string, LoadFigures>;
  events: Map<string, ShedEventSummary>;
  alarms: Map<string, AlarmRecord>;
}

export class FleetStore {
  readonly #index = new FleetIndex();
  readonly #loads = new Map<string, LoadFigures>();
  #state: FleetState;
  readonly #listeners = new Set<() => void>();
  readonly #seriesListeners = new Set<() => void>();
  /** The fleet aggregate, last hour at 1 s. */
  readonly fleetSeries = new LiveSeries(HOUR_MS);
  #unsubscribe: Array<() => void> = [];
  #wasOpen = false;
  #refreshing: Promise<void> | undefined;
  /** A refresh asked for while one was on its way: it runs after that one (with history if any asked). */
  #again: { promise: Promise<void>; history: boolean } | undefined;
  /** What arrives while a snapshot is on its way: newer than it, applied on top. */
  #duringRefresh: DuringRefresh | undefined;
  #heardAt: number | null = null;
  #dirty: Partial<FleetState> | undefined;
  #fleetDirty = false;
  #loadDirty = false;
  #lastNotify = -Infinity;
  #notifyTimer: ReturnType<typeof setTimeout> | undefined;
  #healthTimer: ReturnType<typeof setInterval> | undefined;
  readonly #notifyMs: number;
  readonly #healthCheckMs: number;
  readonly #now: () => number;

  constructor(
    readonly client: OperatorClient,
    options: FleetStoreOptions = {},
  ) {
    this.#notifyMs = options.notifyMs ?? 250;
    this.#healthCheckMs = options.healthCheckMs ?? 500;
    this.#now = options.now ?? Date.now;
    this.#state = {
      status: 'loading',
      error: null,
      info: null,
      timeZone: 'UTC',
      fleet: this.#index.view(),
      counts: EMPTY_COUNTS,
      fleetLoad: null,
      loads: this.#loads,
      loadVersion: 0,
      activeEvents: [],
      alarms: [],
      stream: 'connecting',
      health: 'connecting',
      skewMs: 0,
    };
  }

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
        if (stream === 'open') this.#heardAt = this.#now();
        this.#update({ stream, health: streamHealth(stream, this.#heardAt, this.#now()) }, true);
        // The stream has no replay: after a gap, read again what it would have told us.
        if (stream === 'open' && this.#wasOpen) void this.refresh(true);
        if (stream === 'open') this.#wasOpen = true;
        // A stream that cannot connect does not say why; a call does (the hub is down, or it restarted
        // with a new token: OP_UNAUTHORIZED). The stream's back-off paces these calls.
        if (stream === 'reconnecting') void this.refresh();
      }),
    );
    this.#healthTimer = setInterval(() => this.#checkHealth(), this.#healthCheckMs);
    void this.refresh(true);
  }

  stop(): void {
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
    clearInterval(this.#healthTimer);
    clearTimeout(this.#notifyTimer);
  }

  /**
   * Reads fleet, events and alarms again (and the load history when `history`). Asked while a refresh
   * is on its way, it reads again once that one is done: the one on its way may have read before the
   * reason for asking (the stream open again after a gap, a resync), and what the hub announced in
   * between would be lost. However often it is asked meanwhile, one more refresh follows.
   */
  refresh(history = false): Promise<void> {
    if (this.#refreshing === undefined) {
      this.#refreshing = this.#refresh(history).finally(() => {
        this.#refreshing = undefined;
      });
      return this.#refreshing;
    }
    if (this.#again !== undefined) {
      this.#again.history ||= history;
      return this.#again.promise;
    }
    const again: { promise: Promise<void>; history: boolean } = { history, promise: Promise.resolve() };
    again.promise = this.#refreshing.then(() => {
      this.#again = undefined;
      return this.refresh(again.history);
    });
    this.#again = again;
    return again.promise;
  }

  async #refresh(history: boolean): Promise<void> {
    const during: DuringRefresh = { patches: [], loads: new Map(), events: new Map(), alarms: new Map() };
    this.#duringRefresh = during;
    try {
      const [info, fleet, events, alarms] = await Promise.all([
        this.client.info(),
        this.client.fleet(),
        this.client.shedEvents({ activeOnly: true }),
        this.client.alarms({}),
      ]);
      this.#index.reset(fleet.gateways);
      for (const p of during.patches) this.#index.apply(p);
      // Live figures older than the snapshot would hide its fresher ones; those that came after stay.
      this.#loads.clear();
      for (const [id, f] of during.loads) this.#loads.set(id, f);
      this.#fleetDirty = true;
      this.#loadDirty = true;
      this.#update(
        {
          status: 'ready',
          error: null,
          info,
          timeZone: fleet.timeZone,
          fleetLoad: fleet.load,
          activeEvents: withEvents(events.map(summaryOf), during.events.values()),
          alarms: withAlarms(alarms, during.alarms.values()),
          skewMs: this.#skew(fleet.time),
        },
        true,
      );
      if (history) await this.#loadHistory(fleet.time);
    } catch (err) {
      const error = toOperatorError(err);
      this.#update({ status: this.#state.status === 'ready' ? 'ready' : 'error', error }, true);
    } finally {
      if (this.#duringRefresh === during) this.#duringRefresh = undefined;
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
    this.#heardAt = this.#now();
    // Stale → live at once: the badge must not lag the figures.
    if (this.#state.health === 'stale') this.#update({ health: streamHealth(this.#state.stream, this.#heardAt, this.#heardAt) }, true);
    switch (e.type) {
      case 'heartbeat':
        this.#update({ skewMs: this.#skew(e.time) });
        return;
      case 'load': {
        for (const [id, f] of Object.entries(e.gateways)) {
          this.#loads.set(id, f);
          this.#duringRefresh?.loads.set(id, f);
        }
        this.#loadDirty = true;
        this.#update({ fleetLoad: e.fleet, skewMs: this.#skew(e.time) });
        if (this.fleetSeries.append(e.time, e.fleet.currentKw)) for (const l of [...this.#seriesListeners]) l();
        return;
      }
      case 'gateways': {
        let changed = false;
        for (const p of e.patches) {
          this.#duringRefresh?.patches.push(p);
          if (this.#index.apply(p)) changed = true;
        }
        if (changed) {
          this.#fleetDirty = true;
          this.#update({});
        }
        return;
      }
      case 'shed-event': {
        const event = summaryOf(e.event);
        this.#duringRefresh?.events.set(event.id, event);
        this.#update({ activeEvents: withEvents(this.#pending('activeEvents'), [event]) });
        return;
      }
      case 'alarm': {
        this.#duringRefresh?.alarms.set(e.alarm.id, e.alarm);
        this.#update({ alarms: withAlarms(this.#pending('alarms'), [e.alarm]) });
        return;
      }
      case 'resync':
        // The hub dropped events for us: what we hold may be wrong anywhere. Read it all again.
        void this.refresh(true);
        return;
      case 'command':
      case 'security':
        return;
    }
  }

  /** For operations that answer with the new record before its event arrives. */
  upsertEvent(event: ShedEventSummary | ShedEventRecord | ShedEventAnswer): void {
    this.apply({ type: 'shed-event', event: summaryOf(event) });
  }

  upsertAlarm(alarm: AlarmRecord): void {
    this.apply({ type: 'alarm', alarm });
  }

  #checkHealth(): void {
    const health = streamHealth(this.#state.stream, this.#heardAt, this.#now());
    if (health !== this.#state.health) this.#update({ health }, true);
  }

  /**
   * A field as the next notification will have it: changes within the window wait in #dirty, and a
   * change computed from #state alone would drop them (two events told within 250 ms: one lost).
   */
  #pending<K extends keyof FleetState>(key: K): FleetState[K] {
    const dirty = this.#dirty;
    return dirty !== undefined && key in dirty ? (dirty[key] as FleetState[K]) : this.#state[key];
  }

  /** The hub's clock against ours; kept unless it moved by more than half a second (no flicker). */
  #skew(hubTime: number): number {
    const skew = hubTime - this.#now();
    const current = this.#pending('skewMs');
    return Math.abs(skew - current) > 500 ? skew : current;
  }

  /**
   * Gathers changes and tells the listeners at most every notifyMs: the first change after a quiet
   * spell goes out at once, later ones at the end of the window, together. `now` skips the wait (a
   * snapshot, the stream's health).
   */
  #update(patch: Partial<FleetState>, now = false): void {
    this.#dirty = { ...this.#dirty, ...patch };
    if (this.#notifyTimer !== undefined && !now) return;
    const wait = this.#lastNotify + this.#notifyMs - this.#now();
    if (now || wait <= 0) {
      this.#flush();
      return;
    }
    this.#notifyTimer = setTimeout(() => this.#flush(), wait);
  }

  #flush(): void {
    clearTimeout(this.#notifyTimer);
    this.#notifyTimer = undefined;
    const next: FleetState = { ...this.#state, ...this.#dirty };
    if (this.#fleetDirty) {
      next.fleet = this.#index.view();
      next.counts = this.#index.counts;
    }
    if (this.#loadDirty) next.loadVersion = this.#state.loadVersion + 1;
    this.#dirty = undefined;
    this.#fleetDirty = false;
    this.#loadDirty = false;
    this.#lastNotify = this.#now();
    this.#state = next;
    for (const l of [...this.#listeners]) l();
  }
}
