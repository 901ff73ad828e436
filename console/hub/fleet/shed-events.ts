/**
 * Shed events: one operator decision ("shed priority ≤ 2 on the whole fleet for 30 minutes") shown as
 * one event with its per-gateway outcomes and what could not be shed, with the reason.
 *
 * Auto-restore is the agents' job (each shed command carries the duration, and the agent's timer holds
 * even when the hub is gone); the hub tracks the end time and shows it. An event outlives a hub restart:
 * its record is in the store and its end timer is re-armed at start.
 *
 * Scale: an event's outcomes are rows (one per gateway, written in the transaction that stores the
 * command's change) and, while the event is active, a map in memory with running counts; the channels
 * each gateway has held off are indexed by gateway. Every command change so costs O(1), and the event
 * stream gets the event's summary (counts), never its N outcomes.
 */
import { randomBytes } from 'node:crypto';
import { LmgwError } from '../../../shared/errors.js';
import { ShedPlanner, type ShedPlan } from '../../../shared/load/shed-plan.js';
import type {
  CommandRecord,
  OperatorContext,
  ShedEventAnswer,
  ShedEventRecord,
  ShedEventSummary,
  ShedOutcome,
  ShedPreview,
  ShedRequest,
  ShedScope,
  StateCounts,
} from '../operator/types.js';
import { NOT_CONFIRMED_MAX } from '../operator/types.js';
import { countReasons, type HubStore, type ShedEventHeader } from '../store/index.js';
import { nextTurn } from '../slices.js';
import type { CommandDispatcher } from './dispatcher.js';
import type { DomainBus } from './domain-bus.js';
import type { FleetRegistry } from './registry.js';

export interface ShedEventsOptions {
  store: HubStore;
  dispatcher: CommandDispatcher;
  registry: FleetRegistry;
  bus: DomainBus;
  now?: () => number;
}

/** Gateways planned per turn of the event loop. */
const PLAN_SLICE = 1_000;

/**
 * How far back recover() looks for an event that is no longer active but whose commands may still have
 * been going out when the hub stopped (a dispatch lasts seconds: its last answers are due a command
 * deadline after its last slice).
 */
const RECENT_MS = 10 * 60_000;

/** Who the hub's own bookkeeping rows are by. */
export const SYSTEM_OPERATOR = 'lmgw-hub';

interface LiveEvent {
  header: ShedEventHeader;
  /** By gateway id. */
  outcomes: Map<string, ShedOutcome>;
  counts: StateCounts;
  confirmedKw: number;
}

interface Hold {
  channels: readonly number[];
  restoreAt: number;
}

/**
 * What startShed and cancelShed answer: the summary and the first NOT_CONFIRMED_MAX outcomes (in the
 * order given: by gateway id) that did not confirm — not the event's N outcomes and skipped loads.
 */
export function shedEventAnswer(summary: ShedEventSummary, outcomes: Iterable<ShedOutcome>): ShedEventAnswer {
  const notConfirmed: ShedOutcome[] = [];
  for (const o of outcomes) {
    if (o.state === 'confirmed') continue;
    notConfirmed.push(o);
    if (notConfirmed.length === NOT_CONFIRMED_MAX) break;
  }
  return { ...summary, notConfirmed };
}

function bump(counts: StateCounts, state: ShedOutcome['state'], by: number): void {
  const n = (counts[state] ?? 0) + by;
  if (n === 0) delete counts[state];
  else counts[state] = n;
}

export class ShedEvents {
  private readonly active = new Map<string, LiveEvent>();
  /** Events whose commands are still being dispatched (an event cancelled meanwhile stays here until then). */
  private readonly dispatching = new Map<string, LiveEvent>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Channels held off by active events' confirmed sheds: gateway → event → hold. */
  private readonly holds = new Map<string, Map<string, Hold>>();
  private readonly now: () => number;
  private readonly offBus: () => void;
  /** Events whose counts changed this turn: one summary each goes out at the end of the turn, not one per command. */
  private readonly summaryDue = new Set<LiveEvent>();
  private summaryImmediate: NodeJS.Immediate | undefined;

  constructor(private readonly o: ShedEventsOptions) {
    this.now = o.now ?? Date.now;
    this.offBus = o.bus.on('command', (c) => this.commandChanged(c));
  }

  /**
   * Stores a shed command's change in its outcome row, inside the dispatcher's transaction. The row
   * keeps the expected kW it was created with, so only a new row needs it.
   */
  private writeOutcome(live: LiveEvent | undefined, c: CommandRecord): void {
    // 'requested': the row was written when the event was planned; what a journaled command adds to it
    // (its id) is written with its next state, or by recover() if the hub stops before that.
    if (!c.eventId || c.op !== 'shed' || c.state === 'requested') return;
    this.o.store.saveShedOutcome(c.eventId, this.outcomeOf(c, live?.outcomes.get(c.gatewayId)?.expectedKw ?? 0));
  }

  /** For the dispatcher's recover(): the outcomes of the commands a previous run left in flight. */
  readonly recoverOutcome = (c: CommandRecord): void => this.writeOutcome(undefined, c);

  /**
   * Loads the events that were active when the hub stopped and re-arms their end timers. Run after
   * the dispatcher's recover(), which has closed the commands that were in flight: a planned outcome
   * still without a command is a gateway the hub never commanded (it stopped while the event's
   * commands were going out), closed here as `cancelled` with OP_HUB_RESTARTED — nothing was sent.
   * Whether a dispatch was cut short is told by the event's audit: start() writes the event's outcome
   * once every command is final and every unsent one closed, so an event without one was interrupted
   * (and gets it here); one with it has nothing to close. An interrupted event none of whose commands
   * was journaled (stopped while its planned rows were being written) ends failed: nothing was sent.
   */
  recover(): void {
    const active = this.o.store.queryShedEventHeaders({ activeOnly: true, limit: 10_000 });
    // An event cancelled while its commands were going out is no longer active, and its dispatch may
    // have been cut short all the same: the events of the last RECENT_MS are looked at too.
    const since = this.now() - RECENT_MS;
    const recent = this.o.store.queryShedEventHeaders({ limit: 100 }).filter((h) => h.state !== 'active' && h.createdAt >= since);
    for (const stored of [...active, ...recent]) {
      const interrupted = this.o.store.auditOutcome('shed-event', stored.id) === undefined;
      if (!interrupted && stored.state !== 'active') continue; // finished and no longer active: nothing to load
      const outcomes = this.o.store.shedOutcomes(stored.id);
      const { header, closed } = interrupted ? this.closeInterrupted(stored, outcomes) : { header: stored, closed: new Map<string, ShedOutcome>() };
      if (header.state !== 'active') continue;
      const live: LiveEvent = { header, outcomes: new Map(), counts: {}, confirmedKw: 0 };
      for (const out of outcomes) this.applyOutcome(live, closed.get(out.gatewayId) ?? out);
      this.active.set(header.id, live);
      this.arm(header);
    }
  }

  /**
   * An event whose dispatch a stop of the hub cut short (see recover()): its planned outcomes that
   * never got a command are closed, and its audit gets the outcome start() did not live to write; an
   * active one none of whose commands was journaled (stopped while it was being planned) ends failed,
   * nothing of it being held off — all in one transaction. Returns its header as it now is and the
   * outcomes closed, by gateway.
   */
  private closeInterrupted(stored: ShedEventHeader, outcomes: readonly ShedOutcome[]): { header: ShedEventHeader; closed: Map<string, ShedOutcome> } {
    const confirmed = outcomes.filter((x) => x.state === 'confirmed').length;
    const commands = outcomes.filter((x) => x.commandId !== '').length;
    // Against the plan's count: a hub stopped while the planned rows were still being written left some gateways without one.
    const notSent = stored.gatewayCount - commands;
    const header: ShedEventHeader = stored.state === 'active' && commands === 0 ? { ...stored, state: 'failed' } : stored;
    const closed = new Map<string, ShedOutcome>();
    for (const x of outcomes) {
      if (x.commandId !== '' || x.state !== 'requested') continue;
      closed.set(x.gatewayId, { ...x, state: 'cancelled', code: 'OP_HUB_RESTARTED', message: `the hub stopped before a command of shed event ${header.id} was sent to this gateway; nothing was sent` });
    }
    this.o.store.transaction(() => {
      for (const x of closed.values()) this.o.store.saveShedOutcome(header.id, x);
      if (header !== stored) this.o.store.saveShedEventHeader(header);
      this.auditOutcome(header.operator, 'shed-event', header.id, confirmed === 0 ? 'failed' : confirmed === header.gatewayCount ? 'ok' : 'partial', {
        confirmed,
        commands,
        ...(notSent > 0 ? { notSent } : {}),
        code: 'OP_HUB_RESTARTED',
      });
    });
    return { header, closed };
  }

  close(): void {
    this.offBus();
    if (this.summaryImmediate) clearImmediate(this.summaryImmediate);
    this.summaryImmediate = undefined;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** The active events' summaries. */
  list(): ShedEventSummary[] {
    return [...this.active.values()].map((e) => this.summaryOf(e));
  }

  /** Summaries, newest first: the active ones from memory, the others with counts from the store. */
  query(q: { activeOnly?: boolean; limit?: number }): ShedEventSummary[] {
    return this.o.store.queryShedEventHeaders(q).map((h) => {
      const live = this.active.get(h.id);
      return live ? this.summaryOf(live) : { ...h, ...this.o.store.shedOutcomeCounts(h.id) };
    });
  }

  /** One event with its outcomes and skipped loads. */
  get(id: string): ShedEventRecord {
    const live = this.active.get(id);
    if (live) return this.recordOf(live);
    const header = this.o.store.getShedEventHeader(id);
    if (!header) throw new LmgwError('OP_NOT_FOUND', `no shed event ${id}`);
    return { ...header, ...this.o.store.shedOutcomeCounts(id), outcomes: this.o.store.shedOutcomes(id), skipped: this.o.store.shedSkipped(id) };
  }

  /** How many of the gateway's channels active events hold: heldChannels().size, without an entry per channel. */
  heldChannelCount(gatewayId: string): number {
    const channels = new Set<number>();
    for (const hold of this.holds.get(gatewayId)?.values() ?? []) for (const ch of hold.channels) channels.add(ch);
    return channels.size;
  }

  /** Channels held off by active events on a gateway: channel → event id and restore time. */
  heldChannels(gatewayId: string): Map<number, { eventId: string; restoreAt: number }> {
    const held = new Map<number, { eventId: string; restoreAt: number }>();
    for (const [eventId, hold] of this.holds.get(gatewayId) ?? []) {
      for (const ch of hold.channels) held.set(ch, { eventId, restoreAt: hold.restoreAt });
    }
    return held;
  }

  scopeIds(scope: ShedScope): string[] {
    const reg = this.o.registry;
    switch (scope.kind) {
      case 'gateway':
      case 'gateways': {
        const ids = scope.kind === 'gateway' ? [scope.gatewayId] : [...new Set(scope.gatewayIds)];
        for (const id of ids) if (!reg.get(id)) throw new LmgwError('OP_NOT_FOUND', `no gateway ${id}`);
        return ids;
      }
      case 'label': {
        const ids = reg.all().filter((g) => reg.labels(g).includes(scope.label)).map((g) => g.row.gatewayId);
        if (ids.length === 0) throw new LmgwError('OP_NOT_FOUND', `no gateway has the label ${scope.label}`);
        return ids;
      }
      case 'fleet':
        return reg.ids();
    }
  }

  /**
   * The plan for the gateways in scope now, made PLAN_SLICE gateways per turn of the event loop: 20,000
   * gateways in one go are one long task (pings, telemetry acks and the UI would wait).
   */
  async plan(request: ShedRequest): Promise<ShedPlan> {
    const ids = this.scopeIds(request.scope).sort();
    const planner = new ShedPlanner(request.selector, this.now());
    for (let i = 0; i < ids.length; i += PLAN_SLICE) {
      if (i > 0) await nextTurn();
      // Measured per-channel power, when the LM reports it, for planning by target kW.
      planner.add(this.o.registry.planGateways(ids.slice(i, i + PLAN_SLICE), (_, ch) => ch.kw));
    }
    return planner.finish();
  }

  async preview(request: ShedRequest): Promise<ShedPreview> {
    const plan = await this.plan(request);
    return {
      plan,
      loadCount: plan.gateways.reduce((n, g) => n + g.channels.length, 0),
      gatewayCount: plan.gateways.length,
      restoreAt: this.now() + request.durationSeconds * 1000,
    };
  }

  /**
   * Resolves when every command of the event has its final state (bounded by the command deadline),
   * with the event's summary and its outcomes not confirmed (shedEventAnswer; get() has them all).
   */
  async start(ctx: OperatorContext, request: ShedRequest): Promise<ShedEventAnswer> {
    const plan = await this.plan(request);
    // The plan's last slice, and the event's records and planned outcomes, on turns of their own.
    await nextTurn();
    const t = this.now();
    const header: ShedEventHeader = {
      id: `e${randomBytes(9).toString('base64url')}`,
      operator: ctx.operator,
      createdAt: t,
      scope: request.scope,
      selector: request.selector,
      durationSeconds: request.durationSeconds,
      ...(request.note !== undefined ? { note: request.note } : {}),
      endsAt: t + request.durationSeconds * 1000,
      state: plan.gateways.length > 0 ? 'active' : 'failed',
      plannedKw: plan.totalKw,
      ...(plan.targetKw !== undefined ? { targetKw: plan.targetKw } : {}),
      ...(plan.shortfallKw !== undefined ? { shortfallKw: plan.shortfallKw } : {}),
      gatewayCount: plan.gateways.length,
      skippedCount: plan.skipped.length,
      skippedByReason: countReasons(plan.skipped),
    };
    this.o.store.transaction(() => {
      this.o.store.appendAudit({
        time: t,
        operator: ctx.operator,
        operation: 'shed-event',
        parameters: { ...request, plannedKw: plan.totalKw, loads: plan.gateways.reduce((n, g) => n + g.channels.length, 0), skipped: plan.skipped.length },
        outcome: 'requested',
        ref: header.id,
      });
      this.o.store.createShedEvent(header, plan.skipped);
    });
    const live: LiveEvent = { header, outcomes: new Map(), counts: {}, confirmedKw: 0 };
    if (header.state === 'failed') {
      this.auditOutcome(ctx.operator, 'shed-event', header.id, 'failed', { reason: 'nothing in scope can be shed' });
      this.o.bus.emit('shed-event', this.summaryOf(live));
      return this.answerOf(live);
    }
    // The planned outcomes, in memory and as rows, PLAN_SLICE per turn (at 19,900 gateways this loop
    // was most of a 119 ms task in the hub's CPU profile): each gateway of the event has its row before
    // any command leaves, so a hub stopped halfway knows whom it never commanded (recover()). The event
    // is not listed as active before they all are.
    for (let i = 0; i < plan.gateways.length; i += PLAN_SLICE) {
      if (i > 0) await nextTurn();
      const planned = plan.gateways
        .slice(i, i + PLAN_SLICE)
        .map((g): ShedOutcome => ({ gatewayId: g.gatewayId, channels: g.channels, expectedKw: g.expectedKw, commandId: '', state: 'requested' }));
      this.o.store.transaction(() => {
        for (const x of planned) this.o.store.saveShedOutcome(header.id, x);
      });
      for (const x of planned) this.applyOutcome(live, x);
    }
    this.active.set(header.id, live);
    this.dispatching.set(header.id, live);
    this.arm(header);
    this.o.bus.emit('shed-event', this.summaryOf(live));

    let finals: CommandRecord[];
    try {
      finals = await this.o.dispatcher.dispatchMany(
        ctx,
        plan.gateways.map((g) => ({ gatewayId: g.gatewayId, op: 'shed' as const, channels: g.channels, durationSeconds: request.durationSeconds, eventId: header.id })),
        // Cancelled (or ended) while its commands are going out: the rest never leave, so the cancel's
        // restores, made from the outcomes sent so far, cover every gateway this event shed.
        { bulk: true, onWrite: (c) => this.writeOutcome(live, c), stopped: () => live.header.state !== 'active' },
      );
      await this.cancelUnsent(live);
    } finally {
      this.dispatching.delete(header.id);
    }
    const confirmed = finals.filter((c) => c.state === 'confirmed').length;
    if (confirmed === 0 && this.active.has(header.id)) this.setState(live, { ...live.header, state: 'failed' });
    const unsent = plan.gateways.length - finals.length;
    this.auditOutcome(ctx.operator, 'shed-event', header.id, confirmed === plan.gateways.length ? 'ok' : confirmed === 0 ? 'failed' : 'partial', {
      confirmed,
      commands: finals.length,
      ...(unsent > 0 ? { notSent: unsent } : {}),
    });
    return this.answerOf(live);
  }

  /**
   * The gateways of an event stopped before their commands were journaled: their outcomes end
   * `cancelled` (OP_EVENT_ENDED, no command), in memory and in the store, PLAN_SLICE per turn.
   */
  private async cancelUnsent(live: LiveEvent): Promise<void> {
    const unsent = [...live.outcomes.values()].filter((x) => x.commandId === '');
    for (let i = 0; i < unsent.length; i += PLAN_SLICE) {
      if (i > 0) await nextTurn();
      const slice = unsent.slice(i, i + PLAN_SLICE).map(
        (x): ShedOutcome => ({ ...x, state: 'cancelled', code: 'OP_EVENT_ENDED', message: `shed event ${live.header.id} was ${live.header.state} before a command was sent to this gateway` }),
      );
      this.o.store.transaction(() => {
        for (const x of slice) this.o.store.saveShedOutcome(live.header.id, x);
      });
      for (const x of slice) this.applyOutcome(live, x);
      this.summaryChanged(live);
    }
  }

  async cancel(ctx: OperatorContext, eventId: string): Promise<ShedEventAnswer> {
    const live = this.active.get(eventId);
    if (!live) {
      const stored = this.get(eventId);
      throw new LmgwError('OP_EVENT_ENDED', `shed event ${eventId} is ${stored.state} already`);
    }
    const t = this.now();
    this.o.store.appendAudit({ time: t, operator: ctx.operator, operation: 'cancel-event', parameters: { eventId }, outcome: 'requested', ref: eventId });
    // Restore what may be off: confirmed sheds, and those whose answer never came.
    const toRestore = [...live.outcomes.values()].filter((x) => x.state === 'confirmed' || x.state === 'sent' || x.state === 'timed-out');
    this.setState(live, { ...live.header, state: 'cancelled', cancelledBy: ctx.operator, cancelledAt: t });
    const restores = await this.o.dispatcher.dispatchMany(
      ctx,
      toRestore.map((x) => ({ gatewayId: x.gatewayId, op: 'restore' as const, channels: x.channels, eventId })),
    );
    const ok = restores.filter((r) => r.state === 'confirmed').length;
    this.auditOutcome(ctx.operator, 'cancel-event', eventId, ok === restores.length ? 'ok' : 'partial', { restored: ok, commands: restores.length });
    // From memory, as the store has it (the restores do not change a shed event's outcomes): reading
    // 20,000 outcome rows back would hold the loop.
    return this.answerOf(live);
  }

  /** Ends every active event as cancelled by this operator (restore all did the restoring). */
  cancelAllActive(ctx: OperatorContext): void {
    const t = this.now();
    for (const live of [...this.active.values()]) this.setState(live, { ...live.header, state: 'cancelled', cancelledBy: ctx.operator, cancelledAt: t });
  }

  /** Keeps an active event's outcomes in step with its shed commands (after each change is committed). */
  private commandChanged(c: CommandRecord): void {
    if (!c.eventId || c.op !== 'shed') return;
    const live = this.active.get(c.eventId) ?? this.dispatching.get(c.eventId);
    if (!live) return;
    const before = live.outcomes.get(c.gatewayId);
    this.applyOutcome(live, this.outcomeOf(c, before?.expectedKw ?? 0));
    this.summaryChanged(live);
    if (before?.state !== c.state && (c.state === 'confirmed' || before?.state === 'confirmed')) this.o.bus.emit('gateway-changed', c.gatewayId);
  }

  private outcomeOf(c: CommandRecord, expectedKw: number): ShedOutcome {
    return {
      gatewayId: c.gatewayId,
      channels: c.channels ?? [],
      expectedKw,
      commandId: c.id,
      state: c.state,
      ...(c.code ? { code: c.code } : {}),
      ...(c.message ? { message: c.message } : {}),
    };
  }

  /** Puts `out` in the live event: counts, confirmed kW and the gateway's hold follow. */
  private applyOutcome(live: LiveEvent, out: ShedOutcome): void {
    const before = live.outcomes.get(out.gatewayId);
    if (before) {
      bump(live.counts, before.state, -1);
      if (before.state === 'confirmed') live.confirmedKw -= before.expectedKw;
    }
    live.outcomes.set(out.gatewayId, out);
    bump(live.counts, out.state, 1);
    if (out.state === 'confirmed') {
      live.confirmedKw += out.expectedKw;
      if (live.header.state === 'active') this.hold(out.gatewayId, live.header.id, { channels: out.channels, restoreAt: live.header.endsAt });
    } else if (before?.state === 'confirmed') {
      this.release(out.gatewayId, live.header.id);
    }
  }

  private hold(gatewayId: string, eventId: string, hold: Hold): void {
    let byEvent = this.holds.get(gatewayId);
    if (!byEvent) this.holds.set(gatewayId, (byEvent = new Map<string, Hold>()));
    byEvent.set(eventId, hold);
  }

  private release(gatewayId: string, eventId: string): void {
    const byEvent = this.holds.get(gatewayId);
    if (!byEvent?.delete(eventId)) return;
    if (byEvent.size === 0) this.holds.delete(gatewayId);
  }

  /** The event's summary goes on the bus at the end of this turn of the loop, as it is then. */
  private summaryChanged(live: LiveEvent): void {
    this.summaryDue.add(live);
    this.summaryImmediate ??= setImmediate(() => {
      this.summaryImmediate = undefined;
      const due = [...this.summaryDue];
      this.summaryDue.clear();
      for (const e of due) this.o.bus.emit('shed-event', this.summaryOf(e));
    });
  }

  private answerOf(live: LiveEvent): ShedEventAnswer {
    return shedEventAnswer(this.summaryOf(live), live.outcomes.values());
  }

  private recordOf(live: LiveEvent): ShedEventRecord {
    return { ...this.summaryOf(live), outcomes: [...live.outcomes.values()], skipped: this.o.store.shedSkipped(live.header.id) };
  }

  private summaryOf(live: LiveEvent): ShedEventSummary {
    return { ...live.header, counts: { ...live.counts }, confirmedKw: live.confirmedKw };
  }

  private arm(e: ShedEventHeader): void {
    clearTimeout(this.timers.get(e.id));
    const timer = setTimeout(() => this.end(e.id), Math.max(0, e.endsAt - this.now()));
    timer.unref();
    this.timers.set(e.id, timer);
  }

  /** The agents restore on their own at endsAt; the hub closes the event's books. */
  private end(eventId: string): void {
    this.timers.delete(eventId);
    const live = this.active.get(eventId);
    if (!live || live.header.state !== 'active') return;
    this.setState(live, { ...live.header, state: 'ended' });
    this.auditOutcome(SYSTEM_OPERATOR, 'event-ended', eventId, 'ok', { endsAt: live.header.endsAt });
  }

  /** A new state for the event; an event that is no longer active lets go of its gateways' holds. */
  private setState(live: LiveEvent, header: ShedEventHeader): void {
    this.o.store.saveShedEventHeader(header);
    live.header = header;
    if (header.state !== 'active') {
      this.active.delete(header.id);
      clearTimeout(this.timers.get(header.id));
      this.timers.delete(header.id);
      for (const out of live.outcomes.values()) {
        if (out.state !== 'confirmed') continue;
        this.release(out.gatewayId, header.id);
        this.o.bus.emit('gateway-changed', out.gatewayId);
      }
    }
    this.o.bus.emit('shed-event', this.summaryOf(live));
  }

  private auditOutcome(operator: string, operation: string, ref: string, outcome: string, parameters: Record<string, unknown>): void {
    this.o.store.appendAudit({ time: this.now(), operator, operation, parameters, outcome, ref });
  }
}
