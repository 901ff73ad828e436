/**
 * The preload of the console window: the one bridge the page gets, `window.lmgw`, with exactly two
 * functions — `call` and `subscribe` (OperatorBridge, shared/operator-bridge.ts). No ipcRenderer, no
 * generic send, no Node: the window is sandboxed and context-isolated, and this file is bundled
 * into one CommonJS file (dist/console/preload/preload.cjs) whose only require is 'electron',
 * because a sandboxed preload can neither load ES modules nor other files.
 *
 * Errors: the main process answers a BridgeReply; `call` rejects with an Error whose `code` is the
 * hub's code. The context bridge copies an Error's message into the page but drops its other
 * properties, so the message also starts with the code ("OP_BAD_REQUEST: startShed: …"); the page
 * reads the code from `code` when present, else from that prefix.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { BRIDGE_CHANNELS, isBridgeChannel, type BridgeChannel, type BridgeReply, type OperatorBridge } from '../../shared/operator-bridge.js';

/** The run-time check of the closed channel list (a typo or a tampered bundle fails loudly, not silently). */
function channel(name: BridgeChannel): BridgeChannel {
  if (!isBridgeChannel(name)) throw new Error(`preload: ${String(name)} is not a bridge channel`);
  return name;
}

function isReply(value: unknown): value is BridgeReply {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { ok?: unknown; error?: { code?: unknown; message?: unknown } };
  if (v.ok === true) return true;
  return v.ok === false && typeof v.error?.code === 'string' && typeof v.error.message === 'string';
}

function bridgeError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

const bridge: OperatorBridge = {
  async call(method: string, params: unknown): Promise<unknown> {
    const reply: unknown = await ipcRenderer.invoke(channel(BRIDGE_CHANNELS.call), { method, params });
    if (!isReply(reply)) throw bridgeError('OP_INTERNAL', 'the main process answered something that is not a bridge reply');
    if (reply.ok) return reply.result;
    throw bridgeError(reply.error.code, reply.error.message);
  },
  subscribe(listener: (event: unknown) => void): () => void {
    const name = channel(BRIDGE_CHANNELS.event);
    // The IPC event (with its sender) never reaches the page: only the OperatorEvent does.
    const relay = (_event: IpcRendererEvent, operatorEvent: unknown): void => listener(operatorEvent);
    ipcRenderer.on(name, relay);
    return () => {
      ipcRenderer.removeListener(name, relay);
    };
  },
};

contextBridge.exposeInMainWorld('lmgw', bridge);
