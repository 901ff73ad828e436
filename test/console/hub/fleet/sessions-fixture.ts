/** A link session as the link server hands it to the hub: one load manager with `channels`. */
import type { SessionInfo } from '../../../../console/hub/link/server.js';
import type { ChannelProfile } from '../../../../shared/protocol/messages.js';

export function aChannel(id: number, override: Partial<ChannelProfile> = {}): ChannelProfile {
  return { id, name: `load ${id}`, priority: 1, sheddable: true, ratedKw: 5, minOnSeconds: 0, minOffSeconds: 0, on: true, ...override };
}

export function aSession(gatewayId: string, channels: ChannelProfile[] = [], labels: string[] = []): SessionInfo {
  return {
    gatewayId,
    sessionId: `s-${gatewayId}-${Math.random()}`,
    peer: { serial: '01', subject: `CN=${gatewayId}` },
    remoteAddress: '127.0.0.1:1',
    connectedAt: Date.now(),
    version: 1,
    hello: { kind: 'hello', gatewayId, minVersion: 1, maxVersion: 1, agentVersion: '0.1.0', labels, viaProxy: false, devices: [{ id: 'lm1', model: 'LM', health: 'ok', channels }] },
  };
}
