/**
 * A minimal in-memory OperatorService for the transport tests: it records which method got which
 * context and arguments, answers a canned record, can be told to fail, and emits events on demand.
 * The real service has its own tests; this one only has to be honest about what reached it.
 */
import type { OperatorContext, OperatorEvent, OperatorService } from '../../../../console/hub/operator/types.js';

export interface RecordedCall {
  method: string;
  /** Set for operations. */
  ctx?: OperatorContext;
  args: unknown[];
}

/** What every call answers: enough to see that the answer came from the service unchanged. */
export interface Canned {
  canned: string;
}

export class RecordingService implements OperatorService {
  readonly calls: RecordedCall[] = [];
  readonly listeners = new Set<(event: OperatorEvent) => void>();
  /** Thrown (queries) or rejected with (operations) by every call while set. */
  failWith: Error | undefined = undefined;
  /** durable(): how often it was asked, and what it rejects with while set (the store's failed fsync). */
  durableCalls = 0;
  durableFailsWith: Error | undefined = undefined;

  durable = (): Promise<void> => {
    this.durableCalls++;
    return this.durableFailsWith === undefined ? Promise.resolve() : Promise.reject(this.durableFailsWith);
  };

  emit(event: OperatorEvent): void {
    for (const l of [...this.listeners]) l(event);
  }

  reset(): void {
    this.calls.length = 0;
    this.failWith = undefined;
    this.durableCalls = 0;
    this.durableFailsWith = undefined;
  }

  /** The canned answer, typed as whatever the method returns (the transports never look inside). */
  private query<T>(method: string, args: unknown[]): T {
    this.calls.push({ method, args });
    if (this.failWith !== undefined) throw this.failWith;
    return { canned: method } satisfies Canned as unknown as T;
  }

  private operation<T>(method: string, ctx: OperatorContext, args: unknown[]): Promise<T> {
    this.calls.push({ method, ctx, args });
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return Promise.resolve({ canned: method } satisfies Canned as unknown as T);
  }

  info: OperatorService['info'] = () => this.query('info', []);
  fleet: OperatorService['fleet'] = () => this.query('fleet', []);
  gateway: OperatorService['gateway'] = (id) => this.query('gateway', [id]);
  loadHistory: OperatorService['loadHistory'] = (q) => this.query('loadHistory', [q]);
  commands: OperatorService['commands'] = (q) => this.query('commands', [q]);
  shedEvents: OperatorService['shedEvents'] = (q) => this.query('shedEvents', [q]);
  shedEvent: OperatorService['shedEvent'] = (id) => this.query('shedEvent', [id]);
  audit: OperatorService['audit'] = (q) => this.query('audit', [q]);
  securityEvents: OperatorService['securityEvents'] = (q) => this.query('securityEvents', [q]);
  alarms: OperatorService['alarms'] = (q) => this.query('alarms', [q]);
  connections: OperatorService['connections'] = (q) => this.query('connections', [q]);
  previewShed: OperatorService['previewShed'] = (r) => this.query('previewShed', [r]);
  certificates: OperatorService['certificates'] = () => this.query('certificates', []);
  revokeCertificate: OperatorService['revokeCertificate'] = (ctx, r) => this.operation('revokeCertificate', ctx, [r]);
  startShed: OperatorService['startShed'] = (ctx, r) => this.operation('startShed', ctx, [r]);
  cancelShed: OperatorService['cancelShed'] = (ctx, id) => this.operation('cancelShed', ctx, [id]);
  restoreAll: OperatorService['restoreAll'] = (ctx) => this.operation('restoreAll', ctx, []);
  command: OperatorService['command'] = (ctx, r) => this.operation('command', ctx, [r]);
  commandMany: OperatorService['commandMany'] = (ctx, r) => this.operation('commandMany', ctx, [r]);
  acknowledgeAlarm: OperatorService['acknowledgeAlarm'] = (ctx, id) => {
    this.calls.push({ method: 'acknowledgeAlarm', ctx, args: [id] });
    if (this.failWith !== undefined) throw this.failWith;
    return { canned: 'acknowledgeAlarm' } satisfies Canned as unknown as ReturnType<OperatorService['acknowledgeAlarm']>;
  };
  setTarget: OperatorService['setTarget'] = (ctx, t) => {
    this.calls.push({ method: 'setTarget', ctx, args: [t] });
    if (this.failWith !== undefined) throw this.failWith;
  };

  subscribe: OperatorService['subscribe'] = (listener) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** What each stream watches. */
  readonly watched = new Map<object, ReadonlySet<string> | 'all'>();
  watch: NonNullable<OperatorService['watch']> = (watcher, gateways) => {
    if (gateways === undefined) this.watched.delete(watcher);
    else this.watched.set(watcher, gateways);
  };
}

const SHED = { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 3 }, durationSeconds: 900 };
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

/**
 * One valid call per method, and how it must reach the service: `args` are the arguments after the
 * operator context (which operations get and queries do not).
 */
export const GOOD_CALLS: { method: string; params: unknown; args: unknown[]; operation: boolean }[] = [
  { method: 'info', params: {}, args: [], operation: false },
  { method: 'fleet', params: {}, args: [], operation: false },
  { method: 'gateway', params: { gatewayId: 'gw-1' }, args: ['gw-1'], operation: false },
  {
    method: 'loadHistory',
    params: { gatewayId: 'gw-1', from: T0, to: T0 + HOUR, resolution: '1s' },
    args: [{ gatewayId: 'gw-1', from: T0, to: T0 + HOUR, resolution: '1s' }],
    operation: false,
  },
  { method: 'commands', params: { eventId: 'eAbC_12-x', limit: 50 }, args: [{ eventId: 'eAbC_12-x', limit: 50 }], operation: false },
  { method: 'shedEvents', params: { activeOnly: true }, args: [{ activeOnly: true }], operation: false },
  { method: 'audit', params: { operator: 'anna', operation: 'shed-event', limit: 10_000 }, args: [{ operator: 'anna', operation: 'shed-event', limit: 10_000 }], operation: false },
  { method: 'securityEvents', params: { since: T0 }, args: [{ since: T0 }], operation: false },
  { method: 'alarms', params: { openOnly: false }, args: [{ openOnly: false }], operation: false },
  { method: 'connections', params: { gatewayId: 'gw-1', limit: 1 }, args: [{ gatewayId: 'gw-1', limit: 1 }], operation: false },
  { method: 'previewShed', params: SHED, args: [SHED], operation: false },
  { method: 'startShed', params: { ...SHED, note: 'peak 14:30' }, args: [{ ...SHED, note: 'peak 14:30' }], operation: true },
  { method: 'cancelShed', params: { eventId: 'eAbC' }, args: ['eAbC'], operation: true },
  { method: 'restoreAll', params: {}, args: [], operation: true },
  {
    method: 'command',
    params: { gatewayId: 'gw-1', op: 'shed', channels: [1, 2], durationSeconds: 60 },
    args: [{ gatewayId: 'gw-1', op: 'shed', channels: [1, 2], durationSeconds: 60 }],
    operation: true,
  },
  { method: 'commandMany', params: { scope: { kind: 'label', label: 'north' }, op: 'restore' }, args: [{ scope: { kind: 'label', label: 'north' }, op: 'restore' }], operation: true },
  { method: 'acknowledgeAlarm', params: { alarmId: '0b5c3c1e-8a7f-4c55-9a53-1d2b6f0e9a11' }, args: ['0b5c3c1e-8a7f-4c55-9a53-1d2b6f0e9a11'], operation: true },
  { method: 'setTarget', params: { targetKw: null }, args: [{ targetKw: null }], operation: true },
  { method: 'certificates', params: {}, args: [], operation: false },
  { method: 'revokeCertificate', params: { serial: '4f0a9c', reason: 'keyCompromise' }, args: [{ serial: '4f0a9c', reason: 'keyCompromise' }], operation: true },
];

/** Bad params, per method, and the field the refusal must name (`method: field: …`). */
export const BAD_CALLS: { method: string; params: unknown; field: string }[] = [
  { method: 'info', params: { verbose: true }, field: 'verbose' },
  { method: 'fleet', params: [], field: '' },
  { method: 'gateway', params: {}, field: 'gatewayId' },
  { method: 'gateway', params: { gatewayId: 'GW 1' }, field: 'gatewayId' },
  { method: 'gateway', params: { gatewayId: '../etc' }, field: 'gatewayId' },
  { method: 'gateway', params: { gatewayId: 'g'.repeat(65) }, field: 'gatewayId' },
  { method: 'loadHistory', params: { from: T0, to: T0 + 3 * HOUR, resolution: '1s' }, field: 'to' },
  { method: 'loadHistory', params: { from: T0, to: T0, resolution: '1m' }, field: 'to' },
  { method: 'loadHistory', params: { from: T0, to: T0 + HOUR, resolution: '5m' }, field: 'resolution' },
  { method: 'loadHistory', params: { from: -1, to: T0, resolution: '15m' }, field: 'from' },
  { method: 'loadHistory', params: { from: 1.5, to: T0, resolution: '15m' }, field: 'from' },
  { method: 'commands', params: { limit: 10_001 }, field: 'limit' },
  { method: 'commands', params: { eventId: 'e 1' }, field: 'eventId' },
  { method: 'shedEvents', params: { activeOnly: 'yes' }, field: 'activeOnly' },
  { method: 'shedEvents', params: { limit: 0 }, field: 'limit' },
  { method: 'audit', params: { operator: 'a\nforged log line' }, field: 'operator' },
  { method: 'audit', params: { operation: 'DROP TABLE' }, field: 'operation' },
  { method: 'audit', params: { limit: 1e9 }, field: 'limit' },
  { method: 'securityEvents', params: { since: '2024-01-01' }, field: 'since' },
  { method: 'alarms', params: { openOnly: 1 }, field: 'openOnly' },
  { method: 'connections', params: { gatewayId: 'gw-1', limit: -5 }, field: 'limit' },
  { method: 'previewShed', params: { ...SHED, durationSeconds: 86_401 }, field: 'durationSeconds' },
  { method: 'previewShed', params: { ...SHED, scope: { kind: 'planet' } }, field: 'scope.kind' },
  { method: 'startShed', params: { ...SHED, selector: { kind: 'priority', maxPriority: 100 } }, field: 'selector.maxPriority' },
  { method: 'startShed', params: { ...SHED, selector: { kind: 'channels', channels: [1, 1000] } }, field: 'selector.channels.1' },
  { method: 'startShed', params: { ...SHED, selector: { kind: 'channels', channels: [4, 4] } }, field: 'selector.channels' },
  { method: 'startShed', params: { ...SHED, selector: { kind: 'targetKw', kw: 0 } }, field: 'selector.kw' },
  { method: 'startShed', params: { ...SHED, selector: { kind: 'targetKw', kw: 1e6 + 1 } }, field: 'selector.kw' },
  { method: 'startShed', params: { ...SHED, scope: { kind: 'gateways', gatewayIds: [] } }, field: 'scope.gatewayIds' },
  { method: 'startShed', params: { ...SHED, scope: { kind: 'label', label: 'Not A Label' } }, field: 'scope.label' },
  { method: 'startShed', params: { ...SHED, note: 'x'.repeat(501) }, field: 'note' },
  { method: 'startShed', params: { ...SHED, note: 'evil \u202Egnp.exe' }, field: 'note' },
  { method: 'startShed', params: { ...SHED, durationSeconds: 0 }, field: 'durationSeconds' },
  { method: 'startShed', params: { scope: SHED.scope, selector: SHED.selector }, field: 'durationSeconds' },
  { method: 'cancelShed', params: {}, field: 'eventId' },
  { method: 'cancelShed', params: { eventId: 'e1', force: true }, field: 'force' },
  { method: 'restoreAll', params: { gatewayId: 'gw-1' }, field: 'gatewayId' },
  { method: 'command', params: { gatewayId: 'gw-1', op: 'write', channels: [1] }, field: 'op' },
  { method: 'command', params: { gatewayId: 'gw-1', op: 'shed' }, field: 'channels' },
  { method: 'commandMany', params: { scope: { kind: 'fleet' }, op: 'shed' }, field: 'channels' },
  { method: 'commandMany', params: { scope: { kind: 'planet' }, op: 'read' }, field: 'scope.kind' },
  { method: 'command', params: { gatewayId: 'gw-1', op: 'read', channels: [1] }, field: 'channels' },
  { method: 'command', params: { gatewayId: 'gw-1', op: 'restore', durationSeconds: 5 }, field: 'durationSeconds' },
  { method: 'command', params: { gatewayId: 'gw-1', op: 'shed', channels: Array.from({ length: 65 }, (_, i) => i + 1) }, field: 'channels' },
  { method: 'command', params: { gatewayId: 'gw-1', op: 'shed', channels: [0] }, field: 'channels.0' },
  { method: 'acknowledgeAlarm', params: { alarmId: '' }, field: 'alarmId' },
  { method: 'setTarget', params: {}, field: 'targetKw' },
  { method: 'revokeCertificate', params: { serial: 'xyz', reason: 'keyCompromise' }, field: 'serial' },
  { method: 'revokeCertificate', params: { serial: '4f0a9c', reason: 'because' }, field: 'reason' },
  { method: 'setTarget', params: { targetKw: -3 }, field: 'targetKw' },
  { method: 'setTarget', params: { gatewayId: 'GW', targetKw: 10 }, field: 'gatewayId' },
];
