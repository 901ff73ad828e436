/**
 * Command execution: operations, not registers. The hub may ask for shed, restore and read —
 * nothing else reaches a load manager, and every operation is checked against the device profiles
 * first. The executor also owns the local protection that must hold without the hub: auto-restore
 * after a commanded duration, the maximum off time, and the link-loss policy. Its state (executed
 * command ids, channel states and timers) is in SQLite, so it survives restarts and `kill -9`.
 *
 * One command or timer at a time (a mutex), so two commands can never interleave their writes.
 */
import type { Logger } from 'pino';
import { pino } from 'pino';
import { LmgwError, type ErrorCode } from '../../shared/errors.js';
import {
  LIMITS,
  type CommandMessage,
  type EventDetail,
  type EventMessage,
  type RelayState,
  type ResultMessage,
  type Severity,
} from '../../shared/protocol/index.js';
import { TypedEvents } from '../../shared/typed-events.js';
import type { DeviceReading, LmDriver } from '../lm/driver.js';
import type { Channel } from '../lm/profile.js';
import type { ChannelState, OpsStore } from './store.js';

/** What to do with shed channels while the hub is unreachable. */
export type LinkLossPolicy = { mode: 'hold' } | { mode: 'restore'; afterSeconds: number };

export interface ExecutorOptions {
  drivers: readonly LmDriver[];
  store: OpsStore;
  /** Default hold: shed channels stay shed (their own timers still apply). */
  linkLoss?: LinkLossPolicy;
  now?: () => number;
  logger?: Logger;
  /** A failed auto-restore is tried again after this, ms. Default 5000. */
  retryMs?: number;
  /** Executed command ids are remembered this long after receipt, ms. Default 7 days. */
  commandRetentionMs?: number;
  /** Persisted "link down since" (ms), read at start and written on change. */
  linkState?: { load: () => number | undefined; save: (since: number | undefined) => void };
}

export type ExecutorEvents = {
  /** Something the hub should hear about (auto-restore, its failure). */
  event: [event: EventMessage];
  /** A channel's known state changed (the next hello carries it). */
  changed: [];
};

type AutoRestoreReason = 'duration' | 'max-off' | 'link-loss';

interface Target {
  driver: LmDriver;
  channel: Channel;
}

interface Rejection {
  code: ErrorCode;
  message: string;
}

interface Plan {
  /** Relay changes per device; devices without changes are only read. */
  changes: Map<LmDriver, { channel: number; on: boolean }[]>;
  read: LmDriver[];
  shedSeconds: number | undefined;
  commandId: string;
}

const DAY_MS = 86_400_000;
/** Command ids older than the retention are forgotten at most this often. */
const PRUNE_EVERY_MS = 3_600_000;
/** Timers are re-checked at least this often, so a clock jump cannot hide one for long. */
const MAX_TIMER_MS = 60_000;

export class CommandExecutor {
  readonly events: TypedEvents<ExecutorEvents>;
  /** Bumped whenever a command or timer switches relays: a sample read across it is not trusted for state. */
  generation = 0;
  private readonly drivers: readonly LmDriver[];
  private readonly store: OpsStore;
  private readonly linkLoss: LinkLossPolicy;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly retryMs: number;
  private readonly retentionMs: number;
  private readonly linkState: ExecutorOptions['linkState'];
  private readonly targets = new Map<number, Target>();
  private states = new Map<number, ChannelState>();
  private linkDownSince: number | undefined;
  private readonly retryAt = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private lastPrune = 0;

  constructor(options: ExecutorOptions) {
    this.drivers = options.drivers;
    this.store = options.store;
    this.linkLoss = options.linkLoss ?? { mode: 'hold' };
    this.now = options.now ?? Date.now;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'ops' });
    this.retryMs = options.retryMs ?? 5_000;
    this.retentionMs = options.commandRetentionMs ?? 7 * DAY_MS;
    this.linkState = options.linkState;
    this.events = new TypedEvents<ExecutorEvents>((err) => this.log.error({ err }, 'an executor event listener threw'));
    for (const driver of this.drivers) {
      for (const channel of driver.profile.channels) {
        if (this.targets.has(channel.id)) throw new LmgwError('CONFIG_INVALID', `channel id ${channel.id} is on two devices; channel ids must be unique across the gateway`);
        this.targets.set(channel.id, { driver, channel });
      }
    }
  }

  /** Loads the persisted state and arms the timers (a timer that fell due while the agent was down fires now). */
  start(): void {
    this.stopped = false;
    const stored = this.store.channels();
    this.states = new Map();
    for (const id of this.targets.keys()) {
      this.states.set(id, stored.get(id) ?? { channel: id, on: undefined, changedAt: undefined, shed: false, shedCommand: undefined, restoreAt: undefined, maxOffAt: undefined });
    }
    // The link is down when the agent starts; if it was already down before, it has been since then.
    this.linkDownSince = this.linkState?.load() ?? this.now();
    this.linkState?.save(this.linkDownSince);
    this.lastPrune = this.now();
    this.store.pruneCommands(this.lastPrune - this.retentionMs);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves when the command or timer running now (if any) has finished. */
  async idle(): Promise<void> {
    await this.tail;
  }

  /** Known state of every channel (for the hello). */
  channelStates(): ReadonlyMap<number, Readonly<ChannelState>> {
    return this.states;
  }

  setLinkUp(up: boolean): void {
    const since = up ? undefined : (this.linkDownSince ?? this.now());
    if (since === this.linkDownSince) return;
    this.linkDownSince = since;
    this.linkState?.save(since);
    this.schedule();
  }

  /** Runs `fn` after every command or timer before it. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Executes a command at most once per id. `hubOffsetMs` = hub clock − agent clock (from the
   * welcome), so the deadline is judged on the hub's clock.
   */
  execute(command: CommandMessage, hubOffsetMs = 0): Promise<ResultMessage> {
    return this.exclusive(async () => {
      const receivedAt = this.now();
      if (receivedAt - this.lastPrune >= PRUNE_EVERY_MS) {
        this.lastPrune = receivedAt;
        this.store.pruneCommands(receivedAt - this.retentionMs);
      }
      const stored = this.store.command(command.id);
      if (stored?.state === 'done') {
        this.log.info({ id: command.id }, 'repeated command id: answering the stored result');
        return stored.result;
      }
      if (stored?.state === 'started') {
        // The agent died while executing it: the LM may or may not have switched. Never guess, never repeat.
        const result = this.notOk(command.id, 'failed', 'CMD_LM_FAILED', 'the agent restarted while executing this command; its outcome is unknown (send a read)');
        this.store.finishCommand(command.id, result, stored.receivedAt, stored.deadline);
        return result;
      }
      // Checked when the command's turn comes, not when it arrived: waiting behind another command counts.
      if (receivedAt + hubOffsetMs > command.deadline) {
        const late = receivedAt + hubOffsetMs - command.deadline;
        const result = this.notOk(command.id, 'rejected', 'CMD_STALE', `deadline passed ${late} ms ago (hub clock); not executed`);
        this.store.finishCommand(command.id, result, receivedAt, command.deadline);
        this.log.warn({ id: command.id, lateMs: late }, 'stale command rejected');
        return result;
      }
      const plan = this.plan(command, receivedAt);
      if ('code' in plan) {
        const result = this.notOk(command.id, 'rejected', plan.code, plan.message);
        this.store.finishCommand(command.id, result, receivedAt, command.deadline);
        this.log.warn({ id: command.id, code: plan.code, reason: plan.message }, 'command rejected');
        return result;
      }
      // A read switches nothing, so executing one twice does no harm: it needs no "started" record,
      // only the done record below (a repeated id still gets the stored result, as the hub expects).
      // Shed and restore commit "started" before the LM is touched — the guard against a second execution.
      if (command.op !== 'read') this.store.startCommand(command.id, receivedAt, command.deadline);
      const result = await this.apply(plan, undefined, false);
      // The result and the channel states read back with it in one commit.
      this.store.finishCommand(command.id, result, receivedAt, command.deadline, this.states.values());
      // Debug only: the daemon logs one info line per command with the result and whether it was sent.
      this.log.debug({ id: command.id, op: command.op, status: result.status, code: result.status === 'ok' ? undefined : result.code }, 'command executed');
      return result;
    });
  }

  /** The answer to a command whose id could be read but which did not decode. */
  malformed(commandId: string, problem: string): ResultMessage {
    return this.notOk(commandId, 'rejected', 'CMD_MALFORMED', problem);
  }

  private notOk(commandId: string, status: 'rejected' | 'failed', code: ErrorCode, message: string, extra: { relays?: RelayState[]; measuredKw?: number } = {}): ResultMessage {
    return { kind: 'result', commandId, status, code, time: this.now(), message: clip(message), ...extra };
  }

  private plan(command: CommandMessage, now: number): Plan | Rejection {
    const base = { commandId: command.id, shedSeconds: undefined };
    if (command.op === 'read') return { ...base, changes: new Map(), read: [...this.drivers] };

    let targets: Target[];
    if (command.op === 'shed' && command.selector.maxPriority !== undefined) {
      const max = command.selector.maxPriority;
      targets = [...this.targets.values()].filter((t) => t.channel.sheddable && t.channel.priority <= max);
    } else if (command.op === 'restore' && command.selector.all === true) {
      targets = [...this.targets.values()].filter((t) => this.states.get(t.channel.id)?.shed === true);
    } else {
      const ids = command.selector.channels ?? [];
      targets = [];
      for (const id of ids) {
        const target = this.targets.get(id);
        if (!target) return { code: 'CMD_UNKNOWN_CHANNEL', message: `channel ${id} is not on this gateway` };
        targets.push(target);
      }
    }

    for (const { channel } of targets) {
      const state = this.states.get(channel.id);
      const since = state?.changedAt === undefined ? undefined : Math.floor((now - state.changedAt) / 1_000);
      if (command.op === 'shed') {
        if (!channel.sheddable) return { code: 'CMD_NOT_SHEDDABLE', message: `channel ${channel.id} (${channel.name}) must not be shed` };
        if (state?.on === true && since !== undefined && since < channel.minOnSeconds) {
          return { code: 'CMD_MIN_ON_TIME', message: `channel ${channel.id} has been on for ${since} s; its minimum on time is ${channel.minOnSeconds} s` };
        }
      } else if (state?.on === false && since !== undefined && since < channel.minOffSeconds) {
        return { code: 'CMD_MIN_OFF_TIME', message: `channel ${channel.id} has been off for ${since} s; its minimum off time is ${channel.minOffSeconds} s` };
      }
    }

    const changes = new Map<LmDriver, { channel: number; on: boolean }[]>();
    for (const { driver, channel } of targets) {
      const list = changes.get(driver) ?? [];
      list.push({ channel: channel.id, on: command.op === 'restore' });
      changes.set(driver, list);
    }
    // Nothing to switch still answers with a fresh read-back.
    const read = changes.size === 0 ? [...this.drivers] : [];
    return { ...base, changes, read, shedSeconds: command.op === 'shed' ? command.durationSeconds : undefined };
  }

  /**
   * Switches and reads back; the result and the channel states reflect what was read, not what was
   * asked. With `save` false the caller commits the channel states (with the command's result).
   */
  private async apply(plan: Plan, reason?: AutoRestoreReason, save = true): Promise<ResultMessage> {
    this.generation++;
    const now = this.now();
    const wanted = new Map<number, boolean>();
    const problems: string[] = [];
    const readings: DeviceReading[] = [];
    let complete = true;
    await Promise.all([
      ...[...plan.changes].map(async ([driver, changes]) => {
        for (const c of changes) wanted.set(c.channel, c.on);
        const outcome = await driver.switchRelays(changes);
        if (outcome.reading) readings.push(outcome.reading);
        else complete = false;
        if (outcome.error) problems.push(`device ${driver.id}: ${outcome.error.code}: ${outcome.error.message}`);
        for (const channel of outcome.reading ? outcome.mismatched : []) problems.push(`read-back: relay ${channel} still ${wanted.get(channel) ? 'off' : 'on'}`);
      }),
      ...plan.read.map(async (driver) => {
        try {
          readings.push(await driver.read({ urgent: true }));
        } catch (err) {
          complete = false;
          const e = err instanceof LmgwError ? err : new Error(String(err));
          problems.push(`device ${driver.id}: ${e instanceof LmgwError ? `${e.code}: ` : ''}${e.message}`);
        }
      }),
    ]);

    this.applyReadings(readings, now, plan, wanted, reason, save);

    const relays = readings.flatMap((r) => r.relays).sort((a, b) => a.channel - b.channel);
    const kw = Math.round(readings.reduce((sum, r) => sum + r.kw, 0) * 1_000) / 1_000;
    const extra = { ...(relays.length > 0 ? { relays } : {}), ...(complete && readings.length > 0 ? { measuredKw: clampKw(kw) } : {}) };
    if (problems.length > 0) return this.notOk(plan.commandId, 'failed', 'CMD_LM_FAILED', problems.join('; '), extra);
    return { kind: 'result', commandId: plan.commandId, status: 'ok', time: this.now(), ...extra };
  }

  /** Channel states from read-backs; timers armed for what is really off, cleared for what is really on. */
  private applyReadings(readings: readonly DeviceReading[], now: number, plan: Plan | undefined, wanted: ReadonlyMap<number, boolean>, reason?: AutoRestoreReason, save = true): void {
    let changed = false;
    for (const relay of readings.flatMap((r) => r.relays)) {
      const state = this.states.get(relay.channel);
      const target = this.targets.get(relay.channel);
      if (!state || !target) continue;
      if (state.on !== relay.on) {
        // A first reading says nothing about when the relay last switched, unless we just switched it.
        state.changedAt = state.on === undefined && !wanted.has(relay.channel) ? undefined : now;
        state.on = relay.on;
        changed = true;
      }
      const asked = wanted.get(relay.channel);
      if (asked === false && !relay.on) {
        if (!state.shed) {
          state.shed = true;
          // Maximum off time counts from when the agent first shed it, not from a repeated shed.
          state.maxOffAt = target.channel.maxOffSeconds === undefined ? undefined : now + target.channel.maxOffSeconds * 1_000;
        }
        state.shedCommand = plan?.commandId;
        state.restoreAt = plan?.shedSeconds === undefined ? undefined : now + Math.max(plan.shedSeconds, target.channel.minOffSeconds) * 1_000;
      } else if (relay.on && state.shed) {
        // Restored, by us or by someone at the site: no timer may switch it again.
        state.shed = false;
        state.shedCommand = undefined;
        state.restoreAt = undefined;
        state.maxOffAt = undefined;
        this.retryAt.delete(relay.channel);
      }
    }
    // Writes only the channels whose row changed: an unchanged reading costs no commit.
    if (save) this.store.saveChannels(this.states.values());
    if (changed) this.events.emit('changed');
    if (reason === undefined) this.schedule();
  }

  /**
   * Sampling's readings: keeps the known relay states current (a load switched at the site counts
   * for the minimum on/off times). Ignored when a command switched relays while they were read.
   */
  observe(readings: readonly DeviceReading[], generation: number): void {
    if (generation !== this.generation || this.stopped) return;
    this.applyReadings(readings, readings[0]?.time ?? this.now(), undefined, new Map());
  }

  // --- timers ---------------------------------------------------------------------------------------

  private dueAt(state: ChannelState, channel: Channel): { at: number; reason: AutoRestoreReason } | undefined {
    if (!state.shed) return undefined;
    const candidates: { at: number; reason: AutoRestoreReason }[] = [];
    if (state.restoreAt !== undefined) candidates.push({ at: state.restoreAt, reason: 'duration' });
    if (state.maxOffAt !== undefined) candidates.push({ at: state.maxOffAt, reason: 'max-off' });
    if (this.linkLoss.mode === 'restore' && this.linkDownSince !== undefined) {
      const minOffEnds = (state.changedAt ?? 0) + channel.minOffSeconds * 1_000;
      candidates.push({ at: Math.max(this.linkDownSince + this.linkLoss.afterSeconds * 1_000, minOffEnds), reason: 'link-loss' });
    }
    const first = candidates.sort((a, b) => a.at - b.at)[0];
    if (!first) return undefined;
    const retry = this.retryAt.get(state.channel);
    return retry !== undefined && retry > first.at ? { at: retry, reason: first.reason } : first;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    let next: number | undefined;
    for (const [id, state] of this.states) {
      const target = this.targets.get(id);
      const due = target ? this.dueAt(state, target.channel) : undefined;
      if (due && (next === undefined || due.at < next)) next = due.at;
    }
    if (next === undefined) return;
    const delay = Math.min(Math.max(0, next - this.now()), MAX_TIMER_MS);
    this.timer = setTimeout(() => void this.fire(), delay);
  }

  /** Restores every channel whose timer is due. */
  private fire(): Promise<void> {
    this.timer = undefined;
    return this.exclusive(async () => {
      if (this.stopped) return;
      const now = this.now();
      const due = new Map<AutoRestoreReason, Target[]>();
      for (const [id, state] of this.states) {
        const target = this.targets.get(id);
        const when = target ? this.dueAt(state, target.channel) : undefined;
        if (target && when && when.at <= now) due.set(when.reason, [...(due.get(when.reason) ?? []), target]);
      }
      for (const [reason, targets] of due) {
        const changes = new Map<LmDriver, { channel: number; on: boolean }[]>();
        for (const { driver, channel } of targets) changes.set(driver, [...(changes.get(driver) ?? []), { channel: channel.id, on: true }]);
        const result = await this.apply({ changes, read: [], shedSeconds: undefined, commandId: `auto-${reason}` }, reason);
        const channels = targets.map((t) => t.channel.id).join(' ');
        if (result.status === 'ok') {
          this.log.info({ reason, channels }, 'auto-restore');
          this.emitEvent('auto-restore', 'info', [{ key: 'reason', value: reason }, { key: 'channels', value: channels }, ...kwDetail(result.measuredKw)]);
        } else {
          for (const t of targets) if (this.states.get(t.channel.id)?.shed) this.retryAt.set(t.channel.id, this.now() + this.retryMs);
          this.log.error({ reason, channels, err: result.message }, 'auto-restore failed; retrying');
          this.emitEvent('auto-restore-failed', 'alarm', [{ key: 'reason', value: reason }, { key: 'channels', value: channels }, { key: 'message', value: result.message ?? '' }]);
        }
      }
      this.schedule();
    });
  }

  private emitEvent(type: string, severity: Severity, details: EventDetail[]): void {
    this.events.emit('event', { kind: 'event', type, severity, time: this.now(), details });
  }
}

function kwDetail(kw: number | undefined): EventDetail[] {
  return kw === undefined ? [] : [{ key: 'kw', value: String(kw) }];
}

function clampKw(kw: number): number {
  return Math.max(-LIMITS.maxAbsKw, Math.min(LIMITS.maxAbsKw, kw));
}

function clip(text: string): string {
  return text.length <= LIMITS.maxResultMessageLength ? text : `${text.slice(0, LIMITS.maxResultMessageLength - 1)}…`;
}
