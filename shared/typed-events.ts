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
  private readonly listeners = new Map<keyof E, Set<AnyListener>>();

  constructor(private readonly onListenerError: (err: unknown) => void = rethrowLater) {}

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as unknown as AnyListener);
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
    this.listeners.get(event)?.delete(listener as unknown as AnyListener);
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
