/**
 * The sentences the console says about operations: what a shed will do before the operator confirms
 * it, and how commands, events and a restore-all ended. Pure and DOM-free.
 */
import type { ShedPlan, SkipReason } from '../../../shared/load/shed-plan.js';
import type { CommandRecord, CommandState, ShedEventSummary, ShedOutcome, ShedPreview, ShedRequest, ShedScope } from '../../hub/operator/types.js';
import { formatNumber, plural, type ZonedTime } from './format.js';

/** "about 42 kW": one decimal under 10 kW, whole kW above (a plan is an estimate). */
export function aboutKw(kw: number): string {
  return `about ${formatNumber(kw, Math.abs(kw) < 10 ? 1 : 0)} kW`;
}

/**
 * The one sentence of the review step: "9 loads on 3 gateways, about 42 kW, restored at 14:45".
 * With a kW target it says how much of it the plan reaches.
 */
export function shedSummary(preview: ShedPreview, zone: ZonedTime, nowMs: number): string {
  const { plan } = preview;
  if (preview.loadCount === 0) {
    const skipped = plan.skipped.length;
    return skipped === 0 ? 'Nothing to shed: no load matches.' : `Nothing to shed: ${plural(skipped, 'load or gateway was', 'loads or gateways were')} skipped.`;
  }
  let text = `${plural(preview.loadCount, 'load', 'loads')} on ${plural(preview.gatewayCount, 'gateway', 'gateways')}, ${aboutKw(plan.totalKw)}`;
  if (plan.targetKw !== undefined) {
    const short = plan.shortfallKw ?? 0;
    text += short > 0.05 ? ` of the ${formatNumber(plan.targetKw, 0)} kW target (${formatNumber(short, 1)} kW short)` : ` (target ${formatNumber(plan.targetKw, 0)} kW reached)`;
  }
  return `${text}, restored at ${zone.moment(preview.restoreAt, nowMs)}`;
}

const SKIP_REASONS: Record<SkipReason, string> = {
  offline: 'gateway offline',
  'not-sheddable': 'not sheddable',
  'already-off': 'already off',
  'min-on': 'minimum on time',
  'unknown-channel': 'no such channel',
  'no-channels': 'nothing in scope',
};

export function skipReasonText(reason: SkipReason): string {
  return SKIP_REASONS[reason];
}

/** "Whole fleet", "Gateway bakery-muller", "3 gateways", "Label north". */
export function describeScope(scope: ShedScope): string {
  switch (scope.kind) {
    case 'fleet':
      return 'Whole fleet';
    case 'gateway':
      return `Gateway ${scope.gatewayId}`;
    case 'gateways':
      return scope.gatewayIds.length <= 3 ? `Gateways ${scope.gatewayIds.join(', ')}` : plural(scope.gatewayIds.length, 'gateway', 'gateways');
    case 'label':
      return `Label ${scope.label}`;
  }
}

/** "Priority ≤ 3", "Channels 1, 2", "Target 50 kW". */
export function describeSelector(selector: ShedRequest['selector']): string {
  switch (selector.kind) {
    case 'priority':
      return `Priority ≤ ${selector.maxPriority}`;
    case 'channels':
      return `${selector.channels.length === 1 ? 'Channel' : 'Channels'} ${selector.channels.join(', ')}`;
    case 'targetKw':
      return `Target ${formatNumber(selector.kw, selector.kw < 10 ? 1 : 0)} kW`;
  }
}

function channelsText(channels: readonly number[] | undefined, all: boolean | undefined): string {
  if (all === true || channels === undefined || channels.length === 0) return 'all channels';
  return `${channels.length === 1 ? 'channel' : 'channels'} ${channels.join(', ')}`;
}

const OP_NOUN: Record<CommandRecord['op'], string> = { shed: 'Shed', restore: 'Restore', read: 'Read' };

/** "Shed of channel 3 on site-a confirmed"; a refusal names its code: "… rejected (CMD_MIN_ON_TIME)". */
export function commandOutcome(command: Pick<CommandRecord, 'op' | 'channels' | 'all' | 'gatewayId' | 'state' | 'code'>): string {
  const what = command.op === 'read' ? 'Read' : `${OP_NOUN[command.op]} of ${channelsText(command.channels, command.all)}`;
  const code = command.code !== undefined && command.state !== 'confirmed' ? ` (${command.code})` : '';
  return `${what} on ${command.gatewayId} ${stateWord(command.state)}${code}`;
}

function stateWord(state: CommandState): string {
  return state === 'timed-out' ? 'timed out' : state;
}

/** The states an outcome can be in, in the order the counts name them. */
const COUNT_ORDER: readonly CommandState[] = ['confirmed', 'requested', 'sent', 'rejected', 'failed', 'expired', 'timed-out', 'cancelled'];

/** How many of the event's outcomes are not (yet) confirmed, by state, in words: "2 failed, 1 timed out". */
function notConfirmedText(counts: ShedEventSummary['counts']): string {
  const pending = (counts.requested ?? 0) + (counts.sent ?? 0);
  const parts = pending > 0 ? [`${pending} pending`] : [];
  for (const state of COUNT_ORDER.slice(3)) {
    const n = counts[state] ?? 0;
    if (n > 0) parts.push(`${n} ${stateWord(state)}`);
  }
  return parts.join(', ');
}

/** "198 of 200 confirmed, 2 failed": an event's outcomes as counts, whatever its size. */
export function eventCountsText(event: Pick<ShedEventSummary, 'gatewayCount' | 'counts'>): string {
  const rest = notConfirmedText(event.counts);
  return `${event.counts.confirmed ?? 0} of ${event.gatewayCount} confirmed${rest === '' ? '' : `, ${rest}`}`;
}

/** Every outcome final (none requested or sent). */
export function eventSettled(event: Pick<ShedEventSummary, 'counts'>): boolean {
  return (event.counts.requested ?? 0) + (event.counts.sent ?? 0) === 0;
}

/** Outcomes named one by one in a sentence up to this many; beyond, only counted. */
const NAMED_OUTCOMES = 5;

/**
 * "Shed event e1 confirmed on 3 of 3 gateways, about 36 kW, restored at 14:45". With the outcomes not
 * confirmed (startShed's answer names them) and few of them, they are named; otherwise counted.
 */
export function shedEventOutcome(event: ShedEventSummary & { notConfirmed?: readonly ShedOutcome[] }, zone: ZonedTime, nowMs: number): string {
  const total = event.gatewayCount;
  if (total === 0) return `Shed event ${event.id} ${event.state}: nothing was shed`;
  const ok = event.counts.confirmed ?? 0;
  // Named only when the answer lists every one of them.
  const failed = event.notConfirmed?.length === total - ok ? event.notConfirmed : undefined;
  let tail = '';
  if (ok < total) {
    tail =
      failed !== undefined && failed.length <= NAMED_OUTCOMES
        ? `; not confirmed: ${failed.map((o) => `${o.gatewayId} ${stateWord(o.state)}${o.code ? ` (${o.code})` : ''}`).join(', ')}`
        : `; not confirmed: ${notConfirmedText(event.counts)}`;
  }
  return `Shed event ${event.id} confirmed on ${ok} of ${plural(total, 'gateway', 'gateways')}, ${aboutKw(event.plannedKw)}, restored at ${zone.moment(event.endsAt, nowMs)}${tail}`;
}

export interface PlanDigest {
  /** Per label (gateways without one under ''): gateways, loads and kW the plan sheds there. */
  byLabel: Array<{ label: string; gateways: number; loads: number; kw: number }>;
  /** The plan's first rows, to show as examples. */
  first: ShedPlan['gateways'];
  /** Rows beyond `first`. */
  more: number;
  /** Skipped loads and gateways by reason, most frequent first, with an example each. */
  skipped: Array<{ reason: SkipReason; count: number; example: ShedPlan['skipped'][number] }>;
}

/**
 * A plan summarised for the review, however large: counts and kW per label, the first rows, the
 * skipped reasons grouped — a fleet-wide plan over 20,000 gateways reads as a dozen lines.
 */
export function digestPlan(plan: ShedPlan, labelsOf: (gatewayId: string) => readonly string[] | undefined, firstRows = 20): PlanDigest {
  const labels = new Map<string, { gateways: number; loads: number; kw: number }>();
  for (const p of plan.gateways) {
    const own = labelsOf(p.gatewayId) ?? [];
    for (const label of own.length === 0 ? [''] : own) {
      const l = labels.get(label) ?? { gateways: 0, loads: 0, kw: 0 };
      l.gateways++;
      l.loads += p.channels.length;
      l.kw += p.expectedKw;
      labels.set(label, l);
    }
  }
  const skipped = new Map<SkipReason, { reason: SkipReason; count: number; example: ShedPlan['skipped'][number] }>();
  for (const s of plan.skipped) {
    const k = skipped.get(s.reason);
    if (k === undefined) skipped.set(s.reason, { reason: s.reason, count: 1, example: s });
    else k.count++;
  }
  return {
    byLabel: [...labels].map(([label, v]) => ({ label, ...v })).sort((a, b) => b.kw - a.kw || (a.label < b.label ? -1 : 1)),
    first: plan.gateways.slice(0, firstRows),
    more: Math.max(0, plan.gateways.length - firstRows),
    skipped: [...skipped.values()].sort((a, b) => b.count - a.count),
  };
}

/** "Restore all: 3 of 3 gateways confirmed"; "Restore all: nothing was shed". */
export function restoreAllOutcome(commands: readonly CommandRecord[]): string {
  if (commands.length === 0) return 'Restore all: nothing was shed, nothing to restore';
  const ok = commands.filter((c) => c.state === 'confirmed').length;
  const bad = commands.filter((c) => c.state !== 'confirmed');
  let tail = '';
  if (bad.length > NAMED_OUTCOMES) {
    const counts: ShedEventSummary['counts'] = {};
    for (const c of bad) counts[c.state] = (counts[c.state] ?? 0) + 1;
    tail = `; not confirmed: ${notConfirmedText(counts)}`;
  } else if (bad.length > 0) tail = `; not confirmed: ${bad.map((c) => `${c.gatewayId} ${stateWord(c.state)}${c.code ? ` (${c.code})` : ''}`).join(', ')}`;
  return `Restore all: ${ok} of ${plural(commands.length, 'gateway', 'gateways')} confirmed${tail}`;
}

/** "Shed event e1 cancelled: loads restored" */
export function cancelOutcome(event: Pick<ShedEventSummary, 'id' | 'state'>): string {
  return event.state === 'cancelled' ? `Shed event ${event.id} cancelled: its loads are restored` : `Shed event ${event.id} is ${event.state}`;
}
