/** Connection history: sessions from connect to disconnect, and the ones a crashed hub left open. */
import { describe, expect, it } from 'vitest';
import { aStore, T0 } from './builders.js';

describe('connection history', () => {
  it('records a session open, then closed with its reason; a second close does not overwrite the first', () => {
    const store = aStore();
    store.openConnection({ gatewayId: 'gw-1', sessionId: 's-1', remoteAddress: '192.0.2.10', connectedAt: T0 });
    expect(store.queryConnections({})).toEqual([{ gatewayId: 'gw-1', sessionId: 's-1', remoteAddress: '192.0.2.10', connectedAt: T0 }]);
    store.closeConnection('s-1', T0 + 60_000, 'LINK_PONG_TIMEOUT');
    store.closeConnection('s-1', T0 + 90_000, 'NORMAL');
    store.closeConnection('no-such-session', T0, 'NORMAL');
    expect(store.queryConnections({})).toEqual([
      { gatewayId: 'gw-1', sessionId: 's-1', remoteAddress: '192.0.2.10', connectedAt: T0, disconnectedAt: T0 + 60_000, reason: 'LINK_PONG_TIMEOUT' },
    ]);
  });

  it('at hub start, closes exactly the sessions a crash left open', () => {
    const store = aStore();
    store.openConnection({ gatewayId: 'gw-1', sessionId: 's-1', remoteAddress: '192.0.2.10', connectedAt: T0 });
    store.openConnection({ gatewayId: 'gw-2', sessionId: 's-2', remoteAddress: '192.0.2.11', connectedAt: T0 + 1 });
    store.openConnection({ gatewayId: 'gw-3', sessionId: 's-3', remoteAddress: '192.0.2.12', connectedAt: T0 + 2 });
    store.closeConnection('s-2', T0 + 10, 'NORMAL');
    expect(store.closeDanglingConnections(T0 + 100, 'OP_HUB_RESTARTED')).toBe(2);
    expect(store.closeDanglingConnections(T0 + 200, 'OP_HUB_RESTARTED')).toBe(0);
    const bySession = new Map(store.queryConnections({}).map((c) => [c.sessionId, c]));
    expect(bySession.get('s-1')).toMatchObject({ disconnectedAt: T0 + 100, reason: 'OP_HUB_RESTARTED' });
    expect(bySession.get('s-2')).toMatchObject({ disconnectedAt: T0 + 10, reason: 'NORMAL' });
    expect(bySession.get('s-3')).toMatchObject({ disconnectedAt: T0 + 100, reason: 'OP_HUB_RESTARTED' });
  });

  it('lists newest first, per gateway, with a limit', () => {
    const store = aStore();
    for (let i = 0; i < 5; i++) {
      store.openConnection({ gatewayId: i % 2 === 0 ? 'gw-a' : 'gw-b', sessionId: `s-${i}`, remoteAddress: '192.0.2.1', connectedAt: T0 + i * 1_000 });
    }
    expect(store.queryConnections({}).map((c) => c.sessionId)).toEqual(['s-4', 's-3', 's-2', 's-1', 's-0']);
    expect(store.queryConnections({ gatewayId: 'gw-a' }).map((c) => c.sessionId)).toEqual(['s-4', 's-2', 's-0']);
    expect(store.queryConnections({ gatewayId: 'gw-b', limit: 1 }).map((c) => c.sessionId)).toEqual(['s-3']);
    expect(store.queryConnections({ gatewayId: 'gw-none' })).toEqual([]);
  });
});
