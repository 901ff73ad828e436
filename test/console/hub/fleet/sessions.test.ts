/**
 * Sessions and agent messages on their own: a stub link (the link server's own typed events) drives
 * them over a real store, registry, alarm book and dispatcher, and the domain bus shows what the rest
 * of the hub would hear.
 */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentMessages } from '../../../../console/hub/fleet/agent-messages.js';
import { AlarmBook } from '../../../../console/hub/fleet/alarms.js';
import { CommandDispatcher } from '../../../../console/hub/fleet/dispatcher.js';
import { createDomainBus, type DomainBus } from '../../../../console/hub/fleet/domain-bus.js';
import { LiveLoad } from '../../../../console/hub/fleet/live-load.js';
import { FleetRegistry } from '../../../../console/hub/fleet/registry.js';
import { Sessions, type SessionLink } from '../../../../console/hub/fleet/sessions.js';
import type { Alarm, LinkServerEvents } from '../../../../console/hub/link/server.js';
import { HubStore } from '../../../../console/hub/store/index.js';
import { TypedEvents } from '../../../../shared/typed-events.js';
import { aSession } from './sessions-fixture.js';
import { tempDir, waitFor } from '../../../helpers/processes.js';

const log = pino({ level: 'silent' });


describe('Sessions and AgentMessages', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: HubStore;
  let registry: FleetRegistry;
  let alarms: AlarmBook;
  let dispatcher: CommandDispatcher;
  let bus: DomainBus;
  let events: TypedEvents<LinkServerEvents>;
  let linkAlarms: Alarm[];
  let sessions: Sessions;
  let changed: string[];

  beforeEach(() => {
    tmp = tempDir('lmgw-sessions-');
    store = HubStore.open(tmp.dir);
    bus = createDomainBus(log);
    changed = [];
    bus.on('gateway-changed', (id) => changed.push(id));
    registry = new FleetRegistry(store, {});
    alarms = new AlarmBook(store, (a) => bus.emit('alarm', a));
    dispatcher = new CommandDispatcher({ store, send: () => true, onChange: (c, bulk) => bus.emit('command', c, bulk), deadlineMs: 60_000 });
    events = new TypedEvents<LinkServerEvents>();
    linkAlarms = [];
    const link: SessionLink = { on: (event, listener) => events.on(event, listener), get alarms() { return linkAlarms; } };
    sessions = new Sessions({ link, store, registry, load: new LiveLoad('Europe/Zurich', store), alarms, dispatcher, bus, offlineAlarmMs: 100, log });
  });
  afterEach(() => {
    sessions.close();
    dispatcher.close();
    store.close();
    tmp.cleanup();
  });

  it('a gateway that stays away raises GATEWAY_OFFLINE, a short drop does not, and coming back clears it', async () => {
    const a = aSession('gw-a');
    events.emit('connected', a);
    expect(registry.get('gw-a')?.session).toBe(a);
    expect(changed).toEqual(['gw-a']);
    events.emit('disconnected', a, { code: 'LINK_PONG_TIMEOUT', closeCode: 1006, reason: '' });
    const b = aSession('gw-a');
    events.emit('connected', b); // back within offlineAlarmMs: no alarm
    await new Promise((r) => setTimeout(r, 200));
    expect(alarms.list()).toEqual([]);
    events.emit('disconnected', b, { code: 'LINK_PONG_TIMEOUT', closeCode: 1006, reason: '' });
    await waitFor(() => alarms.list().length === 1, 2000, 'the offline alarm');
    expect(alarms.list()[0]).toMatchObject({ code: 'GATEWAY_OFFLINE', gatewayId: 'gw-a' });
    events.emit('connected', aSession('gw-a'));
    expect(alarms.list()[0]?.clearedAt).toBeDefined();
    expect(store.queryConnections({ gatewayId: 'gw-a' })).toHaveLength(3);
  });

  it('a lost session ends its pending commands; a refusal naming a certificate problem is a security event and an alarm', async () => {
    const a = aSession('gw-a');
    events.emit('connected', a);
    const pending = dispatcher.dispatch({ operator: 'alice' }, { gatewayId: 'gw-a', op: 'read' });
    while (dispatcher.inFlight === 0) await new Promise((r) => setTimeout(r, 1)); // sent once its journal is durable
    events.emit('disconnected', a, { code: 'LINK_PONG_TIMEOUT', closeCode: 1006, reason: '' });
    expect(await pending).toMatchObject({ state: 'timed-out', code: 'OP_TIMED_OUT' });
    const security: string[] = [];
    bus.on('security', (e) => security.push(e.code));
    events.emit('refused', { time: Date.now(), code: 'LINK_CERT_REVOKED', remoteAddress: '10.0.0.9:4000', detail: 'revoked', gatewayId: 'gw-x', peer: { subject: 'CN=gw-x' } });
    expect(security).toEqual(['LINK_CERT_REVOKED']);
    expect(alarms.list().map((x) => [x.code, x.gatewayId])).toEqual([['LINK_CERT_REVOKED', 'gw-x']]);
    expect(store.querySecurityEvents({})).toHaveLength(1);
  });

  it('link alarms follow the link: raised when it reports them, cleared when it no longer does', () => {
    events.emit('alarm', { code: 'LINK_CRL_EXPIRING', message: 'the CRL expires in 2 days', time: Date.now() });
    expect(alarms.list().map((a) => a.code)).toEqual(['LINK_CRL_EXPIRING']);
    linkAlarms = [];
    sessions.syncLinkAlarms();
    expect(alarms.list()[0]?.clearedAt).toBeDefined();
  });

  it('agent events become alarms and security events; a result resolves its command and updates the relays', async () => {
    const agent = new AgentMessages({ store, registry, alarms, dispatcher, bus, log });
    const a = aSession('gw-a');
    events.emit('connected', a);
    agent.event(a, { kind: 'event', time: Date.now(), type: 'device-health', severity: 'alarm', details: [{ key: 'device', value: 'lm1' }, { key: 'to', value: 'offline' }] });
    expect(alarms.list().map((x) => [x.code, x.severity])).toEqual([['LM_HEALTH', 'alarm']]);
    agent.event(a, { kind: 'event', time: Date.now(), type: 'interception-suspected', severity: 'alarm', details: [{ key: 'subject', value: 'CN=proxy' }] });
    expect(registry.get('gw-a')?.row.interceptionSuspected).toBe(true);
    expect(store.querySecurityEvents({}).map((e) => e.code)).toEqual(['LINK_INTERCEPTION_SUSPECTED']);
    let sentId = '';
    const d2 = new CommandDispatcher({ store, send: (_, m) => ((sentId = m.id), true), onChange: () => undefined });
    const agent2 = new AgentMessages({ store, registry, alarms, dispatcher: d2, bus, log });
    const pending = d2.dispatch({ operator: 'alice' }, { gatewayId: 'gw-a', op: 'read' });
    await waitFor(() => sentId !== '', 2000, 'the command to go out');
    agent2.result(a, { kind: 'result', commandId: sentId, time: Date.now(), status: 'ok', relays: [] });
    expect(await pending).toMatchObject({ state: 'confirmed' });
    expect(registry.get('gw-a')?.rttMs).not.toBeNull();
    d2.close();
  });
});
