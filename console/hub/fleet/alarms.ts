/**
 * The alarm book: one open alarm per (code, gateway) at a time, raised by whatever notices the
 * condition, cleared when it goes away, and kept in the list until an operator acknowledges it — so an
 * alarm that came and went at 3 a.m. is still seen in the morning.
 */
import { randomUUID } from 'node:crypto';
import { LmgwError } from '../../../shared/errors.js';
import type { AlarmRecord, AlarmSeverity } from '../operator/types.js';
import type { HubStore } from '../store/index.js';
import type { RowWriter } from './registry.js';

export interface RaiseAlarm {
  code: string;
  severity: AlarmSeverity;
  gatewayId?: string;
  message: string;
}

/** Still to be looked at: not cleared, or cleared but not acknowledged. */
export function isOpen(alarm: AlarmRecord): boolean {
  return alarm.clearedAt === undefined || alarm.acknowledgedAt === undefined;
}

export class AlarmBook {
  /** Open alarms by id. */
  private readonly open = new Map<string, AlarmRecord>();
  /** Open alarms by gateway ('' for the console's own), so a gateway's summary costs its own alarms. */
  private readonly byGateway = new Map<string, Map<string, AlarmRecord>>();

  constructor(
    private readonly store: HubStore,
    private readonly onChange: (alarm: AlarmRecord) => void,
    private readonly now: () => number = Date.now,
    /** How alarm records reach the store (the hub's bookkeeping group commit); default at once. */
    private readonly write: RowWriter = (w) => w(),
  ) {
    for (const alarm of store.queryAlarms({ openOnly: true })) this.index(alarm);
  }

  /** Raises the alarm, or refreshes the message of the active one with the same code and gateway. */
  raise(r: RaiseAlarm): AlarmRecord {
    const active = this.active(r.code, r.gatewayId);
    if (active) {
      if (active.message === r.message && active.severity === r.severity) return active;
      return this.save({ ...active, message: r.message, severity: r.severity });
    }
    return this.save({
      id: randomUUID(),
      code: r.code,
      severity: r.severity,
      ...(r.gatewayId !== undefined ? { gatewayId: r.gatewayId } : {}),
      message: r.message,
      raisedAt: this.now(),
    });
  }

  /** The condition went away; the alarm stays listed until acknowledged. */
  clear(code: string, gatewayId?: string): void {
    const active = this.active(code, gatewayId);
    if (active) this.save({ ...active, clearedAt: this.now() });
  }

  acknowledge(id: string, operator: string): AlarmRecord {
    const alarm = this.open.get(id);
    if (!alarm) throw new LmgwError('OP_NOT_FOUND', `no open alarm ${id}`);
    if (alarm.acknowledgedAt !== undefined) return alarm;
    return this.save({ ...alarm, acknowledgedBy: operator, acknowledgedAt: this.now() });
  }

  list(): AlarmRecord[] {
    return [...this.open.values()].sort((a, b) => b.raisedAt - a.raisedAt);
  }

  forGateway(gatewayId: string): AlarmRecord[] {
    const mine = this.byGateway.get(gatewayId);
    return mine ? [...mine.values()].sort((a, b) => b.raisedAt - a.raisedAt) : [];
  }

  /** Open alarms of the gateway. */
  countFor(gatewayId: string): number {
    return this.byGateway.get(gatewayId)?.size ?? 0;
  }

  /** Raised and not yet cleared (acknowledged or not). */
  private active(code: string, gatewayId: string | undefined): AlarmRecord | undefined {
    for (const a of this.byGateway.get(gatewayId ?? '')?.values() ?? []) if (a.code === code && a.clearedAt === undefined) return a;
    return undefined;
  }

  private index(alarm: AlarmRecord): void {
    const key = alarm.gatewayId ?? '';
    let mine = this.byGateway.get(key);
    if (isOpen(alarm)) {
      this.open.set(alarm.id, alarm);
      if (!mine) this.byGateway.set(key, (mine = new Map<string, AlarmRecord>()));
      mine.set(alarm.id, alarm);
    } else {
      this.open.delete(alarm.id);
      mine?.delete(alarm.id);
      if (mine?.size === 0) this.byGateway.delete(key);
    }
  }

  private save(alarm: AlarmRecord): AlarmRecord {
    this.write(() => this.store.saveAlarm(alarm));
    this.index(alarm);
    this.onChange(alarm);
    return alarm;
  }
}
