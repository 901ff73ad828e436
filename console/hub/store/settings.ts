/** Key/value settings the operator changes at run time (the fleet target and the like). */
import type Database from 'better-sqlite3';
import type { HubDb } from './db.js';

export class Settings {
  private readonly read: Database.Statement;
  private readonly write: Database.Statement;
  private readonly remove: Database.Statement;

  constructor(db: HubDb) {
    this.read = db.prepare('SELECT value FROM settings WHERE key = ?');
    this.write = db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    this.remove = db.prepare('DELETE FROM settings WHERE key = ?');
  }

  get(key: string): string | undefined {
    const row = this.read.get(key) as { value: string } | undefined;
    return row?.value;
  }

  /** undefined removes the key. */
  set(key: string, value: string | undefined): void {
    if (value === undefined) this.remove.run(key);
    else this.write.run(key, value);
  }
}
