/**
 * What command execution must remember across restarts: which command ids were executed (with
 * their results), and per channel its last known state and the timers that protect it.
 */
import type { ResultMessage } from '../../shared/protocol/index.js';
import type { AgentDb } from '../db.js';

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

interface ChannelRow {
  channel: number;
  is_on: number | null;
  changed_at: number | null;
  shed: number;
  shed_command: string | null;
  restore_at: number | null;
  max_off_at: number | null;
}

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

export class OpsStore {
  private readonly db: AgentDb;

  constructor(db: AgentDb) {
    this.db = db;
  }

  command(id: string): StoredCommand | undefined {
    const row = this.db.prepare('SELECT state, result, received_at, deadline FROM commands WHERE id = ?').get(id) as CommandRow | undefined;
    if (!row) return undefined;
    if (row.state === 'done' && row.result !== null) {
      return { state: 'done', result: JSON.parse(row.result) as ResultMessage, receivedAt: row.received_at, deadline: row.deadline };
    }
    return { state: 'started', receivedAt: row.received_at, deadline: row.deadline };
  }

  /** Written (and synced) before the load manager is touched: a crash then cannot lead to a second execution. */
  startCommand(id: string, receivedAt: number, deadline: number): void {
    this.db.prepare("INSERT INTO commands (id, state, result, received_at, deadline) VALUES (?, 'started', NULL, ?, ?)").run(id, receivedAt, deadline);
  }

  /** Records the result (inserting the row when the command never reached the LM, e.g. a rejection). */
  finishCommand(id: string, result: ResultMessage, receivedAt: number, deadline: number): void {
    this.db
      .prepare(
        "INSERT INTO commands (id, state, result, received_at, deadline) VALUES (?, 'done', ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = 'done', result = excluded.result",
      )
      .run(id, JSON.stringify(result), receivedAt, deadline);
  }

  /** Forgets command ids received before `before` (ms) — long after their deadlines. */
  pruneCommands(before: number): number {
    return this.db.prepare('DELETE FROM commands WHERE received_at < ?').run(before).changes;
  }

  channels(): Map<number, ChannelState> {
    const rows = this.db.prepare('SELECT * FROM channels').all() as ChannelRow[];
    return new Map(rows.map((row) => [row.channel, fromRow(row)]));
  }

  saveChannels(states: Iterable<ChannelState>): void {
    const upsert = this.db.prepare(
      `INSERT INTO channels (channel, is_on, changed_at, shed, shed_command, restore_at, max_off_at) VALUES (@channel, @is_on, @changed_at, @shed, @shed_command, @restore_at, @max_off_at)
       ON CONFLICT (channel) DO UPDATE SET is_on = excluded.is_on, changed_at = excluded.changed_at, shed = excluded.shed, shed_command = excluded.shed_command,
       restore_at = excluded.restore_at, max_off_at = excluded.max_off_at`,
    );
    const save = this.db.transaction((list: ChannelState[]) => {
      for (const s of list) {
        upsert.run({
          channel: s.channel,
          is_on: s.on === undefined ? null : s.on ? 1 : 0,
          changed_at: s.changedAt ?? null,
          shed: s.shed ? 1 : 0,
          shed_command: s.shedCommand ?? null,
          restore_at: s.restoreAt ?? null,
          max_off_at: s.maxOffAt ?? null,
        });
      }
    });
    save([...states]);
  }
}
