/**
 * The hub in an Electron utilityProcess: a child Chromium launches (not ELECTRON_RUN_AS_NODE, which
 * the packaged app's fuses turn off), with Node, the link's sockets and the SQLite store, so a busy
 * or crashing hub never freezes the window. Main talks to it with hub-messages.ts over the
 * process's own message channel.
 *
 * `HubClient` is the main side of that channel — numbered calls, replies matched by id, events fanned
 * out, every pending call answered when the process goes away — and knows nothing of Electron, so
 * it is tested with a fake port. `startHubProcess` forks the entry with the `utilityProcess.fork`
 * main.ts passes in.
 */
import type { UtilityProcess } from 'electron';
import type { Logger } from 'pino';
import type { BridgeReply } from '../../shared/operator-bridge.js';
import type { OperatorCall } from '../hub/operator/schemas.js';
import { parseHubToMain, type FailedMessage, type MainToHub, type ReadyMessage, type StartMessage } from './hub-messages.js';

/** A call the hub has not answered in this long is answered OP_INTERNAL (commands end after at most 300 s + 2 s). */
export const HUB_CALL_TIMEOUT_MS = 330_000;
/** How long `stop` waits for the hub to close its store before the process is killed. */
export const HUB_STOP_TIMEOUT_MS = 10_000;

export interface HubPort {
  postMessage(message: MainToHub): void;
}

interface Pending {
  resolve: (reply: BridgeReply) => void;
  timer: NodeJS.Timeout;
}

export class HubClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(event: unknown) => void>();
  private readonly lifecycle = new Set<(m: ReadyMessage | FailedMessage | { type: 'stopped' }) => void>();
  private closedBecause: string | undefined;

  constructor(
    private readonly port: HubPort,
    private readonly log?: Logger,
    private readonly callTimeoutMs = HUB_CALL_TIMEOUT_MS,
  ) {}

  /** Sends a validated call; resolves with the hub's reply, never rejects. */
  call(call: OperatorCall): Promise<BridgeReply> {
    if (this.closedBecause !== undefined) return Promise.resolve({ ok: false, error: { code: 'OP_INTERNAL', message: `the hub is not running (${this.closedBecause})` } });
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ ok: false, error: { code: 'OP_INTERNAL', message: `the hub did not answer ${call.method} within ${Math.round(this.callTimeoutMs / 1000)} s` } });
      }, this.callTimeoutMs);
      this.pending.set(id, { resolve, timer });
      this.port.postMessage({ type: 'call', id, method: call.method, params: call.params });
    });
  }

  /** Every OperatorEvent the hub emits; returns the unsubscribe function. */
  onEvent(listener: (event: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** ready, failed and stopped, as they arrive. */
  onLifecycle(listener: (m: ReadyMessage | FailedMessage | { type: 'stopped' }) => void): () => void {
    this.lifecycle.add(listener);
    return () => this.lifecycle.delete(listener);
  }

  send(message: StartMessage | { type: 'stop' }): void {
    if (this.closedBecause === undefined) this.port.postMessage(message);
  }

  /** One message from the hub process. */
  receive(raw: unknown): void {
    const m = parseHubToMain(raw);
    if (m === undefined) {
      this.log?.warn('dropped a message from the hub process that is not one of ours');
      return;
    }
    switch (m.type) {
      case 'reply': {
        const p = this.pending.get(m.id);
        if (!p) return; // timed out already
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        p.resolve(m.reply);
        return;
      }
      case 'event':
        for (const l of [...this.listeners]) l(m.event);
        return;
      case 'ready':
      case 'failed':
      case 'stopped':
        for (const l of [...this.lifecycle]) l(m);
        return;
    }
  }

  /** The process is gone: every pending call is answered, later calls are refused at once. */
  close(reason: string): void {
    if (this.closedBecause !== undefined) return;
    this.closedBecause = reason;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve({ ok: false, error: { code: 'OP_INTERNAL', message: `the hub stopped before answering (${reason})` } });
      this.pending.delete(id);
    }
  }

  get closed(): boolean {
    return this.closedBecause !== undefined;
  }
}

/** utilityProcess.fork, as main.ts passes it. */
export type ForkUtility = (modulePath: string, args?: string[], options?: { serviceName?: string; stdio?: 'inherit' | 'ignore' | 'pipe'; env?: NodeJS.ProcessEnv }) => UtilityProcess;

export interface HubProcess {
  readonly client: HubClient;
  readonly ready: ReadyMessage;
  /** Asks the hub to close its link and store; kills it when it does not exit in time. */
  stop(): Promise<void>;
  /** Called once when the process exits for any reason (after `stop`, too). */
  onExit(listener: (code: number) => void): void;
}

export class HubStartError extends Error {
  override readonly name = 'HubStartError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Forks hub-entry, sends `start` and resolves once the hub is `ready`; rejects with HubStartError
 * (the hub's error code) when it answers `failed` or exits first. A failed hub process is ended.
 */
export function startHubProcess(fork: ForkUtility, o: { entryPath: string; start: StartMessage; log: Logger }): Promise<HubProcess> {
  const child = fork(o.entryPath, [], { serviceName: 'LMGW hub', stdio: 'inherit' });
  const client = new HubClient(child, o.log);
  const exitListeners = new Set<(code: number) => void>();
  let exited: number | undefined;
  child.on('message', (m: unknown) => client.receive(m));
  child.once('exit', (code: number) => {
    exited = code;
    client.close(`exit code ${code}`);
    for (const l of exitListeners) l(code);
  });

  return new Promise((resolve, reject) => {
    const onExitEarly = (code: number): void => reject(new HubStartError('OP_INTERNAL', `the hub process exited (code ${code}) before it was ready; see the hub log`));
    exitListeners.add(onExitEarly);
    const off = client.onLifecycle((m) => {
      if (m.type === 'stopped') return;
      off();
      exitListeners.delete(onExitEarly);
      if (m.type === 'failed') {
        child.kill();
        reject(new HubStartError(m.error.code, m.error.message));
        return;
      }
      resolve({
        client,
        ready: m,
        onExit: (listener) => {
          if (exited !== undefined) listener(exited);
          else exitListeners.add(listener);
        },
        stop: () =>
          new Promise<void>((done) => {
            if (exited !== undefined) return done();
            const timer = setTimeout(() => child.kill(), HUB_STOP_TIMEOUT_MS);
            exitListeners.add(() => {
              clearTimeout(timer);
              done();
            });
            client.send({ type: 'stop' });
          }),
      });
    });
    client.send(o.start);
  });
}
