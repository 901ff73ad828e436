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
 *
 * `stalledMs`: how much of the time since the last take the hub was not reading at all (its event
 * loop held, see StallClock). Messages a peer sent meanwhile at the allowed rate waited in the
 * kernel and are read now, at once: the bucket may hold up to `burst` plus what that time earned,
 * so it measures what the peer sent, not how late the hub read it. Tokens above `burst` are never
 * taken away by a refill, only used up.
 */
export function takeToken(state: TokenState, ratePerSecond: number, burst: number, now: number, stalledMs = 0): boolean {
  const cap = burst + (stalledMs / 1000) * ratePerSecond;
  const refilled = state.tokens + ((now - state.tokensAt) / 1000) * ratePerSecond;
  const tokens = refilled <= cap ? refilled : Math.max(state.tokens, cap);
  state.tokensAt = now;
  if (tokens < 1) {
    state.tokens = tokens;
    return false;
  }
  state.tokens = tokens - 1;
  return true;
}

/**
 * How long the event loop has been held, in total: a timer due every `intervalMs` that runs late was
 * held up by exactly that lateness. `stalledMs(now)` also counts the lateness of the tick still due
 * (sockets may be read before the timer gets its turn after a stall), so it grows continuously and a
 * session can take the difference between two reads.
 */
export class StallClock {
  private total = 0;
  private lastTick: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly intervalMs = 100,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastTick = now();
    this.timer = setInterval(() => {
      const t = this.now();
      this.total += Math.max(0, t - this.lastTick - this.intervalMs);
      this.lastTick = t;
    }, intervalMs);
    this.timer.unref();
  }

  /** The total stall so far, ms. */
  stalledMs(): number {
    return this.total + Math.max(0, this.now() - this.lastTick - this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
