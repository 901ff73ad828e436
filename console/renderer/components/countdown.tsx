import type { ReactNode } from 'react';
import { formatCountdown, formatRelative } from '../logic/format.js';
import { useNow } from '../state/context.js';

/** Time left until `to` on the hub's clock, ticking each second: "4:05". */
export function Countdown({ to, label }: { to: number; label?: string }): ReactNode {
  const now = useNow();
  const left = to - now;
  return (
    <span className={`countdown ${left <= 60_000 ? 'countdown-soon' : ''}`} aria-label={label ? `${label} ${formatCountdown(left)}` : undefined}>
      {formatCountdown(left)}
    </span>
  );
}

/** "in 3 d", "5 min ago", kept current. */
export function Relative({ time }: { time: number }): ReactNode {
  const now = useNow();
  return <>{formatRelative(time, now)}</>;
}
