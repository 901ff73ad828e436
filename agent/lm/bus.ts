/**
 * One Modbus bus: a TCP connection or a serial line, shared by the devices (unit ids) on it, over
 * modbus-serial. It owns the rules every request obeys:
 *
 * - **One request in flight.** Requests wait in a queue; commands jump ahead of sampling.
 * - **An explicit timeout** on every request (modbus-serial has none by default), enforced twice:
 *   by the library and by our own timer, so a request never hangs on a library path without one.
 * - **Retries** after a timeout, a broken reply or a lost connection; an exception reply is an
 *   answer and is not retried (except 5 Acknowledge and 6 Busy, which ask for a retry).
 * - **Late replies never satisfy a newer request.** modbus-serial matches TCP replies by the MBAP
 *   transaction id, which wraps at 256 and is reused; over RTU there is no id at all, and its
 *   buffered port keeps stale bytes that it will happily parse as the next reply. So: after a
 *   timeout or a broken reply a TCP connection is dropped (a late reply can only arrive on the dead
 *   socket), and an RTU line stays quiet for `rtuGuardMs`, then every request starts with an empty
 *   receive buffer (see `guardRtuPort`).
 *
 * Errors are LmgwErrors with MODBUS_ codes. The bus keeps no health: the driver does, per device.
 */
import ModbusSerial from 'modbus-serial';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { BugError, LmgwError, type ErrorCode } from '../../shared/errors.js';
import type { Connection } from './profile.js';

const ModbusRTU = ModbusSerial.default;
type Client = InstanceType<typeof ModbusRTU>;

/** What a device may be asked; nothing else reaches the wire (operations, not registers). */
export type BusRequest =
  | { fn: 'readCoils' | 'readDiscreteInputs'; address: number; count: number }
  | { fn: 'readHoldingRegisters' | 'readInputRegisters'; address: number; count: number }
  | { fn: 'writeCoil'; address: number; value: boolean }
  | { fn: 'writeRegister'; address: number; value: number };

/** Bits for coil/input reads (count of them), words for register reads, nothing for writes. */
export type BusReply = { bits: boolean[] } | { words: number[] } | { written: true };

export interface BusOptions {
  connection: Connection;
  /** Per attempt unless the request says otherwise, ms; also bounds connecting. Default 1000. */
  timeoutMs?: number;
  /** RTU: quiet time after a timeout, ms. Default 100. */
  rtuGuardMs?: number;
  logger?: Logger;
}

export interface RequestOptions {
  unitId: number;
  /** Attempts in all (1 + retries). */
  attempts: number;
  /** Commands go before queued sampling. */
  urgent?: boolean;
  /** Per attempt, ms; default the bus's. */
  timeoutMs?: number;
}

export interface RequestOutcome<T> {
  value: T;
  /** Attempts it took (1 = answered at once). */
  attempts: number;
}

/** The error of one failed attempt, classified. */
export class ModbusError extends LmgwError {
  override readonly name = 'ModbusError';
  /** Modbus exception code, for MODBUS_EXCEPTION. */
  readonly exceptionCode: number | undefined;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; exceptionCode?: number } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exceptionCode = options.exceptionCode;
  }
  /** Whether another attempt may succeed. */
  get retryable(): boolean {
    return this.code !== 'MODBUS_EXCEPTION' || this.exceptionCode === 5 || this.exceptionCode === 6;
  }
}

interface Job {
  run: () => Promise<void>;
  urgent: boolean;
}

/** modbus-serial's own error shapes (it throws plain objects with errno/modbusCode, not always Errors). */
interface LibraryError {
  name?: string;
  message?: string | null;
  errno?: string;
  code?: string;
  modbusCode?: number;
}

export function describeTarget(connection: Connection): string {
  return connection.type === 'tcp' ? `tcp://${connection.host}:${connection.port}` : `rtu:${connection.path}`;
}

export class ModbusBus {
  readonly target: string;
  private readonly connection: Connection;
  private readonly timeoutMs: number;
  private readonly rtuGuardMs: number;
  private readonly log: Logger;
  private readonly queue: Job[] = [];
  private busy = false;
  private client: Client | undefined;
  private opening: Promise<Client> | undefined;
  /** RTU: no request before this (ms, Date.now) — the line is quiet after a timeout. */
  private quietUntil = 0;
  private closed = false;
  /** Fails the request in flight when its connection closes. */
  private abortInFlight: (() => void) | undefined;
  /** Connections opened so far (tests check that a timeout drops the connection). */
  connects = 0;

  constructor(options: BusOptions) {
    this.connection = options.connection;
    this.timeoutMs = options.timeoutMs ?? 1_000;
    this.rtuGuardMs = options.rtuGuardMs ?? 100;
    this.target = describeTarget(options.connection);
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ bus: this.target });
  }

  /** Requests waiting or running. */
  get pending(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  /** Runs one request with retries, after the requests queued before it. */
  request(request: BusRequest, options: RequestOptions): Promise<RequestOutcome<BusReply>> {
    if (this.closed) return Promise.reject(new ModbusError('MODBUS_CONNECT_FAILED', `${this.target}: the bus is closed`));
    return new Promise((resolveRequest, reject) => {
      const job: Job = {
        urgent: options.urgent === true,
        run: async () => {
          try {
            resolveRequest(await this.attempt(request, options));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
      };
      if (job.urgent) {
        const firstOrdinary = this.queue.findIndex((j) => !j.urgent);
        this.queue.splice(firstOrdinary === -1 ? this.queue.length : firstOrdinary, 0, job);
      } else {
        this.queue.push(job);
      }
      this.pump();
    });
  }

  private pump(): void {
    if (this.busy) return;
    const job = this.queue.shift();
    if (!job) return;
    this.busy = true;
    void job.run().finally(() => {
      this.busy = false;
      this.pump();
    });
  }

  private async attempt(request: BusRequest, options: RequestOptions): Promise<RequestOutcome<BusReply>> {
    let last: ModbusError | undefined;
    for (let attempt = 1; attempt <= options.attempts; attempt++) {
      if (this.closed) throw new ModbusError('MODBUS_CONNECT_FAILED', `${this.target}: the bus is closed`);
      try {
        const wait = this.quietUntil - Date.now();
        if (wait > 0) await sleep(wait);
        const client = await this.open();
        const value = await this.once(client, request, options.unitId, options.timeoutMs ?? this.timeoutMs);
        return { value, attempts: attempt };
      } catch (err) {
        last = this.classify(err, request, options.unitId, options.timeoutMs ?? this.timeoutMs);
        this.log.debug({ attempt, code: last.code, err: last.message }, 'modbus request failed');
        if (last.code !== 'MODBUS_EXCEPTION') this.afterFailure(last);
        if (!last.retryable) break;
      }
    }
    throw last ?? new BugError('no attempt was made');
  }

  /** After a timeout or a broken reply, make sure a late reply cannot be taken for the next one. */
  private afterFailure(error: ModbusError): void {
    if (this.connection.type === 'tcp') {
      this.drop(`after ${error.code}`);
    } else if (error.code === 'MODBUS_CONNECT_FAILED') {
      this.drop(`after ${error.code}`);
    } else {
      this.quietUntil = Date.now() + this.rtuGuardMs;
    }
  }

  private async once(client: Client, request: BusRequest, unitId: number, timeoutMs: number): Promise<BusReply> {
    client.setID(unitId);
    client.setTimeout(timeoutMs);
    const call = ((): Promise<BusReply> => {
      switch (request.fn) {
        case 'readCoils':
        case 'readDiscreteInputs':
          return client[request.fn](request.address, request.count).then((r) => ({ bits: r.data.slice(0, request.count) }));
        case 'readHoldingRegisters':
        case 'readInputRegisters':
          return client[request.fn](request.address, request.count).then((r) => ({ words: r.data }));
        case 'writeCoil':
          return client.writeCoil(request.address, request.value).then(() => ({ written: true as const }));
        case 'writeRegister':
          return client.writeRegister(request.address, request.value).then(() => ({ written: true as const }));
      }
    })();
    // A connection that closes under a request fails it now, not when the timeout fires.
    const closed = new Promise<never>((_, reject) => {
      this.abortInFlight = () => reject(new ModbusError('MODBUS_CONNECT_FAILED', `${this.target} unit ${unitId}: the connection closed during the request`));
    });
    closed.catch(() => undefined);
    // Our own bound, a little above the library's: a path inside modbus-serial without a timer
    // (a half-open socket, a port that never calls back) must not hold the bus forever.
    let reply: BusReply;
    try {
      reply = await withTimeout(Promise.race([call, closed]), timeoutMs + 250, () => new ModbusError('MODBUS_TIMEOUT', `${this.target} unit ${unitId}: no answer within ${timeoutMs} ms`));
    } finally {
      this.abortInFlight = undefined;
    }
    checkShape(reply, request, `${this.target} unit ${unitId}`);
    return reply;
  }

  private open(): Promise<Client> {
    if (this.client?.isOpen) return Promise.resolve(this.client);
    if (this.opening) return this.opening;
    const opening = this.connect().finally(() => {
      if (this.opening === opening) this.opening = undefined;
    });
    this.opening = opening;
    return opening;
  }

  private async connect(): Promise<Client> {
    this.drop('reconnect');
    this.connects++;
    const connection = this.connection;
    let client: Client;
    let opened: Promise<void>;
    if (connection.type === 'tcp') {
      client = new ModbusRTU();
      client.setTimeout(this.timeoutMs);
      opened = client.connectTCP(connection.host, { port: connection.port });
    } else {
      const port = guardRtuPort(connection.path, { baudRate: connection.baudRate, parity: connection.parity, stopBits: connection.stopBits, dataBits: connection.dataBits });
      client = new ModbusRTU(port);
      opened = new Promise<void>((resolveOpen, reject) => client.open((err: unknown) => (err ? reject(toError(err)) : resolveOpen())));
    }
    // modbus-serial emits 'error' for port errors; unhandled, it would crash the agent.
    client.on('error', (err) => this.log.debug({ err }, 'modbus port error'));
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.abortInFlight?.();
    });
    this.client = client;
    try {
      await withTimeout(opened, Math.max(this.timeoutMs, 1_000), () => new ModbusError('MODBUS_CONNECT_FAILED', `${this.target}: connecting timed out`));
    } catch (err) {
      if (this.client === client) this.drop('connect failed');
      throw err;
    }
    if (this.closed) {
      this.drop('closed');
      throw new ModbusError('MODBUS_CONNECT_FAILED', `${this.target}: the bus is closed`);
    }
    this.log.debug('connected');
    return client;
  }

  /** Forgets the current connection; its socket or port is destroyed so nothing more arrives on it. */
  private drop(why: string): void {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    this.log.debug({ why }, 'dropping the connection');
    try {
      if (this.connection.type === 'tcp') client.destroy(() => undefined);
      else client.close(() => undefined);
    } catch (err) {
      this.log.debug({ err }, 'closing the port failed');
    }
  }

  private classify(err: unknown, request: BusRequest, unitId: number, timeoutMs: number): ModbusError {
    if (err instanceof ModbusError) return err;
    const where = `${this.target} unit ${unitId} ${request.fn} ${request.address}`;
    const e = (typeof err === 'object' && err !== null ? err : {}) as LibraryError;
    const message = typeof e.message === 'string' ? e.message : String(err);
    if (typeof e.modbusCode === 'number') {
      return new ModbusError('MODBUS_EXCEPTION', `${where}: exception ${e.modbusCode} (${message.replace(/^Modbus exception \d+: /, '')})`, { cause: err, exceptionCode: e.modbusCode });
    }
    if (e.name === 'TransactionTimedOutError' || e.errno === 'ETIMEDOUT') return new ModbusError('MODBUS_TIMEOUT', `${where}: no answer within ${timeoutMs} ms`, { cause: err });
    if (/CRC error|Data length error|Unexpected data error|Modbus exception/.test(message)) return new ModbusError('MODBUS_BAD_FRAME', `${where}: ${message}`, { cause: err });
    return new ModbusError('MODBUS_CONNECT_FAILED', `${where}: ${e.code ?? e.errno ?? ''} ${message}`.trim(), { cause: err });
  }

  /** Closes the connection; queued requests fail with MODBUS_CONNECT_FAILED. */
  async close(): Promise<void> {
    this.closed = true;
    const waiting = this.queue.splice(0);
    for (const job of waiting) void job.run();
    this.drop('closed');
    // Let a running request see the closed flag; it is bounded by the timeout anyway.
    await Promise.resolve();
  }
}

/** A reply whose shape does not fit the request is a broken reply, never data. */
function checkShape(reply: BusReply, request: BusRequest, where: string): void {
  if (request.fn === 'readCoils' || request.fn === 'readDiscreteInputs') {
    if (!('bits' in reply) || reply.bits.length !== request.count) throw new ModbusError('MODBUS_BAD_FRAME', `${where}: expected ${request.count} bits`);
  } else if (request.fn === 'readHoldingRegisters' || request.fn === 'readInputRegisters') {
    if (!('words' in reply) || reply.words.length !== request.count) throw new ModbusError('MODBUS_BAD_FRAME', `${where}: expected ${request.count} registers`);
  }
}

function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as LibraryError;
  return Object.assign(new Error(typeof e.message === 'string' ? e.message : String(err)), e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  return new Promise<T>((resolveTimed, reject) => {
    const timer = setTimeout(() => reject(error()), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolveTimed(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : toError(err));
      },
    );
  });
}

/** The private parts of modbus-serial's RTUBufferedPort (8.0.x) that the guard relies on. */
interface RtuBufferedPort {
  _buffer: Buffer;
  write(data: Buffer): void;
}

/**
 * modbus-serial's RTU port, with one change: every request starts with an empty receive buffer.
 * Its buffer otherwise keeps whatever arrived since the last reply — a late answer to a request
 * that timed out, half a frame — and scans it for the next reply, so a stale answer to the same
 * read would pass as fresh. RTU has no transaction id; emptying the buffer at the moment we write
 * is the only reliable cut. The field is private, so its presence is checked here, at open, and
 * test/agent/lm/rtu.test.ts proves the guard against a device that answers late.
 */
export function guardRtuPort(path: string, options: Record<string, unknown>): RtuBufferedPort {
  const Port = (ModbusRTU as unknown as { RTUBufferedPort?: new (path: string, options: Record<string, unknown>) => RtuBufferedPort }).RTUBufferedPort;
  if (typeof Port !== 'function') throw new ModbusError('MODBUS_CONNECT_FAILED', `serial ports are not available (modbus-serial's optional serialport module is missing)`);
  const port = new Port(path, options);
  if (!Buffer.isBuffer(port._buffer)) throw new BugError('modbus-serial RTUBufferedPort has no _buffer: the RTU late-reply guard needs updating');
  const write = port.write.bind(port);
  port.write = function guardedWrite(data: Buffer): void {
    port._buffer = Buffer.alloc(0);
    write(data);
  };
  return port;
}
