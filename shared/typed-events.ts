/**
 * A minimal typed event emitter that runs anywhere (no `node:events`): the event names and their
 * argument lists are checked at compile time. A listener that throws does not stop the others; the
 * error goes to `onListenerError` (default: rethrown asynchronously so it is not lost).
 */
export type EventMap = Record<string, unknown[]>;
type Listener<A extends unknown[]> = (...args: A) => void;
// Stored untyped; `on`/`emit` keep the pairing of event name and arguments.
type AnyListener = (...args: unknown[]) => void;

function rethrowLater(err: unknown): void {
  void Promise.reject(err instanceof Error ? err : new Error(String(err)));
}

export class TypedEvents<E extends EventMap> {
  /**
   * Each event's listeners as an array that is replaced, never changed, when one is added or removed:
   * emit walks the array it found, so a listener added or removed during an emit takes effect from
   * the next one, and the hot path (the hub emits a message event per frame) copies nothing.
   */
  private readonly listeners = new Map<keyof E, readonly AnyListener[]>();

  constructor(private readonly onListenerError: (err: unknown) => void = rethrowLater) {}

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const current = this.listeners.get(event) ?? [];
    // Like a Set: adding a listener twice keeps one.
    if (!current.includes(listener as unknown as AnyListener)) this.listeners.set(event, [...current, listener as unknown as AnyListener]);
    return () => this.off(event, listener);
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (...args: E[K]) => {
      off();
      listener(...args);
    });
    return off;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    const current = this.listeners.get(event);
    if (!current?.includes(listener as unknown as AnyListener)) return;
    const rest = current.filter((l) => l !== (listener as unknown as AnyListener));
    if (rest.length > 0) this.listeners.set(event, rest);
    else this.listeners.delete(event);
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const listeners = this.listeners.get(event);
    if (!listeners) return;
    for (const listener of listeners) {
      try {
        listener(...args);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.listeners.get(event)?.length ?? 0;
  }
}
