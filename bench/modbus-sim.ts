/**
 * How many Modbus TCP requests per second `lm-sim` answers, next to modbus-serial's own ServerTCP
 * in the same run (the issue asks for ≥ 10,000/s; ServerTCP answers through setTimeout).
 *
 *   npm run bench:modbus   (or: npm run build && node dist/bench/modbus-sim.js) [--seconds 5] [--connections 4] [--window 16]
 *
 * Each server runs in a child process of its own (one core), the load generator in this one: C
 * connections, each keeping W requests in flight (FC 4, 2 registers: the total power float32),
 * then one connection with one request in flight (the latency-bound case a real master produces).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ModbusSerial from 'modbus-serial';
import { LmSimulator } from '../agent/sim/simulator.js';
import { parseProfile } from '../agent/lm/profile.js';

const PROFILE = parseProfile(
  {
    model: 'throughput',
    connection: { type: 'tcp', host: '127.0.0.1', port: 502, unitId: 1 },
    channels: [{ id: 1, name: 'load', relay: { type: 'coil', address: 0 }, priority: 1, sheddable: true, ratedKw: 10 }],
    measurements: { totalKw: { function: 'input', register: 0, type: 'float32' } },
  },
  'throughput profile',
);

/** The request: unit 1, FC 4, address 0, 2 registers; the tid is patched per request. */
const REQUEST = Buffer.from([0, 0, 0, 0, 0, 6, 1, 4, 0, 0, 0, 2]);

async function serve(kind: string): Promise<void> {
  let port: number;
  if (kind === 'lm-sim') {
    const sim = new LmSimulator({ profile: PROFILE });
    port = (await sim.listenTcp(0)).port;
  } else {
    const value = 0x4120; // 10.0 as float32, high word
    const server = new ModbusSerial.ServerTCP(
      { getInputRegister: (addr: number) => (addr === 0 ? value : 0), getHoldingRegister: () => 0, getCoil: () => true },
      { host: '127.0.0.1', port: 0, unitID: 1 },
    );
    port = await new Promise<number>((resolvePort) => {
      server.on('initialized', () => {
        const address = (server as unknown as { _server: { address: () => { port: number } } })._server.address();
        resolvePort(address.port);
      });
    });
  }
  process.send?.({ port });
}

function startServer(kind: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolveStart, reject) => {
    child.once('message', (msg: { port: number }) => resolveStart({ child, port: msg.port }));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code ?? 'a signal'}`)));
  });
}

/** Runs the load for `seconds`; answered requests per second. */
async function load(port: number, connections: number, window: number, seconds: number): Promise<number> {
  let answered = 0;
  let wrong = 0;
  let counting = false;
  let running = true;
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<void>((resolveConnect, reject) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.setNoDelay(true);
            let tid = 0;
            const send = (count: number): void => {
              const batch = Buffer.allocUnsafe(REQUEST.length * count);
              for (let i = 0; i < count; i++) {
                REQUEST.copy(batch, i * REQUEST.length);
                batch.writeUInt16BE((tid = (tid + 1) & 0xffff), i * REQUEST.length);
              }
              socket.write(batch);
            };
            let pending: Buffer = Buffer.alloc(0);
            socket.on('data', (chunk: Buffer) => {
              pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
              let replies = 0;
              let offset = 0;
              while (pending.length - offset >= 6 && pending.length - offset >= 6 + pending.readUInt16BE(offset + 4)) {
                // Only a proper answer counts: FC 4 with 4 data bytes (an exception would be 0x84).
                if (pending[offset + 7] !== 4 || pending[offset + 8] !== 4) wrong++;
                offset += 6 + pending.readUInt16BE(offset + 4);
                replies++;
              }
              pending = pending.subarray(offset);
              if (counting) answered += replies;
              if (running && replies > 0) send(replies);
            });
            send(window);
            sockets.push(socket);
            resolveConnect();
          });
          socket.once('error', reject);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 500)); // warm-up
  counting = true;
  const started = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1_000));
  counting = false;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  running = false;
  for (const socket of sockets) socket.destroy();
  if (wrong > 0) throw new Error(`${wrong} replies were not the expected answer`);
  return answered / elapsed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { serve: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, window: { type: 'string' } },
  });
  if (values.serve !== undefined) return serve(values.serve);
  const seconds = Number(values.seconds ?? 5);
  const connections = Number(values.connections ?? 4);
  const window = Number(values.window ?? 16);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  out(`Modbus TCP throughput, FC 4 (2 registers), ${seconds} s per run, Node ${process.version}`);
  for (const kind of ['lm-sim', 'modbus-serial ServerTCP']) {
    const { child, port } = await startServer(kind);
    try {
      const pipelined = await load(port, connections, window, seconds);
      const serial = await load(port, 1, 1, seconds);
      out(`${kind.padEnd(24)} ${Math.round(pipelined).toLocaleString('en-US').padStart(9)} req/s (${connections} connections × ${window} in flight)   ${Math.round(serial).toLocaleString('en-US').padStart(7)} req/s (1 in flight)`);
    } finally {
      child.removeAllListeners('exit');
      child.kill();
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`throughput: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
