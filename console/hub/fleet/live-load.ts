/**
 * Live load and 15-minute peaks, per gateway and for the fleet, from the telemetry as it arrives.
 *
 * Each gateway has a QuarterHourMeter fed with its samples. The fleet's meter is fed once a second
 * (tick) with the sum of the gateways' latest power, so the fleet figures are those of the summed
 * curve the DSO's grid sees. After a restart the meters are resumed from the store: the billing
 * period's peak from the 15-minute roll-ups and the current quarter-hour from the raw samples, so a
 * restart does not reset what the operator is watching.
 */
import { billingPeriodStart, quarterHourStart } from '../../../shared/load/quarter-hours.js';
import { QuarterHourMeter, type QuarterHourSnapshot } from '../../../shared/load/peaks.js';
import type { TelemetrySample } from '../../../shared/protocol/messages.js';
import type { LoadFigures } from '../operator/types.js';
import { nextTurn } from '../slices.js';
import type { HubStore } from '../store/index.js';

/** A sample older than this no longer counts as the current power (the gateway went quiet). */
export const STALE_SAMPLE_MS = 10_000;

interface Source {
  meter: QuarterHourMeter;
  last: { time: number; kw: number } | undefined;
}

/** Gateways per turn of the loop in the once-a-second pass (in the hub's CPU profile at 19,900 gateways, one pass over all held the loop ~80 ms). */
const SECOND_SLICE = 2_000;

/** The sums over the gateways that make the fleet's figures. */
interface FleetSums {
  current: number | null;
  average: number | null;
  projected: number | null;
}

export class LiveLoad {
  private readonly gateways = new Map<string, Source>();
  private readonly fleet: QuarterHourMeter;
  private readonly targets = new Map<string, number>();
  private fleetTarget: number | null = null;
  /** Whether a once-a-second pass is under way. */
  private passing = false;

  constructor(
    private readonly timeZone: string,
    private readonly store: HubStore,
    private readonly now: () => number = Date.now,
  ) {
    this.fleet = new QuarterHourMeter({ timeZone });
    const t = now();
    const periodStart = billingPeriodStart(t, timeZone);
    const peak = store.peakOf({ from: periodStart, to: t });
    this.fleet.restore({ periodStart, peakKw: peak?.kw ?? null, peakIntervalStart: peak?.start ?? null });
    const since = quarterHourStart(t, timeZone);
    for (const p of store.loadHistory({ from: since, to: t + 1, resolution: '1s' })) this.fleet.add({ time: p.time, kw: p.kw });
  }

  /** Creates the gateway's meter, resumed from the store. */
  private source(gatewayId: string): Source {
    let s = this.gateways.get(gatewayId);
    if (s) return s;
    const t = this.now();
    const meter = new QuarterHourMeter({ timeZone: this.timeZone });
    const periodStart = billingPeriodStart(t, this.timeZone);
    const peak = this.store.peakOf({ gatewayId, from: periodStart, to: t });
    meter.restore({ periodStart, peakKw: peak?.kw ?? null, peakIntervalStart: peak?.start ?? null });
    const since = quarterHourStart(t, this.timeZone);
    for (const p of this.store.loadHistory({ gatewayId, from: since, to: t + 1, resolution: '1s' })) meter.add({ time: p.time, kw: p.kw });
    const last = this.store.lastSample(gatewayId);
    s = { meter, last: last ? { time: last.time, kw: last.kw } : undefined };
    this.gateways.set(gatewayId, s);
    return s;
  }

  /** Known gateways get their meter at start, so their peaks show before their first sample. */
  track(gatewayId: string): void {
    this.source(gatewayId);
  }

  add(gatewayId: string, samples: readonly TelemetrySample[]): void {
    const s = this.source(gatewayId);
    for (const sample of samples) {
      s.meter.add({ time: sample.time, kw: sample.kw });
      if (!s.last || sample.time >= s.last.time) s.last = { time: sample.time, kw: sample.kw };
    }
  }

  setTarget(gatewayId: string | undefined, kw: number | null): void {
    if (gatewayId === undefined) this.fleetTarget = kw;
    else if (kw === null) this.targets.delete(gatewayId);
    else this.targets.set(gatewayId, kw);
  }

  target(gatewayId: string | undefined): number | null {
    return gatewayId === undefined ? this.fleetTarget : (this.targets.get(gatewayId) ?? null);
  }

  /** The latest power, or null when the newest sample is older than STALE_SAMPLE_MS. */
  currentKw(gatewayId: string, at = this.now()): number | null {
    return currentOf(this.gateways.get(gatewayId), at);
  }

  figures(gatewayId: string, at = this.now()): LoadFigures {
    const s = this.source(gatewayId);
    return toFigures(s.meter.snapshot(at), currentOf(s, at), this.target(gatewayId));
  }

  /**
   * Call once a second: closes the quarter-hours of silent gateways (so their peaks count), feeds the
   * fleet meter with the sum of the gateways' current power and resolves with the fleet's figures —
   * SECOND_SLICE gateways per turn of the event loop. Undefined when the previous pass is still under
   * way (that second is skipped).
   */
  async second(at = this.now()): Promise<LoadFigures | undefined> {
    if (this.passing) return undefined;
    this.passing = true;
    try {
      const sources = [...this.gateways.values()];
      const sums: FleetSums = { current: null, average: null, projected: null };
      for (let i = 0; i < sources.length; i += SECOND_SLICE) {
        if (i > 0) await nextTurn();
        for (const s of sources.slice(i, i + SECOND_SLICE)) {
          s.meter.advanceTo(at);
          const snap = s.meter.snapshot(at);
          addTo(sums, currentOf(s, at), snap.averageKw, snap.projectedKw);
        }
      }
      if (sums.current !== null) this.fleet.add({ time: at, kw: sums.current });
      else this.fleet.advanceTo(at);
      return this.figuresOf(sums, at);
    } finally {
      this.passing = false;
    }
  }

  /**
   * The fleet's figures from every gateway's own figures at `at` (the fleet snapshot has computed
   * them already), without a second pass over the meters.
   */
  fleetFiguresFrom(gateways: Iterable<Pick<LoadFigures, 'currentKw' | 'averageKw' | 'projectedKw'>>, at: number): LoadFigures {
    const sums: FleetSums = { current: null, average: null, projected: null };
    for (const g of gateways) addTo(sums, g.currentKw, g.averageKw, g.projectedKw);
    return this.figuresOf(sums, at);
  }

  private figuresOf(sums: FleetSums, at: number): LoadFigures {
    const fleet = this.fleet.snapshot(at);
    return { ...toFigures(fleet, sums.current, this.fleetTarget), averageKw: sums.average, projectedKw: sums.projected };
  }
}

/**
 * One gateway's share of the fleet's figures. Power, average and projection are sums over the
 * gateways (energy adds up, and each gateway's projection rests on its own samples — a fleet curve
 * fed while gateways were still joining would drag the projection down). The peak is the fleet
 * meter's: the highest quarter-hour of the summed curve.
 */
function addTo(sums: FleetSums, currentKw: number | null, averageKw: number | null, projectedKw: number | null): void {
  if (currentKw !== null) sums.current = (sums.current ?? 0) + currentKw;
  if (averageKw !== null) sums.average = (sums.average ?? 0) + averageKw;
  // A gateway gone quiet projects what it averaged so far.
  const p = projectedKw ?? averageKw;
  if (p !== null) sums.projected = (sums.projected ?? 0) + p;
}

/** A source's latest power, or null when its newest sample is older than STALE_SAMPLE_MS. */
function currentOf(s: Source | undefined, at: number): number | null {
  const last = s?.last;
  return last && at - last.time <= STALE_SAMPLE_MS ? last.kw : null;
}

function toFigures(snap: QuarterHourSnapshot, currentKw: number | null, targetKw: number | null): LoadFigures {
  return {
    currentKw,
    intervalStart: snap.intervalStart,
    intervalEnd: snap.intervalEnd,
    averageKw: snap.averageKw,
    projectedKw: snap.projectedKw,
    coverage: snap.coverage,
    peakKw: snap.peakKw,
    peakIntervalStart: snap.peakIntervalStart,
    targetKw,
  };
}
