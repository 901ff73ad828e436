/**
 * Issue 4's acceptance, end to end with real processes: the hub (console/hub/link, in this process)
 * + `lmgw-agent run` (a child process, from dist/) + `lm-sim` (a child process on a free port), and
 * mbpoll — Debian's Modbus client, nothing of ours — as the witness at the load manager.
 *
 *   hello lists the profile's channels → a shed from the hub turns relay 1 off as mbpoll sees it →
 *   the result carries the read-back → telemetry flows and is acked → a restore brings the relay
 *   back → kill -9 of the agent mid-stream, then a hub outage with another kill -9 inside it →
 *   every telemetry seq reaches the hub 1..n, no gap, no seq with two contents, no sample twice →
 *   a repeated command id is answered from the store, not executed again → SIGTERM exits 0 with the
 *   database closed.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLinkServer, type LinkServer, type SessionInfo } from '../../console/hub/link/server.js';
import type { CommandMessage, Message, ResultMessage, TelemetrySample } from '../../shared/protocol/index.js';
import { ROOT, run, start, tempDir, waitFor } from '../helpers/processes.js';
import { aFastProfile } from './fixtures/lm.js';
import { aLinkPki } from './fixtures/link.js';

const GATEWAY = 'site-e2e';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** mbpoll against lm-sim: the values it prints, one per register or coil. */
async function mbpoll(port: number, args: string[]): Promise<string[]> {
  const ran = await run('mbpoll', ['-m', 'tcp', '-p', String(port), '-0', '-1', ...args, '127.0.0.1']);
  expect(ran.code, ran.stderr).toBe(0);
  return [...ran.stdout.matchAll(/^\[\d+\]:\s+(\S+)/gm)].map((m) => m[1] ?? '');
}
const relayCoils = (port: number): Promise<string[]> => mbpoll(port, ['-a', '1', '-t', '0', '-r', '0', '-c', '4']);

interface Delivery {
  seq: number;
  at: number;
  body: string;
  samples: readonly TelemetrySample[];
}

describe('lmgw-agent run + lm-sim + the hub (issue 4 acceptance)', () => {
  it('shed and restore as mbpoll sees them, results with read-back, telemetry exactly once across kill -9 and a hub outage', async () => {
    const began = Date.now();
    const tmp = tempDir('lmgw-e2e-');
    const procs: ReturnType<typeof start>[] = [];
    let hub: LinkServer | undefined;
    try {
      // --- certificates, profile, lm-sim ----------------------------------------------------------
      const pki = await aLinkPki(tmp.dir);
      const gw = await pki.gateway(GATEWAY);
      const siteDir = join(tmp.dir, 'site');
      mkdirSync(siteDir);
      writeFileSync(join(siteDir, 'ca.pem'), pki.caPem);
      writeFileSync(join(siteDir, `${GATEWAY}.pem`), gw.certPem);
      writeFileSync(join(siteDir, 'gateway.key'), gw.keyPem, { mode: 0o600 });
      // The shipped 4-channel profile without minimum on/off times (a restore right after a shed).
      const profileFile = join(siteDir, 'lm4-fast.json');
      writeFileSync(profileFile, JSON.stringify(aFastProfile()));

      const sim = start(process.execPath, [join(ROOT, 'bin', 'lm-sim.js'), '--port', '0', '--profile', profileFile, '--seed', '11']);
      procs.push(sim);
      await waitFor(() => /listening on Modbus TCP 127\.0\.0\.1:\d+/.test(sim.output()), 10_000, 'lm-sim to listen');
      const simPort = Number(/127\.0\.0\.1:(\d+)/.exec(sim.output())?.[1]);

      // --- the hub: stores telemetry by (gateway, seq) and acks, as the real one will ----------------
      const hellos: SessionInfo[] = [];
      const deliveries: Delivery[] = [];
      const acked = new Map<number, { at: number; index: number }>(); // seq → its first ack: when, after which delivery
      const withheld = new Set<number>(); // seqs the hub received but did not ack
      const results: ResultMessage[] = [];
      const disruptions: { at: number; index: number }[] = []; // kill -9 and hub close: when, after which delivery
      let holdAcks = false;
      const hubOptions = { host: '127.0.0.1', caPem: pki.caPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem };
      const wire = (h: LinkServer): void => {
        h.on('connected', (s) => hellos.push(s));
        h.on('message', (s, m: Message) => {
          if (s.gatewayId !== GATEWAY) return;
          if (m.kind === 'result') results.push(m);
          if (m.kind !== 'telemetry') return;
          deliveries.push({ seq: m.seq, at: Date.now(), body: JSON.stringify(m.samples), samples: m.samples });
          if (holdAcks) {
            withheld.add(m.seq);
            return;
          }
          if (h.send(GATEWAY, { kind: 'ack', seq: m.seq }) && !acked.has(m.seq)) acked.set(m.seq, { at: Date.now(), index: deliveries.length - 1 });
        });
      };
      hub = await startLinkServer({ ...hubOptions, port: 0 });
      wire(hub);
      const hubPort = hub.port;

      // --- the agent, as systemd would run it ---------------------------------------------------------
      const configFile = join(siteDir, 'agent.json');
      writeFileSync(
        configFile,
        JSON.stringify({
          gatewayId: GATEWAY,
          console: { url: `wss://127.0.0.1:${hubPort}/lmgw/v1` },
          tls: { ca: 'ca.pem', cert: `${GATEWAY}.pem`, key: 'gateway.key' },
          proxy: null,
          link: { backoffBaseMs: 200, backoffCapMs: 1000 },
          devices: [{ id: 'lm1', profile: 'lm4-fast.json', connection: { type: 'tcp', host: '127.0.0.1', port: simPort, unitId: 1 } }],
          dataDir: 'data',
          linkLoss: { mode: 'hold' },
        }),
      );
      const startAgent = (): ReturnType<typeof start> => {
        const agent = start(process.execPath, [join(ROOT, 'bin', 'lmgw-agent.js'), 'run', '--config', configFile], { HTTPS_PROXY: '', https_proxy: '' });
        procs.push(agent);
        return agent;
      };
      const kill9 = async (agent: ReturnType<typeof start>): Promise<void> => {
        const exited = new Promise((r) => agent.child.once('exit', r));
        disruptions.push({ at: Date.now(), index: deliveries.length });
        agent.child.kill('SIGKILL');
        await exited;
      };
      const connectedCount = (): number => hellos.length;
      const command = (id: string, op: 'shed' | 'restore', channels: number[]): CommandMessage => ({ kind: 'command', id, op, deadline: Date.now() + 30_000, selector: { channels } });
      const resultOf = async (id: string, after = 0): Promise<ResultMessage> => {
        await waitFor(() => results.filter((r) => r.commandId === id).length > after, 10_000, `the result of ${id}`);
        return results.filter((r) => r.commandId === id)[after] as ResultMessage;
      };

      let agent = startAgent();
      await waitFor(() => connectedCount() === 1, 15_000, 'the agent to connect');
      const connectedAfter = Date.now() - began;

      // 1. The hello lists the profile's device and channels, with health and relay states read at start.
      const hello = hellos[0]?.hello;
      expect(hello?.devices).toHaveLength(1);
      expect(hello?.devices[0]).toMatchObject({ id: 'lm1', model: 'LMGW LM-4F example', health: 'ok' });
      expect(hello?.devices[0]?.channels.map((c) => c.id)).toEqual(aFastProfile().channels.map((c) => c.id));
      expect(hello?.devices[0]?.channels.every((c) => c.on === true)).toBe(true);
      await waitFor(() => acked.size >= 2, 10_000, 'telemetry to flow');

      // 2. Shed channel 1: mbpoll sees coil 0 off and channel 1's power at 0; the result has the read-back.
      expect(await relayCoils(simPort)).toEqual(['1', '1', '1', '1']);
      const shedAt = Date.now();
      expect(hub.send(GATEWAY, command('e2e-shed-1', 'shed', [1]))).toBe(true);
      const shed = await resultOf('e2e-shed-1');
      const shedMs = Date.now() - shedAt;
      expect(shed).toMatchObject({ kind: 'result', status: 'ok' });
      expect(shed.relays).toEqual([
        { channel: 1, on: false },
        { channel: 2, on: true },
        { channel: 3, on: true },
        { channel: 4, on: true },
      ]);
      expect(shed.measuredKw).toBeGreaterThan(0);
      expect(await relayCoils(simPort)).toEqual(['0', '1', '1', '1']);
      const [total, channel1] = (await mbpoll(simPort, ['-a', '1', '-t', '3:float', '-B', '-r', '0', '-c', '2'])).map(Number);
      expect(channel1).toBe(0);
      expect(total).toBeCloseTo(shed.measuredKw ?? Number.NaN, -0.5); // within ±1.6 kW: the loads wander
      await waitFor(() => sim.output().includes('channel 1 (Heat pump) off'), 2_000, 'lm-sim to log the switch');
      // Telemetry follows the relay.
      await waitFor(() => deliveries.some((d) => d.samples.some((s) => s.time > shedAt && s.relays.some((r) => r.channel === 1 && !r.on))), 5_000, 'a sample with relay 1 off');

      // 3. Restore: the relay is back as mbpoll sees it.
      expect(hub.send(GATEWAY, command('e2e-restore-1', 'restore', [1]))).toBe(true);
      const restore = await resultOf('e2e-restore-1');
      expect(restore.status).toBe('ok');
      expect(restore.relays).toContainEqual({ channel: 1, on: true });
      expect(await relayCoils(simPort)).toEqual(['1', '1', '1', '1']);

      // The agent logged both outcomes as structured lines.
      await waitFor(() => /"msg":"command result sent"/.test(agent.output()), 2_000, 'the command log line');
      const commandLines = agent
        .output()
        .split('\n')
        .filter((l) => l.includes('"event":"command"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(commandLines).toEqual([
        expect.objectContaining({ id: 'e2e-shed-1', op: 'shed', status: 'ok', relaysOff: [1], sent: true }),
        expect.objectContaining({ id: 'e2e-restore-1', op: 'restore', status: 'ok', relaysOff: [], sent: true }),
      ]);

      // 4. kill -9 mid-stream: a batch reaches the hub, its ack never goes out, the agent dies.
      holdAcks = true;
      await waitFor(() => withheld.size > 0, 5_000, 'a batch the hub keeps unacknowledged');
      await kill9(agent);
      holdAcks = false;

      // 5. A hub outage, with an agent killed inside it and another started inside it.
      disruptions.push({ at: Date.now(), index: deliveries.length });
      await hub.close();
      const outageFrom = Date.now();
      agent = startAgent();
      await waitFor(() => /"msg":"lmgw-agent starting"/.test(agent.output()), 10_000, 'the agent to start during the outage');
      await sleep(2_500); // samples pile up on disk
      await kill9(agent);
      agent = startAgent();
      await sleep(1_500);
      const outageTo = Date.now();
      hub = await startLinkServer({ ...hubOptions, port: hubPort });
      wire(hub);

      // Replay: everything stored before reaches the restarted hub, and live telemetry follows.
      await waitFor(() => connectedCount() === 2, 15_000, 'the agent to reconnect to the restarted hub');
      const seqsSeen = (): number[] => [...new Set(deliveries.map((d) => d.seq))].sort((a, b) => a - b);
      await waitFor(
        () => {
          const seqs = seqsSeen();
          const contiguous = seqs.every((seq, i) => seq === i + 1);
          const live = deliveries.some((d) => d.samples.some((s) => s.time > outageTo + 1_500));
          return contiguous && live && [...withheld].every((seq) => acked.has(seq));
        },
        15_000,
        'the replay and live telemetry after the outage',
      );

      // 6. A repeated command id is answered from the store — after a kill -9 too — and not executed.
      expect(hub.send(GATEWAY, command('e2e-shed-1', 'shed', [1]))).toBe(true);
      const repeated = await resultOf('e2e-shed-1', 1);
      expect(repeated).toEqual(shed);
      expect(await relayCoils(simPort)).toEqual(['1', '1', '1', '1']);

      // 7. SIGTERM: exit 0, "stopped cleanly", the database closed (SQLite folds and removes the WAL on close).
      const exited = new Promise<number | null>((r) => agent.child.once('exit', (code) => r(code)));
      agent.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(agent.output()).toMatch(/"msg":"stopped cleanly"/);
      expect(existsSync(join(siteDir, 'data', 'agent.sqlite'))).toBe(true);
      expect(existsSync(join(siteDir, 'data', 'agent.sqlite-wal'))).toBe(false);

      // --- the telemetry verdict -----------------------------------------------------------------------
      const seqs = seqsSeen();
      expect(seqs.length).toBeGreaterThanOrEqual(5);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1)); // 1..n, no gap
      const firstBody = new Map<number, string>();
      for (const d of deliveries) {
        const before = firstBody.get(d.seq);
        if (before === undefined) firstBody.set(d.seq, d.body);
        else expect(d.body, `seq ${d.seq} delivered with another content`).toBe(before); // dedupe by (gateway, seq) is safe
      }
      // A seq arrives twice only if the hub had not acked it — or its ack was still in flight when the
      // agent was killed or the hub went down.
      const redelivered = deliveries.filter((d, i) => deliveries.findIndex((e) => e.seq === d.seq) !== i);
      deliveries.forEach((d, i) => {
        const ack = acked.get(d.seq);
        if (ack === undefined || ack.index >= i) return; // not acked before this delivery: a replay is expected
        const cut = disruptions.some((x) => x.index > ack.index && x.index <= i && x.at - ack.at < 1_000);
        expect(cut, `seq ${d.seq} was acked (after delivery ${ack.index}) and sent again (delivery ${i}) with no kill or outage right after the ack`).toBe(true);
      });
      expect(redelivered.map((d) => d.seq)).toEqual(expect.arrayContaining([...withheld])); // the withheld batch was replayed
      // No sample twice: across distinct seqs, in seq order, the sample times strictly increase.
      const times = seqs.flatMap((seq) => (JSON.parse(firstBody.get(seq) ?? '[]') as TelemetrySample[]).map((s) => s.time));
      for (let i = 1; i < times.length; i++) expect(times[i], `sample ${i}`).toBeGreaterThan(times[i - 1] ?? 0);
      // Store-and-forward: samples taken while the hub was down arrived, batched.
      expect(times.filter((t) => t > outageFrom && t < outageTo).length).toBeGreaterThanOrEqual(2);
      expect(seqs.some((seq) => (JSON.parse(firstBody.get(seq) ?? '[]') as unknown[]).length > 1)).toBe(true);

      if (process.env.E2E_DEBUG) console.log(JSON.stringify({ began, outageFrom, outageTo, disruptions, deliveries: deliveries.map((d) => ({ seq: d.seq, at: d.at - began, times: d.samples.map((s) => s.time - began) })) }));
      console.log(
        `e2e: connected after ${connectedAfter} ms; shed round trip ${shedMs} ms; ${seqs.length} seqs, ${times.length} samples, ` +
          `${deliveries.length - seqs.length} redeliveries; total ${Date.now() - began} ms`,
      );
    } finally {
      for (const p of procs) {
        const pid = p.child.pid;
        if (pid !== undefined && p.child.exitCode === null && p.child.signalCode === null) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      await hub?.close();
      tmp.cleanup();
    }
  }, 60_000);
});
