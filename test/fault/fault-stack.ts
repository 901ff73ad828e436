/**
 * The installation the fault suite breaks, every part a real process we started: `lm-console
 * --headless` (killed with SIGKILL and started again on the same data), `lmgw-agent run` per site
 * (LMGW_TRACE=1, so its log holds every frame it sent), `lm-sim` per load manager (faults changed
 * live through its --control file), mbpoll as the witness of the relays, hub.db read through a
 * second, read-only SQLite connection. A site can live in a network namespace (netns.ts); then its
 * agent, its lm-sim and mbpoll run in there.
 *
 * Every process is stopped by PID in close(); nothing is ever killed by name.
 */
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Profile } from '../../agent/lm/profile.js';
import { SimulatedFleet } from '../../agent/sim/fleet.js';
import { issueFleetCredentials, simGatewayIds } from '../../agent/sim/fleet-credentials.js';
import { decode, type TelemetrySample } from '../../shared/protocol/index.js';
import { aFastProfile } from '../agent/fixtures/lm.js';
import { freePort, type LinkPki } from '../agent/fixtures/link.js';
import { TEST_PASSPHRASE } from '../helpers/pki.js';
import type { Netns } from '../helpers/netns.js';
import { ROOT, run, start, waitFor } from '../helpers/processes.js';

export type Proc = ReturnType<typeof start>;

/** SIGKILL by PID, and wait until the process is gone. */
export async function kill9(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await exited;
}

/**
 * SIGTERM by PID; SIGKILL if it has not exited after `graceMs`. Returns false (and the caller's test
 * should say so) when it had to be killed: a clean stop is part of what is tested.
 */
export async function stopOrKill(p: Proc, graceMs = 10_000): Promise<boolean> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return true;
  let timer: NodeJS.Timeout | undefined;
  const clean = await Promise.race([p.stop().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)))]);
  clearTimeout(timer);
  if (!clean) {
    process.stderr.write(`fault suite: pid ${p.child.pid} did not stop within ${graceMs} ms of SIGTERM; killed. Last output:\n${p.output().slice(-3000)}\n`);
    await kill9(p);
  }
  return clean;
}

/** The JSON log lines of a process's output (other lines skipped). */
export function logLines(output: string): Record<string, unknown>[] {
  return output.split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return [];
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

export type Api = <T>(method: string, params?: unknown) => Promise<T>;

export interface FaultConsole {
  readonly linkPort: number;
  readonly apiPort: number;
  /** The operator API's current token (a new one at each start). */
  apiToken(): string;
  readonly dataDir: string;
  readonly dbPath: string;
  /** The current run's process (a new one after restart()). */
  proc(): Proc;
  /** Output of every run so far, in order. */
  outputs(): string[];
  api: Api;
  kill9(): Promise<void>;
  /** Starts lm-console again on the same config and data; resolves once it listens. */
  restart(): Promise<void>;
  /** hub.db through a read-only connection of its own (not through the code under test). */
  query<T>(sql: string, ...params: unknown[]): T[];
  stop(): Promise<void>;
}

export async function startFaultConsole(dir: string, pki: LinkPki, extra: Record<string, unknown> = {}): Promise<FaultConsole> {
  const consoleDir = join(dir, 'console');
  mkdirSync(consoleDir, { recursive: true });
  writeFileSync(join(consoleDir, 'server.pem'), pki.server.certPem);
  writeFileSync(join(consoleDir, 'server.key'), pki.server.keyPem, { mode: 0o600 });
  const linkPort = await freePort();
  const apiPort = await freePort();
  const configFile = join(consoleDir, 'hub.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: linkPort },
      tls: { ca: '../pki/ca.pem', cert: 'server.pem', key: 'server.key', crl: '../pki/crl.pem' },
      dataDir: 'data',
      timeZone: 'Europe/Zurich',
      operatorApi: { host: '127.0.0.1', port: apiPort, tokenName: 'fault-operator' },
      ...extra,
    }),
  );
  const dataDir = join(consoleDir, 'data');
  const runs: Proc[] = [];
  const launch = async (): Promise<void> => {
    const p = start(process.execPath, [join(ROOT, 'bin', 'lm-console.js'), '--headless', '--config', configFile], { LMGW_CA_PASSPHRASE: TEST_PASSPHRASE });
    runs.push(p);
    await waitFor(() => /data in /.test(p.output()) || p.child.exitCode !== null, 30_000, 'lm-console to start');
    if (p.child.exitCode !== null) throw new Error(`lm-console exited:\n${p.output()}`);
  };
  await launch();
  const current = (): Proc => runs[runs.length - 1] as Proc;
  const apiToken = (): string => readFileSync(join(dataDir, 'operator-token'), 'utf8').trim();
  const api: Api = async <T>(method: string, params: unknown = {}): Promise<T> => {
    const token = apiToken();
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    const body = (await res.json()) as { result?: T; error?: { code: string; message: string } };
    if (!res.ok) throw new Error(`${method} → ${res.status} ${body.error?.code}: ${body.error?.message}`);
    return body.result as T;
  };
  return {
    linkPort,
    apiPort,
    apiToken,
    dataDir,
    dbPath: join(dataDir, 'hub.db'),
    proc: current,
    outputs: () => runs.map((r) => r.output()),
    api,
    kill9: () => kill9(current()),
    restart: launch,
    query: <T>(sql: string, ...params: unknown[]): T[] => {
      const db = new Database(join(dataDir, 'hub.db'), { readonly: true, fileMustExist: true });
      try {
        return db.prepare(sql).all(...params) as T[];
      } finally {
        db.close();
      }
    },
    stop: async () => {
      await Promise.all(runs.map((r) => stopOrKill(r)));
    },
  };
}

export interface DeviceSpec {
  /** Default: the 4-channel fast profile (channels 1–4, coils 0–3). */
  profile?: Readonly<Profile>;
  /** Per-site driver override in the agent config (devices[].driver). */
  driver?: Record<string, number>;
}

export interface FaultSite {
  readonly id: string;
  readonly simPorts: readonly number[];
  /** The agent's current run. */
  agent(): Proc;
  /** lm-sim of device i (its output lists every relay change: the write log). */
  sim(i?: number): Proc;
  /** Writes lm-sim i's control file ("" or "none" clears) and makes it re-read at once (SIGUSR1, by PID). */
  setSimFaults(spec: string, i?: number): void;
  /** Coils 0..3 of device i as mbpoll reads them: '1' on, '0' off. */
  relays(i?: number): Promise<string[]>;
  /** mbpoll against device i with these arguments (e.g. ['-t', '4', '-r', '100', '-c', '16']): the values it prints. */
  mbpoll(i: number, args: readonly string[]): Promise<string[]>;
  killAgent(): Promise<void>;
  startAgent(): void;
  /** Every telemetry batch the agent's runs wrote to the link (from the trace), by seq: sample times. */
  sentTelemetry(): Map<number, number[]>;
  /** Every JSON log line of every agent run. */
  agentLog(): Record<string, unknown>[];
  /** Stops the agent and the lm-sims (SIGTERM, SIGKILL after 10 s); false if one had to be killed. */
  stop(): Promise<boolean>;
}

export interface SiteOptions {
  dir: string;
  pki: LinkPki;
  id: string;
  /** wss://… the agent dials. */
  url: string;
  serverName?: string;
  devices?: DeviceSpec[];
  link?: Record<string, number>;
  linkLoss?: Record<string, unknown>;
  seed?: number;
  /** Run agent, lm-sim and mbpoll inside this namespace. */
  netns?: Netns;
  /** More agent config fields (e.g. metrics). */
  agentConfig?: Record<string, unknown>;
}

/** One site: its lm-sim(s) and its agent, started; resolves once every lm-sim listens. */
export async function startFaultSite(o: SiteOptions): Promise<FaultSite> {
  const dir = join(o.dir, o.id);
  mkdirSync(dir, { recursive: true });
  const inNs = (file: string, args: string[]): [string, string[]] => (o.netns ? ['ip', ['netns', 'exec', o.netns.name, file, ...args]] : [file, args]);
  const devices = o.devices ?? [{}];
  const sims: Proc[] = [];
  const simPorts: number[] = [];
  const controls: string[] = [];
  for (const [i, d] of devices.entries()) {
    const profileFile = join(dir, `lm${i + 1}.json`);
    writeFileSync(profileFile, JSON.stringify(d.profile ?? aFastProfile()));
    const control = join(dir, `lm${i + 1}.faults`);
    writeFileSync(control, '');
    controls.push(control);
    const sim = start(...inNs(process.execPath, [join(ROOT, 'bin', 'lm-sim.js'), '--port', '0', '--profile', profileFile, '--seed', String((o.seed ?? 1) + i), '--control', control]));
    sims.push(sim);
    await waitFor(() => /listening on Modbus TCP 127\.0\.0\.1:\d+/.test(sim.output()) || sim.child.exitCode !== null, 15_000, `lm-sim ${i + 1} of ${o.id}`);
    simPorts.push(Number(/127\.0\.0\.1:(\d+)/.exec(sim.output())?.[1]));
  }
  const gw = await o.pki.gateway(o.id);
  writeFileSync(join(dir, 'ca.pem'), o.pki.caPem);
  writeFileSync(join(dir, 'gateway.pem'), gw.certPem);
  writeFileSync(join(dir, 'gateway.key'), gw.keyPem, { mode: 0o600 });
  const configFile = join(dir, 'agent.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      gatewayId: o.id,
      console: { url: o.url, ...(o.serverName ? { serverName: o.serverName } : {}) },
      tls: { ca: 'ca.pem', cert: 'gateway.pem', key: 'gateway.key' },
      proxy: null,
      site: { name: `Site ${o.id}`, labels: ['fault'] },
      ...(o.link ? { link: o.link } : {}),
      devices: devices.map((d, i) => ({
        id: `lm${i + 1}`,
        profile: `lm${i + 1}.json`,
        connection: { type: 'tcp', host: '127.0.0.1', port: simPorts[i], unitId: (d.profile ?? aFastProfile()).connection.unitId },
        ...(d.driver ? { driver: d.driver } : {}),
      })),
      dataDir: 'data',
      linkLoss: o.linkLoss ?? { mode: 'hold' },
      ...o.agentConfig,
    }),
  );
  const agents: Proc[] = [];
  const startAgent = (): void => {
    agents.push(start(...inNs(process.execPath, [join(ROOT, 'bin', 'lmgw-agent.js'), 'run', '--config', configFile]), { HTTPS_PROXY: '', https_proxy: '', LMGW_TRACE: '1' }));
  };
  startAgent();
  const agentLog = (): Record<string, unknown>[] => agents.flatMap((a) => logLines(a.stdout()));
  const mbpoll = async (i: number, args: readonly string[]): Promise<string[]> => {
    const ran = await run(...inNs('mbpoll', ['-m', 'tcp', '-p', String(simPorts[i]), '-0', '-1', '-a', String((devices[i]?.profile ?? aFastProfile()).connection.unitId), ...args, '127.0.0.1']));
    if (ran.code !== 0) throw new Error(`mbpoll: ${ran.stderr}`);
    return [...ran.stdout.matchAll(/^\[\d+\]:\s+(\S+)/gm)].map((m) => m[1] ?? '');
  };
  return {
    id: o.id,
    simPorts,
    agent: () => agents[agents.length - 1] as Proc,
    sim: (i = 0) => sims[i] as Proc,
    setSimFaults: (spec, i = 0) => {
      writeFileSync(controls[i] as string, spec);
      sims[i]?.child.kill('SIGUSR1');
    },
    relays: (i = 0) => mbpoll(i, ['-t', '0', '-r', '0', '-c', '4']),
    mbpoll,
    killAgent: () => kill9(agents[agents.length - 1] as Proc),
    startAgent,
    sentTelemetry: () => {
      const sent = new Map<number, number[]>();
      for (const line of agentLog()) {
        if (line.dir !== 'out' || typeof line.frame !== 'string' || !line.frame.startsWith('<telemetry')) continue;
        const m = decode(line.frame);
        if (m.kind !== 'telemetry') continue;
        const times = m.samples.map((s: TelemetrySample) => s.time);
        const before = sent.get(m.seq);
        if (before !== undefined && JSON.stringify(before) !== JSON.stringify(times)) throw new Error(`${o.id} sent seq ${m.seq} with two contents`);
        sent.set(m.seq, times);
      }
      return sent;
    },
    agentLog,
    stop: async () => {
      const agentClean = await stopOrKill(agents[agents.length - 1] as Proc);
      const simsClean = await Promise.all(sims.map((p) => stopOrKill(p)));
      return agentClean && simsClean.every(Boolean);
    },
  };
}

/** Telemetry of one gateway as hub.db holds it: one row per sample. */
export interface StoredSample {
  seq: number;
  idx: number;
  time: number;
}

/**
 * The exactly-once verdict for one gateway, comparing hub.db with what the agent sent: returns the
 * problems found (empty = every seq the agent sent is stored, with exactly its samples, once; no
 * seq the agent did not send; seqs 1..n without a gap).
 */
export function exactlyOnceProblems(stored: readonly StoredSample[], sent: ReadonlyMap<number, readonly number[]>): string[] {
  const problems: string[] = [];
  const bySeq = new Map<number, StoredSample[]>();
  for (const s of stored) bySeq.set(s.seq, [...(bySeq.get(s.seq) ?? []), s]);
  const seqs = [...bySeq.keys()].sort((a, b) => a - b);
  seqs.forEach((seq, i) => seq !== i + 1 && problems.length < 5 && problems.push(`stored seqs have a gap or do not start at 1: ${seqs.slice(Math.max(0, i - 2), i + 3).join(',')}`));
  for (const [seq, times] of sent) {
    const rows = bySeq.get(seq);
    if (!rows) {
      problems.push(`seq ${seq} was sent and is not in hub.db (lost)`);
      continue;
    }
    const storedTimes = rows.map((r) => r.time).sort((a, b) => a - b);
    if (JSON.stringify(storedTimes) !== JSON.stringify([...times].sort((a, b) => a - b))) problems.push(`seq ${seq}: hub.db has ${rows.length} samples, the agent sent ${times.length}`);
  }
  for (const seq of seqs) if (!sent.has(seq)) problems.push(`seq ${seq} is in hub.db but the agent's trace never sent it`);
  const times = stored.map((s) => s.time);
  if (new Set(times).size !== times.length) problems.push(`${times.length - new Set(times).size} sample(s) stored twice (same time under two seqs)`);
  return problems;
}

export function storedSamples(hub: FaultConsole, gatewayId: string): StoredSample[] {
  return hub.query<StoredSample>('SELECT seq, idx, time FROM telemetry_raw WHERE gateway_id = ? ORDER BY seq, idx', gatewayId);
}

/** waitFor for an asynchronous check (an API call, mbpoll): polls every 100 ms. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The log line's time (ISO 8601, shared/node/log.ts) in epoch ms. */
export function timeOf(line: Record<string, unknown> | undefined): number {
  return typeof line?.time === 'string' ? Date.parse(line.time) : Number.NaN;
}

/**
 * `n` simulated gateways (agent/sim/fleet.ts, certificates issued from the CA in `<dir>/pki`) connected
 * to `hub`; resolves once the hub has registered every one of them.
 */
export async function startSimFleet(dir: string, hub: FaultConsole, n: number, prefix: string, labels: string[] = [], o: { answerDelayMs?: number } = {}): Promise<SimulatedFleet> {
  const creds = await issueFleetCredentials(join(dir, 'pki'), TEST_PASSPHRASE, join(dir, `fleet-${prefix}`), simGatewayIds(prefix, n));
  const fleet = await SimulatedFleet.start({ url: `wss://127.0.0.1:${hub.linkPort}/lmgw/v1`, caPem: creds.caPem, gateways: creds.gateways, labels, ...o });
  await waitFor(() => hub.query<{ n: number }>("SELECT count(*) AS n FROM gateways WHERE state = 'connected'")[0]?.n === n, 120_000, 'every gateway registered');
  return fleet;
}
