/**
 * The gateway agent's own cost: RSS and CPU of one real `lmgw-agent run` process at 4 exchanges/s
 * (the paper's prototype rate) with telemetry every second, driving a real `lm-sim` over Modbus TCP.
 *
 * The hub is the real link server (`startLinkServer`, mutual TLS with a fresh CA made by certs/) in
 * this process — not `lm-console`, whose operator API is not meant to carry 4 commands/s to one
 * gateway — and it does what the console's hub does on the link: it sends commands (encoded by the
 * codec), matches each result to its command, and acknowledges every telemetry batch. Commands:
 * `shed-restore` (default) alternates shed (durationSeconds 3600) and restore of one channel, so
 * every exchange is a Modbus write plus read-back and a SQLite commit on the agent; `read` sends
 * read commands, which change nothing. Commands go out on a fixed schedule (k / rate s after the
 * start), whether or not the previous one was answered.
 *
 * After `warmup` s the agent's /proc/PID/stat utime+stime is read (ticks of `getconf CLK_TCK`),
 * again after `seconds`: CPU % of one core = Δ(utime+stime) / window. RSS (VmRSS of
 * /proc/PID/status) is sampled every second in the window: median and max are reported, with VmHWM
 * (the high-water mark since the start) and the thread count. Targets (issue #7): agent RSS ≤ 60 MB
 * (judged on the window's max, in MB = 10^6 bytes, the stricter reading) and ≤ 1 % of one core.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/agent.js [--seconds 60 --warmup 10 --rate 4
 *      --op shed-restore|read --json FILE]
 *      Diagnosis: --cpu-prof DIR runs the agent with `node --cpu-prof --cpu-prof-dir DIR` (the profile
 *      is written when it stops) and reports the functions with the most self time within the
 *      window; the profiler itself costs CPU, so the figures of such a run are not the agent's.
 *      --agent-node-arg FLAG (repeatable) passes other Node flags to the agent.
 * Progress goes to stderr, the report (Markdown) to stdout. "Other load" is what everything else on
 * the machine used in the window (/proc/stat minus this process, the agent and lm-sim), in cores.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startLinkServer, type LinkServer } from '../console/hub/link/server.js';
import type { CommandMessage } from '../shared/protocol/index.js';
import {
  bin,
  distribution,
  fmt,
  makeCa,
  OtherLoad,
  processCpuSplitUs,
  processMemory,
  Processes,
  ROOT,
  sleep,
  startLmSim,
  topSelfTime,
  writeAgentConfig,
  writeBenchProfile,
  type Distribution,
  type SelfTime,
} from './processes.js';

export type AgentBenchOp = 'shed-restore' | 'read';

export interface AgentBenchOptions {
  /** Measured seconds, after the warm-up. Default 60. */
  seconds?: number;
  /** Seconds of load before the window. Default 10. */
  warmup?: number;
  /** Commands per second. Default 4. */
  rate?: number;
  /** Default 'shed-restore'. */
  op?: AgentBenchOp;
  /** The channel shed and restored. Default 1. */
  channel?: number;
  /** Profile the agent (V8 CPU profile) into this directory. */
  cpuProfDir?: string;
  /** Extra Node flags for the agent process. */
  agentNodeArgs?: readonly string[];
  log?: (line: string) => void;
}

export const TARGETS = { rssBytes: 60e6, cpuShare: 0.01 } as const;

export interface AgentBenchResult {
  options: { seconds: number; warmup: number; rate: number; op: AgentBenchOp; channel: number; cpuProfDir?: string; agentNodeArgs: readonly string[] };
  node: string;
  cpu: string;
  date: string;
  windowSeconds: number;
  /** RSS of an idle `node -e 'setInterval(…)'` with no modules: the floor under the agent's RSS. */
  nodeFloorRssBytes: number;
  agent: {
    /** Share of one core, user + system, over the window. */
    cpuShare: number;
    cpuUserShare: number;
    cpuSystemShare: number;
    rssMedianBytes: number;
    rssMaxBytes: number;
    rssMinBytes: number;
    /** VmHWM at the end of the window: the highest RSS since the agent started. */
    hwmBytes: number;
    threads: number;
    rssSamples: number[];
  };
  simCpuShare: number;
  exchanges: { sent: number; answered: number; ok: number; notOk: Record<string, number>; perSecond: number; roundTripMs: Distribution };
  telemetry: { batches: number; samples: number; perSecond: number };
  othersCores: number | undefined;
  profile?: { busyMs: number; idleMs: number; windowed: boolean; top: SelfTime[] };
  verdict: { rss: boolean; cpu: boolean };
}

const GATEWAY = 'bench-agent';
/** Command deadline, as the hub's default (10 s). */
const DEADLINE_MS = 10_000;

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[(s.length - 1) / 2] ?? Number.NaN) : ((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2;
}

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

export async function runAgentBench(options: AgentBenchOptions = {}): Promise<AgentBenchResult> {
  const o = {
    seconds: options.seconds ?? 60,
    warmup: options.warmup ?? 10,
    rate: options.rate ?? 4,
    op: options.op ?? 'shed-restore',
    channel: options.channel ?? 1,
    agentNodeArgs: options.agentNodeArgs ?? [],
    ...(options.cpuProfDir !== undefined ? { cpuProfDir: resolve(options.cpuProfDir) } : {}),
  };
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const procs = new Processes(log);
  let link: LinkServer | undefined;
  let driver: NodeJS.Timeout | undefined;
  try {
    const dir = procs.tempDir('lmgw-bench-agent-');
    // The floor: what an idle `node` with no modules holds on this machine, for reading the RSS target.
    const bare = procs.start('bare node', ['-e', 'setInterval(() => {}, 1000)']);
    await sleep(1_000);
    const nodeFloorRssBytes = processMemory(bare.pid)?.rss ?? Number.NaN;
    await procs.stop(bare);
    const ca = await makeCa(dir, [GATEWAY]);
    link = await startLinkServer({ host: '127.0.0.1', port: 0, caPem: ca.caPem, certPem: ca.serverCertPem, keyPem: ca.serverKeyPem, crlPath: ca.crlPath });
    log(`CA made; link server (startLinkServer) on 127.0.0.1:${link.port}`);

    const { path: profilePath, profile } = writeBenchProfile(dir, join(ROOT, 'agent', 'profiles', 'lm4-float.json'));
    if (!profile.channels.some((c) => c.id === o.channel)) throw new Error(`--channel ${o.channel}: the profile has channels ${profile.channels.map((c) => c.id).join(', ')}`);
    const { sim, port: modbusPort } = await startLmSim(procs, profilePath);
    const gw = ca.gateways.get(GATEWAY);
    if (!gw) throw new Error('unreachable: no gateway certificate');
    const agentConfig = writeAgentConfig(dir, {
      gatewayId: GATEWAY,
      linkPort: link.port,
      caPath: ca.caPath,
      certPath: gw.certPath,
      keyPath: gw.keyPath,
      profilePath,
      modbusPort,
      unitId: profile.connection.unitId,
    });

    // --- the hub's side of the link ---
    const pending = new Map<string, number>();
    const counters = { sent: 0, answered: 0, ok: 0, notOk: {} as Record<string, number>, batches: 0, samples: 0, rtts: [] as number[], measuring: false };
    let connected: (() => void) | undefined;
    const isConnected = new Promise<void>((r) => (connected = r));
    link.on('connected', (s) => s.gatewayId === GATEWAY && connected?.());
    link.on('disconnected', (s, why) => log(`agent disconnected: ${why.code} ${why.reason}`));
    link.on('message', (s, m) => {
      if (m.kind === 'telemetry') {
        link?.send(s.gatewayId, { kind: 'ack', seq: m.seq });
        if (counters.measuring) {
          counters.batches += 1;
          counters.samples += m.samples.length;
        }
      } else if (m.kind === 'result') {
        const sentAt = pending.get(m.commandId);
        if (sentAt === undefined) return;
        pending.delete(m.commandId);
        if (!counters.measuring) return;
        counters.answered += 1;
        counters.rtts.push(performance.now() - sentAt);
        if (m.status === 'ok') counters.ok += 1;
        else counters.notOk[m.code] = (counters.notOk[m.code] ?? 0) + 1;
      }
    });

    // --- the agent ---
    const nodeArgs = [...o.agentNodeArgs];
    if (o.cpuProfDir !== undefined) {
      mkdirSync(o.cpuProfDir, { recursive: true });
      nodeArgs.push('--cpu-prof', '--cpu-prof-dir', o.cpuProfDir);
    }
    const agent = procs.start('lmgw-agent', [bin('lmgw-agent'), 'run', '--config', agentConfig], { cwd: dir, nodeArgs });
    log(`lm-sim on Modbus TCP port ${modbusPort}; waiting for the agent to connect${nodeArgs.length ? ` (node ${nodeArgs.join(' ')})` : ''}`);
    let connectTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      isConnected,
      new Promise((_, reject) => (connectTimer = setTimeout(() => reject(new Error(`the agent did not connect within 20 s; it wrote:\n${agent.output().slice(-2000)}`)), 20_000))),
      agent.exited.then(() => Promise.reject(new Error(`the agent exited (${agent.child.exitCode ?? agent.child.signalCode}); it wrote:\n${agent.output().slice(-2000)}`))),
    ]);
    clearTimeout(connectTimer);

    // --- the load: one command every 1/rate s on a fixed schedule ---
    const start = performance.now();
    let k = 0;
    const tick = (): void => {
      const due = Math.floor(((performance.now() - start) * o.rate) / 1000) + 1;
      for (; k < due; k++) {
        const id = `b${k}`;
        const deadline = Date.now() + DEADLINE_MS;
        const command: CommandMessage =
          o.op === 'read'
            ? { kind: 'command', id, deadline, op: 'read' }
            : k % 2 === 0
              ? { kind: 'command', id, deadline, op: 'shed', selector: { channels: [o.channel] }, durationSeconds: 3600 }
              : { kind: 'command', id, deadline, op: 'restore', selector: { channels: [o.channel] } };
        pending.set(id, performance.now());
        if (counters.measuring) counters.sent += 1;
        if (!link?.send(GATEWAY, command)) log(`command ${id}: the agent is not connected`);
      }
      driver = setTimeout(tick, Math.max(1, start + (k * 1000) / o.rate - performance.now()));
    };
    tick();
    log(`agent connected; ${o.rate} ${o.op} commands/s; warming up ${o.warmup} s`);
    await sleep(o.warmup * 1000);

    // --- the window ---
    const others = new OtherLoad([process.pid, agent.pid, sim.pid]);
    const agentCpu0 = processCpuSplitUs(agent.pid);
    const simCpu0 = processCpuSplitUs(sim.pid);
    const windowFromUs = monotonicUs();
    const t0 = performance.now();
    counters.measuring = true;
    log(`measuring ${o.seconds} s`);
    const rss: number[] = [];
    for (let s = 1; s <= o.seconds; s++) {
      await sleep(Math.max(0, t0 + s * 1000 - performance.now()));
      const mem = processMemory(agent.pid);
      if (!mem) throw new Error(`the agent (pid ${agent.pid}) is gone; it wrote:\n${agent.output().slice(-2000)}`);
      rss.push(mem.rss);
      if (s % 10 === 0) log(`  ${s}/${o.seconds} s: agent RSS ${fmt(mem.rss / 1048576)} MiB, ${counters.answered} answers`);
    }
    counters.measuring = false;
    const windowSeconds = (performance.now() - t0) / 1000;
    const agentCpu1 = processCpuSplitUs(agent.pid);
    const simCpu1 = processCpuSplitUs(sim.pid);
    const windowToUs = monotonicUs();
    const othersCores = others.cores();
    const mem = processMemory(agent.pid);
    clearTimeout(driver);
    driver = undefined;
    if (!agentCpu0 || !agentCpu1 || !simCpu0 || !simCpu1 || !mem) throw new Error('cannot read /proc for the agent or lm-sim (Linux only)');

    // Stopped here (SIGTERM, a clean stop) so that a CPU profile is written before it is read.
    await procs.stop(agent, 15_000);
    const profileReport = o.cpuProfDir !== undefined ? topSelfTime(o.cpuProfDir, 20, { fromUs: windowFromUs, toUs: windowToUs }) : undefined;

    const share = (a: number, b: number): number => (b - a) / 1e6 / windowSeconds;
    const cpuShare = share(agentCpu0.user + agentCpu0.system, agentCpu1.user + agentCpu1.system);
    const rssMax = Math.max(...rss);
    return {
      options: o,
      node: process.version,
      cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`,
      date: new Date().toISOString(),
      windowSeconds,
      nodeFloorRssBytes,
      agent: {
        cpuShare,
        cpuUserShare: share(agentCpu0.user, agentCpu1.user),
        cpuSystemShare: share(agentCpu0.system, agentCpu1.system),
        rssMedianBytes: median(rss),
        rssMaxBytes: rssMax,
        rssMinBytes: Math.min(...rss),
        hwmBytes: mem.hwm,
        threads: mem.threads,
        rssSamples: rss,
      },
      simCpuShare: share(simCpu0.user + simCpu0.system, simCpu1.user + simCpu1.system),
      exchanges: {
        sent: counters.sent,
        answered: counters.answered,
        ok: counters.ok,
        notOk: counters.notOk,
        perSecond: counters.answered / windowSeconds,
        roundTripMs: distribution(counters.rtts),
      },
      telemetry: { batches: counters.batches, samples: counters.samples, perSecond: counters.batches / windowSeconds },
      othersCores,
      ...(profileReport ? { profile: profileReport } : {}),
      verdict: { rss: rssMax <= TARGETS.rssBytes, cpu: cpuShare <= TARGETS.cpuShare },
    };
  } finally {
    clearTimeout(driver);
    await procs.cleanup();
    await link?.close();
  }
}

export function formatReport(r: AgentBenchResult): string {
  const mib = (b: number): string => `${fmt(b / 1048576)} MiB (${fmt(b / 1e6)} MB)`;
  const pct = (x: number): string => `${fmt(x * 100, 2)} %`;
  const a = r.agent;
  const e = r.exchanges;
  const notOk = Object.entries(e.notOk).map(([code, n]) => `${n} ${code}`).join(', ');
  const lines = [
    `agent benchmark — Node ${r.node}, ${r.cpu}, ${r.date.slice(0, 16).replace('T', ' ')} UTC; one lmgw-agent process, ${r.options.rate} ${r.options.op} commands/s ` +
      `from an in-process link server, telemetry every 1 s, lm-sim over Modbus TCP; ${fmt(r.windowSeconds, 0)} s measured after ${r.options.warmup} s warm-up` +
      (r.options.cpuProfDir !== undefined ? ' — PROFILED RUN (--cpu-prof): the CPU figure includes the profiler' : '') +
      (r.options.agentNodeArgs.length ? ` — agent node flags: ${r.options.agentNodeArgs.join(' ')}` : ''),
    '',
    '| figure | value | target | verdict |',
    '|---|---:|---|---|',
    `| agent CPU, user + system | ${pct(a.cpuShare)} of one core (${pct(a.cpuUserShare)} + ${pct(a.cpuSystemShare)}) | ≤ 1 % | ${r.verdict.cpu ? 'met' : '**not met**'} |`,
    `| agent RSS, median of ${a.rssSamples.length} samples | ${mib(a.rssMedianBytes)} | | |`,
    `| agent RSS, max in the window | ${mib(a.rssMaxBytes)} | ≤ 60 MB | ${r.verdict.rss ? 'met' : '**not met**'} |`,
    `| agent RSS, min in the window | ${mib(a.rssMinBytes)} | | |`,
    `| agent VmHWM (peak since start) | ${mib(a.hwmBytes)} | | |`,
    `| floor: an idle \`node\` with no modules | ${mib(r.nodeFloorRssBytes)} | | |`,
    `| agent threads | ${a.threads} | | |`,
    `| exchanges answered | ${e.answered} of ${e.sent} sent, ${fmt(e.perSecond, 2)}/s; ${e.ok} ok${notOk ? `, ${notOk}` : ''} | ${r.options.rate}/s | |`,
    `| round trip hub → agent → hub, p50 / p99 / max | ${fmt(e.roundTripMs.p50, 2)} / ${fmt(e.roundTripMs.p99, 2)} / ${fmt(e.roundTripMs.max, 2)} ms | | |`,
    `| telemetry batches received | ${r.telemetry.batches} (${fmt(r.telemetry.perSecond, 2)}/s, ${r.telemetry.samples} samples) | 1/s | |`,
    `| lm-sim CPU | ${pct(r.simCpuShare)} of one core | | |`,
    `| other load on the machine | ${r.othersCores === undefined ? '?' : `${fmt(r.othersCores, 2)} cores`} | | |`,
  ];
  if (r.profile) {
    lines.push(
      '',
      `CPU profile of the agent: ${fmt(r.profile.busyMs, 0)} ms busy, ${fmt(r.profile.idleMs, 0)} ms idle in ${r.profile.windowed ? 'the window' : 'the whole run (the window could not be matched)'}; top self time:`,
      '',
      '| self ms | share of busy | function | where |',
      '|---:|---:|---|---|',
      ...r.profile.top.map((t) => `| ${fmt(t.ms, 1)} | ${fmt(t.share * 100, 1)} % | ${t.function} | ${t.where} |`),
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      rate: { type: 'string' },
      op: { type: 'string' },
      channel: { type: 'string' },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'agent-node-arg': { type: 'string', multiple: true },
    },
  });
  const num = (name: string, value: string | undefined, min: number, integer = true): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a ${integer ? 'whole ' : ''}number ≥ ${min}, not "${value}"`);
    return n;
  };
  if (values.op !== undefined && values.op !== 'shed-restore' && values.op !== 'read') throw new Error(`--op must be shed-restore or read, not "${values.op}"`);
  const seconds = num('seconds', values.seconds, 1);
  const warmup = num('warmup', values.warmup, 0);
  const rate = num('rate', values.rate, 0.1, false);
  const channel = num('channel', values.channel, 1);
  const result = await runAgentBench({
    ...(seconds === undefined ? {} : { seconds }),
    ...(warmup === undefined ? {} : { warmup }),
    ...(rate === undefined ? {} : { rate }),
    ...(channel === undefined ? {} : { channel }),
    ...(values.op === undefined ? {} : { op: values.op }),
    ...(values['cpu-prof'] === undefined ? {} : { cpuProfDir: values['cpu-prof'] }),
    ...(values['agent-node-arg'] === undefined ? {} : { agentNodeArgs: values['agent-node-arg'] }),
  });
  console.log(formatReport(result));
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  const lost = result.exchanges.sent - result.exchanges.answered;
  if (lost > result.options.rate) console.log(`note: ${lost} commands sent in the window were not answered in it`);
  if (!result.verdict.rss || !result.verdict.cpu) {
    if (result.options.cpuProfDir === undefined) console.log('\nA target is missed: run again with --cpu-prof DIR to see where the agent spends its time.');
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main().catch((err: unknown) => {
    console.error(`agent benchmark: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  });
}
