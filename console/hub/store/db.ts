/**
 * Opening the hub's one SQLite database (better-sqlite3): the data directory (created 0700), the
 * file (created 0600), the pragmas and the migrations. Every failure is a STORE_ error that names
 * the file and the cause; a database from a newer LMGW is refused before anything is written to it.
 *
 * WAL, so readers never block the writer and a `kill -9` at any instant leaves the last committed
 * transaction intact. synchronous=NORMAL: a commit is not fsynced on the event loop; a power cut may
 * take the last commits until WalSync (wal-sync.ts) has fsynced the WAL on the thread pool, and the
 * hub acks telemetry, sends a journaled command and answers an operation only after that — an acked
 * batch or an audited command survives a power cut as it did with synchronous=FULL.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BugError, LmgwError } from '../../../shared/errors.js';
import { MIGRATIONS } from './migrations.js';

export type HubDb = Database.Database;

export const HUB_DB_FILE = 'hub.db';

/** How long a statement waits for a lock held by another connection before failing, ms. */
const BUSY_TIMEOUT_MS = 5_000;
/**
 * Page cache, KiB (8 MiB: 8,192 pages of 1 KiB). Not more, because with SQLite (3.51) every commit
 * whose B-tree rebalanced pages walks the cache's whole hash table, a cost that grows with the pages
 * cached and is paid even when nothing is dropped: balance_nonroot() renumbers pages through a
 * temporary page number far beyond the database's end (PENDING_BYTE / page size + 1, 1,048,577
 * here), so at commit the cache holds a key past the end and pcache1Truncate() scans every slot of
 * its hash table (65,536 slots once a 64 MiB cache, as this was before, has filled; 8,192 now). At
 * 64 MiB that scan was a tenth of the hub's main thread in a 19,900-gateway fleet shed (perf: 4.5 %
 * of both cores), and with a full cache 32.7 µs of store time per command against 27.0 with 8 MiB
 * (≈ 0.3 ms more a commit; 67.6 against 34.9 µs on a slower run: `node dist/bench/store-commit.js`,
 * docs/benchmarks.md). What the hub rereads is the B-trees' right edges and its newest pages:
 * telemetry appends in arrival order, and its cost per sample, and the quarter-hour roll-up's
 * longest write at 20,000 gateways, were the same with 8 MiB in that benchmark.
 */
export const HUB_CACHE_KIB = 8_192;
/**
 * Pages of 1 KiB, not SQLite's 4 KiB, for a new database: a commit writes every page it changed, whole,
 * to the WAL, and a telemetry group commit (50 ms of 2,000 gateways: ~6 KB of samples) changes the
 * last leaves, their parent and the header page. With 4 KiB pages that was ~28 KB per commit, 7× the
 * bytes stored; with 1 KiB ~13 KB (issue 13: disk writes within 4× of the database's growth). Rows
 * here are small; the few larger JSON records (a hello, up to 64 KiB) take overflow pages.
 */
const PAGE_SIZE_BYTES = 1024;
/**
 * The hub's own connection never checkpoints while the checkpoint worker (checkpointer.ts) runs: the
 * worker checkpoints every 5 s, so none holds the event loop. (A fleet-wide operation over 19,900
 * gateways makes the hub write 80–90 MB — WAL and checkpoints, /proc write_bytes — in 3–6 s: the WAL
 * then passed the 64 MiB backstop this connection had between two of the worker's checkpoints, and
 * the connection's checkpoint — an fsync of the WAL, the pages copied, an fsync of the database —
 * ran inside a commit on the event loop (seen in strace of the hub's main thread during a
 * cancelShed). Checkpointing more often instead would write the hot pages more often in steady
 * state.) Should the worker stop or fail a checkpoint, the connection checkpoints by itself again, every ~8 MiB — as it
 * does without the worker (running from the TypeScript sources, as the tests do): each checkpoint
 * writes the hot pages (the header, the B-tree's right edge) to the database again, so fewer write less.
 */
const CHECKPOINT_WAL_BYTES = 8 * 1024 * 1024;
const CHECKPOINT_EVERY_MS = 5_000;
/** After a checkpoint the WAL file is truncated to at most this, so one burst does not leave it huge. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

function causeOf(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** The error for anything that makes the database unusable: names the file, what was being done and why. */
export function storeUnavailable(path: string, doing: string, err?: unknown): LmgwError {
  const why = err === undefined ? '' : `: ${causeOf(err)}`;
  return new LmgwError('STORE_UNAVAILABLE', `the hub database ${path} is unavailable (${doing})${why}`, err === undefined ? undefined : { cause: err });
}

/**
 * Runs one store operation. SQLite failures (disk full, I/O error, corrupt file, a lock held too
 * long) become STORE_UNAVAILABLE naming the file and the operation; a constraint the store's own
 * code should have kept (a duplicate session id) is a BugError; our own errors pass through.
 */
export function guarded<T>(db: HubDb, path: string, doing: string, fn: () => T): T {
  if (!db.open) throw new BugError(`the hub database ${path} is closed (${doing})`);
  try {
    return fn();
  } catch (err) {
    if (err instanceof LmgwError || err instanceof BugError) throw err;
    if (err instanceof Database.SqliteError) {
      if (err.code.startsWith('SQLITE_CONSTRAINT')) throw new BugError(`hub database ${path}: ${doing} broke a constraint: ${err.message}`, { cause: err });
      throw storeUnavailable(path, doing, err);
    }
    throw err;
  }
}

/** The database's user_version; STORE_NEWER_SCHEMA when it is beyond the last of `migrations`. */
function schemaVersion(db: HubDb, path: string, migrations: readonly string[]): number {
  const version = db.pragma('user_version', { simple: true });
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    throw storeUnavailable(path, 'reading the schema version', new Error(`user_version is ${String(version)}`));
  }
  if (version > migrations.length) {
    throw new LmgwError(
      'STORE_NEWER_SCHEMA',
      `the hub database ${path} has schema version ${version}, newer than the ${migrations.length} this LMGW knows: it was written by a newer LMGW and is left untouched`,
    );
  }
  return version;
}

/**
 * Brings the database to the newest version of `migrations`, one transaction per step. Refuses
 * (STORE_NEWER_SCHEMA) a database whose user_version is beyond the last step, before writing
 * anything to it.
 */
export function migrate(db: HubDb, path: string, migrations: readonly string[]): void {
  const version = schemaVersion(db, path, migrations);
  for (let step = version; step < migrations.length; step++) {
    const sql = migrations[step] ?? '';
    try {
      db.transaction(() => {
        db.exec(sql);
        // PRAGMA takes no parameters; `step + 1` is an integer we computed.
        db.pragma(`user_version = ${step + 1}`);
      }).immediate();
    } catch (err) {
      throw storeUnavailable(path, `migrating the schema from version ${step} to ${step + 1}`, err);
    }
  }
}

/** Creates the file 0600 if it does not exist; tightens an existing one we own that others could read. */
function ensurePrivateFile(path: string): void {
  let stat: Stats | undefined;
  try {
    stat = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (stat === undefined) {
    closeSync(openSync(path, 'a', 0o600));
  } else if (stat.isFile() && (stat.mode & 0o077) !== 0) {
    try {
      chmodSync(path, 0o600);
    } catch {
      // Someone else's file (a packaged install): its owner decides; SQLite will say if we cannot write.
    }
  }
}

/**
 * Opens (creating if needed) `hub.db` in `dataDir`. The WAL and shared-memory files SQLite creates
 * next to it inherit the database file's permissions.
 */
export function openHubDb(dataDir: string, migrations: readonly string[] = MIGRATIONS, cacheKib: number = HUB_CACHE_KIB): { db: HubDb; path: string } {
  const path = join(dataDir, HUB_DB_FILE);
  let db: HubDb;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (!statSync(dataDir).isDirectory()) throw new Error(`${dataDir} is not a directory`);
    ensurePrivateFile(path);
    db = new Database(path);
  } catch (err) {
    throw storeUnavailable(path, 'opening', err);
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // The version check comes before any pragma that writes (journal_mode), so a newer database
    // is not touched at all.
    schemaVersion(db, path, migrations);
    // Takes effect only on a new, empty file; an existing one keeps its own (changing it needs a VACUUM).
    db.pragma(`page_size = ${PAGE_SIZE_BYTES}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}, not wal`);
    // Not FULL: the fsync is WalSync's, off the event loop (see the header).
    db.pragma('synchronous = NORMAL');
    db.pragma(`cache_size = -${cacheKib}`);
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    autoCheckpoint(db, CHECKPOINT_WAL_BYTES);
    migrate(db, path, migrations);
  } catch (err) {
    db.close();
    if (err instanceof LmgwError) throw err;
    throw storeUnavailable(path, 'opening', err);
  }
  return { db, path };
}

/** The connection's own automatic checkpoint, every `walBytes` of WAL (0: never). */
function autoCheckpoint(db: HubDb, walBytes: number): void {
  db.pragma(`wal_autocheckpoint = ${Math.floor(walBytes / Number(db.pragma('page_size', { simple: true })))}`);
}

/**
 * Starts the checkpoint worker (checkpointer.ts) for the database at `path` and turns the
 * connection's own automatic checkpoint off while the worker runs (back on if it stops); undefined
 * when the worker's compiled file is not there (running from the TypeScript sources), and then the
 * connection checkpoints as before.
 */
export function startCheckpointer(db: HubDb, path: string): { stop(): void } | undefined {
  const file = fileURLToPath(new URL('./checkpointer.js', import.meta.url));
  if (!existsSync(file)) return undefined;
  const worker = new Worker(file, { workerData: { path, everyMs: CHECKPOINT_EVERY_MS } });
  worker.unref();
  // A worker that stopped, or whose checkpoint failed (an I/O error), leaves it to the connection again.
  const fallBack = (): void => {
    if (db.open) autoCheckpoint(db, CHECKPOINT_WAL_BYTES);
  };
  worker.on('error', () => undefined); // 'exit' follows
  worker.on('exit', fallBack);
  worker.on('message', fallBack);
  autoCheckpoint(db, 0);
  return {
    stop: () => worker.postMessage('stop'),
  };
}
