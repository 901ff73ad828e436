import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openAgentDb, transaction } from '../../agent/db.js';
import { ROOT, run, tempDir } from '../helpers/processes.js';

describe('the agent database (node:sqlite)', () => {
  const dir = tempDir('lmgw-agent-db-');
  afterAll(() => dir.cleanup());

  it('is in WAL mode with synchronous=FULL, as the power-cut reasoning in agent/db.ts needs', () => {
    const db = openAgentDb(join(dir.dir, 'pragmas', 'agent.sqlite'));
    try {
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
      expect(db.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 2 });
      expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: 1 });
    } finally {
      db.close();
    }
  });

  it('a transaction commits all of it, or, when its function throws, nothing', () => {
    const path = join(dir.dir, 'tx', 'agent.sqlite');
    const db = openAgentDb(path);
    const insert = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    const both = transaction(db, (fail: boolean) => {
      insert.run('a', '1');
      if (fail) throw new Error('in the middle');
      insert.run('b', '2');
    });
    expect(() => both(true)).toThrow('in the middle');
    expect(db.prepare('SELECT COUNT(*) AS n FROM meta').get()).toEqual({ n: 0 });
    both(false);
    db.close();
    const again = openAgentDb(path);
    expect(again.prepare('SELECT key, value FROM meta ORDER BY key').all()).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
    ]);
    again.close();
  });

  it('refuses a database from a newer agent, naming it', () => {
    const path = join(dir.dir, 'newer', 'agent.sqlite');
    const db = openAgentDb(path);
    db.exec('PRAGMA user_version = 99');
    db.close();
    expect(() => openAgentDb(path)).toThrow(/from a newer agent \(schema 99\)/);
  });

  it('prints nothing on stderr when it opens (Node 22 would warn that node:sqlite is experimental)', async () => {
    const script = `import { openAgentDb } from ${JSON.stringify(join(ROOT, 'dist', 'agent', 'db.js'))}; openAgentDb(${JSON.stringify(join(dir.dir, 'quiet', 'agent.sqlite'))}).close(); process.emitWarning('a warning of our own');`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/SQLite|ExperimentalWarning/);
    expect(r.stderr).toContain('a warning of our own');
  });
});
