/**
 * The audit log: filters, order and limits as the operator's audit view uses them, and append-only
 * for real — not even raw SQL against the file can change or delete a row.
 */
import { describe, expect, it } from 'vitest';
import type { HubStore } from '../../../../console/hub/store/index.js';
import type { AuditRecord } from '../../../../console/hub/operator/types.js';
import { aStore, rawDb, T0 } from './builders.js';

function fill(store: HubStore): number[] {
  const rows: Array<Omit<AuditRecord, 'id'>> = [
    { time: T0, operator: 'alice', operation: 'command', parameters: { gatewayId: 'gw-1', op: 'shed', channels: [1] }, outcome: 'requested', ref: 'cmd-1' },
    { time: T0 + 1_000, operator: 'alice', operation: 'command', parameters: { gatewayId: 'gw-1', op: 'shed' }, outcome: 'confirmed', ref: 'cmd-1' },
    { time: T0 + 2_000, operator: 'bob', operation: 'set-target', parameters: { targetKw: 900 }, outcome: 'ok' },
    { time: T0 + 3_000, operator: 'bob', operation: 'ack-alarm', parameters: { alarmId: 'al-1' }, outcome: 'ok', ref: 'al-1' },
  ];
  return rows.map((r) => store.appendAudit(r));
}

describe('audit log', () => {
  it('returns what was appended, newest first, with increasing ids; an outcome is a second row with the same ref', () => {
    const store = aStore();
    const ids = fill(store);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(4);
    const all = store.queryAudit({});
    expect(all.map((r) => r.time)).toEqual([T0 + 3_000, T0 + 2_000, T0 + 1_000, T0]);
    expect(all[3]).toEqual({
      id: ids[0],
      time: T0,
      operator: 'alice',
      operation: 'command',
      parameters: { gatewayId: 'gw-1', op: 'shed', channels: [1] },
      outcome: 'requested',
      ref: 'cmd-1',
    });
    expect(all[1]).not.toHaveProperty('ref');
    expect(all.filter((r) => r.ref === 'cmd-1').map((r) => r.outcome)).toEqual(['confirmed', 'requested']);
  });

  it('filters by time range [from, to), operator and operation, alone and together', () => {
    const store = aStore();
    fill(store);
    const times = (rows: AuditRecord[]): number[] => rows.map((r) => r.time - T0);
    expect(times(store.queryAudit({ from: T0 + 1_000, to: T0 + 3_000 }))).toEqual([2_000, 1_000]);
    expect(times(store.queryAudit({ operator: 'alice' }))).toEqual([1_000, 0]);
    expect(times(store.queryAudit({ operation: 'set-target' }))).toEqual([2_000]);
    expect(times(store.queryAudit({ operator: 'bob', operation: 'ack-alarm', from: T0 + 3_000 }))).toEqual([3_000]);
    expect(store.queryAudit({ operator: 'carol' })).toEqual([]);
  });

  it('keeps two rows with the same time in the order they were appended (newest first)', () => {
    const store = aStore();
    const a = store.appendAudit({ time: T0, operator: 'alice', operation: 'command', parameters: {}, outcome: 'requested', ref: 'c' });
    const b = store.appendAudit({ time: T0, operator: 'alice', operation: 'command', parameters: {}, outcome: 'failed', ref: 'c' });
    expect(store.queryAudit({}).map((r) => r.id)).toEqual([b, a]);
  });

  it('returns 200 rows by default, the newest, and never more than 10,000', () => {
    const store = aStore();
    store.transaction(() => {
      for (let i = 0; i < 10_050; i++) store.appendAudit({ time: T0 + i, operator: 'alice', operation: 'command', parameters: { i }, outcome: 'ok' });
    });
    const page = store.queryAudit({});
    expect(page).toHaveLength(200);
    expect(page[0]?.parameters).toEqual({ i: 10_049 });
    expect(store.queryAudit({ limit: 3 }).map((r) => r.parameters.i)).toEqual([10_049, 10_048, 10_047]);
    expect(store.queryAudit({ limit: 1_000_000 })).toHaveLength(10_000);
  });

  it('is append-only: raw UPDATE and DELETE on the file are aborted by the schema, and the row is unchanged', () => {
    const store = aStore();
    const [id] = fill(store);
    const raw = rawDb(store.path);
    expect(() => raw.prepare("UPDATE audit SET outcome = 'confirmed' WHERE id = ?").run(id)).toThrow(/append-only/);
    expect(() => raw.prepare('DELETE FROM audit WHERE id = ?').run(id)).toThrow(/append-only/);
    expect(() => raw.prepare('DELETE FROM audit').run()).toThrow(/append-only/);
    expect(store.queryAudit({}).find((r) => r.id === id)?.outcome).toBe('requested');
    expect(store.queryAudit({})).toHaveLength(4);
  });

  it('offers no method that changes or deletes an audit row', () => {
    const store = aStore();
    const auditMethods = Object.getOwnPropertyNames(Object.getPrototypeOf(store)).filter((name) => /audit/i.test(name));
    expect(auditMethods.sort()).toEqual(['appendAudit', 'auditOutcome', 'queryAudit']);
  });
});
