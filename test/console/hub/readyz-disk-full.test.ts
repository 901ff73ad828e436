/**
 * /readyz while the hub's disk is really full: the real `lm-console --headless` with its data
 * directory on a small tmpfs of its own (mounting needs root, as on CI), which the test fills to
 * ENOSPC and then empties again. A load balancer must see "not ready" naming the store, and
 * "ready" once there is room again — without restarting the hub.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatedFleet } from '../../../agent/sim/fleet.js';
import { aLinkPki } from '../../agent/fixtures/link.js';
import { eventually, startFaultConsole, startSimFleet, type FaultConsole } from '../../fault/fault-stack.js';
import { tempDir } from '../../helpers/processes.js';
import { scrape } from '../../helpers/prometheus.js';

const isRoot = process.getuid?.() === 0;

/** Writes zeros into `file` until the file system says ENOSPC; returns the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return written;
}

interface Readiness {
  status: string;
  failed?: string[];
  checks: Record<string, { ok: boolean; detail: string }>;
}

describe.skipIf(!isRoot)('/readyz with a full disk (needs root to mount a tmpfs)', () => {
  const tmp = tempDir('lmgw-readyz-');
  // Where startFaultConsole puts the hub's data directory.
  const mnt = join(tmp.dir, 'console', 'data');
  let mounted = false;
  let hub: FaultConsole | undefined;
  let fleet: SimulatedFleet | undefined;

  beforeAll(async () => {
    mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', mnt]);
    mounted = true;
    const pki = await aLinkPki(tmp.dir);
    hub = await startFaultConsole(tmp.dir, pki);
    // Telemetry keeps the store writing while the disk is full.
    fleet = await startSimFleet(tmp.dir, hub, 2, 'full-');
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
    await hub?.stop();
    if (mounted) execFileSync('umount', [mnt]);
    tmp.cleanup();
  });

  it('fails while the data directory cannot be written, naming the store, and recovers once there is room', async () => {
    const url = `http://127.0.0.1:${hub?.apiPort}/readyz`;
    const readiness = async (): Promise<{ status: number; body: Readiness }> => {
      const res = await fetch(url);
      return { status: res.status, body: (await res.json()) as Readiness };
    };
    expect(await readiness()).toMatchObject({ status: 200, body: { status: 'ready' } });

    const filler = join(mnt, 'filler');
    expect(fill(filler)).toBeGreaterThan(0);
    const full = await readiness();
    expect(full.status).toBe(503);
    expect(full.body).toMatchObject({ status: 'not ready', failed: ['store'], checks: { link: { ok: true }, crl: { ok: true } } });
    expect(full.body.checks.store?.detail).toMatch(/ENOSPC: the disk is full/);
    // The answer names no path (it is served without a token).
    expect(JSON.stringify(full.body)).not.toContain(mnt);
    // The store's own writes fail too (telemetry from the two gateways), and are counted by SQLite code.
    await eventually(async () => ((await scrape(`http://127.0.0.1:${hub?.apiPort}/metrics`)).value('lmgw_hub_store_errors_total', { code: 'SQLITE_FULL' }) ?? 0) > 0, 15_000, 'a SQLITE_FULL store error to be counted');
    // Nothing else about the hub stops answering.
    expect((await fetch(`http://127.0.0.1:${hub?.apiPort}/healthz`)).status).toBe(200);

    rmSync(filler);
    await eventually(async () => (await readiness()).status === 200, 10_000, '/readyz to recover');
    expect((await readiness()).body).toMatchObject({ status: 'ready', checks: { store: { ok: true } } });
  }, 60_000);
});
