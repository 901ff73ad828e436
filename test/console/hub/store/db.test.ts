/**
 * Opening hub.db: permissions, migrations, a newer database refused untouched, and every way the
 * data directory can be wrong ending in STORE_UNAVAILABLE with the path in the message.
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guarded, HUB_DB_FILE, openHubDb } from '../../../../console/hub/store/db.js';
import { HubStore } from '../../../../console/hub/store/index.js';
import { MIGRATIONS } from '../../../../console/hub/store/migrations.js';
import { BugError, LmgwError } from '../../../../shared/errors.js';
import { aDataDir, aSample, aStore, rawDb, T0 } from './builders.js';

function thrown(fn: () => unknown): LmgwError {
  try {
    fn();
  } catch (err) {
    if (err instanceof LmgwError) return err;
    throw err;
  }
  throw new Error('expected an LmgwError, nothing was thrown');
}

const isRoot = process.getuid?.() === 0;

describe('opening the hub database', () => {
  it('creates the data directory 0700 and hub.db 0600 (its WAL too), and keeps what was written across a reopen', () => {
    const dataDir = join(aDataDir(), 'nested', 'data');
    const store = aStore(dataDir);
    expect(store.path).toBe(join(dataDir, HUB_DB_FILE));
    store.setSetting('fleet.targetKw', '950');
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    expect(statSync(`${store.path}-wal`).mode & 0o777).toBe(0o600);
    expect(rawDb(store.path).pragma('journal_mode', { simple: true })).toBe('wal');
    store.close();

    const again = aStore(dataDir);
    expect(again.getSetting('fleet.targetKw')).toBe('950');
  });

  it('tightens an existing hub.db that others could read', () => {
    const dataDir = aDataDir();
    aStore(dataDir).close();
    chmodSync(join(dataDir, HUB_DB_FILE), 0o644);
    aStore(dataDir);
    expect(statSync(join(dataDir, HUB_DB_FILE)).mode & 0o777).toBe(0o600);
  });

  it('brings a new database to the newest schema version', () => {
    const store = aStore();
    expect(rawDb(store.path).pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
  });

  it('refuses a database from a newer LMGW with STORE_NEWER_SCHEMA and leaves the file byte for byte as it was', () => {
    const dataDir = aDataDir();
    const store = aStore(dataDir);
    store.appendAudit({ time: T0, operator: 'alice', operation: 'set-target', parameters: { kw: 1 }, outcome: 'ok' });
    store.close();
    const raw = new Database(store.path);
    // A rollback-journal file: even switching it to WAL would rewrite its header.
    raw.pragma('journal_mode = DELETE');
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    const before = readFileSync(store.path);

    const err = thrown(() => HubStore.open(dataDir));
    expect(err.code).toBe('STORE_NEWER_SCHEMA');
    expect(err.message).toContain(store.path);
    expect(readFileSync(store.path).equals(before)).toBe(true);
    expect(existsSync(`${store.path}-wal`)).toBe(false);
  });

  it('migrates a database made at version 1 step by step, keeping its rows', () => {
    const dataDir = aDataDir();
    const v1 = ['CREATE TABLE site (id TEXT PRIMARY KEY) STRICT;'];
    const first = openHubDb(dataDir, v1);
    first.db.prepare("INSERT INTO site (id) VALUES ('gw-1')").run();
    first.db.close();

    const v2 = [...v1, 'ALTER TABLE site ADD COLUMN target_kw REAL NOT NULL DEFAULT 7;'];
    const second = openHubDb(dataDir, v2);
    expect(second.db.pragma('user_version', { simple: true })).toBe(2);
    expect(second.db.prepare('SELECT id, target_kw FROM site').all()).toEqual([{ id: 'gw-1', target_kw: 7 }]);
    second.db.close();
  });

  it('rolls a failing migration step back whole: version and schema stay as they were, and the error says which step', () => {
    const dataDir = aDataDir();
    const v1 = ['CREATE TABLE site (id TEXT PRIMARY KEY) STRICT;'];
    openHubDb(dataDir, v1).db.close();
    // The step's first statement works, its second fails: neither may remain.
    const broken = [...v1, 'CREATE TABLE half (x INTEGER) STRICT; CREATE TABLE site (id TEXT) STRICT;'];
    const err = thrown(() => openHubDb(dataDir, broken));
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain('from version 1 to 2');
    expect(err.message).toContain(join(dataDir, HUB_DB_FILE));
    const raw = rawDb(join(dataDir, HUB_DB_FILE));
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    expect(raw.prepare("SELECT name FROM sqlite_schema WHERE name = 'half'").all()).toEqual([]);
  });
});

describe('a data directory that cannot hold the database → STORE_UNAVAILABLE naming the path', () => {
  it('a regular file where the directory should be', () => {
    const file = join(aDataDir(), 'data');
    writeFileSync(file, 'not a directory');
    const err = thrown(() => HubStore.open(file));
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain(join(file, HUB_DB_FILE));
  });

  it('a directory path that runs through a regular file', () => {
    const file = join(aDataDir(), 'file');
    writeFileSync(file, '');
    const dataDir = join(file, 'data');
    const err = thrown(() => HubStore.open(dataDir));
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain(join(dataDir, HUB_DB_FILE));
    expect(err.message).toMatch(/ENOTDIR/);
  });

  if (isRoot) console.log('skipped: "a directory without write permission" — the tests run as root, which ignores directory permissions');
  it.skipIf(isRoot)('a directory without write permission', () => {
    const dataDir = join(aDataDir(), 'locked');
    mkdirSync(dataDir, { mode: 0o500 });
    const err = thrown(() => HubStore.open(dataDir));
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain(join(dataDir, HUB_DB_FILE));
    expect(err.message).toMatch(/EACCES/);
  });

  it('hub.db is a directory (left as it was)', () => {
    const dataDir = aDataDir();
    mkdirSync(join(dataDir, HUB_DB_FILE));
    chmodSync(join(dataDir, HUB_DB_FILE), 0o755);
    const err = thrown(() => HubStore.open(dataDir));
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain(join(dataDir, HUB_DB_FILE));
    expect(statSync(join(dataDir, HUB_DB_FILE)).mode & 0o777).toBe(0o755);
  });

  it('hub.db is not a SQLite database', () => {
    const dataDir = aDataDir();
    writeFileSync(join(dataDir, HUB_DB_FILE), 'x'.repeat(4096), { mode: 0o600 });
    const err = thrown(() => HubStore.open(dataDir));
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain(join(dataDir, HUB_DB_FILE));
    expect(err.message).toMatch(/not a database/);
  });
});

describe('failures while running', () => {
  it('a database locked by another process for longer than the busy timeout: STORE_UNAVAILABLE, and nothing half-written', () => {
    const store = aStore();
    const locker = rawDb(store.path);
    locker.exec('BEGIN IMMEDIATE');
    const batch = { gatewayId: 'gw-1', seq: 1, samples: [aSample(T0, 5)] };
    const err = thrown(() => store.storeTelemetry([batch]));
    locker.exec('ROLLBACK');
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain(store.path);
    expect(err.message).toContain('storing telemetry');
    // The batch was not stored, so it is new now (not a "replay" that would be acked and lost).
    expect(store.storeTelemetry([batch])).toEqual([true]);
  }, 20_000);

  it('maps SQLite I/O errors to STORE_UNAVAILABLE and broken constraints to BugError', () => {
    const store = aStore();
    const db = new Database(':memory:');
    const ioError = new Database.SqliteError('disk I/O error', 'SQLITE_IOERR_WRITE');
    const ioFailure = thrown(() => guarded(db, store.path, 'saving a command', () => { throw ioError; }));
    expect(ioFailure.code).toBe('STORE_UNAVAILABLE');
    expect(ioFailure.message).toContain('saving a command');
    expect(ioFailure.message).toContain('SQLITE_IOERR_WRITE');
    store.openConnection({ gatewayId: 'gw-1', sessionId: 's-1', remoteAddress: '192.0.2.1', connectedAt: T0 });
    expect(() => store.openConnection({ gatewayId: 'gw-1', sessionId: 's-1', remoteAddress: '192.0.2.1', connectedAt: T0 })).toThrow(BugError);
    db.close();
  });

  it('a closed store refuses every call with a BugError and close() twice is harmless', () => {
    const store = aStore();
    store.close();
    store.close();
    expect(() => store.getSetting('x')).toThrow(BugError);
  });
});
