/**
 * From a validated call to the OperatorService method. Every transport (the browser-mode HTTP API,
 * the Electron IPC bridge) passes params as one JSON object; this is the one place that maps it onto
 * each method's signature, so the transports cannot disagree.
 */
import type { OperatorCall } from './schemas.js';
import type { OperatorContext, OperatorService } from './types.js';

/**
 * Calls the service. Queries ignore `ctx`; operations get it (the operator named in the audit log).
 * Resolves with what the service returned (`null` for setTarget, which returns nothing); rejects with
 * what it threw.
 */
export async function invokeOperatorCall(service: OperatorService, ctx: OperatorContext, call: OperatorCall): Promise<unknown> {
  switch (call.method) {
    case 'info':
      return service.info();
    case 'fleet':
      return service.fleet();
    case 'gateway':
      return service.gateway(call.params.gatewayId);
    case 'loadHistory':
      return service.loadHistory(call.params);
    case 'commands':
      return service.commands(call.params);
    case 'shedEvents':
      return service.shedEvents(call.params);
    case 'shedEvent':
      return service.shedEvent(call.params.eventId);
    case 'audit':
      return service.audit(call.params);
    case 'securityEvents':
      return service.securityEvents(call.params);
    case 'alarms':
      return service.alarms(call.params);
    case 'connections':
      return service.connections(call.params);
    case 'previewShed':
      return service.previewShed(call.params);
    case 'certificates':
      return service.certificates();
    case 'revokeCertificate':
      return service.revokeCertificate(ctx, call.params);
    case 'startShed':
      return service.startShed(ctx, call.params);
    case 'cancelShed':
      return service.cancelShed(ctx, call.params.eventId);
    case 'restoreAll':
      return service.restoreAll(ctx);
    case 'command':
      return service.command(ctx, call.params);
    case 'commandMany':
      return service.commandMany(ctx, call.params);
    case 'acknowledgeAlarm':
      return service.acknowledgeAlarm(ctx, call.params.alarmId);
    case 'setTarget':
      service.setTarget(ctx, call.params);
      return null;
  }
}
