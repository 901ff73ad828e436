/**
 * Command dispatch with a real store: every path from requested to a final state, as the operator
 * and the audit log see it. The gateway is a scripted peer (what `send` receives and when it answers);
 * the end-to-end flows with real agents are in ../hub-flows.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandDispatcher } from '../../../../console/hub/fleet/dispatcher.js';
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

  const outcomes = (id: string): string[] => store.queryAudit({}).filter((r) => r.ref === id).map((r) => r.outcome).reverse();

  it('confirms with the read-back and the measured power, audited requested then confirmed', async () => {
    const pending = dispatcher.dispatch(ctx, { gatewayId: 'gw-1', op: 'shed', channels: [2, 3], durationSeconds: 60 });
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
      const id = wire[wire.length - 1]?.message.id ?? '';
      dispatcher.handleResult('gw-1', { kind: 'result', commandId: id, status: c.status, code: c.code, time: Date.now(), message: 'because' });
      expect(await pending).toMatchObject({ state: c.state, code: c.code, message: 'because' });
      expect(outcomes(id)).toEqual(['requested', c.state]);
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
    const id = wire[0]?.message.id ?? '';
    expect(dispatcher.handleResult('gw-9', { kind: 'result', commandId: id, status: 'ok', time: Date.now() })).toBeUndefined();
    expect((await pending).state).toBe('timed-out');
  });

  it('a lost session ends its pending commands as timed-out (outcome unknown), others untouched', async () => {
    online.add('gw-2');
    const a = dispatcher.dispatch(ctx, { gatewayId: 'gw-1', op: 'read' });
    const b = dispatcher.dispatch(ctx, { gatewayId: 'gw-2', op: 'read' });
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
});
