/**
 * SiteController: what the link wires in — the hello's devices, commands and acks from the hub,
 * telemetry and events to it — with lm-sim on real sockets and the database in a temp dir.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Profile } from '../../agent/lm/profile.js';
import { noFaults } from '../../agent/sim/faults.js';
import { SiteController, type SiteOptions } from '../../agent/site.js';
import { decode, ProtocolError, type CommandMessage, type EventMessage, type Message, type TelemetryMessage } from '../../shared/protocol/index.js';
import { tempDir, waitFor } from '../helpers/processes.js';
import { aFastProfile, aProfile, aSim, LM16, type RunningSim } from './fixtures/lm.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig {
  site: SiteController;
  sent: Message[];
  link: { up: boolean };
  reopen: (options?: Partial<SiteOptions>) => Promise<SiteController>;
}

async function aSimFor(profile: Readonly<Profile>): Promise<RunningSim> {
  const running = await aSim(profile);
  cleanups.push(running.close);
  return running;
}

async function aSite(devices: SiteOptions['devices'], options: Partial<SiteOptions> = {}): Promise<Rig> {
  const dir = tempDir();
  cleanups.push(dir.cleanup);
  const sent: Message[] = [];
  const link = { up: false };
  const open = async (more: Partial<SiteOptions> = {}): Promise<SiteController> => {
    const site = await SiteController.open({
      devices,
      dataDir: dir.dir,
      send: (m) => {
        if (!link.up) return false;
        sent.push(m);
        return true;
      },
      telemetry: { intervalSeconds: 0.1, batchSeconds: 0.1 },
      ...options,
      ...more,
    });
    cleanups.push(() => site.stop());
    return site;
  };
  const site = await open();
  return { site, sent, link, reopen: open };
}

interface CommandInput {
  id: string;
  op: CommandMessage['op'];
  deadline?: number;
  selector?: { channels: number[] } | { maxPriority: number } | { all: true };
  durationSeconds?: number;
}
/** A command as the hub sends it (the codec's types keep selector and op paired; tests build them loosely). */
const command = (c: CommandInput): CommandMessage => ({ kind: 'command', deadline: Date.now() + 60_000, ...c }) as unknown as CommandMessage;

describe('SiteController', () => {
  it('describes every device for the hello: channels from the profiles, health, relay states', async () => {
    const lm4 = await aSimFor(aFastProfile());
    const lm16 = await aSimFor(aProfile(LM16, { driver: { timeoutMs: 300, retries: 1 } }));
    lm16.sim.model.setRelay(103, false);
    const { site } = await aSite([
      { id: 'lm4', profile: lm4.profile },
      { id: 'lm16', profile: lm16.profile },
    ]);
    const devices = site.helloDevices();
    expect(devices.map((d) => [d.id, d.health, d.channels.length])).toEqual([
      ['lm4', 'ok', 4],
      ['lm16', 'ok', 16],
    ]);
    expect(devices[0]?.channels[3]).toEqual({ id: 4, name: 'Kitchen', priority: 9, sheddable: false, ratedKw: 4, minOnSeconds: 0, minOffSeconds: 0, on: true });
    expect(devices[1]?.channels.find((c) => c.id === 103)).toMatchObject({ on: false, maxOffSeconds: 10_800 });
  });

  it('answers commands with results, trims telemetry on acks, judges deadlines on the hub clock', async () => {
    const lm = await aSimFor(aFastProfile());
    const { site, sent, link } = await aSite([{ id: 'lm1', profile: lm.profile }]);
    link.up = true;
    site.setLinkUp(true);
    const result = await site.handle(command({ id: 'shed-1', op: 'shed', selector: { channels: [3] } }));
    expect(result).toMatchObject({ kind: 'result', commandId: 'shed-1', status: 'ok' });
    expect(lm.sim.model.relays()[2]?.on).toBe(false);

    await waitFor(() => sent.some((m) => m.kind === 'telemetry'), 3_000, 'telemetry');
    const telemetry = sent.filter((m): m is TelemetryMessage => m.kind === 'telemetry');
    expect(telemetry[0]?.seq).toBe(1);
    expect(telemetry[0]?.samples[0]?.relays).toContainEqual({ channel: 3, on: false });
    for (const t of telemetry) await site.handle({ kind: 'ack', seq: t.seq });
    expect(site.telemetryBacklog().batches).toBeLessThanOrEqual(2);

    // The hub's clock is 10 s ahead: a command due in 5 s (agent clock) is already stale.
    await site.handle({ kind: 'welcome', gatewayId: 'gw', serverTime: Date.now() + 10_000, pingIntervalSeconds: 15, telemetryIntervalSeconds: 1 });
    expect(await site.handle(command({ id: 'late', op: 'read', deadline: Date.now() + 5_000 }))).toMatchObject({ status: 'rejected', code: 'CMD_STALE' });
  });

  it('answers a command frame that did not decode, but whose id was read, with CMD_MALFORMED', async () => {
    const lm = await aSimFor(aFastProfile());
    const { site } = await aSite([{ id: 'lm1', profile: lm.profile }]);
    let error: ProtocolError | undefined;
    try {
      decode('<command v="1" id="c-9" op="shed" dl="soon" ch="1"/>');
    } catch (err) {
      error = err as ProtocolError;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect(site.malformedCommand(error as ProtocolError)).toMatchObject({ kind: 'result', commandId: 'c-9', status: 'rejected', code: 'CMD_MALFORMED' });
    expect(site.malformedCommand(new ProtocolError('PROTO_NOT_XML', 'not xml'))).toBeUndefined();
  });

  it('auto-restores after an agent restart: the timer survives in the database', async () => {
    const lm = await aSimFor(aFastProfile());
    const rig = await aSite([{ id: 'lm1', profile: lm.profile }]);
    await rig.site.handle(command({ id: 'shed-2s', op: 'shed', selector: { channels: [2] }, durationSeconds: 2 }));
    const shedAt = Date.now();
    expect(lm.sim.model.relays()[1]?.on).toBe(false);
    await rig.site.stop(); // the agent goes away with the channel shed
    await new Promise((r) => setTimeout(r, 500));
    expect(lm.sim.model.relays()[1]?.on).toBe(false);

    const events: EventMessage[] = [];
    const again = await rig.reopen();
    again.events.on('event', (e) => events.push(e));
    await waitFor(() => lm.sim.model.relays()[1]?.on === true, 4_000, 'the restore by the restarted agent');
    expect(Date.now() - shedAt).toBeGreaterThanOrEqual(1_900);
    await waitFor(() => events.some((e) => e.type === 'auto-restore'), 1_000, 'the event');
  });

  it('restores at once on start when the timer fell due while the agent was down', async () => {
    const lm = await aSimFor(aFastProfile());
    const rig = await aSite([{ id: 'lm1', profile: lm.profile }]);
    await rig.site.handle(command({ id: 'shed-1s', op: 'shed', selector: { channels: [1] }, durationSeconds: 1 }));
    await rig.site.stop();
    await new Promise((r) => setTimeout(r, 1_300));
    expect(lm.sim.model.relays()[0]?.on).toBe(false);
    await rig.reopen();
    await waitFor(() => lm.sim.model.relays()[0]?.on === true, 1_000, 'the restore at start');
  });

  it('reports a silent device within timeout × (retries + 1) + the sampling interval, and queues events while the link is down', async () => {
    const lm = await aSimFor(aFastProfile());
    const { site, sent, link } = await aSite([{ id: 'lm1', profile: lm.profile }], { telemetry: { intervalSeconds: 1, batchSeconds: 1 } });
    const health: number[] = [];
    site.events.on('health', (h) => h.to === 'offline' && health.push(Date.now()));
    const silentAt = Date.now();
    lm.sim.setFaults({ ...noFaults(), silence: true });
    const { timeoutMs, retries } = lm.profile.driver;
    const bound = timeoutMs * (retries + 1) + 1_000;
    await waitFor(() => health.length > 0, bound + 1_000, 'the offline event');
    // + 100 ms for timers and reconnecting between attempts on a busy machine
    expect((health[0] ?? Infinity) - silentAt).toBeLessThanOrEqual(bound + 100);
    expect(sent).toEqual([]);
    link.up = true;
    site.setLinkUp(true);
    const event = sent.find((m): m is EventMessage => m.kind === 'event');
    expect(event).toMatchObject({ type: 'device-health', severity: 'alarm' });
    expect(event?.details).toContainEqual({ key: 'to', value: 'offline' });
    expect(event?.details).toContainEqual({ key: 'code', value: 'MODBUS_TIMEOUT' });
  });

  it('keeps sampling the other devices while one is dead', async () => {
    const dead = await aSimFor(aFastProfile({ driver: { timeoutMs: 800, retries: 1 } }));
    const alive = await aSimFor(aProfile(LM16, { driver: { timeoutMs: 300, retries: 1 } }));
    dead.sim.setFaults({ ...noFaults(), silence: true });
    const { site, sent, link } = await aSite(
      [
        { id: 'dead', profile: dead.profile },
        { id: 'alive', profile: alive.profile },
      ],
      { telemetry: { intervalSeconds: 0.2, batchSeconds: 0.2 } },
    );
    link.up = true;
    site.setLinkUp(true);
    const started = Date.now();
    await waitFor(() => sent.filter((m) => m.kind === 'telemetry').length >= 3, 3_000, 'telemetry from the live device');
    expect(Date.now() - started).toBeLessThan(2_000);
    const sample = sent.find((m): m is TelemetryMessage => m.kind === 'telemetry')?.samples[0];
    expect(sample?.relays).toHaveLength(16);
    expect(sample?.kwh).toBeUndefined(); // not every meter was read
    expect(site.helloDevices().map((d) => d.health)).toEqual(['offline', 'ok']);
  });
});
