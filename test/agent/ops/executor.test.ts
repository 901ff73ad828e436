/**
 * Command execution against lm-sim with a real driver and a real database: the whitelist, the
 * reason codes, at-most-once by id, the deadline, read-back results, and the local timers.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openAgentDb, type AgentDb } from '../../../agent/db.js';
import { CommandExecutor, type ExecutorOptions } from '../../../agent/ops/executor.js';
import { OpsStore } from '../../../agent/ops/store.js';
import { noFaults } from '../../../agent/sim/faults.js';
import type { CommandMessage, EventMessage, ResultMessage } from '../../../shared/protocol/index.js';
import { tempDir, waitFor } from '../../helpers/processes.js';
import { aDriver, aFastProfile, aSim, type RunningSim } from '../fixtures/lm.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig {
  running: RunningSim;
  executor: CommandExecutor;
  db: AgentDb;
  events: EventMessage[];
  /** Moves the executor's clock (not the simulator's) forward. */
  advance: (ms: number) => void;
  relay: (channel: number) => boolean | undefined;
  dbPath: string;
}

/** Channel 1: minOn 60 s, minOff 30 s, maxOff 3600 s; channel 4 is not sheddable. */
async function rig(options: Partial<ExecutorOptions> = {}, profileOverride: Parameters<typeof aFastProfile>[0] = {}): Promise<Rig> {
  const base = aFastProfile(profileOverride);
  const profile = {
    ...base,
    channels: base.channels.map((c) => (c.id === 1 ? { ...c, minOnSeconds: 60, minOffSeconds: 30, maxOffSeconds: 3_600 } : c)),
  };
  const running = await aSim(profile);
  cleanups.push(running.close);
  const { driver, close } = aDriver(running.profile);
  cleanups.push(close);
  const dir = tempDir();
  cleanups.push(dir.cleanup);
  const dbPath = join(dir.dir, 'agent.sqlite');
  const db = openAgentDb(dbPath);
  cleanups.push(() => {
    db.close();
  });
  let skew = 0;
  const executor = new CommandExecutor({ drivers: [driver], store: new OpsStore(db), now: () => Date.now() + skew, ...options });
  cleanups.push(() => executor.stop());
  const events: EventMessage[] = [];
  executor.events.on('event', (e) => events.push(e));
  executor.start();
  // As the site does at start: learn the relays.
  executor.observe([await driver.read()], executor.generation);
  return {
    running,
    executor,
    db,
    events,
    dbPath,
    advance: (ms) => (skew += ms),
    relay: (channel) => running.sim.model.relays().find((r) => r.channel === channel)?.on,
  };
}

let n = 0;
function shed(selector: { channels: number[] } | { maxPriority: number }, extra: { durationSeconds?: number; deadline?: number; id?: string } = {}): CommandMessage {
  return { kind: 'command', id: extra.id ?? `c${++n}`, op: 'shed', deadline: extra.deadline ?? Date.now() + 3_600_000, selector, ...(extra.durationSeconds ? { durationSeconds: extra.durationSeconds } : {}) };
}
function restore(selector: { channels: number[] } | { all: true }, id = `c${++n}`): CommandMessage {
  return { kind: 'command', id, op: 'restore', deadline: Date.now() + 3_600_000, selector };
}

function expectRejected(result: ResultMessage, code: string): void {
  expect(result.status).toBe('rejected');
  expect(result.status === 'ok' ? undefined : result.code).toBe(code);
  expect(result.relays).toBeUndefined();
}

describe('CommandExecutor', () => {
  it('sheds: writes the relay, reads it back, and answers with every relay and the measured load', async () => {
    const { executor, relay, running } = await rig();
    const before = running.sim.model.totalKw();
    const result = await executor.execute(shed({ channels: [2, 3] }));
    expect(result).toMatchObject({ kind: 'result', status: 'ok' });
    expect(result.commandId).toMatch(/^c\d+$/);
    expect(result.relays).toEqual([
      { channel: 1, on: true },
      { channel: 2, on: false },
      { channel: 3, on: false },
      { channel: 4, on: true },
    ]);
    expect(relay(2)).toBe(false);
    expect(relay(3)).toBe(false);
    expect(result.measuredKw).toBeLessThan(before);
    expect(result.measuredKw).toBeCloseTo(running.sim.model.totalKw(), 0);
  });

  it('sheds by priority: every sheddable channel with priority ≤ N, nothing else', async () => {
    const { executor, relay } = await rig();
    const result = await executor.execute(shed({ maxPriority: 1 }));
    expect(result.status).toBe('ok');
    expect([1, 2, 3, 4].map(relay)).toEqual([false, false, true, true]);
    expect((await executor.execute(shed({ maxPriority: 99 }))).status).toBe('ok');
    expect([1, 2, 3, 4].map(relay)).toEqual([false, false, false, true]);
  });

  it('rejects an unknown channel and a channel that must not be shed, touching nothing', async () => {
    const { executor, running } = await rig();
    const requests = running.sim.stats.requests;
    expectRejected(await executor.execute(shed({ channels: [2, 17] })), 'CMD_UNKNOWN_CHANNEL');
    const notSheddable = await executor.execute(shed({ channels: [2, 4] }));
    expectRejected(notSheddable, 'CMD_NOT_SHEDDABLE');
    expect(notSheddable.message).toMatch(/channel 4 \(Kitchen\) must not be shed/);
    expect(running.sim.stats.requests).toBe(requests);
    expect(running.sim.model.relays().every((r) => r.on)).toBe(true);
  });

  it('enforces the minimum off time on restore and the minimum on time on shed', async () => {
    const { executor, advance, relay } = await rig();
    expect((await executor.execute(shed({ channels: [1] }))).status).toBe('ok');
    advance(10_000);
    const early = await executor.execute(restore({ channels: [1] }));
    expectRejected(early, 'CMD_MIN_OFF_TIME');
    expect(early.message).toMatch(/off for 10 s; its minimum off time is 30 s/);
    expect(relay(1)).toBe(false);
    advance(21_000);
    expect((await executor.execute(restore({ channels: [1] }))).status).toBe('ok');
    expect(relay(1)).toBe(true);
    advance(59_000);
    expectRejected(await executor.execute(shed({ channels: [1] })), 'CMD_MIN_ON_TIME');
    advance(1_000);
    expect((await executor.execute(shed({ channels: [1] }))).status).toBe('ok');
  });

  it('rejects a command whose deadline has passed (on the hub clock) without touching the LM', async () => {
    const { executor, running } = await rig();
    const requests = running.sim.stats.requests;
    expectRejected(await executor.execute(shed({ channels: [2] }, { deadline: Date.now() - 1 })), 'CMD_STALE');
    // The hub clock runs 5 s ahead: a deadline 2 s from now (agent clock) has already passed there.
    expectRejected(await executor.execute(shed({ channels: [2] }, { deadline: Date.now() + 2_000 }), 5_000), 'CMD_STALE');
    expect(running.sim.stats.requests).toBe(requests);
    expect(running.sim.model.relays().every((r) => r.on)).toBe(true);
  });

  it('executes an id once: a repeat gets the stored result and changes nothing, even after a restart', async () => {
    const first = await rig();
    const command = shed({ channels: [2] });
    const result = await first.executor.execute(command);
    expect(result.status).toBe('ok');
    first.running.sim.model.setRelay(2, true); // someone switches it back at the site
    const requests = first.running.sim.stats.requests;
    expect(await first.executor.execute(command)).toEqual(result);
    expect(first.running.sim.stats.requests).toBe(requests);
    expect(first.relay(2)).toBe(true);

    // A new executor on the same database (an agent restart) remembers too.
    first.executor.stop();
    const { driver, close } = aDriver(first.running.profile);
    cleanups.push(close);
    const again = new CommandExecutor({ drivers: [driver], store: new OpsStore(first.db) });
    again.start();
    cleanups.push(() => again.stop());
    expect(await again.execute(command)).toEqual(result);
    expect(first.relay(2)).toBe(true);
  });

  it('a stale command is remembered too: its repeat is rejected the same way', async () => {
    const { executor } = await rig();
    const command = shed({ channels: [2] }, { deadline: Date.now() - 1 });
    const first = await executor.execute(command);
    expect(await executor.execute({ ...command, deadline: Date.now() + 60_000 })).toEqual(first);
  });

  it('never executes twice an id whose execution a crash interrupted', async () => {
    const { executor, db, running } = await rig();
    new OpsStore(db).startCommand('crashed', Date.now() - 1_000, Date.now() + 60_000);
    const requests = running.sim.stats.requests;
    const result = await executor.execute({ ...shed({ channels: [2] }), id: 'crashed' });
    expect(result).toMatchObject({ status: 'failed', code: 'CMD_LM_FAILED', commandId: 'crashed' });
    expect(result.message).toMatch(/restarted while executing/);
    expect(running.sim.stats.requests).toBe(requests);
  });

  it('reports a device failure as CMD_LM_FAILED naming the Modbus code, with what could be read back', async () => {
    const { executor, running } = await rig();
    running.sim.setFaults({ ...noFaults(), exception: 4 });
    const result = await executor.execute(shed({ channels: [2] }));
    expect(result).toMatchObject({ status: 'failed', code: 'CMD_LM_FAILED' });
    expect(result.message).toMatch(/device lm1: MODBUS_EXCEPTION: .*exception 4/);
    expect(result.relays).toBeUndefined();
    running.sim.setFaults(noFaults());
    const read = await executor.execute({ kind: 'command', id: 'read-1', op: 'read', deadline: Date.now() + 60_000 });
    expect(read.status).toBe('ok');
    expect(read.relays).toHaveLength(4);
  });

  it('restores all: every channel the agent shed, and only those', async () => {
    const { executor, relay, running } = await rig();
    await executor.execute(shed({ channels: [2, 3] }));
    running.sim.model.setRelay(1, false); // switched off at the site, not by us
    expect((await executor.execute(restore({ all: true }))).status).toBe('ok');
    expect([1, 2, 3, 4].map(relay)).toEqual([false, true, true, true]);
  });

  it('restores by itself when the commanded duration ends', async () => {
    const { executor, relay, events } = await rig();
    const result = await executor.execute(shed({ channels: [2] }, { durationSeconds: 1 }));
    expect(result.status).toBe('ok');
    expect(relay(2)).toBe(false);
    await waitFor(() => relay(2) === true, 3_000, 'the auto-restore');
    await waitFor(() => events.length > 0, 1_000, 'the event');
    expect(events[0]).toMatchObject({ type: 'auto-restore', severity: 'info' });
    expect(events[0]?.details).toContainEqual({ key: 'reason', value: 'duration' });
    expect(events[0]?.details).toContainEqual({ key: 'channels', value: '2' });
  });

  it('enforces the maximum off time locally, without any command', async () => {
    const channels = aFastProfile().channels.map((c) => (c.id === 2 ? { ...c, maxOffSeconds: 1 } : c));
    const { executor, relay, events } = await rig({}, { channels });
    expect((await executor.execute(shed({ channels: [2] }))).status).toBe('ok');
    expect(relay(2)).toBe(false);
    await waitFor(() => relay(2) === true, 3_000, 'the max-off restore');
    await waitFor(() => events.length > 0, 1_000, 'the event');
    expect(events[0]?.details).toContainEqual({ key: 'reason', value: 'max-off' });
  });

  it('holds shed channels on link loss by default; restores after T with policy "restore"', async () => {
    const hold = await rig();
    await hold.executor.execute(shed({ channels: [2] }));
    hold.executor.setLinkUp(false);
    await new Promise((r) => setTimeout(r, 1_300));
    expect(hold.relay(2)).toBe(false);

    const restoring = await rig({ linkLoss: { mode: 'restore', afterSeconds: 1 } });
    restoring.executor.setLinkUp(true);
    await restoring.executor.execute(shed({ channels: [2] }));
    restoring.executor.setLinkUp(false);
    await new Promise((r) => setTimeout(r, 500));
    expect(restoring.relay(2)).toBe(false);
    await waitFor(() => restoring.relay(2) === true, 2_000, 'the link-loss restore');
    // The event follows the relay's read-back and the commit of the channel's state.
    await waitFor(() => restoring.events.length > 0, 1_000, 'the event');
    expect(restoring.events[0]?.details).toContainEqual({ key: 'reason', value: 'link-loss' });
  });

  it('retries a failed auto-restore and raises an alarm', async () => {
    const { executor, relay, running, events } = await rig({ retryMs: 300 });
    await executor.execute(shed({ channels: [2] }, { durationSeconds: 1 }));
    running.sim.setFaults({ ...noFaults(), exception: 4 });
    await waitFor(() => events.some((e) => e.type === 'auto-restore-failed'), 3_000, 'the alarm');
    expect(events.find((e) => e.type === 'auto-restore-failed')?.severity).toBe('alarm');
    expect(relay(2)).toBe(false);
    running.sim.setFaults(noFaults());
    await waitFor(() => relay(2) === true, 2_000, 'the retried restore');
  });
});
