/**
 * Command dispatch: an operator's operation becomes one protocol command with an id and a deadline,
 * tracked requested → sent → confirmed / rejected / failed / expired / timed-out.
 *
 * The audit row 'requested' and the command record are committed before the frame leaves the hub, so
 * nothing the operator did can be lost; the final outcome is a second audit row with the same ref
 * (the audit log is append-only). A command that was in flight when the hub died is closed at the
 * next start as failed with OP_HUB_RESTARTED — never sent again: the agent executes an id at most
 * once, but a new id after a restart would act twice.
 */
import { randomBytes } from 'node:crypto';
import type { ErrorCode } from '../../../shared/errors.js';
import type { CommandMessage, CommandOp, ErrorMessage, ResultMessage } from '../../../shared/protocol/messages.js';
import type { CommandRecord, CommandState, OperatorContext } from '../operator/types.js';
import type { HubStore } from '../store/index.js';

export interface DispatchRequest {
  gatewayId: string;
  op: CommandOp;
  channels?: number[];
  maxPriority?: number;
  /** restore: every channel the agent has shed. */
  all?: boolean;
  durationSeconds?: number;
  eventId?: string;
}

export interface DispatcherOptions {
  store: HubStore;
  /** LinkServer.send: false when the gateway has no open session. */
  send: (gatewayId: string, message: CommandMessage) => boolean;
  /** Every change of a command's state. */
  onChange: (command: CommandRecord) => void;
  /** Time the agent has to execute a command (the deadline it gets). Default 10 s. */
  deadlineMs?: number;
  /** After the deadline, how long the hub still waits for the answer in flight. Default 2 s. */
  graceMs?: number;
  now?: () => number;
}

interface Pending {
  record: CommandRecord;
  timer: NodeJS.Timeout;
  resolve: (record: CommandRecord) => void;
}

export function newCommandId(): string {
  return `c${randomBytes(12).toString('base64url')}`;
}

function toMessage(r: CommandRecord): CommandMessage {
  const base = { kind: 'command' as const, id: r.id, deadline: r.deadline };
  if (r.op === 'read') return { ...base, op: 'read' };
  if (r.op === 'restore') return { ...base, op: 'restore', selector: r.all ? { all: true } : { channels: r.channels ?? [] } };
  return {
    ...base,
    op: 'shed',
    selector: r.maxPriority !== undefined ? { maxPriority: r.maxPriority } : { channels: r.channels ?? [] },
    ...(r.durationSeconds !== undefined ? { durationSeconds: r.durationSeconds } : {}),
  };
}

export class CommandDispatcher {
  private readonly pending = new Map<string, Pending>();
  private readonly now: () => number;
  private readonly deadlineMs: number;
  private readonly graceMs: number;

  constructor(private readonly o: DispatcherOptions) {
    this.now = o.now ?? Date.now;
    this.deadlineMs = o.deadlineMs ?? 10_000;
    this.graceMs = o.graceMs ?? 2_000;
  }

  /** Closes what a previous run left in flight. Returns those commands. */
  recover(): CommandRecord[] {
    return this.o.store.unfinishedCommands().map((c) =>
      this.finish(c, 'failed', 'OP_HUB_RESTARTED', 'the hub stopped while this command was in flight; its outcome is unknown until the next read-back'),
    );
  }

  /** Audits, sends and resolves with the final record. Rejects only when the store fails. */
  dispatch(ctx: OperatorContext, req: DispatchRequest): Promise<CommandRecord> {
    const t = this.now();
    const record: CommandRecord = {
      id: newCommandId(),
      gatewayId: req.gatewayId,
      op: req.op,
      ...(req.channels ? { channels: [...req.channels] } : {}),
      ...(req.maxPriority !== undefined ? { maxPriority: req.maxPriority } : {}),
      ...(req.all ? { all: true } : {}),
      ...(req.durationSeconds !== undefined ? { durationSeconds: req.durationSeconds } : {}),
      ...(req.eventId ? { eventId: req.eventId } : {}),
      operator: ctx.operator,
      state: 'requested',
      requestedAt: t,
      deadline: t + this.deadlineMs,
    };
    const { id, deadline } = record;
    const parameters = { ...req, deadline };
    // Written before anything leaves: the operator's action is on record even if the hub dies now.
    this.o.store.transaction(() => {
      this.o.store.appendAudit({ time: t, operator: ctx.operator, operation: 'command', parameters, outcome: 'requested', ref: id });
      this.o.store.saveCommand(record);
    });
    this.o.onChange(record);

    if (!this.o.send(req.gatewayId, toMessage(record))) {
      return Promise.resolve(this.finish(record, 'failed', 'OP_GATEWAY_OFFLINE', `gateway ${req.gatewayId} is not connected; the command was not sent`));
    }
    const sent: CommandRecord = { ...record, state: 'sent', sentAt: this.now() };
    this.o.store.saveCommand(sent);
    this.o.onChange(sent);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        p.resolve(this.finish(p.record, 'timed-out', 'OP_TIMED_OUT', `no answer from ${req.gatewayId} by the deadline`));
      }, deadline - this.now() + this.graceMs);
      timer.unref();
      this.pending.set(id, { record: sent, timer, resolve });
    });
  }

  /** A result from the agent. Returns the final record, or undefined when it answers nothing pending. */
  handleResult(gatewayId: string, result: ResultMessage): CommandRecord | undefined {
    const p = this.take(gatewayId, result.commandId);
    if (!p) return undefined;
    const state: CommandState =
      result.status === 'ok' ? 'confirmed' : result.code === 'CMD_STALE' ? 'expired' : result.status === 'rejected' ? 'rejected' : 'failed';
    const record: CommandRecord = {
      ...p.record,
      ...(result.relays ? { readBack: [...result.relays] } : {}),
      ...(result.measuredKw !== undefined ? { measuredKw: result.measuredKw } : {}),
    };
    const done = this.finish(record, state, result.status === 'ok' ? undefined : result.code, result.message);
    p.resolve(done);
    return done;
  }

  /** An error message from the agent that names a pending command (it could not decode it). */
  handleError(gatewayId: string, error: ErrorMessage): CommandRecord | undefined {
    if (error.ref === undefined) return undefined;
    const p = this.take(gatewayId, error.ref);
    if (!p) return undefined;
    const done = this.finish(p.record, 'failed', error.code, error.message);
    p.resolve(done);
    return done;
  }

  /** The gateway's session ended: whatever it had not answered will not be answered. */
  gatewayLost(gatewayId: string): void {
    for (const [id, p] of this.pending) {
      if (p.record.gatewayId !== gatewayId) continue;
      this.take(gatewayId, id);
      p.resolve(this.finish(p.record, 'timed-out', 'OP_TIMED_OUT', `the connection to ${gatewayId} ended before its answer; outcome unknown until the next read-back`));
    }
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Stops the timers; commands still in flight are closed by recover() at the next start. */
  close(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  private take(gatewayId: string, commandId: string): Pending | undefined {
    const p = this.pending.get(commandId);
    // A result from another gateway for this id is not an answer (ids are random; this is defence).
    if (!p || p.record.gatewayId !== gatewayId) return undefined;
    this.pending.delete(commandId);
    clearTimeout(p.timer);
    return p;
  }

  private finish(record: CommandRecord, state: CommandState, code: ErrorCode | undefined, message: string | undefined): CommandRecord {
    const t = this.now();
    const done: CommandRecord = {
      ...record,
      state,
      finishedAt: t,
      ...(code ? { code } : {}),
      ...(message ? { message } : {}),
    };
    if (record.sentAt !== undefined && state !== 'timed-out') done.sentAt = record.sentAt;
    this.o.store.transaction(() => {
      this.o.store.saveCommand(done);
      this.o.store.appendAudit({
        time: t,
        operator: record.operator,
        operation: 'command',
        parameters: {
          gatewayId: record.gatewayId,
          op: record.op,
          ...(code ? { code } : {}),
          ...(message ? { message } : {}),
          ...(done.readBack ? { readBack: done.readBack } : {}),
        },
        outcome: state,
        ref: record.id,
      });
    });
    this.o.onChange(done);
    return done;
  }
}
