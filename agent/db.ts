/**
 * The agent's one SQLite database (Node's built-in `node:sqlite`): the telemetry queue, executed
 * command ids with their results, and each channel's state and timers. WAL, so a reader never
 * blocks the writer and a `kill -9` at any instant leaves the last committed transaction intact.
 *
 * synchronous=FULL, not NORMAL: in WAL mode NORMAL survives a process crash but may lose the last
 * commits on a power cut, and the agent then could reuse a telemetry seq the hub has already stored
 * (the hub would drop the new batch as a replay) or execute a command id a second time. The agent
 * commits about once a second, so the fsync per commit costs nothing that matters.
 *
 * Every commit is FULL; what keeps their number down is the stores: statements prepared once, one
 * transaction per command result (with its channel states), channel rows written only when they
 * changed, and telemetry acks applied in the next sample's transaction (agent/telemetry/store.ts).
 * A per-table NORMAL was considered and refused: the commit that could be lost on a power cut is
 * always one of the above (a telemetry seq, a command record, a timer), and none of them may be.
 *
 * node:sqlite, not better-sqlite3 (which the hub keeps): the agent then has no native module of its
 * own to compile, so its package installs offline on an ARM gateway with no compiler
 * (packaging/agent). It needs Node 22.13 or later, where the module needs no flag.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type * as NodeSqlite from 'node:sqlite';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { LmgwError } from '../shared/errors.js';

export type AgentDb = DatabaseSync;
export type AgentStatement = StatementSync;

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
-- One row per command id: 'started' is written before the LM is touched, 'done' with the result.
CREATE TABLE IF NOT EXISTS commands (
  id          TEXT PRIMARY KEY,
  state       TEXT NOT NULL CHECK (state IN ('started', 'done')),
  result      TEXT,
  received_at INTEGER NOT NULL,
  deadline    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_received ON commands (received_at);
-- Last known state of each channel and the timers that protect it.
CREATE TABLE IF NOT EXISTS channels (
  channel      INTEGER PRIMARY KEY,
  is_on        INTEGER,
  changed_at   INTEGER,
  shed         INTEGER NOT NULL DEFAULT 0,
  shed_command TEXT,
  restore_at   INTEGER,
  max_off_at   INTEGER
);
-- Telemetry batches: sealed ones are sent and deleted on ack; at most one is open (still filling).
CREATE TABLE IF NOT EXISTS batches (
  seq        INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL,
  sealed     INTEGER NOT NULL,
  count      INTEGER NOT NULL
);
-- One row per sample (JSON), so a sample is one small append, not a rewrite of its batch.
CREATE TABLE IF NOT EXISTS samples (
  seq    INTEGER NOT NULL,
  idx    INTEGER NOT NULL,
  sample TEXT NOT NULL,
  PRIMARY KEY (seq, idx)
) WITHOUT ROWID;
`;

let sqlite: typeof NodeSqlite | undefined;

/**
 * node:sqlite, loaded on first use without its "experimental" warning: Node 22 prints one on stderr
 * when the module loads (Node 24 does not), and it would land in the output of every agent command
 * and lm-sim. Only that warning is held back, and only while the module loads. On a Node without
 * the module the error says which Node the agent needs.
 */
function loadSqlite(): typeof NodeSqlite {
  if (sqlite) return sqlite;
  const original = Object.getOwnPropertyDescriptor(process, 'emitWarning');
  const emit = process.emitWarning.bind(process);
  process.emitWarning = (warning: string | Error, ...rest: unknown[]): void => {
    if (/SQLite is an experimental feature/.test(typeof warning === 'string' ? warning : warning.message)) return;
    Reflect.apply(emit, process, [warning, ...rest]);
  };
  let loaded: typeof NodeSqlite | undefined;
  try {
    // Undefined on a Node without the module, whatever the types say.
    loaded = process.getBuiltinModule('node:sqlite');
  } finally {
    if (original) Object.defineProperty(process, 'emitWarning', original);
  }
  if (!loaded) throw new Error(`node:sqlite is missing: the agent needs Node.js 22.13 or later (this is ${process.version})`);
  sqlite = loaded;
  return sqlite;
}

/** Opens (creating if needed) the agent database at `path`. */
export function openAgentDb(path: string): AgentDb {
  let db: AgentDb;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    db = new (loadSqlite().DatabaseSync)(path);
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `cannot open the agent database ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string } | undefined;
    if (mode?.journal_mode !== 'wal') throw new Error(`journal_mode WAL refused (${mode?.journal_mode ?? 'no answer'})`);
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA busy_timeout = 5000');
    // The database is small and its hot pages (open batch, recent command ids) few; the OS page
    // cache holds the rest. SQLite's default (2 MiB per connection) is RSS the agent does not need.
    db.exec('PRAGMA cache_size = -512');
    const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    if (version > SCHEMA_VERSION) {
      throw new LmgwError('CONFIG_INVALID', `the agent database ${path} is from a newer agent (schema ${version}); refusing to use it`);
    }
    db.exec(SCHEMA);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  } catch (err) {
    db.close();
    if (err instanceof LmgwError) throw err;
    throw new LmgwError('CONFIG_INVALID', `the agent database ${path} is unusable: ${(err as Error).message}`, { cause: err });
  }
  return db;
}

/**
 * `fn` wrapped in BEGIN … COMMIT, rolled back when it throws (better-sqlite3's `db.transaction`,
 * which node:sqlite lacks). Not reentrant: the agent's transactions do not nest.
 */
export function transaction<A extends unknown[], R>(db: AgentDb, fn: (...args: A) => R): (...args: A) => R {
  return function inTransaction(...args: A): R {
    db.exec('BEGIN');
    try {
      const result = fn(...args);
      db.exec('COMMIT');
      return result;
    } catch (err) {
      // SQLite may already have rolled back (a full disk, an I/O error); then ROLLBACK has nothing to undo.
      try {
        db.exec('ROLLBACK');
      } catch {
        // no transaction was open any more
      }
      throw err;
    }
  };
}

const prepared = new WeakMap<AgentDb, Map<string, AgentStatement>>();

/**
 * The statement for `sql` on `db`, prepared on first use and kept for the life of the connection:
 * the agent runs the same few statements every second, and preparing them each time was a
 * measurable part of its CPU.
 */
export function statement(db: AgentDb, sql: string): AgentStatement {
  let statements = prepared.get(db);
  if (!statements) {
    statements = new Map();
    prepared.set(db, statements);
  }
  let stmt = statements.get(sql);
  if (!stmt) {
    stmt = db.prepare(sql);
    statements.set(sql, stmt);
  }
  return stmt;
}

export function getMeta(db: AgentDb, key: string): string | undefined {
  const row = statement(db, 'SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: AgentDb, key: string, value: string | undefined): void {
  if (value === undefined) statement(db, 'DELETE FROM meta WHERE key = ?').run(key);
  else statement(db, 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}
