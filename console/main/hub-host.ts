/**
 * What runs in the hub's utilityProcess, written against a small transport so it runs in plain Node
 * too (hub-entry.ts plugs in Electron's process.parentPort; the tests plug in a pair of queues).
 *
 * `start` → validate the settings again (HubConfigSchema), read the TLS files, startHub without the
 * browser-mode API, forward every OperatorEvent, answer `ready` (or `failed` with the error's code).
 * `call` → createHubBridge → `reply` with the same id. `stop` → close the hub, `stopped`, exit 0.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import { validateConfig } from '../../shared/config.js';
import { LmgwError } from '../../shared/errors.js';
import { createLogger, logLevelFrom } from '../../shared/node/log.js';
import { HubConfigSchema } from '../hub/config.js';
import { startHub, type Hub } from '../hub/hub.js';
import { hubOptionsFromConfig } from '../hub/hub-options.js';
import { createHubBridge, refusal, type HubBridge } from './hub-bridge.js';
import { parseMainToHub, type CallMessage, type HubToMain, type StartMessage } from './hub-messages.js';

export interface HubTransport {
  send(message: HubToMain): void;
  onMessage(listener: (message: unknown) => void): void;
  exit(code: number): void;
}

function errorOf(err: unknown): { code: string; message: string } {
  if (err instanceof LmgwError) return { code: err.code, message: err.message };
  return { code: 'OP_INTERNAL', message: `the hub failed to start: ${(err as Error)?.message ?? String(err)}` };
}

function hubLogger(logFile: string | undefined): Logger {
  if (logFile === undefined) return pino({ level: 'silent' });
  mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
  return createLogger({ name: 'lmgw-console', level: logLevelFrom(process.env), base: { process: 'hub' }, destination: { file: logFile } });
}

export function runHubHost(transport: HubTransport): void {
  let state: 'idle' | 'starting' | 'running' | 'stopping' = 'idle';
  let hub: Hub | undefined;
  let bridge: HubBridge | undefined;
  let log: Logger = pino({ level: 'silent' });

  async function onStart(m: StartMessage): Promise<void> {
    if (state !== 'idle') return;
    state = 'starting';
    try {
      log = hubLogger(m.logFile);
      const config = validateConfig(HubConfigSchema, m.config, 'settings');
      // Never the browser-mode operator API: the desktop's UI talks IPC.
      hub = await startHub(hubOptionsFromConfig({ config, caPassphrase: m.caPassphrase, logger: log, withOperatorApi: false }));
      bridge = createHubBridge(hub.service, { operator: m.operator }, log);
      hub.service.subscribe((event) => transport.send({ type: 'event', event }));
      // The desktop's UI gets every gateway's figures over IPC (no bytes on a network wire).
      hub.service.watch(transport, 'all');
      state = 'running';
      log.info({ linkUrl: hub.linkUrl, operator: m.operator }, 'hub started for the desktop app');
      transport.send({ type: 'ready', linkUrl: hub.linkUrl, databasePath: hub.store.path, timeZone: config.timeZone });
    } catch (err) {
      log.error({ err }, 'the hub did not start');
      state = 'idle';
      transport.send({ type: 'failed', error: errorOf(err) });
    }
  }

  async function onCall(m: CallMessage): Promise<void> {
    const reply = bridge && state === 'running' ? await bridge.handle({ method: m.method, params: m.params }) : refusal('OP_INTERNAL', 'the hub is not running');
    transport.send({ type: 'reply', id: m.id, reply });
  }

  async function onStop(): Promise<void> {
    if (state === 'stopping') return;
    state = 'stopping';
    try {
      await hub?.close();
    } catch (err) {
      log.error({ err }, 'closing the hub failed');
    }
    log.info('hub stopped');
    transport.send({ type: 'stopped' });
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    transport.exit(0);
  }

  transport.onMessage((raw) => {
    const m = parseMainToHub(raw);
    if (m === undefined) {
      log.warn('dropped a message from the main process that is not one of ours');
      return;
    }
    switch (m.type) {
      case 'start':
        void onStart(m);
        return;
      case 'call':
        void onCall(m);
        return;
      case 'stop':
        void onStop();
        return;
    }
  });
}
