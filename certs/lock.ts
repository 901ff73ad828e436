import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { LmgwError } from '../shared/errors.js';

export interface LockOptions {
  /** How long to wait for another holder, in ms. Default 15 000. */
  timeoutMs?: number;
}

/**
 * Runs `work` while holding an exclusive lock file (created with O_EXCL, so exactly one process
 * wins). A lock left by a process that died (same host, pid gone) is broken; a live holder is waited
 * for, up to `timeoutMs`, then CA_LOCKED.
 */
export async function withLockFile<T>(path: string, work: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let delay = 5;
  for (;;) {
    if (tryAcquire(path)) break;
    breakIfStale(path);
    if (Date.now() > deadline) {
      throw new LmgwError('CA_LOCKED', `the CA is locked by another lmgw-ca command (${describeHolder(path)}); lock file ${path}`);
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await work();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

function tryAcquire(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new LmgwError('CA_IO', `cannot create the lock file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
  } finally {
    closeSync(fd);
  }
  return true;
}

interface Holder {
  pid: number;
  host: string;
}

function readHolder(path: string): Holder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? { pid: parsed.pid, host: parsed.host } : undefined;
  } catch {
    return undefined;
  }
}

function describeHolder(path: string): string {
  const holder = readHolder(path);
  return holder ? `pid ${holder.pid} on ${holder.host}` : 'holder unknown';
}

function breakIfStale(path: string): void {
  const holder = readHolder(path);
  // An unreadable lock is most likely being written right now; leave it alone.
  if (!holder || holder.host !== hostname() || isAlive(holder.pid)) return;
  try {
    unlinkSync(path);
  } catch {
    // Someone else broke it first.
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
