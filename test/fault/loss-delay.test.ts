/**
 * Fault suite (issue 7), fault 3b: a bad but working path — 30 % packet loss plus 2 s delay between
 * agent and hub. The agent, its lm-sim and mbpoll run in a network namespace of the test's own;
 * the only way out is a veth pair on which nftables drops 30 % of the packets in each direction
 * (real loss: TCP retransmits). Behind it the fault proxy holds every chunk 2 s in each direction
 * before passing it on to lm-console. This kernel has no sch_netem, hence nftables for the loss and
 * the proxy for the delay (docs/operations.md, "Fault suite").
 *
 * The operator notices slow confirmations (≥ 4 s round trips) and nothing else: every command is
 * confirmed and executed (mbpoll), every telemetry batch the agent sent is in hub.db exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CommandRecord } from '../../console/hub/operator/types.js';
import { aLinkPki } from '../agent/fixtures/link.js';
import { delay, PASS, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { aNetns, netnsUnavailable, type Netns } from '../helpers/netns.js';
import { tempDir, waitFor } from '../helpers/processes.js';
import { exactlyOnceProblems, startFaultConsole, startFaultSite, storedSamples, type FaultConsole, type FaultSite } from './fault-stack.js';

const LOSS_PERCENT = 30;
const DELAY_MS = 2_000;
const DEGRADED_FOR_MS = 24_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const unavailable = await netnsUnavailable();
if (unavailable) console.warn(`fault suite: the loss + delay test is skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('fault: 30 % loss plus 2 s delay between agent and hub', () => {
  const tmp = tempDir('lmgw-fault-loss-');
  let ns: Netns | undefined;
  let hub: FaultConsole | undefined;
  let proxy: FaultProxy | undefined;
  let site: FaultSite | undefined;
  afterAll(async () => {
    await site?.stop();
    await proxy?.close();
    await hub?.stop();
    await ns?.close();
    tmp.cleanup();
  });

  it('degrades (slow confirmations) but loses nothing: commands confirmed, telemetry exactly once', async () => {
    const pki = await aLinkPki(tmp.dir);
    ns = await aNetns();
    const n = ns;
    hub = await startFaultConsole(tmp.dir, pki);
    const h = hub;
    proxy = await startFaultProxy({ host: n.hostAddress, targetHost: '127.0.0.1', targetPort: h.linkPort });
    const p = proxy;
    site = await startFaultSite({
      dir: tmp.dir,
      pki,
      id: 'ld-site',
      url: `wss://${n.hostAddress}:${p.port}/lmgw/v1`,
      serverName: 'localhost',
      netns: n,
      link: { backoffBaseMs: 500, backoffCapMs: 4_000 },
    });
    const s = site;
    await waitFor(() => s.sentTelemetry().size >= 3, 30_000, 'the agent (in its namespace) to connect and send telemetry');
    const baseline = await h.api<CommandRecord>('command', { gatewayId: 'ld-site', op: 'read' });
    expect(baseline.state).toBe('confirmed');
    const connectsBefore = s.agentLog().filter((l) => l.msg === 'connected' && l.component === 'link').length;

    // --- the bad path --------------------------------------------------------------------------
    await n.setLoss(LOSS_PERCENT);
    p.setFault(delay(DELAY_MS));
    const degradedAt = Date.now();
    const commands: CommandRecord[] = [];
    for (const c of [
      { op: 'shed', channels: [1] },
      { op: 'restore', channels: [1] },
      { op: 'shed', channels: [2] },
    ]) {
      commands.push(await h.api<CommandRecord>('command', { gatewayId: 'ld-site', ...c }));
      const relays = await s.relays(); // mbpoll in the namespace, at the LM
      expect(relays, `after ${c.op} ${c.channels.join()}`).toEqual(c.op === 'restore' ? ['1', '1', '1', '1'] : c.channels[0] === 1 ? ['0', '1', '1', '1'] : ['1', '0', '1', '1']);
    }
    expect(commands.map((c) => c.state)).toEqual(['confirmed', 'confirmed', 'confirmed']);
    const rtts = commands.map((c) => (c.finishedAt ?? 0) - (c.sentAt ?? 0));
    for (const rtt of rtts) expect(rtt).toBeGreaterThanOrEqual(2 * DELAY_MS); // degraded: the operator waits
    await sleep(Math.max(0, degradedAt + DEGRADED_FOR_MS - Date.now()));
    const dropped = await n.dropped();
    expect(dropped).toBeGreaterThan(10); // the loss was real
    const healedAt = Date.now();
    await n.setLoss(0);
    p.setFault(PASS);

    // --- nothing lost, nothing twice -----------------------------------------------------------
    let problems: string[] = [];
    await waitFor(
      () => {
        problems = exactlyOnceProblems(storedSamples(h, 'ld-site'), s.sentTelemetry());
        return problems.length === 0;
      },
      30_000,
      'hub.db to hold every batch exactly once',
    ).catch(() => undefined);
    expect(problems).toEqual([]);
    const degraded = storedSamples(h, 'ld-site').filter((r) => r.time > degradedAt && r.time < healedAt);
    expect(degraded.length).toBeGreaterThanOrEqual(Math.floor((healedAt - degradedAt) / 1_000) - 3);
    const reconnects = s.agentLog().filter((l) => l.msg === 'connected' && l.component === 'link').length - connectsBefore;
    expect(await h.api<CommandRecord>('command', { gatewayId: 'ld-site', op: 'restore', channels: [2] })).toMatchObject({ state: 'confirmed' });
    console.log(
      `loss ${LOSS_PERCENT} % + delay ${DELAY_MS} ms each way for ${Math.round((healedAt - degradedAt) / 1000)} s: command round trips ${rtts.join(', ')} ms ` +
        `(baseline ${(baseline.finishedAt ?? 0) - (baseline.sentAt ?? 0)} ms), ${dropped} packets dropped, ${reconnects} reconnect(s), ` +
        `${degraded.length} samples from the degraded period stored once`,
    );
  }, 150_000);
});
