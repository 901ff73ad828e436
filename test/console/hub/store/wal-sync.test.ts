/**
 * The hub database's fsync off the event loop (wal-sync.ts): what is acked, sent or answered waits
 * for an fsync that started after its commit; a failed fsync fails everything after it.
 */
import { fdatasync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { hubHealth } from '../../../../console/hub/health.js';
import type { LinkServer } from '../../../../console/hub/link/server.js';
import { GroupCommit } from '../../../../console/hub/store/group-commit.js';
import { HubStore } from '../../../../console/hub/store/index.js';
import type { FdatasyncFn } from '../../../../console/hub/store/wal-sync.js';
import { LmgwError } from '../../../../shared/errors.js';
import { aDataDir } from './builders.js';

/** An fdatasync the test completes by hand: the real one, or the error it is given. */
function heldSync(): { fn: FdatasyncFn; started: number; finish: (err?: NodeJS.ErrnoException) => void } {
  const queue: Array<{ fd: number; cb: (err: NodeJS.ErrnoException | null) => void }> = [];
  const held = {
    started: 0,
    fn: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void => {
      held.started++;
      queue.push({ fd, cb });
    },
    finish: (err?: NodeJS.ErrnoException): void => {
      const next = queue.shift();
      if (!next) throw new Error('no fsync in flight');
      if (err) next.cb(err);
      else fdatasync(next.fd, next.cb);
    },
  };
  return held;
}

function aStoreWith(fdatasync: FdatasyncFn): HubStore {
  const store = HubStore.open(aDataDir(), { fdatasync });
  onTestFinished(() => store.close());
  return store;
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

describe('WalSync: the WAL fsync on the thread pool', () => {
  it('commits with synchronous=NORMAL and without an fsync: the fsync is durable()\'s', () => {
    const store = aStoreWith(fdatasync);
    // SQLite's own answer on the store's connection (1 = NORMAL, 2 = FULL).
    expect((store as unknown as { db: { pragma(p: string, o: { simple: true }): unknown } }).db.pragma('synchronous', { simple: true })).toBe(1);
    const before = store.walSyncs;
    store.setSetting('k', 'v');
    expect(store.walSyncs).toBe(before);
    store.durableSync();
    expect(store.walSyncs).toBe(before + 1);
  });

  it('resolves a durable() only after an fsync that started after it; calls meanwhile share the next fsync', async () => {
    const sync = heldSync();
    const store = aStoreWith(sync.fn);
    store.setSetting('a', '1');
    const first = store.durable();
    let firstDone = false;
    void first.then(() => (firstDone = true));
    expect(sync.started).toBe(1);
    // Committed while the first fsync runs: that fsync may have missed it.
    store.setSetting('b', '2');
    let secondDone = false;
    let thirdDone = false;
    void store.durable().then(() => (secondDone = true));
    void store.durable().then(() => (thirdDone = true));
    expect(sync.started).toBe(1);
    sync.finish();
    await tick();
    expect(firstDone).toBe(true);
    expect(secondDone).toBe(false);
    expect(sync.started).toBe(2); // one fsync for both later callers
    sync.finish();
    await tick();
    expect([secondDone, thirdDone]).toEqual([true, true]);
  });

  it('a failed fsync rejects its callers and every later one with STORE_UNAVAILABLE naming the file', async () => {
    const sync = heldSync();
    const store = aStoreWith(sync.fn);
    const reported: LmgwError[] = [];
    store.events.on('error', (e) => reported.push(e));
    const health = hubHealth({
      dataDir: dirname(store.path),
      link: { listening: true, crlState: { configured: false } as LinkServer['crlState'] },
      metrics: { contentType: 'text/plain; version=0.0.4; charset=utf-8', text: () => Promise.resolve('') },
      store,
    });
    expect((await health.readiness()).store?.ok).toBe(true);
    const first = store.durable();
    const eio = Object.assign(new Error('i/o error'), { code: 'EIO' }) as NodeJS.ErrnoException;
    sync.finish(eio);
    const err = await first.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(LmgwError);
    expect((err as LmgwError).code).toBe('STORE_UNAVAILABLE');
    expect((err as LmgwError).message).toContain(store.path);
    expect((err as LmgwError).message).toContain('EIO');
    await expect(store.durable()).rejects.toThrow(/syncing the WAL.*EIO/);
    expect(() => store.durableSync()).toThrow(/EIO/);
    expect(sync.started).toBe(1); // nothing more was tried
    // Reported once (lmgw_hub_store_errors_total counts it), and /readyz says why the hub is not ready.
    expect(reported).toEqual([err]);
    const ready = await health.readiness();
    expect(ready.store).toEqual({ ok: false, detail: expect.stringMatching(/syncing the WAL.*EIO.*restart the console/) });
  });

  it('a group commit acks only once its commit is durable, and not at all when the fsync failed', async () => {
    const sync = heldSync();
    const store = aStoreWith(sync.fn);
    const group = new GroupCommit(store, { maxDelayMs: 1, maxItems: 10 });
    const acks: Array<string> = [];
    group.add(
      () => store.setSetting('x', '1'),
      (err) => acks.push(err ? `failed: ${(err as LmgwError).code}` : 'acked'),
    );
    await tick();
    expect(store.getSetting('x')).toBe('1'); // committed…
    expect(acks).toEqual([]); // …but not yet acked
    sync.finish();
    await tick();
    expect(acks).toEqual(['acked']);

    group.add(
      () => store.setSetting('y', '1'),
      (err) => acks.push(err ? `failed: ${(err as LmgwError).code}` : 'acked'),
    );
    await tick();
    sync.finish(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
    await tick();
    expect(acks).toEqual(['acked', 'failed: STORE_UNAVAILABLE']);
  });

  it('syncs commits nobody waited for in the background, and at close', async () => {
    const store = HubStore.open(aDataDir());
    const before = store.walSyncs;
    store.setSetting('unawaited', '1');
    await new Promise((r) => setTimeout(r, 300));
    expect(store.walSyncs).toBeGreaterThan(before);
    const idle = store.walSyncs;
    await new Promise((r) => setTimeout(r, 300));
    expect(store.walSyncs).toBe(idle); // nothing new committed: no fsync
    // A commit a durable() has covered is not synced again in the background.
    store.setSetting('awaited', '1');
    await store.durable();
    const covered = store.walSyncs;
    await new Promise((r) => setTimeout(r, 300));
    expect(store.walSyncs).toBe(covered);
    store.setSetting('at-close', '1');
    store.close();
  });
});
