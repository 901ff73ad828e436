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
  ShedEventAnswer,
  ShedEventRecord,
  ShedEventSummary,
  ShedPreview,
  ShedRequest,
} from '../../hub/operator/types.js';
import type { MAX_WATCHED_GATEWAYS as HubMaxWatched } from '../../hub/operator/types.js';
import type { OperatorMethod, OperatorParams, OperatorResult } from './methods.js';
import { toOperatorError } from './operator-error.js';
import type { StreamState, Transport } from './carrier.js';

const EVENT_TYPES: ReadonlySet<OperatorEvent['type']> = new Set<OperatorEvent['type']>(['heartbeat', 'gateways', 'load', 'command', 'shed-event', 'alarm', 'security', 'resync']);

/** The hub's limit; the renderer imports only types from the hub, so the literal type keeps the copy honest. */
export const MAX_WATCHED_GATEWAYS: typeof HubMaxWatched = 500;

/** Watch changes of the views (scrolling the fleet table) reach the hub at most this often. */
const WATCH_SEND_MS = 150;

function isOperatorEvent(value: unknown): value is OperatorEvent {
  return typeof value === 'object' && value !== null && EVENT_TYPES.has(String((value as { type?: unknown }).type) as OperatorEvent['type']);
}

export class OperatorClient {
  readonly #transport: Transport;
  readonly #listeners = new Set<(event: OperatorEvent) => void>();
  readonly #stateListeners = new Set<(state: StreamState) => void>();
  #state: StreamState = 'connecting';
  #stop: (() => void) | undefined;
  /** Who watches which gateways' load figures (the fleet table's visible rows, the open gateway). */
  readonly #watches = new Map<string, readonly string[]>();
  #watchTimer: ReturnType<typeof setTimeout> | undefined;
  #sentWatch = '';

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
  /** Summaries (counts, no per-gateway rows), newest first. */
  shedEvents(query: { activeOnly?: boolean; limit?: number }): Promise<ShedEventSummary[]> {
    return this.call('shedEvents', query);
  }
  /** One event with its outcome rows and skipped loads. */
  shedEvent(eventId: string): Promise<ShedEventRecord> {
    return this.call('shedEvent', { eventId });
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
  startShed(request: ShedRequest): Promise<ShedEventAnswer> {
    return this.call('startShed', request);
  }
  cancelShed(eventId: string): Promise<ShedEventAnswer> {
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

  /**
   * Which gateways' per-second figures `owner` shows (replacing what it watched before; [] to stop).
   * The union of every owner's list, at most MAX_WATCHED_GATEWAYS, goes to the hub shortly after a
   * change — not once per scroll event.
   */
  watch(owner: string, gatewayIds: readonly string[]): void {
    if (gatewayIds.length === 0) this.#watches.delete(owner);
    else this.#watches.set(owner, gatewayIds);
    if (this.#transport.watch === undefined || this.#watchTimer !== undefined) return;
    this.#watchTimer = setTimeout(() => {
      this.#watchTimer = undefined;
      this.#sendWatch();
    }, WATCH_SEND_MS);
  }

  /** The gateways watched now (what the hub is asked for). */
  get watched(): readonly string[] {
    const all = new Set<string>();
    // Single-gateway owners first (the open gateway view), so a long table cannot crowd them out.
    const owners = [...this.#watches.values()].sort((a, b) => a.length - b.length);
    for (const ids of owners) for (const id of ids) if (all.size < MAX_WATCHED_GATEWAYS) all.add(id);
    return [...all];
  }

  #sendWatch(): void {
    const ids = this.watched;
    const key = ids.join('\n');
    if (key === this.#sentWatch) return;
    this.#sentWatch = key;
    this.#transport.watch?.(ids);
  }

  close(): void {
    clearTimeout(this.#watchTimer);
    this.#watchTimer = undefined;
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
