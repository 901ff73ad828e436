/**
 * When to try again: exponential back-off with full jitter (shared/backoff.ts) and the rule that
 * only a connection that stayed up `stableAfterMs` resets the attempt counter — so a hub that
 * welcomes and then drops every agent at once still sees them spread over growing windows.
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from '../../shared/backoff.js';
import { LINK_DEFAULTS } from '../../shared/link.js';

export interface ReconnectOptions {
  policy?: BackoffPolicy;
  /** A connection that lasted this long resets the counter. Default LINK_DEFAULTS.stableAfterMs. */
  stableAfterMs?: number;
  /** [0, 1); injectable for tests. */
  random?: () => number;
  /** ms clock; injectable for tests. */
  now?: () => number;
}

/** A Retry-After hint above this is treated as this (a broken or hostile value must not park an agent for days). */
export const MAX_RETRY_AFTER_MS = 3_600_000;

export class Reconnector {
  private attempt = 0;
  private connectedAt: number | undefined;
  private readonly policy: BackoffPolicy;
  private readonly stableAfterMs: number;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(options: ReconnectOptions = {}) {
    this.policy = options.policy ?? DEFAULT_BACKOFF;
    this.stableAfterMs = options.stableAfterMs ?? LINK_DEFAULTS.stableAfterMs;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /** Failed attempts since the last stable connection. */
  get attempts(): number {
    return this.attempt;
  }

  /** The link is up (the welcome arrived). */
  connected(): void {
    this.connectedAt = this.now();
  }

  /** The link went down; a stable one resets the counter. */
  disconnected(): void {
    if (this.connectedAt !== undefined && this.now() - this.connectedAt >= this.stableAfterMs) this.attempt = 0;
    this.connectedAt = undefined;
  }

  /**
   * The delay before the next attempt, counting this one. A Retry-After hint (ms) from the hub is a
   * floor: the agent waits at least that long, plus its own jittered back-off so agents refused
   * together do not return together.
   */
  nextDelay(retryAfterMs?: number): number {
    const delay = backoffDelay(this.attempt, this.policy, this.random);
    this.attempt += 1;
    if (retryAfterMs === undefined) return delay;
    return Math.min(Math.max(0, retryAfterMs), MAX_RETRY_AFTER_MS) + delay;
  }
}

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`; undefined when absent or malformed. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date) || !/[a-z]/i.test(text)) return undefined;
  return Math.max(0, date - now);
}
