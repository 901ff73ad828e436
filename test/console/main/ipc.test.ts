/**
 * The main process's IPC relay without Electron: who is answered (the sender check), what is
 * forwarded (validated calls only, as JSON), and where events go. A fake ipcMain captures the one
 * handler; fake events carry the sender frame the way Electron's IpcMainInvokeEvent does.
 */
import { describe, expect, it } from 'vitest';
import { BRIDGE_CHANNELS, type BridgeReply } from '../../../shared/operator-bridge.js';
import type { OperatorCall } from '../../../console/hub/operator/schemas.js';
import { checkCall, isTrustedSender, MAX_CALL_BYTES, registerBridgeIpc, relayCall, sendEvent, type EventRecipient } from '../../../console/main/ipc.js';

const OURS = new Set([7]);
const APP = 'lmgw://app/index.html';

describe('isTrustedSender', () => {
  it('accepts the main frame of our window on the app origin', () => {
    expect(isTrustedSender(APP, true, OURS, 7)).toBe(true);
    expect(isTrustedSender('lmgw://app/fleet/site-1', true, OURS, 7)).toBe(true);
  });

  it.each([
    ['a subframe of our window', APP, false, 7],
    ['another origin in our window', 'https://evil.example/', true, 7],
    ['a file:// page in our window', 'file:///home/op/evil.html', true, 7],
    ['the browser-mode origin', 'http://127.0.0.1:8480/', true, 7],
    ['another host of our scheme', 'lmgw://evil/index.html', true, 7],
    ['a webContents we did not create', APP, true, 8],
    ['a frame that is gone (no URL)', '', true, 7],
  ])('refuses %s', (_what, url, isMainFrame, id) => {
    expect(isTrustedSender(url, isMainFrame, OURS, id)).toBe(false);
  });
});

/** What Electron hands ipcMain.handle's listener, as far as the relay reads it. */
function anEvent(o: { url?: string; subframe?: boolean; gone?: boolean; id?: number } = {}) {
  const frame = o.gone ? null : { url: o.url ?? APP, parent: o.subframe ? { url: APP } : null };
  return { senderFrame: frame, sender: { id: o.id ?? 7 } };
}

function aRelay() {
  const forwarded: OperatorCall[] = [];
  const warnings: string[] = [];
  let handler: ((event: unknown, payload: unknown) => Promise<BridgeReply>) | undefined;
  let channel: string | undefined;
  const ipcMain = {
    handle: (name: string, listener: (event: never, payload: unknown) => Promise<BridgeReply>) => {
      channel = name;
      handler = listener as (event: unknown, payload: unknown) => Promise<BridgeReply>;
    },
    removeHandler: () => {
      handler = undefined;
    },
  };
  const remove = registerBridgeIpc(ipcMain, {
    knownIds: () => OURS,
    forward: (call) => {
      forwarded.push(call);
      return Promise.resolve({ ok: true, result: { from: 'hub', method: call.method } });
    },
    warn: (m) => warnings.push(m),
  });
  return {
    forwarded,
    warnings,
    channel: () => channel,
    remove,
    invoke: async (event: ReturnType<typeof anEvent>, payload: unknown): Promise<BridgeReply> => {
      if (!handler) throw new Error('no handler registered');
      return handler(event, payload);
    },
  };
}

describe('registerBridgeIpc', () => {
  it('handles exactly the call channel and relays a good call from our window to the hub', async () => {
    const relay = aRelay();
    expect(relay.channel()).toBe(BRIDGE_CHANNELS.call);
    const reply = await relay.invoke(anEvent(), { method: 'info', params: {} });
    expect(reply).toEqual({ ok: true, result: { from: 'hub', method: 'info' } });
    expect(relay.forwarded).toEqual([{ method: 'info', params: {} }]);
  });

  it.each([
    ['a subframe', { subframe: true }],
    ['another origin', { url: 'https://evil.example/' }],
    ['a file:// page', { url: 'file:///tmp/x.html' }],
    ['an unknown webContents', { id: 99 }],
    ['a frame that navigated away or is gone', { gone: true }],
  ])('refuses %s with OP_FORBIDDEN_ORIGIN on every message and forwards nothing', async (_what, sender) => {
    const relay = aRelay();
    for (let i = 0; i < 2; i++) {
      const reply = await relay.invoke(anEvent(sender), { method: 'restoreAll', params: {} });
      expect(reply).toMatchObject({ ok: false, error: { code: 'OP_FORBIDDEN_ORIGIN' } });
    }
    expect(relay.forwarded).toEqual([]);
    expect(relay.warnings).toHaveLength(2);
  });

  it('checks the sender before it reads the payload', async () => {
    const relay = aRelay();
    const reply = await relay.invoke(anEvent({ subframe: true }), { method: 'dropTables' });
    expect(reply).toMatchObject({ ok: false, error: { code: 'OP_FORBIDDEN_ORIGIN' } });
  });

  it('can be removed', async () => {
    const relay = aRelay();
    relay.remove();
    await expect(relay.invoke(anEvent(), { method: 'info' })).rejects.toThrow('no handler');
  });
});

describe('relayCall', () => {
  async function relayed(payload: unknown): Promise<{ reply: BridgeReply; forwarded: OperatorCall[] }> {
    const forwarded: OperatorCall[] = [];
    const reply = await relayCall(payload, (call) => {
      forwarded.push(call);
      return Promise.resolve({ ok: true, result: null });
    });
    return { reply, forwarded };
  }

  it.each([
    ['a method not in OPERATOR_METHODS', { method: 'dropTables', params: {} }, /not an operator method/],
    ['a method of Object.prototype', { method: 'constructor', params: {} }, /not an operator method/],
    ['params out of range', { method: 'startShed', params: { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1000 }, durationSeconds: 60 } }, /selector\.maxPriority/],
    ['an unknown param', { method: 'fleet', params: { all: true } }, /all: is not a known field/],
    ['a missing param', { method: 'gateway', params: {} }, /gatewayId: is required/],
    ['no method', { params: {} }, /method/],
    ['a field beside method and params', { method: 'info', params: {}, operator: 'root' }, /operator/],
    ['not an object', 'info', /object/],
    ['an array', ['info', {}], /object/],
    ['nothing', undefined, /object/],
  ])('refuses %s with OP_BAD_REQUEST before anything is forwarded', async (_what, payload, message) => {
    const { reply, forwarded } = await relayed(payload);
    expect(reply.ok).toBe(false);
    if (reply.ok) return;
    expect(reply.error.code).toBe('OP_BAD_REQUEST');
    expect(reply.error.message).toMatch(message);
    expect(forwarded).toEqual([]);
  });

  it('refuses what is not JSON data (structured clone carries more) and calls larger than the limit', async () => {
    const cyclic: Record<string, unknown> = { method: 'info' };
    cyclic.params = cyclic;
    for (const payload of [cyclic, { method: 'info', params: { n: 1n } }, { method: 'audit', params: { operator: 'x'.repeat(MAX_CALL_BYTES) } }]) {
      const { reply, forwarded } = await relayed(payload);
      expect(reply).toMatchObject({ ok: false, error: { code: 'OP_BAD_REQUEST' } });
      expect(forwarded).toEqual([]);
    }
  });

  it('forwards the validated params as plain JSON (a Date is not a time)', async () => {
    const good = await relayed({ method: 'commands', params: { gatewayId: 'site-1', limit: 5 } });
    expect(good.forwarded).toEqual([{ method: 'commands', params: { gatewayId: 'site-1', limit: 5 } }]);
    const dated = await relayed({ method: 'securityEvents', params: { since: new Date(0) } });
    expect(dated.reply).toMatchObject({ ok: false, error: { code: 'OP_BAD_REQUEST' } });
  });

  it('answers OP_INTERNAL when the hub cannot be reached', async () => {
    const reply = await relayCall({ method: 'info', params: {} }, () => Promise.reject(new Error('port closed')));
    expect(reply).toEqual({ ok: false, error: { code: 'OP_INTERNAL', message: 'the hub could not be reached: port closed' } });
  });

  it('checkCall returns the call typed, with absent params as {}', () => {
    expect(checkCall({ method: 'restoreAll' })).toEqual({ method: 'restoreAll', params: {} });
  });
});

describe('sendEvent', () => {
  function aWindow(url: string, destroyed = false): EventRecipient & { got: unknown[][] } {
    const got: unknown[][] = [];
    return { got, isDestroyed: () => destroyed, getURL: () => url, send: (...args: unknown[]) => void got.push(args) };
  }

  it('sends each event on the event channel to our windows that show the app, and to no other', () => {
    const ours = aWindow(APP);
    const gone = aWindow(APP, true);
    const elsewhere = aWindow('https://evil.example/');
    const event = { type: 'alarm', alarm: { id: 'a1' } };
    expect(sendEvent([ours, gone, elsewhere], event)).toBe(1);
    expect(ours.got).toEqual([[BRIDGE_CHANNELS.event, event]]);
    expect(gone.got).toEqual([]);
    expect(elsewhere.got).toEqual([]);
  });
});
