/**
 * What carries calls and events to the hub, as the client sees it (transport.ts has the two
 * implementations). DOM-free, so the client and the store run under Node in the unit tests.
 */

/** The event stream's state, for the header's indicator and to refetch after a gap. */
export type StreamState = 'connecting' | 'open' | 'reconnecting';

export interface Transport {
  readonly kind: 'bridge' | 'browser';
  call(method: string, params: unknown): Promise<unknown>;
  /**
   * Starts the event stream. `onEvent` gets each event as parsed JSON; `onState` each change of the
   * stream, 'open' again after a gap (the stream has no replay: refetch what you show).
   */
  start(onEvent: (event: unknown) => void, onState: (state: StreamState) => void): () => void;
  /**
   * Which gateways' per-second load figures the stream should carry (the browser-mode stream sends
   * only those). Kept by the transport and sent again after every reconnect. Absent where the carrier
   * sends every gateway's figures (the desktop bridge).
   */
  watch?(gatewayIds: readonly string[]): void;
}
