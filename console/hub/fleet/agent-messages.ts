/**
 * What a gateway tells the hub besides telemetry: command results and errors resolve the dispatcher's
 * pending commands (and update the registry's relays and round trip); agent events become alarms,
 * security events or log lines.
 */
import type { Logger } from 'pino';
import type { ErrorMessage, EventMessage, ResultMessage } from '../../../shared/protocol/messages.js';
import type { SessionInfo } from '../link/server.js';
import type { HubStore } from '../store/index.js';
import type { AlarmBook } from './alarms.js';
import type { CommandDispatcher } from './dispatcher.js';
import type { DomainBus } from './domain-bus.js';
import type { FleetRegistry } from './registry.js';

export interface AgentMessagesOptions {
  store: HubStore;
  registry: FleetRegistry;
  alarms: AlarmBook;
  dispatcher: CommandDispatcher;
  bus: DomainBus;
  log: Logger;
}

export class AgentMessages {
  constructor(private readonly o: AgentMessagesOptions) {}

  result(s: SessionInfo, m: ResultMessage): void {
    const { dispatcher, registry, bus } = this.o;
    const done = dispatcher.handleResult(s.gatewayId, m);
    if (m.relays) registry.observe(s.gatewayId, m.relays, m.time);
    if (done?.sentAt !== undefined && done.finishedAt !== undefined) registry.setRtt(s.gatewayId, done.finishedAt - done.sentAt);
    bus.emit('gateway-changed', s.gatewayId);
  }

  error(s: SessionInfo, m: ErrorMessage): void {
    if (!this.o.dispatcher.handleError(s.gatewayId, m)) this.o.log.warn({ gatewayId: s.gatewayId, code: m.code, ref: m.ref }, `error from ${s.gatewayId}: ${m.message}`);
  }

  event(s: SessionInfo, m: EventMessage): void {
    const { store, registry, alarms, bus, log } = this.o;
    const d = Object.fromEntries(m.details.map((x) => [x.key, x.value]));
    const id = s.gatewayId;
    switch (m.type) {
      case 'interception-suspected': {
        registry.setInterception(id, true);
        const detail = `the path to the console presented "${d.subject ?? '?'}" issued by "${d.issuer ?? '?'}" (SHA-256 ${d.fingerprint ?? '?'}) via proxy ${d.proxy ?? 'none'}`;
        const fields = { time: m.time, code: 'LINK_INTERCEPTION_SUSPECTED' as const, remoteAddress: s.remoteAddress, detail, gatewayId: id, ...(d.subject ? { subject: d.subject } : {}), ...(d.issuer ? { issuer: d.issuer } : {}) };
        bus.emit('security', { id: store.appendSecurityEvent(fields), ...fields });
        alarms.raise({ code: 'LINK_INTERCEPTION_SUSPECTED', severity: 'alarm', gatewayId: id, message: `interception suspected: ${detail}` });
        break;
      }
      case 'device-health': {
        const to = d.to === 'ok' || d.to === 'degraded' || d.to === 'offline' ? d.to : undefined;
        if (!to || !d.device) break;
        registry.setHealth(id, d.device, to);
        if (to === 'ok') alarms.clear('LM_HEALTH', id);
        else alarms.raise({ code: 'LM_HEALTH', severity: to === 'offline' ? 'alarm' : 'warning', gatewayId: id, message: `load manager ${d.device} ${to}${d.code ? ` (${d.code}${d.message ? `: ${d.message}` : ''})` : ''}` });
        bus.emit('gateway-changed', id);
        break;
      }
      case 'auto-restore-failed':
        alarms.raise({ code: 'AUTO_RESTORE_FAILED', severity: 'alarm', gatewayId: id, message: `auto-restore of channels ${d.channels ?? '?'} failed: ${d.message ?? ''}` });
        break;
      case 'auto-restore':
        alarms.clear('AUTO_RESTORE_FAILED', id);
        log.info({ gatewayId: id, channels: d.channels, reason: d.reason }, 'agent auto-restored');
        break;
      case 'telemetry-dropped':
        alarms.raise({ code: 'TELEMETRY_DROPPED', severity: 'warning', gatewayId: id, message: `the agent dropped ${d.samples ?? '?'} unsent samples (batches ${d.fromSeq ?? '?'}–${d.toSeq ?? '?'}) after its retention ran out` });
        break;
      default:
        log.info({ gatewayId: id, type: m.type, severity: m.severity, details: d }, `event from ${id}: ${m.type}`);
    }
  }
}
