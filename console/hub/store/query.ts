/**
 * Helpers shared by the store's query methods: row limits, and statements prepared once per shape of
 * filter (a query with optional filters has a handful of shapes, each with its own index-friendly
 * WHERE clause; `(? IS NULL OR col = ?)` would keep SQLite from using the index).
 */
import type Database from 'better-sqlite3';
import type { HubDb } from './db.js';

export const DEFAULT_LIMIT = 200;
export const MAX_LIMIT = 10_000;

/** A caller's limit as a row count: the default when absent or not a number, clamped to 0..MAX_LIMIT. */
export function limitOf(limit: number | undefined, fallback = DEFAULT_LIMIT): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback;
  return Math.min(MAX_LIMIT, Math.max(0, Math.trunc(limit)));
}

/** Prepares each distinct SQL text once and keeps it for the life of the connection. */
export class StatementCache {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: HubDb) {}

  get(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** Builds `WHERE a AND b …` (or nothing) from the conditions that apply. */
export function where(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
}
