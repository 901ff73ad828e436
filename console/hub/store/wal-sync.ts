/**
 * The hub database's fsync, off the event loop. The connection commits with synchronous=NORMAL: a
 * commit is written to the WAL (it survives `kill -9` at once) but not fsynced, and SQLite keeps the
 * WAL consistent on its own (checksummed frames; it syncs the WAL before every checkpoint). What a
 * power cut could still take is made durable here: `durable()` resolves after an fdatasync of the WAL
 * file that started after the call, on libuv's thread pool, so every commit made before the call is
 * on disk — and the hub acks telemetry, sends a journaled command and answers an operation only then.
 *
 * With synchronous=FULL each commit fsynced on the event loop. In the first 4 s of a fleet-wide
 * shed of 19,900 gateways the loop spent 0.79 s in COMMIT with FULL and 0.58 s with this (one CPU
 * profile each, bench:fleet-shed --cpu-prof; the rest is writing the WAL's pages). Here the loop goes
 * on with other work, and one fsync covers every commit made while the previous one ran.
 *
 * A failed fsync is final: the kernel may have dropped the pages it could not write, and a later
 * fsync could succeed without them. Every later `durable()` rejects with the same STORE_UNAVAILABLE,
 * so nothing more is acked.
 */
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import type { LmgwError } from '../../../shared/errors.js';
import { storeUnavailable } from './db.js';

export type FdatasyncFn = (fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => void;

interface Waiters {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

function waiters(): Waiters {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A failure is also thrown to whoever awaits it; this keeps an unobserved one from being "unhandled".
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class WalSync {
  private readonly fd: number;
  /** Calls that came after the fsync in flight started: they wait for the next one. */
  private next: Waiters | undefined;
  private running = false;
  private failure: LmgwError | undefined;
  private closed = false;
  /** fdatasyncs done (for tests). */
  syncs = 0;

  /**
   * Opens the WAL file of the database at `dbPath` (it exists once the connection is in WAL mode).
   * `onFailure` hears of the first failed fsync, once (the store reports it: metrics, /readyz).
   */
  constructor(
    private readonly dbPath: string,
    private readonly sync: FdatasyncFn = fdatasync,
    private readonly onFailure: (err: LmgwError) => void = () => undefined,
  ) {
    try {
      this.fd = openSync(`${dbPath}-wal`, 'r');
    } catch (err) {
      throw this.unavailable('opening the WAL file to sync it', err);
    }
  }

  /** Resolves once everything committed before this call is on disk; rejects with STORE_UNAVAILABLE when that failed. */
  durable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(this.unavailable('syncing the WAL', new Error('the store is closed')));
    this.next ??= waiters();
    const { promise } = this.next;
    if (!this.running) this.start();
    return promise;
  }

  /** The same, on this thread (at close, and where a caller cannot wait). */
  durableSync(): void {
    if (this.failure) throw this.failure;
    if (this.closed) return;
    try {
      fdatasyncSync(this.fd);
      this.syncs++;
    } catch (err) {
      const failure = this.unavailable('syncing the WAL', err);
      this.fail(failure);
      throw failure;
    }
  }

  /** Syncs what is committed, settles every waiter, and closes the file (once the fsync in flight is back). */
  close(): void {
    if (this.closed) return;
    try {
      this.durableSync();
      this.next?.resolve();
    } catch (err) {
      this.next?.reject(err as Error);
    }
    this.next = undefined;
    this.closed = true;
    if (!this.running) closeSync(this.fd);
  }

  private start(): void {
    const batch = this.next;
    if (!batch) return;
    this.next = undefined;
    this.running = true;
    this.sync(this.fd, (err) => {
      this.running = false;
      if (this.closed) {
        closeSync(this.fd);
        if (err) batch.reject(this.unavailable('syncing the WAL', err));
        else batch.resolve();
        return;
      }
      if (err) {
        this.fail(this.unavailable('syncing the WAL', err));
        batch.reject(this.failure as LmgwError);
        return;
      }
      this.syncs++;
      batch.resolve();
      if (this.next) this.start();
    });
  }

  /** The failure that stopped every later fsync, if one did. */
  get failed(): LmgwError | undefined {
    return this.failure;
  }

  private fail(failure: LmgwError): void {
    if (this.failure === undefined) {
      this.failure = failure;
      this.onFailure(failure);
    }
    this.next?.reject(this.failure);
    this.next = undefined;
  }

  private unavailable(doing: string, err: unknown): LmgwError {
    return storeUnavailable(this.dbPath, doing, err);
  }
}
