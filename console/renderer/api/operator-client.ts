/**
 * The UI's one way to the hub: a typed method per OperatorService method, a generic `call`, and the
 * event stream. Works the same over the desktop bridge and the browser-mode API (transport.ts).
 * Every failure rejects with an OperatorError (code + message) for the UI to show.
 */
import type {
  AlarmRecord,
  AuditQuery,
  AuditRecord,
  CertificateRecord,
  CommandRecord,
  CommandRequest,
  ConnectionRecord,
  FleetSnapshot,
  GatewayDetail,
  HubInfo,
  LoadHistoryQuery,
  LoadPoint,
  OperatorEvent,
  RevocationReasonChoice,
  SecurityEventRecord,
  ShedEventRecord,
  ShedPreview,
  ShedRequest,
} from '../../hub/operator/types.js';
import type { OperatorMethod, OperatorParams, OperatorResult } from './methods.js';
import { toOperatorError } from './operator-error.js';
import type { StreamState, Transport } from './carrier.js';

const EVENT_TYPES: ReadonlySet<string> = new Set(['gateway', 'load', 'command', 'shed-event', 'alarm', 'security']);

function isOperatorEvent(value: unknown): value is OperatorEvent {
  return typeof value === 'object' && value !== null && EVENT_TYPES.has(String((value as { type?: unknown }).type));
}

export class OperatorClient {
  readonly #transport: Transport;
  readonly #listeners = new Set<(event: OperatorEvent) => void>();
  readonly #stateListeners = new Set<(state: StreamState) => void>();
  #state: StreamState = 'connecting';
  #stop: (() => void) | undefined;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  get transportKind(): Transport['kind'] {
    return this.#transport.kind;
  }

  get streamState(): StreamState {
    return this.#state;
  }

  /** One call, typed from OperatorService. Rejects with an OperatorError. */
  async call<M extends OperatorMethod>(method: M, params: OperatorParams<M>): Promise<OperatorResult<M>> {
    try {
      return (await this.#transport.call(method, params)) as OperatorResult<M>;
    } catch (err) {
      throw toOperatorError(err);
    }
  }

  // --- queries ---------------------------------------------------------------------------------
  info(): Promise<HubInfo> {
    return this.call('info', {});
  }
  fleet(): Promise<FleetSnapshot> {
    return this.call('fleet', {});
  }
  gateway(gatewayId: string): Promise<GatewayDetail> {
    return this.call('gateway', { gatewayId });
  }
  loadHistory(query: LoadHistoryQuery): Promise<LoadPoint[]> {
    return this.call('loadHistory', query);
  }
  commands(query: { gatewayId?: string; eventId?: string; limit?: number }): Promise<CommandRecord[]> {
    return this.call('commands', query);
  }
  shedEvents(query: { activeOnly?: boolean; limit?: number }): Promise<ShedEventRecord[]> {
    return this.call('shedEvents', query);
  }
  audit(query: AuditQuery): Promise<AuditRecord[]> {
    return this.call('audit', query);
  }
  securityEvents(query: { since?: number; limit?: number }): Promise<SecurityEventRecord[]> {
    return this.call('securityEvents', query);
  }
  alarms(query: { openOnly?: boolean }): Promise<AlarmRecord[]> {
    return this.call('alarms', query);
  }
  connections(query: { gatewayId?: string; limit?: number }): Promise<ConnectionRecord[]> {
    return this.call('connections', query);
  }
  certificates(): Promise<CertificateRecord[]> {
    return this.call('certificates', {});
  }
  previewShed(request: ShedRequest): Promise<ShedPreview> {
    return this.call('previewShed', request);
  }

  // --- operations ------------------------------------------------------------------------------
  startShed(request: ShedRequest): Promise<ShedEventRecord> {
    return this.call('startShed', request);
  }
  cancelShed(eventId: string): Promise<ShedEventRecord> {
    return this.call('cancelShed', { eventId });
  }
  restoreAll(): Promise<CommandRecord[]> {
    return this.call('restoreAll', {});
  }
  command(request: CommandRequest): Promise<CommandRecord> {
    return this.call('command', request);
  }
  acknowledgeAlarm(alarmId: string): Promise<AlarmRecord> {
    return this.call('acknowledgeAlarm', { alarmId });
  }
  revokeCertificate(serial: string, reason: RevocationReasonChoice): Promise<CertificateRecord> {
    return this.call('revokeCertificate', { serial, reason });
  }
  async setTarget(target: { gatewayId?: string; targetKw: number | null }): Promise<void> {
    await this.call('setTarget', target);
  }

  // --- events ----------------------------------------------------------------------------------

  /** Every OperatorEvent; the stream starts with the first subscriber. Returns the unsubscribe. */
  subscribe(listener: (event: OperatorEvent) => void): () => void {
    this.#listeners.add(listener);
    this.#ensureStarted();
    return () => this.#listeners.delete(listener);
  }

  /** The stream's state changes ('open' after a reconnect means: refetch). */
  onStreamState(listener: (state: StreamState) => void): () => void {
    this.#stateListeners.add(listener);
    this.#ensureStarted();
    return () => this.#stateListeners.delete(listener);
  }

  close(): void {
    this.#stop?.();
    this.#stop = undefined;
  }

  #ensureStarted(): void {
    if (this.#stop !== undefined) return;
    this.#stop = this.#transport.start(
      (event) => {
        if (!isOperatorEvent(event)) return;
        for (const l of [...this.#listeners]) l(event);
      },
      (state) => {
        this.#state = state;
        for (const l of [...this.#stateListeners]) l(state);
      },
    );
  }
}
