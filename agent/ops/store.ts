/**
 * What command execution must remember across restarts: which command ids were executed (with
 * their results), and per channel its last known state and the timers that protect it.
 */
import type { ResultMessage } from '../../shared/protocol/index.js';
import { transaction, type AgentDb, type AgentStatement as Statement } from '../db.js';

export interface ChannelState {
  channel: number;
  /** Last known relay state; undefined before the first reading. */
  on: boolean | undefined;
  /** When it last changed (ms since the epoch), if known. */
  changedAt: number | undefined;
  /** Shed by this agent and not restored since. */
  shed: boolean;
  shedCommand: string | undefined;
  /** Auto-restore at the end of the commanded duration. */
  restoreAt: number | undefined;
  /** Auto-restore when the profile's maximum off time runs out. */
  maxOffAt: number | undefined;
}

export type StoredCommand = { state: 'started'; receivedAt: number; deadline: number } | { state: 'done'; result: ResultMessage; receivedAt: number; deadline: number };

/** A type, not an interface: node:sqlite takes it as named parameters only with an implicit index signature. */
type ChannelRow = {
  channel: number;
  is_on: number | null;
  changed_at: number | null;
  shed: number;
  shed_command: string | null;
  restore_at: number | null;
  max_off_at: number | null;
};

interface CommandRow {
  state: 'started' | 'done';
  result: string | null;
  received_at: number;
  deadline: number;
}

function fromRow(row: ChannelRow): ChannelState {
  return {
    channel: row.channel,
    on: row.is_on === null ? undefined : row.is_on === 1,
    changedAt: row.changed_at ?? undefined,
    shed: row.shed === 1,
    shedCommand: row.shed_command ?? undefined,
    restoreAt: row.restore_at ?? undefined,
    maxOffAt: row.max_off_at ?? undefined,
  };
}

function toRow(s: ChannelState): ChannelRow {
  return {
    channel: s.channel,
    is_on: s.on === undefined ? null : s.on ? 1 : 0,
    changed_at: s.changedAt ?? null,
    shed: s.shed ? 1 : 0,
    shed_command: s.shedCommand ?? null,
    restore_at: s.restoreAt ?? null,
    max_off_at: s.maxOffAt ?? null,
  };
}

function sameRow(a: ChannelRow, b: ChannelRow): boolean {
  return (
    a.is_on === b.is_on &&
    a.changed_at === b.changed_at &&
    a.shed === b.shed &&
    a.shed_command === b.shed_command &&
    a.restore_at === b.restore_at &&
    a.max_off_at === b.max_off_at
  );
}

/**
 * Statements are prepared once. Every write is its own synchronous (FULL) commit, or one with the
 * command result it belongs to, because each guards something a power cut must not undo: a
 * "started" row is what prevents a second execution, a channel row holds a shed channel's timers.
 * Channel rows are written only when they differ from what this store last wrote or read, so the
 * once-a-second readings of an unchanged load manager cost no commit.
 */
export class OpsStore {
  private readonly db: AgentDb;
  private readonly selectCommand: Statement;
  private readonly insertStarted: Statement;
  private readonly upsertDone: Statement;
  private readonly deleteOld: Statement;
  private readonly selectChannels: Statement;
  private readonly upsertChannel: Statement;
  private readonly finishTx: (id: string, result: string, receivedAt: number, deadline: number, rows: readonly ChannelRow[]) => void;
  private readonly saveTx: (rows: readonly ChannelRow[]) => void;
  /** What the channels table holds, as far as this store knows (what it last read or committed). */
  private readonly persisted = new Map<number, ChannelRow>();

  constructor(db: AgentDb) {
    this.db = db;
    this.selectCommand = db.prepare('SELECT state, result, received_at, deadline FROM commands WHERE id = ?');
    this.insertStarted = db.prepare("INSERT INTO commands (id, state, result, received_at, deadline) VALUES (?, 'started', NULL, ?, ?)");
    this.upsertDone = db.prepare(
      "INSERT INTO commands (id, state, result, received_at, deadline) VALUES (?, 'done', ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = 'done', result = excluded.result",
    );
    this.deleteOld = db.prepare('DELETE FROM commands WHERE received_at < ?');
    this.selectChannels = db.prepare('SELECT * FROM channels');
    this.upsertChannel = db.prepare(
      `INSERT INTO channels (channel, is_on, changed_at, shed, shed_command, restore_at, max_off_at) VALUES (@channel, @is_on, @changed_at, @shed, @shed_command, @restore_at, @max_off_at)
       ON CONFLICT (channel) DO UPDATE SET is_on = excluded.is_on, changed_at = excluded.changed_at, shed = excluded.shed, shed_command = excluded.shed_command,
       restore_at = excluded.restore_at, max_off_at = excluded.max_off_at`,
    );
    const writeChannels = (rows: readonly ChannelRow[]): void => {
      for (const row of rows) this.upsertChannel.run(row);
    };
    this.saveTx = transaction(db, writeChannels);
    this.finishTx = transaction(db, (id: string, result: string, receivedAt: number, deadline: number, rows: readonly ChannelRow[]) => {
      this.upsertDone.run(id, result, receivedAt, deadline);
      writeChannels(rows);
    });
  }

  command(id: string): StoredCommand | undefined {
    const row = this.selectCommand.get(id) as CommandRow | undefined;
    if (!row) return undefined;
    if (row.state === 'done' && row.result !== null) {
      return { state: 'done', result: JSON.parse(row.result) as ResultMessage, receivedAt: row.received_at, deadline: row.deadline };
    }
    return { state: 'started', receivedAt: row.received_at, deadline: row.deadline };
  }

  /** Written (and synced) before the load manager is touched: a crash then cannot lead to a second execution. */
  startCommand(id: string, receivedAt: number, deadline: number): void {
    this.insertStarted.run(id, receivedAt, deadline);
  }

  /**
   * Records the result (inserting the row when the command never reached the LM, e.g. a rejection),
   * and in the same transaction the channel states that changed with it, if `channels` is given.
   */
  finishCommand(id: string, result: ResultMessage, receivedAt: number, deadline: number, channels?: Iterable<ChannelState>): void {
    const rows = channels === undefined ? [] : this.changedRows(channels);
    this.finishTx(id, JSON.stringify(result), receivedAt, deadline, rows);
    this.remember(rows);
  }

  /** Forgets command ids received before `before` (ms) — long after their deadlines. */
  pruneCommands(before: number): number {
    return Number(this.deleteOld.run(before).changes);
  }

  channels(): Map<number, ChannelState> {
    const rows = this.selectChannels.all() as unknown as ChannelRow[];
    this.persisted.clear();
    this.remember(rows);
    return new Map(rows.map((row) => [row.channel, fromRow(row)]));
  }

  /** Writes the states that differ from the stored rows, in one transaction; nothing when none does. */
  saveChannels(states: Iterable<ChannelState>): void {
    const rows = this.changedRows(states);
    if (rows.length === 0) return;
    this.saveTx(rows);
    this.remember(rows);
  }

  private changedRows(states: Iterable<ChannelState>): ChannelRow[] {
    const rows: ChannelRow[] = [];
    for (const state of states) {
      const row = toRow(state);
      const known = this.persisted.get(row.channel);
      if (!known || !sameRow(known, row)) rows.push(row);
    }
    return rows;
  }

  /** Called only after the commit: a failed transaction leaves the rows "changed", so the next save retries them. */
  private remember(rows: readonly ChannelRow[]): void {
    for (const row of rows) this.persisted.set(row.channel, { ...row });
  }
}
