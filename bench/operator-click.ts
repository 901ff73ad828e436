/**
 * Operator click to confirmed relay on one gateway, every part real and in its own process: a fresh
 * private CA (certs/, as `lmgw-ca init` and `lmgw-agent enroll` + `lmgw-ca sign` make it), the
 * console (`lm-console --headless`, link and operator API on loopback), one gateway agent
 * (`lmgw-agent run`) and one load manager simulator (`lm-sim`, Modbus TCP).
 *
 * A click is one operator API call, `POST /api/v1/command` with `{ op: "shed", channels: [C],
 * durationSeconds: 3600 }` or `{ op: "restore", channels: [C] }` on one channel, alternating, one at a
 * time with a pause between them (an operator does not click twice within a millisecond). The
 * latency is measured from just before the HTTP request is sent to the moment the event stream
 * (`WS /api/v1/events`, what the UI listens to) delivers the command in state `confirmed`. Also
 * reported: click → HTTP answer (which the API sends once the command is final), and the breakdown
 * from the command record's own stamps (hub clock, whole ms): click → requested (HTTP, validation,
 * audit written) → sent → confirmed (link both ways, agent checks, Modbus write and read-back) →
 * the event at this client. At the end the relay is read from lm-sim over Modbus (mbpoll, or
 * modbus-serial when mbpoll is missing) and must match the last command.
 *
 * The profile is a copy of agent/profiles/lm4-float.json with every minimum on/off time set to 0:
 * the shipped 60–300 s would refuse every second click (CMD_MIN_ON_TIME), as they should.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/operator-click.js [--clicks 200 --warmup 10
 *      --gap-ms 200 --channel 1 --json FILE]
 * Progress goes to stderr, the report (Markdown) to stdout. "Other load" is the CPU everything else
 * on the machine used during the measured clicks (/proc/stat minus this process, the console, the
 * agent and lm-sim), in cores: more than a few per cent means a disturbed run.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import type { CommandRecord, OperatorEvent } from '../console/hub/operator/types.js';
import {
  bin,
  distribution,
  fmt,
  makeCa,
  OtherLoad,
  processCpuUs,
  Processes,
  readRelayRegister,
  ROOT,
  sleep,
  startLmSim,
  writeAgentConfig,
  writeBenchProfile,
  type Distribution,
} from './processes.js';

export interface ClickBenchOptions {
  /** Measured clicks. Default 200. */
  clicks?: number;
  /** Clicks before the measured ones (not counted). Default 10. */
  warmup?: number;
  /** Pause after each confirmed click, ms. Default 200. */
  gapMs?: number;
  /** The channel shed and restored. Default 1 (sheddable in lm4-float.json). */
  channel?: number;
  /** Progress lines (to stderr). */
  log?: (line: string) => void;
}

/** One click; times in ms. The hub's stamps are whole ms of its wall clock (the same machine's). */
export interface Click {
  i: number;
  op: 'shed' | 'restore';
  commandId: string;
  state: CommandRecord['state'];
  code?: string;
  /** Relay state the agent read back for the channel (true = on). */
  readBackOn: boolean | undefined;
  clickToConfirmed: number;
  clickToHttpAnswer: number;
  clickToRequestedEvent: number;
  clickToSentEvent: number;
  hub: { clickToRequested: number; requestedToSent: number; sentToFinished: number; finishedToEvent: number };
}

export interface ClickBenchResult {
  options: Required<Omit<ClickBenchOptions, 'log'>>;
  node: string;
  cpu: string;
  date: string;
  clicks: Click[];
  confirmed: number;
  latency: Record<string, Distribution>;
  relay: { expected: number; read: number; via: string; matches: boolean; lastOp: 'shed' | 'restore' };
  /** CPU per measured click (ms), per process: what each part costs for one click (telemetry included). */
  cpuMsPerClick: Record<string, number>;
  othersCores: number | undefined;
  measuredSeconds: number;
}

const GATEWAY = 'bench-gw';
const CLICK_TIMEOUT_MS = 15_000;

interface Tracked {
  requestedAt?: number;
  sentAt?: number;
  final?: { record: CommandRecord; at: number; wall: number };
  resolveFinal?: () => void;
}

export async function runClickBench(options: ClickBenchOptions = {}): Promise<ClickBenchResult> {
  const o = {
    clicks: options.clicks ?? 200,
    warmup: options.warmup ?? 10,
    gapMs: options.gapMs ?? 200,
    channel: options.channel ?? 1,
  };
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const procs = new Processes(log);
  let events: WebSocket | undefined;
  try {
    const dir = procs.tempDir('lmgw-bench-click-');
    const t0 = performance.now();
    const ca = await makeCa(dir, [GATEWAY]);
    log(`CA, console and gateway certificates made in ${((performance.now() - t0) / 1000).toFixed(1)} s in ${dir}`);

    // --- the console ---
    writeFileSync(join(dir, 'server.pem'), ca.serverCertPem);
    writeFileSync(join(dir, 'server.key'), ca.serverKeyPem, { mode: 0o600 });
    const hubConfig = join(dir, 'hub.json');
    writeFileSync(
      hubConfig,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        tls: { ca: ca.caPath, cert: 'server.pem', key: 'server.key', crl: ca.crlPath },
        dataDir: 'hub-data',
        timeZone: 'UTC',
        operatorApi: { host: '127.0.0.1', port: 0, tokenName: 'bench-operator' },
        sites: { [GATEWAY]: { name: 'Bench site' } },
      }),
    );
    const hub = procs.start('lm-console', [bin('lm-console'), '--headless', '--config', hubConfig], { cwd: dir });
    const linkPort = Number((await hub.waitForLine(/^lm-console: link listening on wss:\/\/[\d.]+:(\d+)\//, 20_000))[1]);
    const apiBase = (await hub.waitForLine(/^lm-console: operator console (http:\/\/127\.0\.0\.1:\d+\/)login/, 20_000))[1] ?? '';
    await hub.waitForLine(/^lm-console: data in /, 20_000);
    const token = readFileSync(join(dir, 'hub-data', 'operator-token'), 'utf8').trim();
    log(`lm-console: link on port ${linkPort}, operator API ${apiBase}`);

    // --- the event stream, before the agent connects ---
    const tracked = new Map<string, Tracked>();
    let current: { id?: string; onId?: (id: string) => void } | undefined;
    let connected: (() => void) | undefined;
    const isConnected = new Promise<void>((resolve) => (connected = resolve));
    events = new WebSocket(`${apiBase.replace(/^http/, 'ws')}api/v1/events`, { headers: { authorization: `Bearer ${token}` } });
    await new Promise<void>((resolve, reject) => {
      events?.once('open', () => resolve());
      events?.once('error', reject);
    });
    events.on('message', (data: Buffer) => {
      const at = performance.now();
      const wall = Date.now();
      const e = JSON.parse(data.toString('utf8')) as OperatorEvent;
      if (e.type === 'gateways' && e.patches.some((p) => p.gatewayId === GATEWAY && p.state === 'connected')) connected?.();
      if (e.type !== 'command' || e.command.gatewayId !== GATEWAY) return;
      const c = e.command;
      let t = tracked.get(c.id);
      if (!t) {
        // Commands are made only by our clicks, one at a time: a new id is the current click's.
        t = {};
        tracked.set(c.id, t);
        if (current && current.id === undefined) {
          current.id = c.id;
          current.onId?.(c.id);
        }
      }
      if (c.state === 'requested') t.requestedAt ??= at;
      else if (c.state === 'sent') t.sentAt ??= at;
      else if (!t.final) {
        t.final = { record: c, at, wall };
        t.resolveFinal?.();
      }
    });

    const call = async (method: string, params: unknown): Promise<unknown> => {
      const res = await fetch(new URL(`api/v1/${method}`, apiBase), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(params),
      });
      const body = (await res.json()) as { result?: unknown; error?: { code: string; message: string } };
      if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${body.error?.code ?? ''}: ${body.error?.message ?? ''}`);
      return body.result;
    };

    // --- the site: lm-sim and the agent ---
    const { path: profilePath, profile } = writeBenchProfile(dir, join(ROOT, 'agent', 'profiles', 'lm4-float.json'));
    const channel = profile.channels.find((c) => c.id === o.channel);
    if (!channel) throw new Error(`--channel ${o.channel}: the profile has channels ${profile.channels.map((c) => c.id).join(', ')}`);
    const { sim, port: modbusPort } = await startLmSim(procs, profilePath);
    const gw = ca.gateways.get(GATEWAY);
    if (!gw) throw new Error('unreachable: no gateway certificate');
    const agentConfig = writeAgentConfig(dir, {
      gatewayId: GATEWAY,
      linkPort,
      caPath: ca.caPath,
      certPath: gw.certPath,
      keyPath: gw.keyPath,
      profilePath,
      modbusPort,
      unitId: profile.connection.unitId,
    });
    const agent = procs.start('lmgw-agent', [bin('lmgw-agent'), 'run', '--config', agentConfig], { cwd: dir });
    log(`lm-sim on Modbus TCP port ${modbusPort}; waiting for the agent to connect`);
    let connectTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      isConnected,
      new Promise((_, reject) => (connectTimer = setTimeout(() => reject(new Error(`the agent did not connect within 20 s; it wrote:\n${agent.output().slice(-2000)}`)), 20_000))),
      agent.exited.then(() => Promise.reject(new Error(`the agent exited (${agent.child.exitCode ?? agent.child.signalCode}); it wrote:\n${agent.output().slice(-2000)}`))),
    ]);
    clearTimeout(connectTimer);
    log('agent connected');

    // --- the clicks ---
    const clicks: Click[] = [];
    const pids = { 'lm-console': hub.pid, 'lmgw-agent': agent.pid, 'lm-sim': sim.pid, benchmark: process.pid };
    let others: OtherLoad | undefined;
    let cpu0: Record<string, number> = {};
    let measureStart = 0;
    const total = o.warmup + o.clicks;
    let lastOp: 'shed' | 'restore' = 'restore';
    for (let i = 0; i < total; i++) {
      if (i === o.warmup) {
        others = new OtherLoad(Object.values(pids));
        cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processCpuUs(pid) ?? Number.NaN]));
        measureStart = performance.now();
        log(`warm-up done (${o.warmup} clicks); measuring ${o.clicks} clicks`);
      }
      const op: 'shed' | 'restore' = i % 2 === 0 ? 'shed' : 'restore';
      lastOp = op;
      const params = op === 'shed' ? { gatewayId: GATEWAY, op, channels: [o.channel], durationSeconds: 3600 } : { gatewayId: GATEWAY, op, channels: [o.channel] };
      const slot: { id?: string; onId?: (id: string) => void } = {};
      const idKnown = new Promise<string>((resolve) => (slot.onId = resolve));
      current = slot;
      const wall0 = Date.now();
      const click0 = performance.now();
      const answer = call('command', params).then((r) => ({ record: r as CommandRecord, at: performance.now() }));
      // Observed by the races below; this handler only keeps a late failure from being "unhandled".
      answer.catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`click ${i} (${op}): no final state within ${CLICK_TIMEOUT_MS} ms`)), CLICK_TIMEOUT_MS)));
      let id: string;
      let t: Tracked;
      let http: { record: CommandRecord; at: number };
      try {
        id = await Promise.race([idKnown, timeout, answer.then((a) => a.record.id)]);
        let known = tracked.get(id);
        if (!known) tracked.set(id, (known = {}));
        t = known;
        const finalSeen = t.final ? Promise.resolve() : new Promise<void>((resolve) => (known.resolveFinal = resolve));
        [http] = await Promise.race([Promise.all([answer, finalSeen]), timeout]);
      } finally {
        clearTimeout(timer);
        current = undefined;
      }
      const final = t.final;
      if (!final) throw new Error('unreachable: no final event');
      if (http.record.id !== id) throw new Error(`click ${i}: the API answered command ${http.record.id}, the event stream showed ${id}`);
      const r = final.record;
      const readBack = r.readBack?.find((s) => s.channel === o.channel);
      const click: Click = {
        i,
        op,
        commandId: id,
        state: r.state,
        ...(r.code !== undefined ? { code: r.code } : {}),
        readBackOn: readBack?.on,
        clickToConfirmed: final.at - click0,
        clickToHttpAnswer: http.at - click0,
        clickToRequestedEvent: (t.requestedAt ?? Number.NaN) - click0,
        clickToSentEvent: (t.sentAt ?? Number.NaN) - click0,
        hub: {
          clickToRequested: r.requestedAt - wall0,
          requestedToSent: (r.sentAt ?? Number.NaN) - r.requestedAt,
          sentToFinished: (r.finishedAt ?? Number.NaN) - (r.sentAt ?? Number.NaN),
          finishedToEvent: final.wall - (r.finishedAt ?? Number.NaN),
        },
      };
      if (r.state !== 'confirmed') log(`click ${i} (${op}): ${r.state} ${r.code ?? ''} ${r.message ?? ''}`);
      else if (readBack?.on !== (op === 'restore')) log(`click ${i} (${op}): confirmed, but the read-back says channel ${o.channel} is ${readBack?.on ? 'on' : 'off'}`);
      if (i >= o.warmup) clicks.push(click);
      if ((i + 1) % 50 === 0) log(`  ${i + 1}/${total} clicks, last ${click.clickToConfirmed.toFixed(1)} ms`);
      await sleep(o.gapMs);
    }
    const measuredSeconds = (performance.now() - measureStart) / 1000;
    const othersCores = others?.cores();
    const cpuMsPerClick = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, ((processCpuUs(pid) ?? Number.NaN) - (cpu0[k] ?? Number.NaN)) / 1000 / clicks.length]));

    // --- the relay, read over Modbus, must match the last command ---
    const expected = lastOp === 'shed' ? channel.relay.off : channel.relay.on;
    const read = await readRelayRegister(modbusPort, profile.connection.unitId, channel.relay);
    log(`relay of channel ${o.channel} (${channel.relay.type} ${channel.relay.address}) read with ${read.via}: ${read.value}, expected ${expected} after the last ${lastOp}`);

    const pick = (f: (c: Click) => number, only?: 'shed' | 'restore'): Distribution => distribution(clicks.filter((c) => c.state === 'confirmed' && (!only || c.op === only)).map(f));
    return {
      options: o,
      node: process.version,
      cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`,
      date: new Date().toISOString(),
      clicks,
      confirmed: clicks.filter((c) => c.state === 'confirmed').length,
      latency: {
        'click → confirmed (event stream)': pick((c) => c.clickToConfirmed),
        '  shed only': pick((c) => c.clickToConfirmed, 'shed'),
        '  restore only': pick((c) => c.clickToConfirmed, 'restore'),
        'click → HTTP answer': pick((c) => c.clickToHttpAnswer),
        'click → "requested" event': pick((c) => c.clickToRequestedEvent),
        'click → "sent" event': pick((c) => c.clickToSentEvent),
        'hub stamps: click → requested (HTTP in, validation, audit)': pick((c) => c.hub.clickToRequested),
        'hub stamps: requested → sent': pick((c) => c.hub.requestedToSent),
        'hub stamps: sent → confirmed (link, agent, Modbus write + read-back)': pick((c) => c.hub.sentToFinished),
        'hub stamps: confirmed → event at this client': pick((c) => c.hub.finishedToEvent),
      },
      relay: { expected, read: read.value, via: read.via, matches: read.value === expected, lastOp },
      cpuMsPerClick,
      othersCores,
      measuredSeconds,
    };
  } finally {
    events?.terminate();
    await procs.cleanup();
  }
}

export function formatReport(r: ClickBenchResult): string {
  const lines = [
    `operator click benchmark — Node ${r.node}, ${r.cpu}, ${r.date.slice(0, 16).replace('T', ' ')} UTC; ` +
      `${r.options.clicks} clicks (after ${r.options.warmup} warm-up) alternating shed/restore of channel ${r.options.channel}, ${r.options.gapMs} ms between clicks; ` +
      `real lm-console --headless, lmgw-agent, lm-sim on loopback`,
    '',
    '| from → to | n | p50 ms | p95 ms | p99 ms | max ms | mean ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...Object.entries(r.latency).map(([name, d]) => {
      const digits = name.startsWith('hub stamps') ? 0 : 2;
      return `| ${name} | ${d.n} | ${fmt(d.p50, digits)} | ${fmt(d.p95, digits)} | ${fmt(d.p99, digits)} | ${fmt(d.max, digits)} | ${fmt(d.mean, 2)} |`;
    }),
    '',
    `confirmed: ${r.confirmed} of ${r.clicks.length}` +
      (r.confirmed < r.clicks.length ? ` (others: ${[...new Set(r.clicks.filter((c) => c.state !== 'confirmed').map((c) => `${c.state} ${c.code ?? ''}`.trim()))].join(', ')})` : ''),
    `relay after the last click (${r.relay.lastOp}): read ${r.relay.read} with ${r.relay.via}, expected ${r.relay.expected} — ${r.relay.matches ? 'matches' : 'DOES NOT MATCH'}`,
    `CPU per click (ms, telemetry and idle work of the ${fmt(r.measuredSeconds, 0)} s included): ${Object.entries(r.cpuMsPerClick).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ')}`,
    `other load on the machine: ${r.othersCores === undefined ? '? (no /proc/stat)' : `${fmt(r.othersCores, 2)} cores`}`,
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clicks: { type: 'string' },
      warmup: { type: 'string' },
      'gap-ms': { type: 'string' },
      channel: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const num = (name: string, value: string | undefined, min: number): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}, not "${value}"`);
    return n;
  };
  const clicks = num('clicks', values.clicks, 1);
  const warmup = num('warmup', values.warmup, 0);
  const gapMs = num('gap-ms', values['gap-ms'], 0);
  const channel = num('channel', values.channel, 1);
  const result = await runClickBench({
    ...(clicks === undefined ? {} : { clicks }),
    ...(warmup === undefined ? {} : { warmup }),
    ...(gapMs === undefined ? {} : { gapMs }),
    ...(channel === undefined ? {} : { channel }),
  });
  console.log(formatReport(result));
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  if (!result.relay.matches || result.confirmed < result.clicks.length) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main().catch((err: unknown) => {
    console.error(`operator-click benchmark: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  });
}
