// The hub under attack, in a process of its own: the same load → options → startHub path as
// `lm-console --headless` (console/hub/cli.ts), from the compiled code in dist/ (as a user runs it),
// without the operator API. Its RSS is the hub's alone, a crash is an exit the test sees, and over
// IPC it reports what only the hub's process can know: exceptions that escaped to the process,
// Object.prototype's own names, heap figures, and what the link told the fleet logic.
//
// Usage: fork(hub-child.mjs, [configPath, linkOverridesJson?]) with an IPC channel. Sends {type:'listening', port, pid};
// answers {type:'sample'} with {type:'sample', sample}; {type:'stop'} closes the hub and exits 0.
import { loadHubConfig } from '../../dist/console/hub/config.js';
import { startHub } from '../../dist/console/hub/hub.js';
import { hubOptionsFromConfig } from '../../dist/console/hub/hub-options.js';
import { createLogger, logLevelFrom } from '../../dist/shared/node/log.js';

/** @type {string[]} */
const uncaught = [];
/** @type {Record<string, number>} */
const refusals = {};
/** @type {Record<string, number>} */
const messages = {};
/** @type {Record<string, number>} */
const disconnects = {};
const prototypeAtStart = Object.getOwnPropertyNames(Object.prototype).sort();

// Recorded, not fatal: the test wants the stack of anything that escapes, and asserts there is none.
// Without these listeners such an exception would end the process, which the test also catches.
process.on('uncaughtException', (err) => uncaught.push(`uncaughtException: ${err.stack ?? String(err)}`));
process.on('unhandledRejection', (err) => uncaught.push(`unhandledRejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));

const configPath = process.argv[2];
if (!configPath) throw new Error('usage: hub-child.mjs CONFIG [LINK-OVERRIDES-JSON]');
const config = loadHubConfig(configPath);
// The hub's logger (silent unless LMGW_LOG_LEVEL asks: the attack floods it).
const logger = createLogger({ name: 'lm-console', level: logLevelFrom(process.env, 'LMGW_LOG_LEVEL', 'silent') });
const options = hubOptionsFromConfig({ config, logger, withOperatorApi: false });
// Test-only link options beyond what the config schema allows (the fuzz campaign's rate limit).
const overrides = process.argv[3] ? JSON.parse(process.argv[3]) : {};
const hub = await startHub({ ...options, link: { ...options.link, ...overrides } });
hub.link.on('refused', (e) => (refusals[e.code] = (refusals[e.code] ?? 0) + 1));
hub.link.on('message', (_s, m) => (messages[m.kind] = (messages[m.kind] ?? 0) + 1));
hub.link.on('disconnected', (_s, why) => (disconnects[why.code] = (disconnects[why.code] ?? 0) + 1));

function sample() {
  const mem = process.memoryUsage();
  const probe = /** @type {Record<string, unknown>} */ ({});
  return {
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    uncaught,
    prototypeAtStart,
    prototypeNow: Object.getOwnPropertyNames(Object.prototype).sort(),
    pollutedProbes: ['polluted', 'x', 'v', 'seq', 'a', 'isAdmin', 'toString2'].filter((k) => probe[k] !== undefined),
    connected: hub.link.connected.map((s) => s.gatewayId),
    refusals,
    messages,
    disconnects,
  };
}

process.on('message', (msg) => {
  const m = /** @type {{ type: string }} */ (msg);
  if (m.type === 'sample') process.send?.({ type: 'sample', sample: sample() });
  if (m.type === 'stop') void hub.close().then(() => process.exit(0));
});
process.send?.({ type: 'listening', port: hub.link.port, pid: process.pid });
