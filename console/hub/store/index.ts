/**
 * The hub's storage: one SQLite database, `hub.db` in the hub's data directory, behind one facade.
 * Each concern lives in its own file (audit.ts, fleet.ts, commands.ts, telemetry.ts, …); this class
 * opens the database (db.ts), prepares every statement once, and turns any SQLite failure into
 * STORE_UNAVAILABLE naming the file and the operation.
 *
 * Calls are synchronous (better-sqlite3): each returns once its transaction is committed — it
 * survives `kill -9` from then on. It survives a power cut once `durable()` resolves (the WAL's fsync
 * runs on the thread pool, wal-sync.ts): ack, send or answer only after that. What nobody waits for
 * is synced within SYNC_EVERY_MS all the same.
 */
import type Database from 'better-sqlite3';
import { LmgwError } from '../../../shared/errors.js';
import type { RelayState, TelemetrySample } from '../../../shared/protocol/messages.js';
import { TypedEvents } from '../../../shared/typed-events.js';
import type {
  AlarmRecord,
  AuditQuery,
  AuditRecord,
  CommandRecord,
  ConnectionRecord,
  LoadHistoryQuery,
  LoadPoint,
  SecurityEventRecord,
  ShedOutcome,
  StateCounts,
} from '../operator/types.js';
import { AlarmTable } from './alarms.js';
import { AuditLog } from './audit.js';
import { CommandTable } from './commands.js';
import { ConnectionLog } from './connections.js';
import { guarded, openHubDb, startCheckpointer, type HubDb } from './db.js';
import { FleetTable, type GatewayRow } from './fleet.js';
import { SecurityEvents } from './security-events.js';
import { Settings } from './settings.js';
import { ShedEventTable, type ShedEventHeader, type ShedSkipped } from './shed-events.js';
import { TelemetryTable } from './telemetry.js';
import { WalSync, type FdatasyncFn } from './wal-sync.js';

export type { GatewayRow } from './fleet.js';
export type { ShedEventHeader, ShedSkipped } from './shed-events.js';
export { countReasons } from './shed-events.js';
export { HUB_DB_FILE } from './db.js';

/** Commits nobody awaited (an alarm, a connection record) are fsynced within this, ms. */
export const SYNC_EVERY_MS = 100;
export { DEFAULT_PEAK_MIN_SAMPLES, PRUNE_BUDGET_ROWS, QUARTER_PRUNE_GATEWAYS, RETENTION_MS, ROLLUP_GRACE_MS } from './telemetry.js';

export type HubStoreEvents = {
  /** A STORE_ error, once, as it is thrown (a nested operation's error is not reported again by its transaction). */
  error: [err: LmgwError];
};

export class HubStore {
  readonly path: string;
  /** The store's failures as they happen (console/hub/metrics.ts counts them); listeners must not throw. */
  readonly events = new TypedEvents<HubStoreEvents>();
  /** Errors already reported, so the transaction that an operation's error passes through does not count it twice. */
  private readonly reported = new WeakSet<LmgwError>();
  private readonly db: HubDb;
  private readonly audit: AuditLog;
  private readonly security: SecurityEvents;
  private readonly connections: ConnectionLog;
  private readonly fleet: FleetTable;
  private readonly commands: CommandTable;
  private readonly shedEvents: ShedEventTable;
  private readonly alarms: AlarmTable;
  private readonly settings: Settings;
  private readonly telemetry: TelemetryTable;
  private checkpointer: { stop(): void } | undefined;
  private readonly wal: WalSync;
  private readonly syncTimer: NodeJS.Timeout;
  private readonly totalChanges: Database.Statement;
  /** total_changes() when an fsync was last asked for (by durable() or the background sync). */
  private syncedChanges = 0;

  private constructor(db: HubDb, path: string, now: () => number, fdatasync: FdatasyncFn | undefined) {
    this.db = db;
    this.path = path;
    // A failed fsync is a store error like any other: counted (lmgw_hub_store_errors_total) and seen by /readyz.
    this.wal = new WalSync(path, fdatasync, (err) => {
      this.reported.add(err);
      this.events.emit('error', err);
    });
    this.totalChanges = db.prepare('SELECT total_changes()').pluck();
    this.audit = new AuditLog(db, path);
    this.security = new SecurityEvents(db, path);
    this.connections = new ConnectionLog(db);
    this.fleet = new FleetTable(db, path);
    this.commands = new CommandTable(db, path);
    this.shedEvents = new ShedEventTable(db, path);
    this.alarms = new AlarmTable(db, path);
    this.settings = new Settings(db);
    this.telemetry = new TelemetryTable(db, path, now);
    this.syncTimer = setInterval(() => this.syncInBackground(), SYNC_EVERY_MS);
    this.syncTimer.unref();
  }

  /**
   * Opens (creating if needed, directory 0700, file 0600) `hub.db` in `dataDir` and migrates it.
   * STORE_NEWER_SCHEMA when a newer LMGW wrote it (it is left untouched); STORE_UNAVAILABLE naming
   * the path and the cause when it cannot be opened. `now` is the clock that closes telemetry's
   * roll-up buckets (tests inject one); `cacheKib` the page cache (default HUB_CACHE_KIB; bench:
   * store-commit compares).
   */
  static open(dataDir: string, o: { now?: () => number; fdatasync?: FdatasyncFn; cacheKib?: number } = {}): HubStore {
    const { db, path } = openHubDb(dataDir, undefined, o.cacheKib);
    try {
      const store = new HubStore(db, path, o.now ?? Date.now, o.fdatasync);
      store.checkpointer = startCheckpointer(db, path);
      return store;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Idempotent. Any later call is a BugError. */
  close(): void {
    clearInterval(this.syncTimer);
    this.checkpointer?.stop();
    this.checkpointer = undefined;
    if (this.db.open) {
      this.wal.close();
      this.db.close();
    }
  }

  /**
   * Resolves once every commit made before the call survives a power cut (one fsync of the WAL on the
   * thread pool, shared by every caller meanwhile); rejects with STORE_UNAVAILABLE when the fsync
   * failed — and then for good.
   */
  durable(): Promise<void> {
    // The fsync this starts covers every change so far: the background sync need not repeat it.
    if (this.db.open) this.syncedChanges = this.totalChanges.get() as number;
    return this.wal.durable();
  }

  /** Why nothing more can be made durable (a failed fsync of the WAL), if so: the hub must be restarted. */
  get syncFailure(): LmgwError | undefined {
    return this.wal.failed;
  }

  /** durable() on this thread, for a caller that cannot wait (a flush at close). */
  durableSync(): void {
    this.wal.durableSync();
  }

  /** fsyncs of the WAL so far. */
  get walSyncs(): number {
    return this.wal.syncs;
  }

  /** Syncs commits that no durable() has covered (an alarm raised, a session recorded). */
  private syncInBackground(): void {
    if (!this.db.open) return;
    const changes = this.totalChanges.get() as number;
    if (changes === this.syncedChanges) return;
    this.syncedChanges = changes;
    // A failure is final, and every ack and answer after it fails with it; nothing more to do here.
    this.wal.durable().catch(() => undefined);
  }

  /**
   * Runs `fn` in one transaction (nested calls become savepoints): everything in it is committed
   * together or not at all — e.g. a command's audit row and its record. BEGIN IMMEDIATE, as every
   * write here: a transaction that starts by reading and then finds another connection writing fails
   * at once with SQLITE_BUSY, without waiting.
   */
  transaction<T>(fn: () => T): T {
    return this.run('running a transaction', () => {
      try {
        return this.db.transaction(fn).immediate();
      } catch (err) {
        // Telemetry stored inside it was rolled back with it: its open roll-ups are rebuilt from the file.
        if (this.db.open && !this.db.inTransaction) this.telemetry.reload();
        throw err;
      }
    });
  }

  // --- audit -------------------------------------------------------------------------------------

  /** Appends one row; returns its id. Rows are never changed: an outcome is a new row with the same ref. */
  appendAudit(r: Omit<AuditRecord, 'id'>): number {
    return this.run('appending to the audit log', () => this.audit.append(r));
  }

  /** The first outcome row's outcome of an operation with this ref (a shed event's 'ok', 'partial', …), or undefined before it has one. */
  auditOutcome(operation: string, ref: string): string | undefined {
    return this.run('reading the audit log', () => this.audit.outcome(operation, ref));
  }

  /** Newest first; from inclusive, to exclusive; limit default 200, at most 10,000. */
  queryAudit(q: AuditQuery): AuditRecord[] {
    return this.run('reading the audit log', () => this.audit.query(q));
  }

  appendSecurityEvent(e: Omit<SecurityEventRecord, 'id'>): number {
    return this.run('appending a security event', () => this.security.append(e));
  }

  /** Newest first; since inclusive; limit default 200, at most 10,000. */
  querySecurityEvents(q: { since?: number; limit?: number }): SecurityEventRecord[] {
    return this.run('reading security events', () => this.security.query(q));
  }

  // --- connection history ------------------------------------------------------------------------

  openConnection(r: { gatewayId: string; sessionId: string; remoteAddress: string; connectedAt: number }): void {
    this.run('recording a connection', () => this.connections.open(r));
  }

  /** Closes the session if it is still open (a second close changes nothing). */
  closeConnection(sessionId: string, disconnectedAt: number, reason: string): void {
    this.run('recording a disconnection', () => this.connections.closeSession(sessionId, disconnectedAt, reason));
  }

  /** At hub start: closes the sessions a crash left open; returns how many. */
  closeDanglingConnections(at: number, reason: string): number {
    return this.run('closing dangling connections', () => this.connections.closeDangling(at, reason));
  }

  /** Newest first; limit default 200, at most 10,000. */
  queryConnections(q: { gatewayId?: string; limit?: number }): ConnectionRecord[] {
    return this.run('reading the connection history', () => this.connections.query(q));
  }

  // --- fleet registry ----------------------------------------------------------------------------

  upsertGateway(row: GatewayRow): void {
    this.run('saving a gateway', () => this.fleet.save(row));
  }

  /** Every gateway ever seen, by id. */
  listGateways(): GatewayRow[] {
    return this.run('reading the fleet', () => this.fleet.list());
  }

  // --- commands ----------------------------------------------------------------------------------

  /** Inserts or replaces the command's record. */
  saveCommand(c: CommandRecord): void {
    this.run('saving a command', () => this.commands.save(c));
  }

  /** Newest first; limit default 200, at most 10,000. */
  queryCommands(q: { gatewayId?: string; eventId?: string; limit?: number }): CommandRecord[] {
    return this.run('reading commands', () => this.commands.query(q));
  }

  /** Commands in state requested or sent, oldest first. */
  unfinishedCommands(): CommandRecord[] {
    return this.run('reading unfinished commands', () => this.commands.unfinished());
  }

  // --- shed events -------------------------------------------------------------------------------

  /** A new event's header and skipped loads (its outcomes follow with saveShedOutcome). */
  createShedEvent(header: ShedEventHeader, skipped: ShedSkipped): void {
    this.run('saving a shed event', () => this.shedEvents.create(header, skipped));
  }

  /** The header again after a change of state. */
  saveShedEventHeader(header: ShedEventHeader): void {
    this.run('saving a shed event', () => this.shedEvents.saveHeader(header));
  }

  /** Inserts or updates the event's outcome for one gateway (one row, whatever the event's size). */
  saveShedOutcome(eventId: string, outcome: ShedOutcome): void {
    this.run('saving a shed outcome', () => this.shedEvents.saveOutcome(eventId, outcome));
  }

  getShedEventHeader(id: string): ShedEventHeader | undefined {
    return this.run('reading a shed event', () => this.shedEvents.getHeader(id));
  }

  /** Newest first; limit default 200, at most 10,000. */
  queryShedEventHeaders(q: { activeOnly?: boolean; limit?: number }): ShedEventHeader[] {
    return this.run('reading shed events', () => this.shedEvents.queryHeaders(q));
  }

  shedOutcomes(eventId: string): ShedOutcome[] {
    return this.run('reading shed outcomes', () => this.shedEvents.outcomes(eventId));
  }

  shedOutcomeCounts(eventId: string): { counts: StateCounts; confirmedKw: number } {
    return this.run('reading shed outcomes', () => this.shedEvents.counts(eventId));
  }

  shedSkipped(eventId: string): ShedSkipped {
    return this.run('reading a shed event', () => this.shedEvents.skipped(eventId));
  }

  // --- alarms ------------------------------------------------------------------------------------

  /** Inserts or replaces the alarm's record. */
  saveAlarm(a: AlarmRecord): void {
    this.run('saving an alarm', () => this.alarms.save(a));
  }

  /** Newest first, at most 10,000; open = not (cleared and acknowledged). */
  queryAlarms(q: { openOnly?: boolean }): AlarmRecord[] {
    return this.run('reading alarms', () => this.alarms.query(q));
  }

  // --- settings ----------------------------------------------------------------------------------

  getSetting(key: string): string | undefined {
    return this.run('reading a setting', () => this.settings.get(key));
  }

  /** undefined removes the setting. */
  setSetting(key: string, value: string | undefined): void {
    this.run('saving a setting', () => this.settings.set(key, value));
  }

  // --- telemetry ---------------------------------------------------------------------------------

  /**
   * Stores every batch in ONE transaction (group the batches that arrive close together: one fsync
   * for all). Per batch: true = stored now, false = this (gateway, seq) was stored before — a replay;
   * ack it all the same. Nothing is stored if the call throws.
   */
  storeTelemetry(batches: ReadonlyArray<{ gatewayId: string; seq: number; samples: readonly TelemetrySample[] }>): boolean[] {
    return this.run('storing telemetry', () => this.telemetry.store(batches));
  }

  /**
   * Writes the telemetry roll-ups of the minutes (and quarter-hours) that have closed, if any; every
   * storeTelemetry() does so too, so this is for a fleet gone quiet (call it every few seconds).
   */
  flushTelemetryRollups(): void {
    this.run('writing telemetry roll-ups', () => this.telemetry.flushClosed());
  }

  /**
   * Load points whose bucket starts in [from, to), ascending. '1s' from the raw samples (48 h);
   * '1m' and '15m' from the roll-ups. The fleet (no gatewayId) is the per-bucket sum of the gateways'
   * averages.
   */
  loadHistory(q: LoadHistoryQuery): LoadPoint[] {
    return this.run('reading load history', () => this.telemetry.history(q));
  }

  /**
   * The highest 15-minute average among the quarter-hours wholly inside [from, to) with at least
   * minSamples samples (default 450; fleet: from at least one gateway); null when there is none.
   */
  peakOf(q: { gatewayId?: string; from: number; to: number; minSamples?: number }): { kw: number; start: number } | null {
    return this.run('reading the peak', () => this.telemetry.peak(q));
  }

  /** The gateway's latest sample still in the raw tier (48 h), or null. */
  lastSample(gatewayId: string): { time: number; kw: number; relays: RelayState[] } | null {
    return this.run('reading the last sample', () => this.telemetry.lastSample(gatewayId));
  }

  /**
   * Deletes raw samples older than 48 h and roll-ups older than 400 days, in small transactions and
   * at most PRUNE_BUDGET_ROWS rows per call, so a call never blocks for long; `done: false` means
   * more is left — call again (soon). Audit, security events and the registry are never pruned.
   */
  prune(now: number): { raw: number; rollups: number; done: boolean } {
    return this.run('pruning telemetry', () => this.telemetry.prune(now));
  }

  private run<T>(doing: string, fn: () => T): T {
    try {
      return guarded(this.db, this.path, doing, fn);
    } catch (err) {
      if (err instanceof LmgwError && err.code.startsWith('STORE_') && !this.reported.has(err)) {
        this.reported.add(err);
        this.events.emit('error', err);
      }
      throw err;
    }
  }
}
