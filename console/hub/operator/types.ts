/**
 * The operator service: the one typed interface the console's UI (Electron IPC or the browser-mode
 * HTTP API) and a utility's scripts use. Types only, so the renderer may import this file
 * (scripts/check-deps.mjs allows `import type` from console/hub/operator).
 *
 * Times are ms since the Unix epoch; power is kW, energy kWh. Every record is plain JSON data.
 */
import type { ErrorCode } from '../../../shared/errors.js';
import type { PlanSelector, ShedPlan, SkipReason } from '../../../shared/load/shed-plan.js';
import type { ChannelProfile, CommandOp, Health, RelayState } from '../../../shared/protocol/messages.js';

/** Who did it: the OS user in the desktop app, the token's name in browser mode. */
export interface OperatorContext {
  operator: string;
}

// --- live load ---------------------------------------------------------------------------------

/** Load figures of one gateway or of the whole fleet (the sum of its gateways). */
export interface LoadFigures {
  /** Latest measured power; null when nothing is known (never seen, or offline for long). */
  currentKw: number | null;
  /** The current quarter-hour, aligned to the wall clock in the hub's time zone. */
  intervalStart: number;
  intervalEnd: number;
  /** Energy so far / covered time of the current quarter-hour. */
  averageKw: number | null;
  /** Where the quarter-hour's average ends if the current power holds until its end. */
  projectedKw: number | null;
  /** Share of the quarter-hour so far covered by samples, 0..1. */
  coverage: number;
  /** Highest 15-minute average of the billing period (calendar month by default). */
  peakKw: number | null;
  peakIntervalStart: number | null;
  /** The operator's target for this site or for the fleet; null when none is set. */
  targetKw: number | null;
}

export type LoadResolution = '1s' | '1m' | '15m';

export interface LoadHistoryQuery {
  /** Omit for the fleet aggregate. */
  gatewayId?: string;
  from: number;
  to: number;
  resolution: LoadResolution;
}

/** One point of a load curve: the average over [time, time + resolution). */
export interface LoadPoint {
  time: number;
  kw: number;
}

// --- fleet -------------------------------------------------------------------------------------

export type ConnectionState = 'connected' | 'offline';

export interface ChannelView extends ChannelProfile {
  deviceId: string;
  /** Relay state from the latest telemetry or read-back (true = load on); undefined when unknown. */
  on: boolean | undefined;
  /** Measured per-channel power, when the LM reports it. */
  kw?: number;
  /** Set while a shed event holds this channel off. */
  shedEventId?: string;
  /** When the agent will restore it on its own (the event's auto-restore). */
  restoreAt?: number;
}

export interface DeviceView {
  id: string;
  model: string;
  health: Health;
  channels: ChannelView[];
}

export interface GatewaySummary {
  gatewayId: string;
  /** From the hub config, else from hello, else the id. */
  siteName: string;
  labels: string[];
  state: ConnectionState;
  /** When the gateway entered `state`. */
  since: number;
  firstSeen: number;
  agentVersion: string | null;
  certificate: { serial: string; subject: string; notAfter: number } | null;
  remoteAddress: string | null;
  /** Round trip of the latest command or ping answered, ms. */
  rttMs: number | null;
  viaProxy: boolean;
  /** The agent reported a certificate chain not from our CA on its way here. */
  interceptionSuspected: boolean;
  /** The worst health of its load managers; 'offline' when none answers; null before any hello. */
  lmHealth: Health | null;
  channelCount: number;
  shedChannelCount: number;
  ratedKw: number;
  lastTelemetryAt: number | null;
  openAlarmCount: number;
  load: LoadFigures;
}

export interface GatewayDetail extends GatewaySummary {
  devices: DeviceView[];
  recentCommands: CommandRecord[];
  openAlarms: AlarmRecord[];
}

export interface FleetCounts {
  total: number;
  connected: number;
  offline: number;
  /** Gateways with at least one channel held off by the hub. */
  shedding: number;
  /** Gateways with at least one open alarm. */
  alarms: number;
}

export interface FleetSnapshot {
  time: number;
  timeZone: string;
  gateways: GatewaySummary[];
  counts: FleetCounts;
  load: LoadFigures;
}

// --- commands ----------------------------------------------------------------------------------

/**
 * requested (audited, not yet on the wire) → sent → one final state:
 * confirmed (result ok) · rejected (the agent refused: a CMD_ code) · failed (the agent or LM
 * failed, the gateway was offline, or the hub restarted) · expired (the agent got it after its
 * deadline, CMD_STALE) · timed-out (no answer by the deadline) · cancelled (never sent: its operation, a
 * shed event, was cancelled or ended before the command left; OP_EVENT_ENDED).
 */
export type CommandState = 'requested' | 'sent' | 'confirmed' | 'rejected' | 'failed' | 'expired' | 'timed-out' | 'cancelled';
export const FINAL_COMMAND_STATES: readonly CommandState[] = ['confirmed', 'rejected', 'failed', 'expired', 'timed-out', 'cancelled'];

export interface CommandRecord {
  id: string;
  gatewayId: string;
  op: CommandOp;
  /** Channels named (shed/restore by channel). */
  channels?: number[];
  maxPriority?: number;
  /** restore: every channel the agent has shed. */
  all?: boolean;
  durationSeconds?: number;
  /** The shed event this command belongs to. */
  eventId?: string;
  operator: string;
  state: CommandState;
  requestedAt: number;
  sentAt?: number;
  finishedAt?: number;
  deadline: number;
  /** Why it is not confirmed: a CMD_ code from the agent, or OP_GATEWAY_OFFLINE / OP_TIMED_OUT / OP_HUB_RESTARTED / OP_EVENT_ENDED. */
  code?: ErrorCode;
  message?: string;
  /** Relay states the agent read back from the LM after acting. */
  readBack?: RelayState[];
  measuredKw?: number;
}

/** One operator command to one gateway. */
export interface CommandRequest {
  gatewayId: string;
  op: CommandOp;
  /** shed/restore: these channels. restore without channels restores every channel the agent shed. */
  channels?: number[];
  /** shed: auto-restore after this many seconds (1..86400). */
  durationSeconds?: number;
}

/** The same command to every gateway in a scope (a label, a selection, the fleet). */
export interface BulkCommandRequest {
  scope: ShedScope;
  op: CommandOp;
  channels?: number[];
  durationSeconds?: number;
}

export interface BulkCommandResult {
  /** Gateways in the scope (one command each; an offline one fails at once with OP_GATEWAY_OFFLINE). */
  gatewayCount: number;
  counts: StateCounts;
  /** Every command's final record. */
  commands: CommandRecord[];
}

// --- shed events -------------------------------------------------------------------------------

export type ShedScope =
  | { kind: 'gateway'; gatewayId: string }
  | { kind: 'gateways'; gatewayIds: string[] }
  | { kind: 'label'; label: string }
  | { kind: 'fleet' };

export interface ShedRequest {
  scope: ShedScope;
  selector: PlanSelector;
  /** Auto-restore after this many seconds (the agents' timers do it). */
  durationSeconds: number;
  /** Free text for the audit log ("peak event 14:30"). */
  note?: string;
}

/** What a shed request would do now, for the confirmation dialog. Changes nothing. */
export interface ShedPreview {
  plan: ShedPlan;
  loadCount: number;
  gatewayCount: number;
  /** When the loads would be restored if it started now. */
  restoreAt: number;
}

/**
 * active: commands sent, loads held until endsAt · ended: auto-restored at endsAt · cancelled: the
 * operator restored early · failed: nothing could be shed.
 */
export type ShedEventState = 'active' | 'ended' | 'cancelled' | 'failed';

export interface ShedOutcome {
  gatewayId: string;
  channels: number[];
  expectedKw: number;
  commandId: string;
  state: CommandState;
  code?: ErrorCode;
  message?: string;
}

/** Outcome counts by command state (a state with no outcome is absent). */
export type StateCounts = Partial<Record<CommandState, number>>;

/**
 * A shed event without its per-gateway rows: what lists and the event stream carry, so an event over
 * 20,000 gateways costs the stream a few hundred bytes, not megabytes. `shedEvent(id)` has the rows.
 */
export interface ShedEventSummary {
  id: string;
  operator: string;
  createdAt: number;
  scope: ShedScope;
  selector: PlanSelector;
  durationSeconds: number;
  note?: string;
  /** When the agents restore on their own. */
  endsAt: number;
  state: ShedEventState;
  /** Planned kW (sum of the outcomes' expectedKw), the target and what the plan could not reach. */
  plannedKw: number;
  targetKw?: number;
  shortfallKw?: number;
  /** Gateways the event sends a command to (one outcome each). */
  gatewayCount: number;
  /** The outcomes by their command's state. */
  counts: StateCounts;
  /** Confirmed outcomes' expected kW. */
  confirmedKw: number;
  skippedCount: number;
  skippedByReason: Partial<Record<SkipReason, number>>;
  /** Set when cancelled: who, when. */
  cancelledBy?: string;
  cancelledAt?: number;
}

export interface ShedEventRecord extends ShedEventSummary {
  outcomes: ShedOutcome[];
  skipped: Array<{ gatewayId: string; channel?: number; reason: SkipReason; detail: string }>;
}

/** Gateways named in an answer of startShed or cancelShed at most (the rest are counted). */
export const NOT_CONFIRMED_MAX = 100;

/**
 * What startShed and cancelShed answer: the event's summary and the outcomes that did not confirm —
 * the first NOT_CONFIRMED_MAX of them by gateway id; `counts` has them all. Every outcome and skipped
 * load is in shedEvent(id): a fleet-wide event over 20,000 gateways answered with all its outcomes
 * was megabytes for the console to read, where the operator needs the few that went wrong.
 */
export interface ShedEventAnswer extends ShedEventSummary {
  notConfirmed: ShedOutcome[];
}

// --- audit, security, alarms, connections -------------------------------------------------------

export interface AuditRecord {
  id: number;
  time: number;
  operator: string;
  /** e.g. 'command', 'shed-event', 'cancel-event', 'restore-all', 'ack-alarm', 'set-target'. */
  operation: string;
  parameters: Record<string, unknown>;
  /** 'requested', then the final outcome of what it started (a command state, or 'ok'). */
  outcome: string;
  /** The command id or event id it is about. */
  ref?: string;
}

export interface AuditQuery {
  from?: number;
  to?: number;
  operator?: string;
  operation?: string;
  /** Newest first; default 200, at most 10,000. */
  limit?: number;
}

export interface SecurityEventRecord {
  id: number;
  time: number;
  code: ErrorCode;
  remoteAddress: string;
  detail: string;
  gatewayId?: string;
  subject?: string;
  serial?: string;
  issuer?: string;
}

export type AlarmSeverity = 'warning' | 'alarm';

export interface AlarmRecord {
  id: string;
  /** e.g. LINK_CRL_EXPIRING, LINK_INTERCEPTION_SUSPECTED, MODBUS_OFFLINE, or 'GATEWAY_OFFLINE'. */
  code: string;
  severity: AlarmSeverity;
  gatewayId?: string;
  message: string;
  raisedAt: number;
  /** Set when the condition went away (an alarm stays listed until acknowledged). */
  clearedAt?: number;
  acknowledgedBy?: string;
  acknowledgedAt?: number;
}

export interface ConnectionRecord {
  gatewayId: string;
  sessionId: string;
  remoteAddress: string;
  connectedAt: number;
  disconnectedAt?: number;
  /** LINK_ code or 'NORMAL'. */
  reason?: string;
}

// --- certificates -------------------------------------------------------------------------------

export type CertificateStatus = 'valid' | 'revoked' | 'expired';
/** The reasons `lmgw-ca revoke` knows (RFC 5280), the ones an operator picks from. */
export const REVOCATION_REASON_CHOICES = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation'] as const;
export type RevocationReasonChoice = (typeof REVOCATION_REASON_CHOICES)[number];

/** A gateway certificate as the CA database records it. */
export interface CertificateRecord {
  serial: string;
  gatewayId: string;
  subject: string;
  notBefore: number;
  notAfter: number;
  status: CertificateStatus;
  revokedAt?: number;
  reason?: string;
  /** The certificate the gateway presented in its current or last session. */
  inUse: boolean;
}

export interface HubInfo {
  version: string;
  startedAt: number;
  timeZone: string;
  dataDir: string;
  /** Where gateways connect (wss://host:port/lmgw/v1). */
  linkUrl: string;
  /** The console holds the CA (config `ca`), so certificates can be listed and revoked here. */
  caConfigured: boolean;
}

// --- events ------------------------------------------------------------------------------------

/** What changed in a gateway's summary: its id and the changed fields (all of them for a new gateway). */
export type GatewayPatch = Partial<Omit<GatewaySummary, 'load'>> & { gatewayId: string };

/**
 * The event stream carries changes, coalesced (the hub gathers them for EVENT_COALESCE_MS and sends
 * each thing's latest state once), so a fleet-wide shed of N gateways costs it O(N) small patches.
 */
export type OperatorEvent =
  /** Every second, whatever else happens: a stream silent for longer is stale. */
  | { type: 'heartbeat'; time: number }
  /** Gateways whose state, profile, alarms or shed state changed: only the changed fields. */
  | { type: 'gateways'; patches: GatewayPatch[] }
  /**
   * Every second: the fleet aggregate and per-gateway figures. Over the browser-mode stream only the
   * gateways the client watches (`{"watch": [ids]}`, at most MAX_WATCHED_GATEWAYS) are included.
   */
  | { type: 'load'; time: number; fleet: LoadFigures; gateways: Record<string, LoadFigures> }
  /** A single command's change (commands of a shed event or restore-all show in their summary). */
  | { type: 'command'; command: CommandRecord }
  | { type: 'shed-event'; event: ShedEventSummary }
  | { type: 'alarm'; alarm: AlarmRecord }
  | { type: 'security'; event: SecurityEventRecord }
  /** Events were dropped for this subscriber (it read too slowly): fetch the snapshots again. */
  | { type: 'resync'; reason: string };

/** Changes are gathered this long before they go out as one event each. */
export const EVENT_COALESCE_MS = 250;
/** A client may watch the load figures of at most this many gateways (the visible rows). */
export const MAX_WATCHED_GATEWAYS = 500;

// --- the service -------------------------------------------------------------------------------

/**
 * Queries answer from memory or the store at once. Operations write the audit record first, then act;
 * they throw LmgwError with an OP_ code for bad input (OP_BAD_REQUEST, OP_NOT_FOUND, …).
 */
export interface OperatorService {
  info(): HubInfo;
  fleet(): Promise<FleetSnapshot>;
  gateway(gatewayId: string): GatewayDetail;
  loadHistory(query: LoadHistoryQuery): LoadPoint[];
  commands(query: { gatewayId?: string; eventId?: string; limit?: number }): CommandRecord[];
  /** Summaries, newest first (no per-gateway rows). */
  shedEvents(query: { activeOnly?: boolean; limit?: number }): ShedEventSummary[];
  /** One event with its per-gateway outcomes and skipped loads; OP_NOT_FOUND when unknown. */
  shedEvent(eventId: string): ShedEventRecord;
  audit(query: AuditQuery): AuditRecord[];
  securityEvents(query: { since?: number; limit?: number }): SecurityEventRecord[];
  alarms(query: { openOnly?: boolean }): AlarmRecord[];
  connections(query: { gatewayId?: string; limit?: number }): ConnectionRecord[];
  /** Gateway certificates from the CA database; OP_NO_CA when the console has no CA configured. */
  certificates(): CertificateRecord[];

  previewShed(request: ShedRequest): Promise<ShedPreview>;
  /** Resolves when every command of the event has its final state (bounded by the command deadline). */
  startShed(ctx: OperatorContext, request: ShedRequest): Promise<ShedEventAnswer>;
  /** Restores the event's channels now; resolves with the event once the restores have their outcome. */
  cancelShed(ctx: OperatorContext, eventId: string): Promise<ShedEventAnswer>;
  /** Restores every channel the hub shed on every connected gateway and ends every active event. */
  restoreAll(ctx: OperatorContext): Promise<CommandRecord[]>;
  /** Resolves with the command's final record. */
  command(ctx: OperatorContext, request: CommandRequest): Promise<CommandRecord>;
  /** One command to every gateway of the scope; resolves once every one is final. */
  commandMany(ctx: OperatorContext, request: BulkCommandRequest): Promise<BulkCommandResult>;
  acknowledgeAlarm(ctx: OperatorContext, alarmId: string): AlarmRecord;
  /**
   * Revokes a gateway certificate in the CA and writes a fresh CRL; the link applies it at once and
   * closes the gateway's session within seconds. OP_NO_CA without a CA, OP_NOT_FOUND for an unknown
   * serial, CA_ALREADY_REVOKED when it is revoked already.
   */
  revokeCertificate(ctx: OperatorContext, request: { serial: string; reason: RevocationReasonChoice }): Promise<CertificateRecord>;
  /** Omit gatewayId for the fleet target; targetKw null clears it. */
  setTarget(ctx: OperatorContext, target: { gatewayId?: string; targetKw: number | null }): void;

  /**
   * Resolves once everything the operations so far wrote survives a power cut (the store's fsync);
   * the API answers an operation only after it. Rejects with STORE_UNAVAILABLE when that failed.
   */
  durable?(): Promise<void>;

  subscribe(listener: (event: OperatorEvent) => void): () => void;
  /**
   * Which gateways' figures `watcher` wants in the 1 s load event: a set (the visible rows), 'all',
   * or undefined when it stops watching. Without any watcher the load event carries the fleet only.
   */
  watch?(watcher: object, gateways: ReadonlySet<string> | 'all' | undefined): void;
}
