/**
 * Group commit: writes that arrive close together share one transaction instead of one each. 2,000
 * command results or telemetry batches a second then cost a few dozen commits, not 2,000 — and a
 * commit is what costs (every page it changed is written to the WAL again).
 *
 * Nothing is acknowledged early: a write's `done` runs only after its transaction has committed and
 * the store has said it is durable (the WAL's fsync, on the thread pool: groups committed while one
 * fsync runs share the next) — or with the error when either failed, and then nothing of that group
 * counts as stored. A group holds at most
 * `maxItems` writes, so one commit never holds the event loop for long; the next group waits for the
 * next turn of the loop (setImmediate), so sockets and timers are served in between.
 */
import type { HubStore } from './index.js';

export interface GroupCommitOptions {
  /** How long the first write of a group may wait for company. */
  maxDelayMs: number;
  /** Writes per transaction; a full group is committed at the next turn of the loop. */
  maxItems: number;
  /**
   * Lower priority: while this says true, a group whose window has passed waits on (checked again
   * every `maxDelayMs`), up to `maxHoldMs` after its first write — telemetry yields the loop to a
   * fleet operation's commands. A full group (`maxItems`, or `commitNow`) is committed all the same.
   */
  holdWhile?: () => boolean;
  maxHoldMs?: number;
  now?: () => number;
}

interface Pending {
  write: () => void;
  done: (err: Error | undefined) => void;
  /** When it was added (only kept when the group may be held). */
  at: number;
}

export class GroupCommit {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(
    private readonly store: Pick<HubStore, 'transaction' | 'durable' | 'durableSync'>,
    private readonly o: GroupCommitOptions,
  ) {}

  /** Queues `write` for the next group; `done` runs once it is committed (err undefined) or failed. */
  add(write: () => void, done: (err: Error | undefined) => void): void {
    this.queue.push({ write, done, at: this.o.holdWhile ? (this.o.now ?? Date.now)() : 0 });
    if (this.queue.length >= this.o.maxItems) this.immediate ??= setImmediate(() => this.flushGroup());
    else this.timer ??= setTimeout(() => this.windowEnded(), this.o.maxDelayMs);
  }

  get pending(): number {
    return this.queue.length;
  }

  /**
   * Commits the next group now instead of at the end of its window; its writes are answered once the
   * store's fsync (on the thread pool) has covered it, as any group's. What is left waits for the
   * next turn of the loop.
   */
  commitNow(): void {
    this.flushGroup();
  }

  /** Commits everything queued now, group by group, and syncs it on this thread (at close: never on a live path, the fsync would hold the loop). */
  flush(): void {
    while (this.queue.length > 0) this.commit(true);
    this.stop();
  }

  /** Drops the timers; writes still queued are neither stored nor answered. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
  }

  /** The first write's window has passed: the group is committed, unless it yields to higher priority work (holdWhile). */
  private windowEnded(): void {
    this.timer = undefined;
    const first = this.queue[0];
    if (first && this.o.holdWhile?.()) {
      const left = first.at + (this.o.maxHoldMs ?? 0) - (this.o.now ?? Date.now)();
      if (left > 0) {
        this.timer = setTimeout(() => this.windowEnded(), Math.min(left, this.o.maxDelayMs));
        return;
      }
    }
    this.flushGroup();
  }

  private flushGroup(): void {
    this.stop();
    this.commit();
    if (this.queue.length >= this.o.maxItems) this.immediate = setImmediate(() => this.flushGroup());
    else if (this.queue.length > 0) this.timer = setTimeout(() => this.windowEnded(), this.o.maxDelayMs);
  }

  private commit(now = false): void {
    const group = this.queue.length <= this.o.maxItems ? this.queue : this.queue.slice(0, this.o.maxItems);
    this.queue = group === this.queue ? [] : this.queue.slice(group.length);
    const settle = (err?: unknown): void => {
      const failure = err === undefined ? undefined : err instanceof Error ? err : new Error('group commit failed', { cause: err });
      for (const p of group) p.done(failure);
    };
    try {
      this.store.transaction(() => {
        for (const p of group) p.write();
      });
      if (now) this.store.durableSync();
    } catch (err) {
      return settle(err);
    }
    if (now) settle();
    else this.store.durable().then(() => settle(), settle);
  }
}
