/**
 * Command dispatch: an operator's operation becomes one protocol command with an id and a deadline,
 * tracked requested → sent → confirmed / rejected / failed / expired / timed-out.
 *
 * The audit row 'requested' and the command record are committed before the frame leaves the hub, so
 * nothing the operator did can be lost; the final outcome is a second audit row with the same ref
 * (the audit log is append-only). A command that was in flight when the hub died is closed at the
 * next start as failed with OP_HUB_RESTARTED — never sent again: the agent executes an id at most
 * once, but a new id after a restart would act twice.
 *
 * At fleet scale (a shed over 20,000 gateways) the commands of one operation go out in slices: each
 * slice's audit rows and records are committed in one transaction, and its frames leave once that
 * commit is durable (the store's fsync on the thread pool, shared by the slices committed meanwhile:
 * the next slice is committed while the previous one's fsync runs). The loop is yielded between
 * slices, so pings, telemetry and the UI are served while the operation is on its way. The final
 * state with its audit row is group committed (GroupCommit): a command is answered only after the
 * commit that holds it is durable. 'sent' is stored only for a command still
 * unanswered a second after it left (SENT_WRITE_DELAY_MS): it promises nothing durable. The commands
 * of a bulk operation are announced (onChange) from 'sent' on, a single command from 'requested'.
 * A bulk operation stops between slices when its owner says so (DispatchOptions.stopped: a shed
 * event cancelled while its commands go out); a journaled command that has not left then ends
 * 'cancelled', never sent.
 */
import { randomBytes } from 'node:crypto';
import type { ErrorCode } from '../../../shared/errors.js';
import type { CommandMessage, CommandOp, ErrorMessage, ResultMessage } from '../../../shared/protocol/messages.js';
import type { CommandRecord, CommandState, OperatorContext } from '../operator/types.js';
import { nextTurn } from '../slices.js';
import { GroupCommit } from '../store/group-commit.js';
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
  /**
   * Every change of a command's state, after it is committed. `bulk`: one of many commands of one
   * operation (a shed event, restore all), which report their progress as a whole.
   */
  onChange: (command: CommandRecord, bulk: boolean) => void;
  /** Time the agent has to execute a command (the deadline it gets). Default 10 s. */
  deadlineMs?: number;
  /** After the deadline, how long the hub still waits for the answer in flight. Default 2 s. */
  graceMs?: number;
  now?: () => number;
}

/** Per operation: whether its commands report as a whole, and what to store with each change. */
export interface DispatchOptions {
  bulk: boolean;
  /** Runs inside the transaction that stores each change of these commands (a shed outcome row). */
  onWrite?: (command: CommandRecord) => void;
  /**
   * Asked before each slice is journaled and again before it is sent: once true (the shed event was
   * cancelled or ended), nothing more of the operation leaves. A slice journaled but not yet sent ends
   * `cancelled` (OP_EVENT_ENDED); the slices after it are never journaled.
   */
  stopped?: () => boolean;
}

interface Pending {
  record: CommandRecord;
  bulk: boolean;
  onWrite: ((command: CommandRecord) => void) | undefined;
  resolve: (record: CommandRecord) => void;
  reject: (err: Error) => void;
}

/**
 * Commands audited and sent per slice of a bulk operation before the loop is yielded: one commit
 * per slice. Slices of 250 (and final groups of 250) were fewer commits but let the loop
 * stall 105–138 ms at 19,900 gateways; with 100 it stalled 66–83 ms (docs/benchmarks.md).
 */
export const DISPATCH_SLICE = 100;
/**
 * Final states arriving within this window share one commit, of at most FINISH_GROUP_MAX (groups of
 * 250 were tried and showed no gain beyond the noise: docs/benchmarks.md, fleet-shed fifth round).
 */
const FINISH_GROUP_MS = 5;
const FINISH_GROUP_MAX = 100;
/**
 * A command still unanswered this long after it left has its 'sent' state stored. Most answers come
 * sooner and make that write moot: 'sent' promises nothing durable (a restart closes a requested or
 * a sent command alike, as OP_HUB_RESTARTED), so it is only there for whoever reads the history of
 * a slow command.
 */
const SENT_WRITE_DELAY_MS = 1_000;

let idSeq = 0;

/**
 * `n` fresh command ids, in ascending order: `c`, the time in ms (9 base-36 digits), a sequence
 * (4 base-36 digits) and 48 random bits (8 base64url characters), all from one draw of randomness.
 * Ascending, so the commands table's id index grows at its end: random ids put every insert and
 * every update of a fleet-wide operation on a page of its own (a 5,000-gateway shed wrote 18.7 MB
 * with random ids, 11.8 MB with these).
 */
export function newCommandIds(n: number, now: number = Date.now()): string[] {
  const bytes = randomBytes(6 * n);
  const time = Math.max(0, Math.floor(now)).toString(36).padStart(9, '0');
  const ids: string[] = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    idSeq = (idSeq + 1) % 36 ** 4;
    ids[i] = `c${time}${idSeq.toString(36).padStart(4, '0')}${bytes.toString('base64url', 6 * i, 6 * i + 6)}`;
  }
  return ids;
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
  /** The pending commands' ids by gateway, so a lost session costs its own commands, not all. */
  private readonly byGateway = new Map<string, Set<string>>();
  private readonly now: () => number;
  private readonly deadlineMs: number;
  private readonly graceMs: number;
  private readonly writes: GroupCommit;
  /** Commands sent and not yet answered, whose 'sent' state is stored if they still are at the next write. */
  private unsentWrites: Pending[] = [];
  private sentTimer: NodeJS.Timeout | undefined;
  /** One deadline timer per slice (its commands share the deadline), not one per command. */
  private readonly deadlineTimers = new Set<NodeJS.Timeout>();
  /** Bulk operations (dispatchMany with bulk) not yet resolved: see `bulkInFlight`. */
  private bulkOps = 0;
  private closed = false;

  constructor(private readonly o: DispatcherOptions) {
    this.now = o.now ?? Date.now;
    this.deadlineMs = o.deadlineMs ?? 10_000;
    this.graceMs = o.graceMs ?? 2_000;
    this.writes = new GroupCommit(o.store, { maxDelayMs: FINISH_GROUP_MS, maxItems: FINISH_GROUP_MAX });
  }

  /**
   * Closes what a previous run left in flight, in one transaction with what `onWrite` stores for
   * each (the shed outcomes). Returns those commands.
   */
  recover(onWrite?: (command: CommandRecord) => void): CommandRecord[] {
    const lost = this.o.store.unfinishedCommands();
    const closed = lost.map((c) => this.closedRecord(c, 'failed', 'OP_HUB_RESTARTED', 'the hub stopped while this command was in flight; its outcome is unknown until the next read-back'));
    this.o.store.transaction(() => {
      for (const done of closed) {
        this.writeFinal(done);
        onWrite?.(done);
      }
    });
    for (const done of closed) this.o.onChange(done, done.eventId !== undefined);
    return closed;
  }

  /** Audits, sends and resolves with the final record. Rejects only when the store fails. */
  async dispatch(ctx: OperatorContext, req: DispatchRequest): Promise<CommandRecord> {
    const [only] = await this.dispatchMany(ctx, [req], { bulk: false });
    if (!only) throw new Error('dispatchMany answered nothing for one request');
    return only;
  }

  /**
   * The commands of one operation, in slices of DISPATCH_SLICE: each slice audited and recorded in
   * one transaction, then sent; the loop is yielded between slices. Resolves with every command's
   * final record, in the order of `reqs` — only those journaled before `o.stopped` said stop, if it
   * did; rejects when the store fails.
   */
  async dispatchMany(ctx: OperatorContext, reqs: readonly DispatchRequest[], o: DispatchOptions = { bulk: true }): Promise<CommandRecord[]> {
    if (!o.bulk) return this.dispatchSlices(ctx, reqs, o);
    this.bulkOps += 1;
    try {
      return await this.dispatchSlices(ctx, reqs, o);
    } finally {
      this.bulkOps -= 1;
    }
  }

  /**
   * True while a fleet operation's commands are going out or awaited (from the call to its last final
   * state): the hub's lower-priority writes (telemetry) may wait meanwhile, so the operation's
   * journal, frames and answers have the loop first.
   */
  get bulkInFlight(): boolean {
    return this.bulkOps > 0;
  }

  private async dispatchSlices(ctx: OperatorContext, reqs: readonly DispatchRequest[], o: DispatchOptions): Promise<CommandRecord[]> {
    const slices: Array<Promise<CommandRecord[]>> = [];
    let failure: unknown;
    for (let from = 0; from < reqs.length && failure === undefined; from += DISPATCH_SLICE) {
      // A bulk operation starts on a turn of its own (its caller has just planned it).
      if (from > 0 || o.bulk) await nextTurn();
      if (o.stopped?.()) break;
      const journaled = this.journal(ctx, reqs.slice(from, from + DISPATCH_SLICE), o);
      // After close() nothing leaves: like the commands in flight then, these stay unsettled and
      // recover() closes them at the next start.
      const finals = this.o.store.durable().then(() => (this.closed ? new Promise<never>(() => undefined) : Promise.all(this.send(journaled, o))));
      // Seen at once, so a failed fsync stops the slices not yet committed (and is never "unhandled").
      finals.catch((err: unknown) => (failure ??= err));
      slices.push(finals);
    }
    return (await Promise.all(slices)).flat();
  }

  /**
   * The slice's audit rows and command records, in one transaction. Nothing is sent yet: the frames
   * leave once the store says this commit is durable (send). Throws when the store fails.
   */
  private journal(ctx: OperatorContext, reqs: readonly DispatchRequest[], o: DispatchOptions): CommandRecord[] {
    const { onWrite } = o;
    const t = this.now();
    const ids = newCommandIds(reqs.length, t);
    const records = reqs.map((req, i): CommandRecord => ({
      id: ids[i] as string,
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
    }));
    // Written before anything leaves: the operator's action is on record even if the hub dies now.
    this.o.store.transaction(() => {
      records.forEach((record, i) => {
        this.o.store.appendAudit({ time: t, operator: ctx.operator, operation: 'command', parameters: { ...reqs[i], deadline: record.deadline }, outcome: 'requested', ref: record.id });
        this.o.store.saveCommand(record);
        onWrite?.(record);
      });
    });
    return records;
  }

  /** Sends a journaled slice: its commands are tracked until final, with one deadline timer for all. */
  private send(records: readonly CommandRecord[], o: DispatchOptions): Array<Promise<CommandRecord>> {
    const { bulk, onWrite } = o;
    const stopped = o.stopped?.() ?? false;
    const t = records[0]?.requestedAt ?? this.now();
    // The ids the slice's deadline timer looks up (not the Pending objects: those of commands already
    // final would stay in memory until the deadline).
    const sentIds: string[] = [];
    const promises = records.map((record) => {
      // One of many: announced once it has left (or failed to); a single command shows each step.
      if (!bulk) this.o.onChange(record, bulk);
      return new Promise<CommandRecord>((resolve, reject) => {
        const p: Pending = { record, bulk, onWrite, resolve, reject };
        this.track(p);
        if (stopped) {
          this.finish(p, 'cancelled', 'OP_EVENT_ENDED', 'its operation was cancelled or ended before this command was sent');
          return;
        }
        if (!this.o.send(record.gatewayId, toMessage(record))) {
          this.finish(p, 'failed', 'OP_GATEWAY_OFFLINE', `gateway ${record.gatewayId} is not connected; the command was not sent`);
          return;
        }
        const sent: CommandRecord = { ...record, state: 'sent', sentAt: this.now() };
        p.record = sent;
        sentIds.push(sent.id);
        this.o.onChange(sent, bulk);
        this.unsentWrites.push(p);
        this.sentTimer ??= setTimeout(() => this.writeSent(), SENT_WRITE_DELAY_MS);
      });
    });
    if (sentIds.length > 0) {
      const timer = setTimeout(() => {
        this.deadlineTimers.delete(timer);
        for (const id of sentIds) {
          const p = this.pending.get(id);
          if (p) this.finish(p, 'timed-out', 'OP_TIMED_OUT', `no answer from ${p.record.gatewayId} by the deadline`);
        }
      }, t + this.deadlineMs - this.now() + this.graceMs);
      timer.unref();
      this.deadlineTimers.add(timer);
    }
    return promises;
  }

  /** Stores 'sent' for the commands still waiting for their answer (the others are final already). */
  private writeSent(): void {
    this.sentTimer = undefined;
    const waiting = this.unsentWrites.filter((p) => p.record.state === 'sent');
    this.unsentWrites = [];
    for (const p of waiting) {
      const sent = p.record;
      this.writes.add(
        () => {
          if (p.record !== sent) return; // answered meanwhile: its final state is stored instead
          this.o.store.saveCommand(sent);
          p.onWrite?.(sent);
        },
        () => undefined,
      );
    }
  }

  /** A result from the agent. Returns the final record, or undefined when it answers nothing pending. */
  handleResult(gatewayId: string, result: ResultMessage): CommandRecord | undefined {
    const p = this.take(gatewayId, result.commandId);
    if (!p) return undefined;
    const state: CommandState =
      result.status === 'ok' ? 'confirmed' : result.code === 'CMD_STALE' ? 'expired' : result.status === 'rejected' ? 'rejected' : 'failed';
    p.record = {
      ...p.record,
      ...(result.relays ? { readBack: [...result.relays] } : {}),
      ...(result.measuredKw !== undefined ? { measuredKw: result.measuredKw } : {}),
    };
    return this.finish(p, state, result.status === 'ok' ? undefined : result.code, result.message);
  }

  /** An error message from the agent that names a pending command (it could not decode it). */
  handleError(gatewayId: string, error: ErrorMessage): CommandRecord | undefined {
    if (error.ref === undefined) return undefined;
    const p = this.take(gatewayId, error.ref);
    if (!p) return undefined;
    return this.finish(p, 'failed', error.code, error.message);
  }

  /** The gateway's session ended: whatever it had not answered will not be answered. */
  gatewayLost(gatewayId: string): void {
    for (const id of [...(this.byGateway.get(gatewayId) ?? [])]) {
      const p = this.take(gatewayId, id);
      if (p) this.finish(p, 'timed-out', 'OP_TIMED_OUT', `the connection to ${gatewayId} ended before its answer; outcome unknown until the next read-back`);
    }
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Commits the writes queued and stops the timers; commands still in flight are closed by recover() at the next start. */
  close(): void {
    this.closed = true;
    clearTimeout(this.sentTimer);
    this.sentTimer = undefined;
    this.unsentWrites = [];
    for (const timer of this.deadlineTimers) clearTimeout(timer);
    this.deadlineTimers.clear();
    this.pending.clear();
    this.byGateway.clear();
    try {
      this.writes.flush();
    } catch {
      // The store is gone; recover() closes these commands at the next start.
    }
  }

  private take(gatewayId: string, commandId: string): Pending | undefined {
    const p = this.pending.get(commandId);
    // A result from another gateway for this id is not an answer (ids end in 48 random bits; this is defence).
    if (!p || p.record.gatewayId !== gatewayId) return undefined;
    this.untrack(p);
    return p;
  }

  private track(p: Pending): void {
    this.pending.set(p.record.id, p);
    let ids = this.byGateway.get(p.record.gatewayId);
    if (!ids) this.byGateway.set(p.record.gatewayId, (ids = new Set()));
    ids.add(p.record.id);
  }

  private untrack(p: Pending): void {
    if (!this.pending.delete(p.record.id)) return;
    const ids = this.byGateway.get(p.record.gatewayId);
    ids?.delete(p.record.id);
    if (ids?.size === 0) this.byGateway.delete(p.record.gatewayId);
  }

  private closedRecord(record: CommandRecord, state: CommandState, code: ErrorCode | undefined, message: string | undefined): CommandRecord {
    const done: CommandRecord = {
      ...record,
      state,
      finishedAt: this.now(),
      ...(code ? { code } : {}),
      ...(message ? { message } : {}),
    };
    return done;
  }

  /** The final record and its audit row, in the caller's transaction. */
  private writeFinal(done: CommandRecord): void {
    this.o.store.saveCommand(done);
    this.o.store.appendAudit({
      time: done.finishedAt ?? this.now(),
      operator: done.operator,
      operation: 'command',
      parameters: {
        gatewayId: done.gatewayId,
        op: done.op,
        ...(done.code ? { code: done.code } : {}),
        ...(done.message ? { message: done.message } : {}),
        ...(done.readBack ? { readBack: done.readBack } : {}),
      },
      outcome: done.state,
      ref: done.id,
    });
  }

  /** Final: stored with its audit row in the next group commit, then announced and answered. */
  private finish(p: Pending, state: CommandState, code: ErrorCode | undefined, message: string | undefined): CommandRecord {
    this.untrack(p);
    const done = this.closedRecord(p.record, state, code, message);
    p.record = done;
    this.writes.add(
      () => {
        this.writeFinal(done);
        p.onWrite?.(done);
      },
      (err) => {
        if (err) {
          p.reject(err);
          return;
        }
        this.o.onChange(done, p.bulk);
        p.resolve(done);
      },
    );
    return done;
  }
}
