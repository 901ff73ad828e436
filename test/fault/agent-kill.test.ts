/**
 * Fault suite (issue 7), fault 2: `kill -9` of an agent in the middle of a shed event. The
 * auto-restore timer lives in the agent's database, not in its memory: the agent started again
 * restores the relays at the event's end as if nothing had happened — read at the load manager
 * with mbpoll, not taken from anyone's word. And if the agent is still dead at the end, the relays
 * stay off (the LM holds what it was told) until it is back, which then restores at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetSnapshot, GatewayDetail, ShedEventAnswer, ShedEventRecord } from '../../console/hub/operator/types.js';
import { aLinkPki } from '../agent/fixtures/link.js';
import { tempDir, waitFor } from '../helpers/processes.js';
import { eventually, startFaultConsole, startFaultSite, type FaultConsole, type FaultSite } from './fault-stack.js';

/** How far from the event's endsAt the relays may come back on (the agent's timer, mbpoll's polling). */
const EARLY_MS = 300;
const LATE_MS = 1_500;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('fault: kill -9 of an agent mid-event', () => {
  const tmp = tempDir('lmgw-fault-agent-');
  let hub: FaultConsole;
  let site: FaultSite;

  beforeAll(async () => {
    const pki = await aLinkPki(tmp.dir);
    hub = await startFaultConsole(tmp.dir, pki);
    site = await startFaultSite({ dir: tmp.dir, pki, id: 'ak-site', url: `wss://127.0.0.1:${hub.linkPort}/lmgw/v1`, link: { backoffBaseMs: 200, backoffCapMs: 1_000 } });
    await waitFor(() => site.agentLog().some((l) => l.msg === 'connected' && l.component === 'link'), 30_000, 'the agent to connect');
  }, 60_000);
  afterAll(async () => {
    await site?.stop();
    await hub?.stop();
    tmp.cleanup();
  });

  const state = async (): Promise<string | undefined> => (await hub.api<FleetSnapshot>('fleet')).gateways.find((g) => g.gatewayId === 'ak-site')?.state;
  const connections = (): number => site.agentLog().filter((l) => l.msg === 'connected' && l.component === 'link').length;

  /** mbpoll every ~100 ms until channels 1 and 2 are both on: when that was first seen, and when one was last seen off. */
  async function watchRestore(timeoutMs: number): Promise<{ onAt: number; offSeenAt: number }> {
    const deadline = Date.now() + timeoutMs;
    let offSeenAt = 0;
    while (Date.now() < deadline) {
      const before = Date.now();
      const relays = await site.relays();
      if (relays[0] === '1' && relays[1] === '1') return { onAt: before, offSeenAt };
      // The restore writes one coil after the other; channels 3 and 4 were never shed.
      expect(relays.slice(2), 'channels 3 and 4 stay on').toEqual(['1', '1']);
      offSeenAt = Date.now();
      await sleep(100);
    }
    throw new Error(`relays not back on within ${timeoutMs} ms`);
  }

  it('restarted before the end, the agent restores at endsAt (mbpoll), and the hub closes the event', async () => {
    const event = await hub.api<ShedEventAnswer>('startShed', { scope: { kind: 'gateway', gatewayId: 'ak-site' }, selector: { kind: 'channels', channels: [1, 2] }, durationSeconds: 10, note: 'agent kill' });
    expect(event).toMatchObject({ gatewayCount: 1, counts: { confirmed: 1 }, notConfirmed: [] });
    expect(await site.relays()).toEqual(['0', '0', '1', '1']);

    await sleep(2_000);
    await site.killAgent();
    // The hub sees the gateway go; the LM holds the relays off with no agent at all.
    await eventually(async () => (await state()) === 'offline', 5_000, 'the hub to show the gateway offline');
    await sleep(1_500);
    expect(await site.relays()).toEqual(['0', '0', '1', '1']);
    const before = connections();
    site.startAgent();
    await waitFor(() => connections() > before, 15_000, 'the restarted agent to connect');
    expect(Date.now()).toBeLessThan(event.endsAt - 1_000); // restarted well before the end

    const { onAt, offSeenAt } = await watchRestore(event.endsAt - Date.now() + 5_000);
    // mbpoll saw them off until close to the end, and on within the tolerance after it.
    expect(offSeenAt).toBeGreaterThan(event.endsAt - EARLY_MS - 400);
    expect(onAt - event.endsAt).toBeGreaterThan(-EARLY_MS);
    expect(onAt - event.endsAt).toBeLessThan(LATE_MS);
    expect(await site.relays()).toEqual(['1', '1', '1', '1']);
    const restore = site.agentLog().find((l) => l.event === 'auto-restore');
    expect(restore).toMatchObject({ details: { reason: 'duration', channels: '1 2' } });
    await eventually(async () => (await hub.api<ShedEventRecord[]>('shedEvents', { limit: 5 })).find((e) => e.id === event.id)?.state === 'ended', 5_000, 'the hub to end the event');
    console.log(`agent kill -9 mid-event: relays on ${onAt - event.endsAt} ms after endsAt (mbpoll, polled every ~100 ms; last seen off ${offSeenAt - event.endsAt} ms)`);
  }, 60_000);

  it('dead past the end, the relays stay off until the agent is back, which restores at once', async () => {
    // The hub plans from the relay states it knows: wait until telemetry shows the restore.
    await eventually(
      async () => (await hub.api<GatewayDetail>('gateway', { gatewayId: 'ak-site' })).devices[0]?.channels.slice(0, 2).every((c) => c.on === true) ?? false,
      5_000,
      'the hub to see channels 1 and 2 on',
    );
    const event = await hub.api<ShedEventAnswer>('startShed', { scope: { kind: 'gateway', gatewayId: 'ak-site' }, selector: { kind: 'channels', channels: [1, 2] }, durationSeconds: 3 });
    expect(event).toMatchObject({ gatewayCount: 1, counts: { confirmed: 1 }, notConfirmed: [] });
    await site.killAgent();
    await sleep(Math.max(0, event.endsAt - Date.now()) + 1_500);
    expect(await site.relays()).toEqual(['0', '0', '1', '1']); // nobody to restore them
    const startedAt = Date.now();
    site.startAgent();
    const { onAt } = await watchRestore(10_000);
    expect(onAt - startedAt).toBeLessThan(5_000); // the process start (~1 s) and the restore at once
    console.log(`agent dead past endsAt: relays on ${onAt - startedAt} ms after the agent was started again`);
  }, 30_000);
});
