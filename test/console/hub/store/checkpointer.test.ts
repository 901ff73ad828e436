/**
 * The checkpoint worker of the BUILT hub (dist/: the worker is a compiled file; `npm test` builds
 * first): while it runs, the hub's own connection never checkpoints inside a commit on the event
 * loop; once it has stopped, the connection checkpoints by itself again, so the WAL never grows
 * without bound.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type * as DbModule from '../../../../console/hub/store/db.js';
import { aDataDir } from './builders.js';

const DB_MODULE = new URL('../../../../dist/console/hub/store/db.js', import.meta.url);

describe('the checkpoint worker (built hub)', () => {
  it("turns the connection's own checkpoint off while it runs and back on when it stops", async () => {
    expect(existsSync(fileURLToPath(DB_MODULE)), 'run `npm run build` first (npm test does)').toBe(true);
    const { openHubDb, startCheckpointer } = (await import(DB_MODULE.href)) as typeof DbModule;
    const { db, path } = openHubDb(aDataDir());
    onTestFinished(() => {
      db.close();
    });
    const autoCheckpoint = (): number => db.pragma('wal_autocheckpoint', { simple: true }) as number;
    expect(autoCheckpoint()).toBeGreaterThan(0); // without the worker: the connection's own, every ~8 MiB
    const fallback = autoCheckpoint();

    const worker = startCheckpointer(db, path);
    expect(worker).toBeDefined();
    expect(autoCheckpoint()).toBe(0);

    worker?.stop();
    await vi.waitFor(() => expect(autoCheckpoint()).toBe(fallback), { timeout: 5_000 });
  });
});
