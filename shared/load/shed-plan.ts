/**
 * Which channels a shed event switches off. Pure: the hub builds the inputs from its fleet registry and
 * shows the plan (with every skipped channel and why) before or while dispatching it. The agent checks
 * the same constraints again on its own; the plan is there so the operator sees the outcome up front.
 */

export interface PlanChannel {
  id: number;
  name: string;
  /** 1 is shed first. */
  priority: number;
  sheddable: boolean;
  ratedKw: number;
  /** Last known relay state; undefined when the gateway has not reported it. */
  on: boolean | undefined;
  minOnSeconds: number;
  /** When it was last switched on, epoch ms, if known. */
  onSinceMs?: number;
  /** Measured kW, if the device meters the channel. */
  kw?: number;
}

export interface PlanGateway {
  gatewayId: string;
  connected: boolean;
  channels: readonly PlanChannel[];
}

export type PlanSelector =
  | { kind: 'channels'; channels: readonly number[] }
  | { kind: 'priority'; maxPriority: number }
  | { kind: 'targetKw'; kw: number };

export type SkipReason = 'offline' | 'not-sheddable' | 'already-off' | 'min-on' | 'unknown-channel' | 'no-channels';

export interface ShedPlan {
  /** Sorted by gatewayId, channel ids ascending; only gateways with at least one channel to shed. */
  gateways: Array<{ gatewayId: string; channels: number[]; expectedKw: number }>;
  /** Sorted by gatewayId, then channel (gateway-wide rows first). */
  skipped: Array<{ gatewayId: string; channel?: number; reason: SkipReason; detail: string }>;
  totalKw: number;
  /** targetKw selector only. */
  targetKw?: number;
  /** targetKw selector only: how much the plan falls short of the target, 0 when it meets it. */
  shortfallKw?: number;
}

interface Candidate {
  gatewayId: string;
  channel: PlanChannel;
  expectedKw: number;
}

type Skip = ShedPlan['skipped'][number];

/** Absorbs float noise so 0.1 + 0.2 kW meets a 0.3 kW target. */
const KW_EPSILON = 1e-9;

/** Code-unit order, not localeCompare: the plan must not depend on the machine's locale. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function label(channel: PlanChannel): string {
  return channel.name === '' ? `channel ${channel.id}` : `channel ${channel.id} (${channel.name})`;
}

/** What shedding the channel is expected to save: its measured load, else its rating. */
function expectedKwOf(channel: PlanChannel): number {
  return channel.kw !== undefined && Number.isFinite(channel.kw) ? channel.kw : channel.ratedKw;
}

/** Why the channel must not be shed now, or null when it may. */
function constraint(gatewayId: string, channel: PlanChannel, nowMs: number): Skip | null {
  const row = { gatewayId, channel: channel.id };
  if (!channel.sheddable) return { ...row, reason: 'not-sheddable', detail: `${label(channel)} is not sheddable` };
  if (channel.on === false) return { ...row, reason: 'already-off', detail: `${label(channel)} is already off` };
  if (channel.onSinceMs !== undefined && channel.onSinceMs + channel.minOnSeconds * 1000 > nowMs) {
    const agoS = Math.floor(Math.max(0, nowMs - channel.onSinceMs) / 1000);
    return {
      ...row,
      reason: 'min-on',
      detail: `${label(channel)} switched on ${agoS} s ago; minimum on time is ${channel.minOnSeconds} s`,
    };
  }
  return null;
}

function assertSelector(selector: PlanSelector): void {
  switch (selector.kind) {
    case 'channels':
      if (!selector.channels.every((id) => Number.isInteger(id))) throw new RangeError('planShed: channel ids must be integers');
      return;
    case 'priority':
      if (!Number.isFinite(selector.maxPriority)) throw new RangeError(`planShed: maxPriority ${selector.maxPriority} is not a number`);
      return;
    case 'targetKw':
      if (!Number.isFinite(selector.kw)) throw new RangeError(`planShed: target ${selector.kw} kW is not a number`);
      return;
    default:
      throw new RangeError(`planShed: unknown selector ${JSON.stringify(selector satisfies never)}`);
  }
}

/** The channels the selector names on one gateway: a channel, or the id it named that does not exist. */
function inScope(gateway: PlanGateway, selector: PlanSelector): Array<PlanChannel | number> {
  const byId = [...gateway.channels].sort((a, b) => a.id - b.id);
  switch (selector.kind) {
    case 'channels':
      return [...new Set(selector.channels)]
        .sort((a, b) => a - b)
        .map((id) => byId.find((c) => c.id === id) ?? id);
    case 'priority':
      return byId.filter((c) => c.priority <= selector.maxPriority);
    case 'targetKw':
      return byId;
  }
}

function nothingInScope(gatewayId: string, selector: PlanSelector): string {
  switch (selector.kind) {
    case 'channels':
      return 'no channel was selected';
    case 'priority':
      return `gateway ${gatewayId} has no channel with priority ≤ ${selector.maxPriority}`;
    case 'targetKw':
      return `gateway ${gatewayId} has no channels`;
  }
}

/**
 * Greedy towards the target: lowest priority number first, within it the largest expected saving, then
 * gateway and channel id so equal candidates always resolve the same way. A candidate expected to save
 * nothing (measured 0 kW or less) is never taken: switching it moves no load.
 */
function pickForTarget(candidates: readonly Candidate[], targetKw: number): Candidate[] {
  const ordered = candidates
    .filter((c) => c.expectedKw > 0)
    .sort(
      (a, b) =>
        a.channel.priority - b.channel.priority ||
        b.expectedKw - a.expectedKw ||
        compareIds(a.gatewayId, b.gatewayId) ||
        a.channel.id - b.channel.id,
    );
  const picked: Candidate[] = [];
  let sum = 0;
  for (const candidate of ordered) {
    if (sum >= targetKw - KW_EPSILON) break;
    picked.push(candidate);
    sum += candidate.expectedKw;
  }
  return picked;
}

/**
 * Plans a shed over `gateways` (the scope the operator chose). Every channel the selector names is
 * either planned or skipped with a reason; channels that are offline, not sheddable, already off or
 * inside their minimum on time are never planned. A channel whose state is unknown is planned (the
 * agent re-checks it) at its measured or rated kW. Gateway-wide rows: 'offline' for a disconnected
 * gateway; 'no-channels' for a connected one the selector names nothing on (no candidate and no skip
 * row) — a gateway whose candidates were simply not needed to reach a target gets no row.
 *
 * Deterministic: the same inputs in any order give the same plan. Throws RangeError for a malformed
 * selector or duplicate gateway or channel ids (the caller's registry is broken, not the operator).
 */
export function planShed(gateways: readonly PlanGateway[], selector: PlanSelector, nowMs: number): ShedPlan {
  const planner = new ShedPlanner(selector, nowMs);
  planner.add([...gateways].sort((a, b) => compareIds(a.gatewayId, b.gatewayId)));
  return planner.finish();
}

/**
 * `planShed` in steps, for a scope too large to plan in one turn of an event loop (20,000 gateways):
 * `add` the gateways in slices, in gatewayId order (code units, as `Array.prototype.sort` orders
 * strings) across all calls, then `finish`. The plan is the one `planShed` gives for all of them.
 */
export class ShedPlanner {
  private readonly skipped: Skip[] = [];
  private readonly candidates: Candidate[] = [];
  private lastId: string | undefined;

  constructor(
    private readonly selector: PlanSelector,
    private readonly nowMs: number,
  ) {
    if (!Number.isFinite(nowMs)) throw new RangeError(`planShed: not a valid time: ${nowMs}`);
    assertSelector(selector);
  }

  /** The next gateways, each after the last one added (RangeError for a repeat or a step back). */
  add(gateways: readonly PlanGateway[]): void {
    const { skipped, candidates, selector, nowMs } = this;
    for (const gateway of gateways) {
      const { gatewayId } = gateway;
      if (this.lastId !== undefined && compareIds(gatewayId, this.lastId) <= 0) {
        throw new RangeError(
          gatewayId === this.lastId ? `planShed: gateway ${gatewayId} is listed twice` : `planShed: gateway ${gatewayId} added after ${this.lastId}`,
        );
      }
      this.lastId = gatewayId;
      if (new Set(gateway.channels.map((c) => c.id)).size !== gateway.channels.length) {
        throw new RangeError(`planShed: gateway ${gatewayId} lists a channel id twice`);
      }
      if (!gateway.connected) {
        skipped.push({ gatewayId, reason: 'offline', detail: `gateway ${gatewayId} is offline` });
        continue;
      }
      const rowsBefore = skipped.length + candidates.length;
      for (const channel of inScope(gateway, selector)) {
        if (typeof channel === 'number') {
          skipped.push({
            gatewayId,
            channel,
            reason: 'unknown-channel',
            detail: `gateway ${gatewayId} has no channel ${channel}`,
          });
          continue;
        }
        const skip = constraint(gatewayId, channel, nowMs);
        if (skip !== null) skipped.push(skip);
        else candidates.push({ gatewayId, channel, expectedKw: expectedKwOf(channel) });
      }
      if (skipped.length + candidates.length === rowsBefore) {
        skipped.push({ gatewayId, reason: 'no-channels', detail: nothingInScope(gatewayId, selector) });
      }
    }
  }

  finish(): ShedPlan {
    const { selector, skipped, candidates } = this;
    const picked = selector.kind === 'targetKw' ? new Set(pickForTarget(candidates, selector.kw)) : undefined;
    // `add` took the gateways in gatewayId order: a gateway's candidates are adjacent and the gateways
    // come in the plan's order, so one walk groups them (a Map and a sort of 20,000 gateways held the
    // loop ~60 ms in the fleet-shed benchmark's profile).
    const planned: ShedPlan['gateways'] = [];
    for (let i = 0; i < candidates.length; ) {
      const gatewayId = (candidates[i] as Candidate).gatewayId;
      const mine: Candidate[] = [];
      for (; i < candidates.length && (candidates[i] as Candidate).gatewayId === gatewayId; i++) {
        const candidate = candidates[i] as Candidate;
        if (picked === undefined || picked.has(candidate)) mine.push(candidate);
      }
      if (mine.length === 0) continue;
      mine.sort((a, b) => a.channel.id - b.channel.id);
      planned.push({ gatewayId, channels: mine.map((c) => c.channel.id), expectedKw: mine.reduce((sum, c) => sum + c.expectedKw, 0) });
    }
    // Summed in output order so input order cannot change the last bits of the total.
    const totalKw = planned.reduce((sum, g) => sum + g.expectedKw, 0);
    const plan: ShedPlan = { gateways: planned, skipped, totalKw };
    if (selector.kind === 'targetKw') {
      plan.targetKw = selector.kw;
      plan.shortfallKw = totalKw >= selector.kw - KW_EPSILON ? 0 : selector.kw - totalKw;
    }
    return plan;
  }
}
