/**
 * The main side of the hub's channel (HubClient) with a fake port: replies matched by id whatever
 * their order, events fanned out, nothing left hanging when the hub process goes away or goes quiet.
 */
import { describe, expect, it, vi } from 'vitest';
import { HubClient } from '../../../console/main/hub-process.js';
import type { MainToHub } from '../../../console/main/hub-messages.js';

function aClient(timeoutMs?: number): { client: HubClient; sent: MainToHub[] } {
  const sent: MainToHub[] = [];
  const client = new HubClient({ postMessage: (m) => void sent.push(m) }, undefined, timeoutMs);
  return { client, sent };
}

describe('HubClient', () => {
  it('numbers calls and resolves each with the reply of its own id, in any order', async () => {
    const { client, sent } = aClient();
    const info = client.call({ method: 'info', params: {} });
    const fleet = client.call({ method: 'fleet', params: {} });
    expect(sent).toEqual([
      { type: 'call', id: 1, method: 'info', params: {} },
      { type: 'call', id: 2, method: 'fleet', params: {} },
    ]);
    client.receive({ type: 'reply', id: 2, reply: { ok: true, result: 'fleet' } });
    client.receive({ type: 'reply', id: 1, reply: { ok: false, error: { code: 'OP_NOT_FOUND', message: 'x' } } });
    await expect(fleet).resolves.toEqual({ ok: true, result: 'fleet' });
    await expect(info).resolves.toEqual({ ok: false, error: { code: 'OP_NOT_FOUND', message: 'x' } });
  });

  it('drops what is not a hub message, and a reply nobody waits for', () => {
    const { client } = aClient();
    const events: unknown[] = [];
    client.onEvent((e) => events.push(e));
    for (const junk of [null, 'reply', { type: 'reply', id: 1 }, { type: 'reply', id: -1, reply: { ok: true, result: 1 } }, { type: 'nope' }, { type: 'reply', id: 9, reply: { ok: true, result: 1 } }]) {
      expect(() => client.receive(junk)).not.toThrow();
    }
    expect(events).toEqual([]);
  });

  it('fans every event out to every listener until it unsubscribes', () => {
    const { client } = aClient();
    const a: unknown[] = [];
    const b: unknown[] = [];
    const offA = client.onEvent((e) => a.push(e));
    client.onEvent((e) => b.push(e));
    client.receive({ type: 'event', event: { type: 'load', n: 1 } });
    offA();
    client.receive({ type: 'event', event: { type: 'load', n: 2 } });
    expect(a).toEqual([{ type: 'load', n: 1 }]);
    expect(b).toEqual([
      { type: 'load', n: 1 },
      { type: 'load', n: 2 },
    ]);
  });

  it('answers every pending call when the process is gone, and every later call at once', async () => {
    const { client, sent } = aClient();
    const pending = client.call({ method: 'restoreAll', params: {} });
    client.close('exit code 9');
    await expect(pending).resolves.toEqual({ ok: false, error: { code: 'OP_INTERNAL', message: 'the hub stopped before answering (exit code 9)' } });
    await expect(client.call({ method: 'info', params: {} })).resolves.toMatchObject({ ok: false, error: { code: 'OP_INTERNAL', message: expect.stringContaining('not running') } });
    expect(sent).toHaveLength(1);
    expect(client.closed).toBe(true);
  });

  it('answers a call the hub never answers after the timeout', async () => {
    vi.useFakeTimers();
    try {
      const { client } = aClient(1000);
      const call = client.call({ method: 'fleet', params: {} });
      vi.advanceTimersByTime(1001);
      await expect(call).resolves.toMatchObject({ ok: false, error: { code: 'OP_INTERNAL', message: expect.stringContaining('did not answer fleet') } });
      client.receive({ type: 'reply', id: 1, reply: { ok: true, result: 'late' } }); // ignored
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports ready, failed and stopped to lifecycle listeners', () => {
    const { client } = aClient();
    const seen: string[] = [];
    client.onLifecycle((m) => seen.push(m.type));
    client.receive({ type: 'ready', linkUrl: 'wss://127.0.0.1:8443/lmgw/v1', databasePath: '/d/hub.db', timeZone: 'UTC' });
    client.receive({ type: 'failed', error: { code: 'CONFIG_INVALID', message: 'x' } });
    client.receive({ type: 'stopped' });
    expect(seen).toEqual(['ready', 'failed', 'stopped']);
  });
});
