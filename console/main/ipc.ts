/**
 * The main process's relay of the operator bridge (shared/operator-bridge.ts): renderer → main →
 * the hub's utilityProcess and back, and the hub's events → our windows.
 *
 * On every message, before anything else (VS Code's validatedIpcMain): the sender must be the main
 * frame of a window this app created, showing the app's own origin (lmgw://app). A subframe, another
 * origin, a file:// page or an unknown webContents gets OP_FORBIDDEN_ORIGIN and nothing is
 * forwarded. Then the call is validated here (validateCall, defence in depth: the hub validates it
 * again) and only a valid call, as plain JSON, reaches the hub. Errors travel as data (BridgeReply).
 *
 * The checks are pure functions; `registerBridgeIpc` takes ipcMain from main.ts, so nothing here
 * needs Electron at run time.
 */
import type { IpcMain, IpcMainInvokeEvent } from 'electron';
import { LmgwError } from '../../shared/errors.js';
import { BRIDGE_CHANNELS, type BridgeReply } from '../../shared/operator-bridge.js';
import { validateCall, type OperatorCall } from '../hub/operator/schemas.js';
import { isAppUrl } from './app-protocol.js';
import { refusal, splitCall } from './hub-bridge.js';

/** The largest call accepted, as JSON (the browser-mode API's body limit). */
export const MAX_CALL_BYTES = 64 * 1024;

/**
 * Whether an IPC message may be answered: it comes from the main frame (not an iframe) of a
 * webContents this app created, and that frame shows the app's origin.
 */
export function isTrustedSender(url: string, isMainFrame: boolean, knownWebContentsIds: ReadonlySet<number>, webContentsId: number): boolean {
  return isMainFrame && knownWebContentsIds.has(webContentsId) && isAppUrl(url);
}

/** What `isTrustedSender` needs from an invoke event. A frame that has navigated away or is gone (null) is not trusted. */
export function senderOf(event: Pick<IpcMainInvokeEvent, 'senderFrame' | 'sender'>): { url: string; isMainFrame: boolean; webContentsId: number } {
  const frame = event.senderFrame;
  return { url: frame?.url ?? '', isMainFrame: frame !== null && frame.parent === null, webContentsId: event.sender.id };
}

/**
 * A call as the renderer sent it → a validated call with its params as plain JSON, or the refusal.
 * Structured clone carries more than JSON (Maps, Dates, cycles); the JSON round trip keeps what the
 * browser-mode API would have received, and bounds the size.
 */
export function checkCall(payload: unknown): OperatorCall | BridgeReply {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch {
    return refusal('OP_BAD_REQUEST', 'a call must be JSON data');
  }
  if (json === undefined) return refusal('OP_BAD_REQUEST', 'a call is an object { method, params }');
  if (Buffer.byteLength(json) > MAX_CALL_BYTES) return refusal('OP_BAD_REQUEST', `a call may be at most ${MAX_CALL_BYTES} bytes of JSON`);
  const parts = splitCall(JSON.parse(json) as unknown);
  if ('ok' in parts) return parts;
  try {
    return validateCall(parts.method, parts.params);
  } catch (err) {
    if (err instanceof LmgwError) return refusal(err.code, err.message);
    throw err;
  }
}

/** Checks a call and forwards only a valid one; `forward` is the hub (HubClient.call). */
export async function relayCall(payload: unknown, forward: (call: OperatorCall) => Promise<BridgeReply>): Promise<BridgeReply> {
  const checked = checkCall(payload);
  if ('ok' in checked) return checked;
  try {
    return await forward(checked);
  } catch (err) {
    return refusal('OP_INTERNAL', `the hub could not be reached: ${(err as Error).message}`);
  }
}

export interface BridgeIpcOptions {
  /** The webContents ids of our windows (AppWindows.ids). */
  knownIds: () => ReadonlySet<number>;
  /** The hub, or a refusal while it is not running. */
  forward: (call: OperatorCall) => Promise<BridgeReply>;
  warn: (message: string) => void;
}

/** Installs the one IPC handler the renderer may invoke; returns its removal. */
export function registerBridgeIpc(ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>, o: BridgeIpcOptions): () => void {
  ipcMain.handle(BRIDGE_CHANNELS.call, async (event: IpcMainInvokeEvent, payload: unknown): Promise<BridgeReply> => {
    const s = senderOf(event);
    if (!isTrustedSender(s.url, s.isMainFrame, o.knownIds(), s.webContentsId)) {
      o.warn(`refused an operator call from ${s.isMainFrame ? 'a main frame' : 'a subframe'} of webContents ${s.webContentsId} at ${JSON.stringify(s.url.slice(0, 200))}`);
      return refusal('OP_FORBIDDEN_ORIGIN', 'operator calls are answered only for the console window');
    }
    return relayCall(payload, o.forward);
  });
  return () => ipcMain.removeHandler(BRIDGE_CHANNELS.call);
}

/** What `sendEvent` needs of a window's webContents. */
export interface EventRecipient {
  isDestroyed(): boolean;
  getURL(): string;
  send(channel: string, ...args: unknown[]): void;
}

/**
 * Sends one OperatorEvent to each of our windows that still shows the app's origin (webContents.send
 * reaches the main frame only). Returns how many got it.
 */
export function sendEvent(targets: Iterable<EventRecipient>, event: unknown): number {
  let sent = 0;
  for (const t of targets) {
    if (t.isDestroyed() || !isAppUrl(t.getURL())) continue;
    t.send(BRIDGE_CHANNELS.event, event);
    sent++;
  }
  return sent;
}
