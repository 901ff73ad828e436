/**
 * Shed events: one operator decision ("shed priority ≤ 2 on the whole fleet for 30 minutes") shown as
 * one event with its per-gateway outcomes and what could not be shed, with the reason.
 *
 * Auto-restore is the agents' job (each shed command carries the duration, and the agent's timer holds
 * even when the hub is gone); the hub tracks the end time and shows it. An event outlives a hub restart:
 * its record is in the store and its end timer is re-armed at start.
 */
import { randomBytes } from 'node:crypto';
import { LmgwError } from '../../../shared/errors.js';
import { planShed, type ShedPlan } from '../../../shared/load/shed-plan.js';
import type {
  CommandRecord,
  OperatorContext,
  ShedEventRecord,
  ShedOutcome,
  ShedPreview,
  ShedRequest,
  ShedScope,
} from '../operator/types.js';
import type { HubStore } from '../store/index.js';
import type { CommandDispatcher } from './dispatcher.js';
import type { FleetRegistry } from './registry.js';

export interface ShedEventsOptions {
  store: HubStore;
  dispatcher: CommandDispatcher;
  registry: FleetRegistry;
  /** Measured per-channel power, when known, for planning by target kW. */
  channelKw: (gatewayId: string, channel: number) => number | undefined;
  onChange: (event: ShedEventRecord) => void;
  now?: () => number;
}

/** Who the hub's own bookkeeping rows are by. */
export const SYSTEM_OPERATOR = 'lmgw-hub';

export class ShedEvents {
  private readonly active = new Map<string, ShedEventRecord>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Planned kW per `eventId/gatewayId`, while the event's shed commands are in flight. */
  private readonly expected = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly o: ShedEventsOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Re-arms the end timers of events that were active when the hub stopped. */
  recover(): void {
    for (const e of this.o.store.queryShedEvents({ activeOnly: true, limit: 10_000 })) {
      this.active.set(e.id, e);
      this.arm(e);
    }
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  list(): ShedEventRecord[] {
    return [...this.active.values()];
  }

  get(id: string): ShedEventRecord {
    const e = this.active.get(id) ?? this.o.store.getShedEvent(id);
    if (!e) throw new LmgwError('OP_NOT_FOUND', `no shed event ${id}`);
    return e;
  }

  /** Channels held off by active events on a gateway: channel → event id and restore time. */
  heldChannels(gatewayId: string): Map<number, { eventId: string; restoreAt: number }> {
    const held = new Map<number, { eventId: string; restoreAt: number }>();
    for (const e of this.active.values()) {
      for (const out of e.outcomes) {
        if (out.gatewayId !== gatewayId || out.state !== 'confirmed') continue;
        for (const ch of out.channels) held.set(ch, { eventId: e.id, restoreAt: e.endsAt });
      }
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

  plan(request: ShedRequest): ShedPlan {
    const ids = this.scopeIds(request.scope);
    return planShed(
      this.o.registry.planGateways(ids, (id, ch) => this.o.channelKw(id, ch.id)),
      request.selector,
      this.now(),
    );
  }

  preview(request: ShedRequest): ShedPreview {
    const plan = this.plan(request);
    return {
      plan,
      loadCount: plan.gateways.reduce((n, g) => n + g.channels.length, 0),
      gatewayCount: plan.gateways.length,
      restoreAt: this.now() + request.durationSeconds * 1000,
    };
  }

  async start(ctx: OperatorContext, request: ShedRequest): Promise<ShedEventRecord> {
    const plan = this.plan(request);
    const t = this.now();
    const event: ShedEventRecord = {
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
      outcomes: [],
      skipped: plan.skipped,
    };
    this.o.store.transaction(() => {
      this.o.store.appendAudit({
        time: t,
        operator: ctx.operator,
        operation: 'shed-event',
        parameters: { ...request, plannedKw: plan.totalKw, loads: plan.gateways.reduce((n, g) => n + g.channels.length, 0), skipped: plan.skipped.length },
        outcome: 'requested',
        ref: event.id,
      });
      this.o.store.saveShedEvent(event);
    });
    if (event.state === 'failed') {
      this.auditOutcome(ctx.operator, 'shed-event', event.id, 'failed', { reason: 'nothing in scope can be shed' });
      this.o.onChange(event);
      return event;
    }
    this.active.set(event.id, event);
    this.arm(event);
    this.o.onChange(event);

    for (const g of plan.gateways) this.expected.set(`${event.id}/${g.gatewayId}`, g.expectedKw);
    await Promise.all(
      plan.gateways.map((g) =>
        this.o.dispatcher.dispatch(ctx, {
          gatewayId: g.gatewayId,
          op: 'shed',
          channels: g.channels,
          durationSeconds: request.durationSeconds,
          eventId: event.id,
        }),
      ),
    );
    for (const g of plan.gateways) this.expected.delete(`${event.id}/${g.gatewayId}`);
    const current = this.get(event.id);
    const confirmed = current.outcomes.filter((x) => x.state === 'confirmed').length;
    let final = current;
    if (confirmed === 0 && current.state === 'active') final = this.update({ ...current, state: 'failed' });
    this.auditOutcome(ctx.operator, 'shed-event', event.id, confirmed === current.outcomes.length ? 'ok' : confirmed === 0 ? 'failed' : 'partial', {
      confirmed,
      commands: current.outcomes.length,
    });
    return final;
  }

  /**
   * Keeps an event's outcomes in step with its commands (called for every command change). The first
   * sight of a command of the event adds its outcome row.
   */
  commandChanged(c: CommandRecord): void {
    if (!c.eventId || c.op !== 'shed') return;
    const e = this.active.get(c.eventId) ?? this.o.store.getShedEvent(c.eventId);
    if (!e) return;
    const outcome: ShedOutcome = {
      gatewayId: c.gatewayId,
      channels: c.channels ?? [],
      expectedKw: e.outcomes.find((x) => x.commandId === c.id)?.expectedKw ?? this.expected.get(`${e.id}/${c.gatewayId}`) ?? 0,
      commandId: c.id,
      state: c.state,
      ...(c.code ? { code: c.code } : {}),
      ...(c.message ? { message: c.message } : {}),
    };
    const outcomes = e.outcomes.some((x) => x.commandId === c.id)
      ? e.outcomes.map((x) => (x.commandId === c.id ? outcome : x))
      : [...e.outcomes, outcome];
    this.update({ ...e, outcomes });
  }

  async cancel(ctx: OperatorContext, eventId: string): Promise<ShedEventRecord> {
    const e = this.active.get(eventId);
    if (!e) {
      const stored = this.get(eventId);
      throw new LmgwError('OP_EVENT_ENDED', `shed event ${eventId} is ${stored.state} already`);
    }
    const t = this.now();
    this.o.store.appendAudit({ time: t, operator: ctx.operator, operation: 'cancel-event', parameters: { eventId }, outcome: 'requested', ref: eventId });
    const cancelled = this.update({ ...e, state: 'cancelled', cancelledBy: ctx.operator, cancelledAt: t });
    // Restore what may be off: confirmed sheds, and those whose answer never came.
    const toRestore = e.outcomes.filter((x) => x.state === 'confirmed' || x.state === 'sent' || x.state === 'timed-out');
    const restores = await Promise.all(
      toRestore.map((x) => this.o.dispatcher.dispatch(ctx, { gatewayId: x.gatewayId, op: 'restore', channels: x.channels, eventId })),
    );
    const ok = restores.filter((r) => r.state === 'confirmed').length;
    this.auditOutcome(ctx.operator, 'cancel-event', eventId, ok === restores.length ? 'ok' : 'partial', { restored: ok, commands: restores.length });
    return this.get(cancelled.id);
  }

  /** Ends every active event as cancelled by this operator (restore all did the restoring). */
  cancelAllActive(ctx: OperatorContext): void {
    const t = this.now();
    for (const e of [...this.active.values()]) this.update({ ...e, state: 'cancelled', cancelledBy: ctx.operator, cancelledAt: t });
  }

  private arm(e: ShedEventRecord): void {
    clearTimeout(this.timers.get(e.id));
    const timer = setTimeout(() => this.end(e.id), Math.max(0, e.endsAt - this.now()));
    timer.unref();
    this.timers.set(e.id, timer);
  }

  /** The agents restore on their own at endsAt; the hub closes the event's books. */
  private end(eventId: string): void {
    this.timers.delete(eventId);
    const e = this.active.get(eventId);
    if (!e || e.state !== 'active') return;
    this.update({ ...e, state: 'ended' });
    this.auditOutcome(SYSTEM_OPERATOR, 'event-ended', eventId, 'ok', { endsAt: e.endsAt });
  }

  private update(e: ShedEventRecord): ShedEventRecord {
    this.o.store.saveShedEvent(e);
    if (e.state === 'active') this.active.set(e.id, e);
    else {
      this.active.delete(e.id);
      clearTimeout(this.timers.get(e.id));
      this.timers.delete(e.id);
    }
    this.o.onChange(e);
    return e;
  }

  private auditOutcome(operator: string, operation: string, ref: string, outcome: string, parameters: Record<string, unknown>): void {
    this.o.store.appendAudit({ time: this.now(), operator, operation, parameters, outcome, ref });
  }
}
