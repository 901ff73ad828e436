/**
 * The agent as a long-running service: the link built from the config. Link-only for now; the
 * Modbus drivers and the command executor join here with their issue, and fill hello's devices.
 */
import type { Logger } from 'pino';
import { PROTOCOL_VERSIONS, type HelloMessage } from '../shared/protocol/index.js';
import type { AgentConfig, AgentTls } from './config.js';
import { LinkClient } from './link/client.js';
import { AGENT_VERSION } from './version.js';

/** The hello this agent sends: identity, versions, site; no devices in link-only mode. */
export function helloFor(config: AgentConfig): HelloMessage {
  return {
    kind: 'hello',
    gatewayId: config.gatewayId,
    minVersion: Math.min(...PROTOCOL_VERSIONS),
    maxVersion: Math.max(...PROTOCOL_VERSIONS),
    agentVersion: AGENT_VERSION,
    ...(config.site.name !== undefined ? { siteName: config.site.name } : {}),
    labels: config.site.labels,
    viaProxy: false,
    devices: [],
  };
}

export interface AgentRuntime {
  logger: Logger;
  /** Log every frame (LMGW_TRACE=1). */
  trace?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** A LinkClient configured from the agent config (not started). */
export function linkClientFor(config: AgentConfig, tls: AgentTls, runtime: AgentRuntime): LinkClient {
  return new LinkClient({
    url: config.console.url,
    gatewayId: config.gatewayId,
    ...tls,
    ...(config.console.serverName !== undefined ? { servername: config.console.serverName } : {}),
    ...(config.proxy !== undefined ? { proxy: config.proxy } : {}),
    ...(runtime.env ? { env: runtime.env } : {}),
    backoff: { baseMs: config.link.backoffBaseMs, capMs: config.link.backoffCapMs },
    maxConnectionAgeMs: Math.round(config.link.maxConnectionAgeHours * 3_600_000),
    stableAfterMs: config.link.stableAfterSeconds * 1000,
    hello: () => helloFor(config),
    logger: runtime.logger,
    trace: runtime.trace ?? false,
  });
}
