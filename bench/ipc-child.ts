/**
 * A benchmark's helper process (a server, or a share of the simulated gateways), forked with an IPC
 * channel and spoken to in typed request/answer pairs: `call` sends a message and resolves with the
 * first answer of the named type. A `failed` answer, or the process exiting, rejects every call
 * waiting. Used by link.ts, fleet.ts and peers.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';

interface Typed {
  type: string;
}

export class IpcChild<To extends Typed, From extends Typed> {
  private readonly waiting: { type: From['type']; resolve: (m: From) => void; reject: (e: Error) => void }[] = [];
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    what: string,
  ) {
    child.on('message', (m: From) => {
      if (m.type === 'failed') {
        const detail = (m as Typed & { message?: unknown }).message;
        for (const w of this.waiting.splice(0)) w.reject(new Error(`${what} failed: ${String(detail)}`));
        return;
      }
      const i = this.waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]?.resolve(m);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        for (const w of this.waiting.splice(0)) w.reject(new Error(`${what} exited (${code ?? 'signal'})`));
        resolve(code);
      }),
    );
  }

  /** Forks `script` (its stdout and stderr go to ours); `what` names it in errors. */
  static start<To extends Typed, From extends Typed>(script: string, what: string, execArgv: readonly string[] = []): IpcChild<To, From> {
    return new IpcChild<To, From>(fork(script, [], { execArgv: [...execArgv], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), what);
  }

  call<T extends From['type']>(message: To, answer: T): Promise<Extract<From, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ type: answer, resolve: resolve as (m: From) => void, reject });
      this.child.send(message);
    });
  }

  /** Sends without waiting for an answer. */
  tell(message: To): void {
    this.child.send(message);
  }

  /** The process dies at once, as in a crash or `kill -9` (the fleet benchmark's reconnect storm). */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Asks the process to stop (`stop` → `stopped`) and waits for it to exit; SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.call({ type: 'stop' } as To, 'stopped').catch(() => undefined);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * The other end, in the child's script: hands every message from the parent to `handle` in order of
 * arrival; an error is answered `failed` with its stack (rejecting the parent's waiting calls).
 * Started directly instead of forked, the script prints `usage` and exits 2.
 */
export function serveParent<To extends Typed>(handle: (message: To) => Promise<void>, usage: string): void {
  if (process.send === undefined) {
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  process.on('message', (message: To) => {
    handle(message).catch((err: unknown) => {
      process.send?.({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      process.exitCode = 1;
    });
  });
}
