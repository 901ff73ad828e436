/** What a token bucket remembers: tokens left, and when they were counted (ms). */
export interface TokenState {
  tokens: number;
  tokensAt: number;
}

/**
 * A token bucket — `ratePerSecond` sustained, `burst` at once: takes one token from `state` at time
 * `now` (ms); false when the bucket is empty (the caller refuses the message). A function over two
 * fields, so a session keeps its bucket inline instead of in an object of its own. Start a bucket
 * full: `{ tokens: burst, tokensAt: now }`.
 */
export function takeToken(state: TokenState, ratePerSecond: number, burst: number, now: number): boolean {
  const tokens = Math.min(burst, state.tokens + ((now - state.tokensAt) / 1000) * ratePerSecond);
  state.tokensAt = now;
  if (tokens < 1) {
    state.tokens = tokens;
    return false;
  }
  state.tokens = tokens - 1;
  return true;
}
