import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { handleMessage, logSite } from '../../agent/daemon.js';
import { noFaults } from '../../agent/sim/faults.js';
import { SiteController } from '../../agent/site.js';
import type { CommandMessage, Message } from '../../shared/protocol/index.js';
import { tempDir, waitFor } from '../helpers/processes.js';
import { aFastProfile, aSim } from './fixtures/lm.js';

// The wiring of `lmgw-agent run` (agent/daemon.ts) that the end-to-end test cannot provoke: a site
// that throws, and the log lines for device health. The whole path runs in run-e2e.test.ts.

function aLog(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk.toString());
      done();
    },
  });
  return {
    logger: pino({ level: 'info' }, stream),
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const shed: CommandMessage = { kind: 'command', id: 'd-1', op: 'shed', deadline: Date.now() + 30_000, selector: { channels: [1] } };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('handleMessage', () => {
  it('a site that throws on a command: logged, and the hub still gets a result (failed, outcome unknown)', async () => {
    const { logger, lines } = aLog();
    const sent: Message[] = [];
    await handleMessage({ handle: () => Promise.reject(new Error('SQLITE_FULL: database or disk is full')) }, shed, (m) => sent.push(m) > 0, logger);
    expect(sent).toEqual([
      expect.objectContaining({ kind: 'result', commandId: 'd-1', status: 'failed', code: 'CMD_LM_FAILED', message: expect.stringMatching(/SQLITE_FULL.*outcome is unknown/) as unknown }),
    ]);
    expect(lines()).toEqual([
      expect.objectContaining({ level: 50, msg: 'handling a message from the console failed', id: 'd-1', op: 'shed' }),
      expect.objectContaining({ level: 40, event: 'command', id: 'd-1', status: 'failed', code: 'CMD_LM_FAILED', sent: true }),
    ]);
  });

  it('a site that throws on anything else: logged, nothing sent; a result the link cannot carry is logged as not sent', async () => {
    const { logger, lines } = aLog();
    const sent: Message[] = [];
    await handleMessage({ handle: () => Promise.reject(new Error('boom')) }, { kind: 'ack', seq: 3 }, (m) => sent.push(m) > 0, logger);
    expect(sent).toEqual([]);
    expect(lines()).toEqual([expect.objectContaining({ level: 50, kind: 'ack' })]);

    await handleMessage({ handle: () => Promise.resolve({ kind: 'result', commandId: 'd-1', status: 'ok', time: Date.now(), relays: [{ channel: 1, on: false }], measuredKw: 2.5 }) }, shed, () => false, logger);
    expect(lines()[1]).toMatchObject({ level: 30, event: 'command', id: 'd-1', status: 'ok', relaysOff: [1], kw: 2.5, sent: false });
  });
});

describe('logSite', () => {
  it('logs each device health change as a structured line at the level of its severity', async () => {
    const lm = await aSim(aFastProfile());
    cleanups.push(() => lm.close());
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const site = await SiteController.open({ devices: [{ id: 'lm1', profile: lm.profile }], dataDir: dir.dir, send: () => false });
    cleanups.push(() => site.stop());
    const { logger, lines } = aLog();
    logSite(site, logger);

    lm.sim.setFaults({ ...noFaults(), silence: true });
    await waitFor(() => lines().some((l) => l.event === 'device-health'), 5_000, 'the offline line');
    expect(lines()[0]).toMatchObject({ level: 50, event: 'device-health', severity: 'alarm', msg: 'load manager health changed', details: { device: 'lm1', from: 'ok', to: 'offline', code: 'MODBUS_TIMEOUT' } });

    lm.sim.setFaults(noFaults());
    await waitFor(() => lines().length >= 2, 5_000, 'the recovery line');
    expect(lines()[1]).toMatchObject({ level: 30, event: 'device-health', severity: 'info', details: { device: 'lm1', from: 'offline', to: 'ok' } });
  });
});
