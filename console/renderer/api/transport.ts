/**
 * How calls and events reach the hub. Two carriers, one interface (shared/operator-bridge.ts):
 * the desktop app's preload bridge (`window.lmgw`, IPC) or, in a browser, the operator API
 * (POST /api/v1/<method> with the login cookie, and the WebSocket /api/v1/events).
 */
import { backoffDelay, type BackoffPolicy } from '../../../shared/backoff.js';
import type { OperatorBridge } from '../../../shared/operator-bridge.js';
import type { Transport } from './carrier.js';
import { OperatorError, UI_BAD_ANSWER, UI_UNREACHABLE } from './operator-error.js';

declare global {
  interface Window {
    /** Set by the desktop app's preload (console/preload); absent in a browser. */
    lmgw?: OperatorBridge;
  }
}

export function bridgeTransport(bridge: OperatorBridge): Transport {
  return {
    kind: 'bridge',
    async call(method, params) {
      return bridge.call(method, params);
    },
    start(onEvent, onState) {
      onState('open');
      return bridge.subscribe(onEvent);
    },
  };
}

interface ApiErrorBody {
  error?: { code?: unknown; message?: unknown };
  result?: unknown;
}

/** Reconnects of the event stream: from 0.5 s up to 15 s apart, with full jitter. */
const STREAM_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 15_000 };

export function browserTransport(base: URL = new URL('./', window.location.href)): Transport {
  return {
    kind: 'browser',
    async call(method, params) {
      let res: Response;
      try {
        res = await fetch(new URL(`api/v1/${encodeURIComponent(method)}`, base), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(params ?? {}),
          credentials: 'same-origin',
          cache: 'no-store',
        });
      } catch (err) {
        throw new OperatorError(UI_UNREACHABLE, `the console's hub did not answer (${err instanceof Error ? err.message : String(err)})`);
      }
      let body: ApiErrorBody;
      try {
        body = (await res.json()) as ApiErrorBody;
      } catch {
        throw new OperatorError(UI_BAD_ANSWER, `${method}: the hub answered ${res.status} without JSON`, res.status);
      }
      if (!res.ok || body.error !== undefined) {
        const code = typeof body.error?.code === 'string' ? body.error.code : `HTTP_${res.status}`;
        const message = typeof body.error?.message === 'string' ? body.error.message : res.statusText;
        throw new OperatorError(code, message, res.status);
      }
      return body.result;
    },
    start(onEvent, onState) {
      let ws: WebSocket | undefined;
      let attempt = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let stopped = false;
      const url = new URL('api/v1/events', base);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';

      const connect = (): void => {
        if (stopped) return;
        onState(attempt === 0 ? 'connecting' : 'reconnecting');
        const socket = new WebSocket(url);
        ws = socket;
        socket.onopen = () => {
          attempt = 0;
          onState('open');
        };
        socket.onmessage = (m: MessageEvent) => {
          if (typeof m.data !== 'string') return;
          let event: unknown;
          try {
            event = JSON.parse(m.data);
          } catch {
            return;
          }
          onEvent(event);
        };
        socket.onclose = () => {
          if (ws === socket) ws = undefined;
          if (stopped) return;
          onState('reconnecting');
          timer = setTimeout(connect, backoffDelay(attempt++, STREAM_BACKOFF) + 250);
        };
      };
      connect();
      return () => {
        stopped = true;
        clearTimeout(timer);
        ws?.close(1000);
      };
    },
  };
}

/** The bridge when the desktop app provides one, else the browser-mode API of the page's origin. */
export function defaultTransport(): Transport {
  return window.lmgw !== undefined ? bridgeTransport(window.lmgw) : browserTransport();
}
