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

/** A stream that sent heartbeats (one a second) and then nothing for this long is reconnected. */
const SILENT_STREAM_MS = 10_000;

export function browserTransport(base: URL = new URL('./', window.location.href)): Transport {
  let ws: WebSocket | undefined;
  let watched: string[] = [];
  const sendWatch = (socket: WebSocket): void => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'watch', gateways: watched }));
  };
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
      let attempt = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let watchdog: ReturnType<typeof setInterval> | undefined;
      let stopped = false;
      const url = new URL('api/v1/events', base);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';

      const connect = (): void => {
        if (stopped) return;
        onState(attempt === 0 ? 'connecting' : 'reconnecting');
        const socket = new WebSocket(url);
        ws = socket;
        // A hub that sends heartbeats and then falls silent has a dead or wedged stream (a half-open
        // TCP connection closes only after minutes): drop it and connect again. A hub that never sent
        // a heartbeat is not judged by them.
        let heardAt = Date.now();
        let heartbeats = false;
        clearInterval(watchdog);
        watchdog = setInterval(() => {
          if (heartbeats && Date.now() - heardAt > SILENT_STREAM_MS && socket.readyState === WebSocket.OPEN) socket.close(4000, 'silent');
        }, 1000);
        socket.onopen = () => {
          attempt = 0;
          sendWatch(socket);
          onState('open');
        };
        socket.onmessage = (m: MessageEvent) => {
          heardAt = Date.now();
          if (typeof m.data !== 'string') return;
          let event: unknown;
          try {
            event = JSON.parse(m.data);
          } catch {
            return;
          }
          if (!heartbeats && typeof event === 'object' && event !== null && (event as { type?: unknown }).type === 'heartbeat') heartbeats = true;
          onEvent(event);
        };
        socket.onclose = () => {
          if (ws === socket) ws = undefined;
          clearInterval(watchdog);
          if (stopped) return;
          onState('reconnecting');
          timer = setTimeout(connect, backoffDelay(attempt++, STREAM_BACKOFF) + 250);
        };
      };
      connect();
      return () => {
        stopped = true;
        clearTimeout(timer);
        clearInterval(watchdog);
        ws?.close(1000);
      };
    },
    watch(gatewayIds) {
      watched = [...gatewayIds];
      if (ws !== undefined) sendWatch(ws);
    },
  };
}

/** The bridge when the desktop app provides one, else the browser-mode API of the page's origin. */
export function defaultTransport(): Transport {
  return window.lmgw !== undefined ? bridgeTransport(window.lmgw) : browserTransport();
}
