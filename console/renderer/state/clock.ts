/**
 * One ticking clock for every countdown on screen: a single timer, and only the components that show
 * a running time re-render each second.
 */
type Listener = () => void;

const listeners = new Set<Listener>();
let timer: ReturnType<typeof setInterval> | undefined;
let now = Date.now();

function tick(): void {
  now = Date.now();
  for (const l of [...listeners]) l();
}

export function subscribeClock(listener: Listener): () => void {
  listeners.add(listener);
  if (timer === undefined) {
    now = Date.now();
    // Aligned to the second, so every countdown changes at the same moment.
    timer = setTimeout(function first() {
      tick();
      timer = setInterval(tick, 1000);
    }, 1000 - (Date.now() % 1000));
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer !== undefined) {
      clearTimeout(timer);
      clearInterval(timer);
      timer = undefined;
    }
  };
}

export function clockNow(): number {
  return now;
}
