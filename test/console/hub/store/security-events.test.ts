/** Security events: every refusal with what the peer showed, newest first, append-only. */
import { describe, expect, it } from 'vitest';
import { aStore, rawDb, T0 } from './builders.js';

describe('security events', () => {
  it('returns what was appended, newest first, optional fields only when set, filtered by since', () => {
    const store = aStore();
    const first = store.appendSecurityEvent({ time: T0, code: 'LINK_NO_CERT', remoteAddress: '198.51.100.7', detail: 'no client certificate' });
    const second = store.appendSecurityEvent({
      time: T0 + 1_000,
      code: 'LINK_CERT_REVOKED',
      remoteAddress: '198.51.100.8',
      detail: 'revoked on 2025-01-01',
      gatewayId: 'gw-9',
      subject: 'CN=gw-9',
      serial: '0f',
      issuer: 'CN=LMGW CA',
    });
    expect(second).toBeGreaterThan(first);
    expect(store.querySecurityEvents({})).toEqual([
      { id: second, time: T0 + 1_000, code: 'LINK_CERT_REVOKED', remoteAddress: '198.51.100.8', detail: 'revoked on 2025-01-01', gatewayId: 'gw-9', subject: 'CN=gw-9', serial: '0f', issuer: 'CN=LMGW CA' },
      { id: first, time: T0, code: 'LINK_NO_CERT', remoteAddress: '198.51.100.7', detail: 'no client certificate' },
    ]);
    expect(store.querySecurityEvents({ since: T0 + 1 }).map((e) => e.id)).toEqual([second]);
    expect(store.querySecurityEvents({ limit: 1 }).map((e) => e.id)).toEqual([second]);
  });

  it('is append-only against raw SQL too', () => {
    const store = aStore();
    const id = store.appendSecurityEvent({ time: T0, code: 'LINK_UNKNOWN_CA', remoteAddress: '198.51.100.7', detail: 'unknown CA' });
    const raw = rawDb(store.path);
    expect(() => raw.prepare("UPDATE security_events SET detail = 'nothing' WHERE id = ?").run(id)).toThrow(/append-only/);
    expect(() => raw.prepare('DELETE FROM security_events').run()).toThrow(/append-only/);
    expect(store.querySecurityEvents({})[0]?.detail).toBe('unknown CA');
  });

  it('reports a row whose code is not an error code as STORE_UNAVAILABLE naming the table and row', () => {
    const store = aStore();
    const raw = rawDb(store.path);
    const id = Number(raw.prepare("INSERT INTO security_events (time, code, remote_address, detail) VALUES (1, 'bogus code', '::1', 'x')").run().lastInsertRowid);
    expect(() => store.querySecurityEvents({})).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining(`table security_events, row ${id}`) }));
  });
});
