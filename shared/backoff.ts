/**
 * Reconnect delays: exponential back-off with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"). A hub restart with thousands of gateways then spreads their reconnects evenly
 * over the window instead of a stampede at each step.
 */
export interface BackoffPolicy {
  /** First window, ms. Default 1 000. */
  baseMs: number;
  /** Largest window, ms. Default 60 000. */
  capMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 1_000, capMs: 60_000 });

/**
 * Delay before reconnect attempt `attempt` (0 = the first retry): uniform in [0, min(cap, base·2^attempt)).
 * `random` returns [0, 1), injectable for tests.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const window = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.floor(random() * window);
}

/** A duration spread by ±`fraction` (e.g. the maximum connection age, so sessions do not expire together). */
export function jittered(valueMs: number, fraction: number, random: () => number = Math.random): number {
  return Math.round(valueMs * (1 - fraction + 2 * fraction * random()));
}
