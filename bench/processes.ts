/**
 * What the end-to-end benchmarks (operator-click.ts, agent.ts) share: real processes started from
 * bin/ and stopped by their PID, a fresh private CA in a temporary directory, and readings from
 * /proc (a process's CPU time and RSS, the whole machine's busy time) so a report can say how much
 * else ran on the machine meanwhile. Linux only for the /proc readings; elsewhere they are undefined.
 */
import { spawn, execFileSync, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ModbusSerial from 'modbus-serial';
import { CertificateAuthority, initCa } from '../certs/ca.js';
import { createGatewayCsr } from '../certs/csr.js';

/** The repository root: this file runs as dist/bench/processes.js. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const bin = (name: string): string => join(ROOT, 'bin', `${name}.js`);

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// --- /proc ---------------------------------------------------------------------------------------

let ticks: number | undefined;
/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux when it cannot be asked). */
export function clockTicksPerSecond(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** CPU time (µs) all CPUs of the machine spent busy since boot, from /proc/stat; undefined without it. */
export function machineBusyUs(): number | undefined {
  try {
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] =
      readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    return ((user + nice + system + irq + softirq + steal) * 1e6) / clockTicksPerSecond();
  } catch {
    return undefined;
  }
}

/** User and system CPU time (µs) of one process, all its threads, from /proc/PID/stat (utime, stime); undefined when it is gone. */
export function processCpuSplitUs(pid: number): { user: number; system: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const perTick = 1e6 / clockTicksPerSecond();
    return { user: Number(fields[11]) * perTick, system: Number(fields[12]) * perTick };
  } catch {
    return undefined;
  }
}

/** User + system CPU time (µs) of one process; undefined when it is gone. */
export function processCpuUs(pid: number): number | undefined {
  const t = processCpuSplitUs(pid);
  return t === undefined ? undefined : t.user + t.system;
}

/** Resident set size and its high-water mark (bytes) of one process, from /proc/PID/status. */
export function processMemory(pid: number): { rss: number; hwm: number; threads: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rss: field('VmRSS') * 1024, hwm: field('VmHWM') * 1024, threads: field('Threads') };
  } catch {
    return undefined;
  }
}

/**
 * CPU used by everything on the machine except `pids` between two readings, in cores: /proc/stat
 * busy time minus these processes' own. A run with more than a few per cent is disturbed.
 */
export class OtherLoad {
  private readonly machine0: number | undefined;
  private readonly ours0: number;
  private readonly t0 = performance.now();

  constructor(private readonly pids: readonly number[]) {
    this.machine0 = machineBusyUs();
    this.ours0 = this.ours();
  }

  private ours(): number {
    return this.pids.reduce((sum, pid) => sum + (processCpuUs(pid) ?? 0), 0);
  }

  /** Cores used by others since construction; undefined without /proc/stat. */
  cores(): number | undefined {
    const machine1 = machineBusyUs();
    if (this.machine0 === undefined || machine1 === undefined) return undefined;
    const seconds = (performance.now() - this.t0) / 1000;
    return Math.max(0, machine1 - this.machine0 - (this.ours() - this.ours0)) / 1e6 / seconds;
  }
}

// --- statistics ----------------------------------------------------------------------------------

export interface Distribution {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles. */
export function distribution(values: readonly number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: s[s.length - 1] ?? Number.NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN,
  };
}

export const fmt = (n: number | undefined, digits = 1): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : '–');

// --- child processes -----------------------------------------------------------------------------

export interface Started {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Everything it wrote so far (stdout and stderr), capped at the last 64 KiB. */
  output: () => string;
  /** Resolves with the first line matching `pattern` (also one already written). */
  waitForLine: (pattern: RegExp, timeoutMs: number) => Promise<RegExpExecArray>;
  exited: Promise<void>;
}

const OUTPUT_CAP = 64 * 1024;

/**
 * The processes a benchmark started, stopped by PID (SIGTERM, then SIGKILL after a grace period) in
 * `stopAll`, which the benchmark calls in `finally`; SIGINT/SIGTERM/SIGHUP of the benchmark call it
 * too, then remove the temporary directories and exit.
 */
export class Processes {
  private readonly started: Started[] = [];
  private readonly dirs: string[] = [];
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: stopping the processes started by this benchmark\n`);
    void this.cleanup().finally(() => process.exit(130));
  };

  constructor(private readonly log: (line: string) => void) {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, this.onSignal);
  }

  /** A fresh temporary directory, removed by cleanup(). */
  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  start(name: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; nodeArgs?: readonly string[]; onLine?: (line: string) => void } = {}): Started {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error(`${name}: could not start`);
    let output = '';
    const waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
    // One line buffer per stream: a JSON log line on stdout and a banner on stderr never mix.
    const feeder = (): ((chunk: Buffer) => void) => {
      let partial = '';
      return (chunk) => {
        const text = chunk.toString('utf8');
        output = (output + text).slice(-OUTPUT_CAP);
        partial += text;
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          options.onLine?.(line);
          for (let i = waiters.length - 1; i >= 0; i--) {
            const w = waiters[i];
            const m = w?.pattern.exec(line);
            if (w && m) {
              waiters.splice(i, 1);
              w.resolve(m);
            }
          }
        }
      };
    };
    child.stdout?.on('data', feeder());
    child.stderr?.on('data', feeder());
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const started: Started = {
      name,
      child,
      pid: child.pid,
      output: () => output,
      exited,
      waitForLine: (pattern, timeoutMs) =>
        new Promise((resolve, reject) => {
          for (const line of output.split('\n')) {
            const m = pattern.exec(line);
            if (m) return resolve(m);
          }
          const timer = setTimeout(() => reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms; it wrote:\n${output.slice(-2000)}`)), timeoutMs);
          const w = {
            pattern,
            resolve: (m: RegExpExecArray): void => {
              clearTimeout(timer);
              resolve(m);
            },
          };
          waiters.push(w);
          void exited.then(() => {
            if (!waiters.includes(w)) return;
            clearTimeout(timer);
            reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before a line matching ${pattern}; it wrote:\n${output.slice(-2000)}`));
          });
        }),
    };
    this.started.push(started);
    this.log(`started ${name} (pid ${child.pid})`);
    return started;
  }

  /** Stops one process by its PID: SIGTERM, SIGKILL after `graceMs`. */
  async stop(p: Started, graceMs = 5_000): Promise<void> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.log(`${p.name} (pid ${p.pid}) did not stop within ${graceMs} ms: SIGKILL`);
      p.child.kill('SIGKILL');
    }, graceMs);
    await p.exited;
    clearTimeout(timer);
  }

  /** Stops every process still running (the last started first) and removes the temporary directories. */
  async cleanup(): Promise<void> {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, this.onSignal);
    for (const p of [...this.started].reverse()) await this.stop(p);
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

// --- the fixtures: CA, LM simulator, agent ----------------------------------------------------------

export interface BenchCa {
  pkiDir: string;
  caPem: string;
  caPath: string;
  crlPath: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** Per gateway id: the certificate and key files (key made as `lmgw-agent enroll` does, CSR signed by the CA). */
  gateways: Map<string, { certPath: string; keyPath: string }>;
}

/** A fresh CA in `dir`/pki (as `lmgw-ca init` makes it), a console certificate for 127.0.0.1, one certificate per gateway. */
export async function makeCa(dir: string, gatewayIds: readonly string[]): Promise<BenchCa> {
  const pkiDir = join(dir, 'pki');
  const passphrase = 'benchmark passphrase, thrown away';
  await initCa(pkiDir, passphrase, 'LMGW Bench CA');
  const ca = await CertificateAuthority.open(pkiDir, passphrase);
  const server = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const gateways = new Map<string, { certPath: string; keyPath: string }>();
  for (const id of gatewayIds) {
    const gwDir = join(dir, id);
    mkdirSync(gwDir, { recursive: true });
    const { keyPem, csrPem } = await createGatewayCsr(id);
    const keyPath = join(gwDir, 'gateway.key');
    const certPath = join(gwDir, 'gateway.pem');
    writeFileSync(keyPath, keyPem, { mode: 0o600 });
    writeFileSync(certPath, (await ca.signGatewayCsr(csrPem)).certPem);
    gateways.set(id, { certPath, keyPath });
  }
  return {
    pkiDir,
    caPem: ca.certificatePem,
    caPath: ca.paths.caCert,
    crlPath: ca.paths.crl,
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem ?? '',
    gateways,
  };
}

interface ProfileChannel {
  id: number;
  relay: { type: string; address: number; on: number; off: number };
  minOnSeconds?: number;
  minOffSeconds?: number;
  [key: string]: unknown;
}
export interface DeviceProfileFile {
  connection: { unitId: number; [key: string]: unknown };
  channels: ProfileChannel[];
  [key: string]: unknown;
}

/**
 * A copy of a shipped device profile in `dir` with the minimum on/off times of every channel set to 0,
 * so one channel can be shed and restored back to back (the shipped profiles hold 60–300 s, rightly).
 */
export function writeBenchProfile(dir: string, source: string): { path: string; profile: DeviceProfileFile } {
  const profile = JSON.parse(readFileSync(source, 'utf8')) as DeviceProfileFile;
  for (const ch of profile.channels) Object.assign(ch, { minOnSeconds: 0, minOffSeconds: 0 });
  const path = join(dir, 'profile.json');
  writeFileSync(path, JSON.stringify(profile, null, 2));
  return { path, profile };
}

/** `lm-sim --profile FILE --port 0 --quiet`; resolves with the process and its Modbus TCP port. */
export async function startLmSim(procs: Processes, profilePath: string): Promise<{ sim: Started; port: number }> {
  const sim = procs.start('lm-sim', [bin('lm-sim'), '--profile', profilePath, '--port', '0', '--quiet', '--seed', '1']);
  const m = await sim.waitForLine(/listening on Modbus TCP [\d.]+:(\d+)/, 10_000);
  return { sim, port: Number(m[1]) };
}

/** Writes an agent config (one device: the simulator at `modbusPort`; telemetry every second) and returns its path. */
export function writeAgentConfig(
  dir: string,
  o: { gatewayId: string; linkPort: number; caPath: string; certPath: string; keyPath: string; profilePath: string; modbusPort: number; unitId: number },
): string {
  const path = join(dir, 'agent.json');
  writeFileSync(
    path,
    JSON.stringify(
      {
        gatewayId: o.gatewayId,
        console: { url: `wss://127.0.0.1:${o.linkPort}/lmgw/v1` },
        tls: { ca: o.caPath, cert: o.certPath, key: o.keyPath },
        proxy: null,
        site: { name: 'Bench site', labels: ['bench'] },
        devices: [{ id: 'lm1', profile: o.profilePath, connection: { type: 'tcp', host: '127.0.0.1', port: o.modbusPort, unitId: o.unitId } }],
        dataDir: join(dir, 'agent-data'),
        telemetry: { intervalSeconds: 1, batchSeconds: 1 },
      },
      null,
      2,
    ),
  );
  return path;
}

/** Reads one coil or holding register of the simulator: with mbpoll when installed, else with modbus-serial. */
export async function readRelayRegister(port: number, unitId: number, relay: { type: string; address: number }): Promise<{ value: number; via: string }> {
  const coil = relay.type === 'coil';
  const mbpoll = await new Promise<string | undefined>((resolve) =>
    execFile(
      'mbpoll',
      // -0: 0-based addresses as in the profile; -1: one poll; -t 0 coils, -t 4 holding registers.
      ['-m', 'tcp', '-p', String(port), '-a', String(unitId), '-t', coil ? '0' : '4', '-0', '-r', String(relay.address), '-c', '1', '-1', '-o', '2', '127.0.0.1'],
      { timeout: 10_000 },
      (err, stdout) => resolve(err ? undefined : stdout),
    ),
  );
  const m = mbpoll === undefined ? null : new RegExp(`^\\[${relay.address}\\]:\\s+(-?\\d+)`, 'm').exec(mbpoll);
  if (m) return { value: Number(m[1]), via: 'mbpoll' };
  const client = new ModbusSerial.default();
  try {
    await client.connectTCP('127.0.0.1', { port });
    client.setID(unitId);
    client.setTimeout(2_000);
    const value = coil ? Number((await client.readCoils(relay.address, 1)).data[0]) : Number((await client.readHoldingRegisters(relay.address, 1)).data[0]);
    return { value, via: 'modbus-serial (mbpoll not installed)' };
  } finally {
    client.close(() => undefined);
  }
}

// --- V8 CPU profiles -----------------------------------------------------------------------------

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  /** µs of V8's monotonic clock (CLOCK_MONOTONIC on Linux, as process.hrtime here). */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  function: string;
  where: string;
  ms: number;
  /** Share of the non-idle samples. */
  share: number;
}

/**
 * The functions with the most self time in the `.cpuprofile` files of `dir` (idle left out). With
 * `window` (µs of CLOCK_MONOTONIC, i.e. process.hrtime.bigint() / 1000n here), only the samples taken
 * within it count, so the start-up (module loading, the first TLS handshake) does not crowd out the
 * steady state; when no sample falls within it (a clock that is not comparable), all count.
 */
export function topSelfTime(
  dir: string,
  count: number,
  window?: { fromUs: number; toUs: number },
): { busyMs: number; idleMs: number; windowed: boolean; top: SelfTime[] } {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const profiles = files.map((file) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
  const inWindow = (p: CpuProfile, check: boolean): ((i: number) => boolean) => {
    if (!check || !window) return () => true;
    const times: number[] = [];
    let t = p.startTime;
    for (const d of p.timeDeltas) times.push((t += d));
    return (i) => (times[i] ?? 0) >= window.fromUs && (times[i] ?? 0) <= window.toUs;
  };
  const windowed = window !== undefined && profiles.some((p) => p.samples.some((_, i) => inWindow(p, true)(i)));
  const byKey = new Map<string, SelfTime>();
  let busy = 0;
  let idle = 0;
  for (const profile of profiles) {
    const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    const keep = inWindow(profile, windowed);
    profile.samples.forEach((id, i) => {
      if (!keep(i)) return;
      const frame = nodes.get(id);
      const ms = (profile.timeDeltas[i] ?? 0) / 1000;
      if (!frame || frame.functionName === '(idle)') {
        idle += ms;
        return;
      }
      busy += ms;
      const where = frame.url ? `${frame.url.replace(`file://${ROOT}`, '').replace(/^file:\/\//, '')}:${frame.lineNumber + 1}` : '';
      const key = `${frame.functionName}@${where}`;
      const entry = byKey.get(key) ?? { function: frame.functionName || '(anonymous)', where, ms: 0, share: 0 };
      entry.ms += ms;
      byKey.set(key, entry);
    });
  }
  const top = [...byKey.values()].sort((a, b) => b.ms - a.ms).slice(0, count);
  for (const t of top) t.share = busy > 0 ? t.ms / busy : 0;
  return { busyMs: busy, idleMs: idle, windowed, top };
}
