/**
 * The one narrow bridge between the operator UI and the hub, whatever carries it: in the desktop app
 * the preload exposes it as `window.lmgw` over IPC (console/preload → console/main → the hub's
 * utilityProcess); in browser mode the renderer builds the same interface on the operator API
 * (HTTP + WebSocket). Methods and params are those of OperatorService
 * (console/hub/operator/types.ts); every call is validated again on the hub side.
 */

/** The IPC channels, the closed list both the preload and the main process check. */
export const BRIDGE_CHANNELS = {
  /** renderer → main (invoke): `{ method, params }` → `{ ok: true, result } | { ok: false, error: { code, message } }`. */
  call: 'lmgw:operator-call',
  /** main → renderer: one OperatorEvent per message. */
  event: 'lmgw:operator-event',
} as const;

export type BridgeChannel = (typeof BRIDGE_CHANNELS)[keyof typeof BRIDGE_CHANNELS];

export function isBridgeChannel(value: unknown): value is BridgeChannel {
  return value === BRIDGE_CHANNELS.call || value === BRIDGE_CHANNELS.event;
}

/** The answer of a call on the IPC channel: errors travel as data (code + message), never as a thrown object. */
export type BridgeReply = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };

export interface OperatorBridge {
  /** Calls an OperatorService method; rejects with an Error whose `code` is the hub's error code. */
  call(method: string, params: unknown): Promise<unknown>;
  /** Every OperatorEvent as it happens; returns the unsubscribe function. */
  subscribe(listener: (event: unknown) => void): () => void;
}
