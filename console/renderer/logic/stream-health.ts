/**
 * Whether the figures on screen are live. The hub sends a heartbeat every second whatever happens,
 * so a stream that is open but silent for a few seconds is stale: its figures are frozen, and the
 * operator must not read them as current (a dropped subscriber once kept a green "Live" badge for
 * minutes). Pure: the store feeds it the stream state, when it last heard anything, and the time.
 */
import type { StreamState } from '../api/carrier.js';

export type StreamHealth = 'connecting' | 'live' | 'stale' | 'reconnecting';

/** An open stream silent for longer than this is stale (the hub's heartbeat comes every second). */
export const STALE_AFTER_MS = 3_000;

/**
 * @param heardAt when the stream last delivered anything (an event of any kind, or its opening);
 *   null before that.
 */
export function streamHealth(stream: StreamState, heardAt: number | null, nowMs: number): StreamHealth {
  if (stream !== 'open') return stream;
  if (heardAt === null || nowMs - heardAt > STALE_AFTER_MS) return 'stale';
  return 'live';
}
