/**
 * Fault suite (issue 7), fault 3a: a half-open link. The fault proxy (test/helpers/fault-proxy.ts)
 * between a real agent and the real lm-console starts dropping every byte both ways and closes
 * nothing — no FIN, no RST, exactly what a dead NAT entry or a pulled cable far away looks like.
 * TCP alone would never notice. With the shipped intervals (the hub pings every 8 s), both ends
 * must see it within 30 s; the agent then dials again, gets through once the path carries new
 * connections, and replays what it sampled into the black hole: nothing is lost or stored twice.
 * A command sent into the black hole times out and never reaches the load manager.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CommandRecord, ConnectionRecord, FleetSnapshot } from '../../console/hub/operator/types.js';
import { LINK_DEFAULTS } from '../../shared/link.js';
import { aLinkPki } from '../agent/fixtures/link.js';
import { BLACKHOLE, PASS, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { tempDir, waitFor } from '../helpers/processes.js';
import { eventually, exactlyOnceProblems, logLines, startFaultConsole, startFaultSite, storedSamples, timeOf, type FaultConsole, type FaultSite } from './fault-stack.js';

const DETECT_WITHIN_MS = 30_000;
const PING_MS = LINK_DEFAULTS.pingIntervalMs;

describe('fault: a half-open link (black hole, no FIN/RST)', () => {
  const tmp = tempDir('lmgw-fault-halfopen-');
  let hub: FaultConsole | undefined;
  let site: FaultSite | undefined;
  let proxy: FaultProxy | undefined;
  afterAll(async () => {
    await site?.stop();
    await proxy?.close();
    await hub?.stop();
    tmp.cleanup();
  });

  it(`is detected by the hub and by the agent within ${DETECT_WITHIN_MS / 1000} s with the default ping interval; the agent reconnects and loses nothing`, async () => {
    const pki = await aLinkPki(tmp.dir);
    hub = await startFaultConsole(tmp.dir, pki); // no link section: the shipped ping interval
    const h = hub;
    proxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: h.linkPort });
    const p = proxy;
    site = await startFaultSite({ dir: tmp.dir, pki, id: 'ho-site', url: `wss://127.0.0.1:${p.port}/lmgw/v1`, link: { backoffBaseMs: 500, backoffCapMs: 2_000 } });
    const s = site;
    await waitFor(() => s.sentTelemetry().size >= 3, 30_000, 'the agent to connect and send telemetry');
    // The welcome carried the default interval: the figures below are the shipped ones.
    expect(s.agentLog().find((l) => l.dir === 'in' && typeof l.frame === 'string' && l.frame.startsWith('<welcome'))?.frame).toContain(` ping="${PING_MS / 1000}"`);
    const [session] = (await h.api<ConnectionRecord[]>('connections', { gatewayId: 'ho-site' })).filter((c) => c.disconnectedAt === undefined);
    expect(session).toBeDefined();

    const blackholedAt = Date.now();
    p.setFault(BLACKHOLE);
    // The operator sheds meanwhile: the command vanishes into the black hole.
    const lostCommand = h.api<CommandRecord>('command', { gatewayId: 'ho-site', op: 'shed', channels: [3] });

    // --- detection, each end on its own -----------------------------------------------------
    let hubDetectedAt = 0;
    await eventually(
      async () => {
        const c = (await h.api<ConnectionRecord[]>('connections', { gatewayId: 'ho-site' })).find((x) => x.sessionId === session?.sessionId);
        hubDetectedAt = c?.disconnectedAt ?? 0;
        if (c?.disconnectedAt !== undefined) expect(c.reason).toBe('LINK_PONG_TIMEOUT');
        return c?.disconnectedAt !== undefined;
      },
      DETECT_WITHIN_MS + 15_000,
      'the hub to drop the session',
    );
    const silent = (): Record<string, unknown> | undefined => s.agentLog().find((l) => l.msg === 'no ping or message from the console; dropping the link');
    await waitFor(() => silent() !== undefined, DETECT_WITHIN_MS + 15_000, 'the agent to drop the link');
    const agentDetectedAt = timeOf(silent());
    const pongLine = logLines(h.proc().stdout()).find((l) => l.msg === 'nothing heard for two ping intervals; terminating' && l.gatewayId === 'ho-site');
    expect(pongLine).toBeDefined();
    expect(Math.abs(timeOf(pongLine) - hubDetectedAt)).toBeLessThan(1_000);
    expect((await h.api<FleetSnapshot>('fleet')).gateways.find((g) => g.gatewayId === 'ho-site')?.state).toBe('offline');

    const hubMs = hubDetectedAt - blackholedAt;
    const agentMs = agentDetectedAt - blackholedAt;
    // Liveness, not luck: the hub cuts after two unanswered pings (2–3 intervals), the agent after
    // 2.5 silent intervals from the last frame it got (an ack, at most a second before the hole).
    expect(hubMs).toBeGreaterThan(2 * PING_MS - 1_000);
    expect(hubMs).toBeLessThanOrEqual(DETECT_WITHIN_MS);
    expect(agentMs).toBeGreaterThan(LINK_DEFAULTS.agentSilenceIntervals * PING_MS - 2_000);
    expect(agentMs).toBeLessThanOrEqual(DETECT_WITHIN_MS);

    // The command sent into the hole: timed out for the operator, never at the LM.
    expect(await lostCommand).toMatchObject({ state: 'timed-out', code: 'OP_TIMED_OUT' });
    expect(await s.relays()).toEqual(['1', '1', '1', '1']);

    // --- the path carries new connections again; the old flow stays dead --------------------
    const healedAt = Date.now();
    const acceptedBefore = p.accepted;
    p.setFault(PASS, 'new');
    await eventually(async () => (await h.api<FleetSnapshot>('fleet')).gateways.find((g) => g.gatewayId === 'ho-site')?.state === 'connected', 30_000, 'the agent to reconnect');
    const reconnectedAt = Date.now();
    expect(p.accepted).toBeGreaterThan(acceptedBefore); // a new TCP connection, not the old flow revived

    // Everything sampled into the black hole is replayed: hub.db has each batch once.
    let problems: string[] = [];
    await waitFor(
      () => {
        problems = exactlyOnceProblems(storedSamples(h, 'ho-site'), s.sentTelemetry());
        return problems.length === 0;
      },
      20_000,
      'hub.db to hold every batch exactly once',
    ).catch(() => undefined);
    expect(problems).toEqual([]);
    const inTheHole = storedSamples(h, 'ho-site').filter((r) => r.time > blackholedAt + 1_000 && r.time < healedAt);
    expect(inTheHole.length).toBeGreaterThanOrEqual(Math.floor((healedAt - blackholedAt) / 1_000) - 3);
    console.log(
      `half-open link (ping ${PING_MS / 1000} s): hub dropped it after ${hubMs} ms, agent after ${agentMs} ms; ` +
        `reconnected ${reconnectedAt - healedAt} ms after the path took new connections; ${inTheHole.length} samples from the outage stored once`,
    );
  }, 120_000);
});
