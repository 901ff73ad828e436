/**
 * Turning a parsed JSON config into a typed, frozen value with a zod schema (which holds the
 * defaults). A bad field fails with CONFIG_INVALID naming the field and the problem, e.g.
 * `agent.json: console.url: must be a wss:// URL`.
 */
import { z } from 'zod';
import { LmgwError } from './errors.js';

export function validateConfig<S extends z.ZodType>(schema: S, value: unknown, source: string): Readonly<z.infer<S>> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(top level)'}: ${issue.message}`);
    throw new LmgwError('CONFIG_INVALID', `${source}: ${problems.join('; ')}`);
  }
  return deepFreeze(result.data);
}

/** Parses JSON text, reporting a syntax error as CONFIG_INVALID with the source named. */
export function parseJsonConfig(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `${source}: not valid JSON (${(err as Error).message})`);
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** zod's message for a missing field, one of the wrong type or an unknown key, in our wording. */
export function typeError(expected: string) {
  return (issue: { code?: string; input?: unknown; keys?: readonly string[] }): string => {
    if (issue.code === 'unrecognized_keys') return `unknown field${(issue.keys ?? []).length > 1 ? 's' : ''} ${(issue.keys ?? []).map((k) => `"${k}"`).join(', ')}`;
    return issue.input === undefined ? 'is required' : `must be ${expected}`;
  };
}

/** A whole number in [min, max], with errors in our wording. */
export function intField(min: number, max: number) {
  return z.number({ error: typeError('a number') }).int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
}
