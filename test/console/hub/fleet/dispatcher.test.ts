/**
 * Command dispatch with a real store: every path from requested to a final state, as the operator
 * and the audit log see it. The gateway is a scripted peer (what `send` receives and when it answers);
 * the end-to-end flows with real agents are in ../hub-flows.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandDispatcher, DISPATCH_SLICE, newCommandIds } from '../../../../console/hub/fleet/dispatcher.js';
import type { CommandRecord } from '../../../../console/hub/operator/types.js';
import { HubStore } from '../../../../console/hub/store/index.js';
import type { CommandMessage } from '../../../../shared/protocol/messages.js';
import { tempDir } from '../../../helpers/processes.js';

const ctx = { operator: 'alice' };

describe('CommandDispatcher', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: HubStore;
  let wire: Array<{ gatewayId: string; message: CommandMessage }>;
  let online: Set<string>;
  let changes: CommandRecord[];
  let dispatcher: CommandDispatcher;

  beforeEach(() => {
    tmp = tempDir('lmgw-dispatch-');
    store = HubStore.open(tmp.dir);
    wire = [];
    online = new Set(['gw-1']);
    changes = [];
    dispatcher = new CommandDispatcher({
      store,
      send: (gatewayId, message) => {
        if (!online.has(gatewayId)) return false;
        // The audit row and the record are committed before the frame leaves.
        expect(store.queryAudit({}).some((r) => r.ref === message.id && r.outcome === 'requested')).toBe(true);
        wire.push({ gatewayId, message });
        return true;
      },
      onChange: (c) => changes.push(c),
      deadlineMs: 300,
      graceMs: 100,
    });
  });
  afterEach(() => {
    dispatcher.close();
    store.close();
    tmp.cleanup();
  });

  /** A journaled command leaves once its commit is durable (the store's fsync, off the loop): wait for `n` on the wire. */
  const onWire = async (n: number): Promise<void> => {
    while (wire.length < n) await sleep(1);
  };
  const outcomes = (id: string): string[] => store.queryAudit({}).filter((r) => r.ref === id).map((r) => r.outcome).reverse();

  it('confirms with the read-back and the measured power, audited requested then confirmed', async () => {
    const pending = dispatcher.dispatch(ctx, { gatewayId: 'gw-1', op: 'shed', channels: [2, 3], durationSeconds: 60 });
    await onWire(1);
    const sent = wire[0]?.message;
    expect(sent).toMatchObject({ kind: 'command', op: 'shed', selector: { channels: [2, 3] }, durationSeconds: 60 });
    expect(sent?.deadline).toBeGreaterThan(Date.now());
    dispatcher.handleResult('gw-1', { kind: 'result', commandId: sent?.id ?? '', status: 'ok', time: Date.now(), relays: [{ channel: 2, on: false }, { channel: 3, on: false }], measuredKw: 4.5 });
    const done = await pending;
    expect(done).toMatchObject({ state: 'confirmed', readBack: [{ channel: 2, on: false }, { channel: 3, on: false }], measuredKw: 4.5, operator: 'alice' });
    expect(changes.map((c) => c.state)).toEqual(['requested', 'sent', 'confirmed']);
    expect(outcomes(done.id)).toEqual(['requested', 'confirmed']);
    expect(store.queryCommands({ gatewayId: 'gw-1' })[0]).toEqual(done);
  });

  it('maps the agent\'s answers: rejected with its CMD_ code, CMD_STALE as expired, failed', async () => {
    const cases = [
      { status: 'rejected' as const, code: 'CMD_MIN_ON_TIME' as const, state: 'rejected' },
      { status: 'rejected' as const, code: 'CMD_STALE' as const, state: 'expired' },
      { status: 'failed' as const, code: 'CMD_LM_FAILED' as const, state: 'failed' },
    ];
    for (const c of cases) {
      const pending = dispatcher.dispatch(ctx, { gatewayId: 'gw-1', op: 'shed', channels: [1] });
      await onWire(cases.indexOf(c) + 1);
      const id = wire[wire.length - 1]?.message.id ?? '';
      dispatcher.handleResult('gw-1', { kind: 'result', commandId: id, status: c.status, code: c.code, time: Date.now(), message: 'because' });
      expect(await pending).toMatchObject({ state: c.state, code: c.code, message: 'because' });
      expect(outcomes(id)).toEqual(['requested', c.state]);
    }
  });

  it('sends nothing before the fsync that makes its audit row and record survive a power cut; a failed fsync sends nothing at all', async () => {
    // The fsyncs wait until the test releases them (null) or fails them (an error).
    const held: Array<(err: NodeJS.ErrnoException | null) => void> = [];
    const release = (err: NodeJS.ErrnoException | null): void => {
      for (const cb of held.splice(0)) cb(err);
    };
    const dir = tempDir('lmgw-dispatch-held-');
    const heldStore = HubStore.open(dir.dir, { fdatasync: (_fd, cb) => void held.push(cb) });
    const sentIds: string[] = [];
    const d = new CommandDispatcher({ store: heldStore, send: (_g, m) => (sentIds.push(m.id), true), onChange: () => undefined, deadlineMs: 300, graceMs: 100 });
    try {
      const first = d.dispatchMany(ctx, [{ gatewayId: 'gw-1', op: 'read' }], { bulk: false });
      await sleep(20);
      expect(heldStore.queryCommands({})).toHaveLength(1); // committed…
      expect(sentIds).toEqual([]); // …not yet sent
      release(null);
      await sleep(20);
      expect(sentIds).toHaveLength(1);
      const releasing = setInterval(() => release(null), 5);
      expect((await first)[0]?.state).toBe('timed-out');
      clearInterval(releasing);

      const second = d.dispatchMany(ctx, [{ gatewayId: 'gw-1', op: 'read' }], { bulk: false });
      await sleep(20);
      release(Object.assign(new Error('input/output error'), { code: 'EIO' }));
      await expect(second).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(sentIds).toHaveLength(1);
    } finally {
      d.close();
      heldStore.close();
      dir.cleanup();
    }
  });

  it('a bulk operation told to stop sends nothing more: a journaled slice not yet sent ends cancelled, the slices after it are never journaled', async () => {
    // The fsyncs wait for the test, so the three slices' journal checks come before any send check.
    const held: Array<(err: NodeJS.ErrnoException | null) => void> = [];
    const dir = tempDir('lmgw-dispatch-stop-');
    const heldStore = HubStore.open(dir.dir, { fdatasync: (_fd, cb) => void held.push(cb) });
    const sentIds: string[] = [];
    const d = new CommandDispatcher({ store: heldStore, send: (_g, m) => (sentIds.push(m.id), true), onChange: () => undefined, deadlineMs: 100, graceMs: 50 });
    // stopped() answers: slice 1 and 2 journaled, stop before slice 3; then slice 1 sent, slice 2 stopped.
    const answers = [false, false, true, false, true];
    const stopped = (): boolean => answers.shift() ?? true;
    const releasing = setInterval(() => {
      if (answers.length <= 2) for (const cb of held.splice(0)) cb(null);
    }, 5);
    try {
      const reqs = Array.from({ length: 2 * DISPATCH_SLICE + 50 }, (_, i) => ({ gatewayId: `gw-${i}`, op: 'read' as const }));
      const finals = await d.dispatchMany(ctx, reqs, { bulk: true, stopped });
      expect(answers).toEqual([]);
      expect(finals.map((c) => c.gatewayId)).toEqual(reqs.slice(0, 2 * DISPATCH_SLICE).map((r) => r.gatewayId));
      expect(sentIds).toEqual(finals.slice(0, DISPATCH_SLICE).map((c) => c.id));
      expect(finals.slice(0, DISPATCH_SLICE).every((c) => c.state === 'timed-out')).toBe(true);
      expect(finals.slice(DISPATCH_SLICE).every((c) => c.state === 'cancelled' && c.code === 'OP_EVENT_ENDED' && c.sentAt === undefined)).toBe(true);
      // Stored as the operator will see them: nothing left requested, the cancelled ones audited requested then cancelled.
      const stored = heldStore.queryCommands({ limit: 1000 });
      expect(stored).toHaveLength(2 * DISPATCH_SLICE);
      expect(stored.filter((c) => c.state === 'requested' || c.state === 'sent')).toEqual([]);
      const last = finals[finals.length - 1];
      expect(heldStore.queryAudit({ limit: 1000 }).filter((r) => r.ref === last?.id).map((r) => r.outcome).reverse()).toEqual(['requested', 'cancelled']);
    } finally {
      clearInterval(releasing);
      d.close();
      heldStore.close();
      dir.cleanup();
    }
  });

  it('an offline gateway fails at once with OP_GATEWAY_OFFLINE, and nothing is sent', async () => {
    const done = await dispatcher.dispatch(ctx, { gatewayId: 'gw-2', op: 'read' });
    expect(done).toMatchObject({ state: 'failed', code: 'OP_GATEWAY_OFFLINE' });
    expect(wire).toHaveLength(0);
    expect(outcomes(done.id)).toEqual(['requested', 'failed']);
  });

  it('no answer by the deadline is timed-out; a late answer changes nothing', async () => {
    const done = await dispatcher.dispatch(ctx, { gatewayId: 'gw-1', op: 'restore', all: true });
    expect(done).toMatchObject({ state: 'timed-out', code: 'OP_TIMED_OUT' });
    expect(wire[0]?.message).toMatchObject({ op: 'restore', selector: { all: true } });
    expect(dispatcher.handleResult('gw-1', { kind: 'result', commandId: done.id, status: 'ok', time: Date.now() })).toBeUndefined();
    expect(store.queryCommands({})[0]?.state).toBe('timed-out');
  });

  it('a result from another gateway does not answer the command', async () => {
    const pending = dispatcher.dispatch(ctx, { gatewayId: 'gw-1', op: 'read' });
    await onWire(1);
    const id = wire[0]?.message.id ?? '';
    expect(dispatcher.handleResult('gw-9', { kind: 'result', commandId: id, status: 'ok', time: Date.now() })).toBeUndefined();
    expect((await pending).state).toBe('timed-out');
  });

  it('a lost session ends its pending commands as timed-out (outcome unknown), others untouched', async () => {
    online.add('gw-2');
    const a = dispatcher.dispatch(ctx, { gatewayId: 'gw-1', op: 'read' });
    const b = dispatcher.dispatch(ctx, { gatewayId: 'gw-2', op: 'read' });
    await onWire(2);
    dispatcher.gatewayLost('gw-1');
    expect(await a).toMatchObject({ state: 'timed-out', message: expect.stringMatching(/connection to gw-1 ended/) });
    expect(dispatcher.inFlight).toBe(1);
    dispatcher.handleResult('gw-2', { kind: 'result', commandId: wire[1]?.message.id ?? '', status: 'ok', time: Date.now() });
    expect((await b).state).toBe('confirmed');
  });

  it('after a restart, commands left in flight are failed with OP_HUB_RESTARTED and never sent again', () => {
    void dispatcher.dispatch(ctx, { gatewayId: 'gw-1', op: 'shed', channels: [1] });
    dispatcher.close(); // the hub dies: the record says 'sent'
    expect(store.unfinishedCommands()).toHaveLength(1);
    const next = new CommandDispatcher({ store, send: () => { throw new Error('must not send'); }, onChange: () => undefined });
    const lost = next.recover();
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ state: 'failed', code: 'OP_HUB_RESTARTED' });
    expect(store.unfinishedCommands()).toHaveLength(0);
    expect(outcomes(lost[0]?.id ?? '')).toEqual(['requested', 'failed']);
  });

  it('gives ids in ascending order, unique, within a call and from one call to the next (the id index grows at its end)', () => {
    const first = newCommandIds(1_000, 1_765_000_000_000);
    const next = newCommandIds(1_000, 1_765_000_000_000); // the same millisecond
    const later = newCommandIds(10, 1_765_000_000_001);
    const all = [...first, ...next, ...later];
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual(all);
    for (const id of all) expect(id).toMatch(/^c[0-9a-z]{13}[A-Za-z0-9_-]{8}$/);
  });

  it("stores 'sent' only for a command still unanswered a second after it left; one answered sooner goes from requested to its final state", async () => {
    online.add('gw-2');
    const quick = dispatcher.dispatch(ctx, { gatewayId: 'gw-1', op: 'read' });
    const slow = new CommandDispatcher({ store, send: (gatewayId, message) => (wire.push({ gatewayId, message }), true), onChange: () => undefined, deadlineMs: 5_000, graceMs: 100 });
    try {
      void slow.dispatch(ctx, { gatewayId: 'gw-2', op: 'read' });
      await onWire(2);
      const [q, s2] = [wire[0]?.message.id ?? '', wire[1]?.message.id ?? ''];
      expect(store.queryCommands({ gatewayId: 'gw-2' })[0]?.state).toBe('requested');
      dispatcher.handleResult('gw-1', { kind: 'result', commandId: q, status: 'ok', time: Date.now(), relays: [] });
      await quick;
      await sleep(200); // group commits come within 5 ms: 'sent' would be stored by now
      expect(store.queryCommands({ gatewayId: 'gw-2' })[0]?.state).toBe('requested');
      await sleep(1_100);
      expect(store.queryCommands({ gatewayId: 'gw-2' })[0]).toMatchObject({ id: s2, state: 'sent' });
      expect(store.queryCommands({ gatewayId: 'gw-1' })[0]).toMatchObject({ id: q, state: 'confirmed' });
    } finally {
      slow.close();
    }
  });

  it('announces the commands of a bulk operation from sent on, and times out a whole slice that gets no answer', async () => {
    const n = DISPATCH_SLICE + 5;
    for (let i = 0; i < n; i++) online.add(`b${String(i).padStart(3, '0')}`);
    const reqs = Array.from({ length: n }, (_, i) => ({ gatewayId: `b${String(i).padStart(3, '0')}`, op: 'read' as const }));
    expect(dispatcher.bulkInFlight).toBe(false);
    const finals = dispatcher.dispatchMany(ctx, reqs, { bulk: true });
    // Telemetry yields to it (TelemetryIngest's yieldTo) from the call to its last final state.
    expect(dispatcher.bulkInFlight).toBe(true);
    while (wire.length < n) await sleep(10); // the second slice goes out on a later turn
    // One answer, in the second slice; the others wait out the deadline (300 ms + 100 ms grace).
    const answered = wire.find((w) => w.gatewayId === reqs[n - 1]?.gatewayId)?.message.id ?? '';
    dispatcher.handleResult(reqs[n - 1]?.gatewayId ?? '', { kind: 'result', commandId: answered, status: 'ok', time: Date.now(), relays: [] });
    const done = await finals;
    expect(done.map((c) => c.gatewayId)).toEqual(reqs.map((r) => r.gatewayId));
    expect(done.filter((c) => c.state === 'timed-out')).toHaveLength(n - 1);
    expect(done[n - 1]?.state).toBe('confirmed');
    expect(changes.some((c) => c.state === 'requested')).toBe(false);
    expect(changes.filter((c) => c.state === 'sent')).toHaveLength(n);
    expect(dispatcher.inFlight).toBe(0);
    expect(dispatcher.bulkInFlight).toBe(false);
  });
});

