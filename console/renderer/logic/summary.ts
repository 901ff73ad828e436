/**
 * The sentences the console says about operations: what a shed will do before the operator confirms
 * it, and how commands, events and a restore-all ended. Pure and DOM-free.
 */
import type { SkipReason } from '../../../shared/load/shed-plan.js';
import type { CommandRecord, CommandState, ShedEventRecord, ShedPreview, ShedRequest, ShedScope } from '../../hub/operator/types.js';
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

/** "Shed event e1 confirmed on 3 of 3 gateways, about 36 kW, restored at 14:45". */
export function shedEventOutcome(event: ShedEventRecord, zone: ZonedTime, nowMs: number): string {
  const total = event.outcomes.length;
  if (total === 0) return `Shed event ${event.id} ${event.state}: nothing was shed`;
  const ok = event.outcomes.filter((o) => o.state === 'confirmed').length;
  const failed = event.outcomes.filter((o) => o.state !== 'confirmed');
  const tail = failed.length === 0 ? '' : `; not confirmed: ${failed.map((o) => `${o.gatewayId} ${stateWord(o.state)}${o.code ? ` (${o.code})` : ''}`).join(', ')}`;
  return `Shed event ${event.id} confirmed on ${ok} of ${plural(total, 'gateway', 'gateways')}, ${aboutKw(event.plannedKw)}, restored at ${zone.moment(event.endsAt, nowMs)}${tail}`;
}

/** "Restore all: 3 of 3 gateways confirmed"; "Restore all: nothing was shed". */
export function restoreAllOutcome(commands: readonly CommandRecord[]): string {
  if (commands.length === 0) return 'Restore all: nothing was shed, nothing to restore';
  const ok = commands.filter((c) => c.state === 'confirmed').length;
  const bad = commands.filter((c) => c.state !== 'confirmed');
  const tail = bad.length === 0 ? '' : `; not confirmed: ${bad.map((c) => `${c.gatewayId} ${stateWord(c.state)}${c.code ? ` (${c.code})` : ''}`).join(', ')}`;
  return `Restore all: ${ok} of ${plural(commands.length, 'gateway', 'gateways')} confirmed${tail}`;
}

/** "Shed event e1 cancelled: loads restored" */
export function cancelOutcome(event: ShedEventRecord): string {
  return event.state === 'cancelled' ? `Shed event ${event.id} cancelled: its loads are restored` : `Shed event ${event.id} is ${event.state}`;
}
