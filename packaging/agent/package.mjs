#!/usr/bin/env node
// Packs the gateway agent for a site box, per architecture (x64, arm64), as a .deb and a .tar.gz of
// the same tree — installable with no network and no compiler:
//   dist/packages/lmgw-agent_<version>_<amd64|arm64>.deb      unpacks to /opt/lmgw, the unit to
//                                                              /lib/systemd/system, /usr/bin links
//   dist/packages/lmgw-agent-<version>-linux-<x64|arm64>.tar.gz   one directory: the /opt/lmgw tree
// The /opt/lmgw tree:
//   bin/lmgw-agent, bin/lm-sim                 shell wrappers running the .js with the bundled runtime
//   bin/lmgw-agent.js, bin/lm-sim.js           the two commands
//   dist/…                                   the compiled code they import, and nothing else (the
//                                            import closure: agent, shared, certs; anything under
//                                            console/ fails the packing)
//   node_modules/…                           the runtime dependencies, from a lock pruned from the
//                                            repository's; native parts only for the architecture
//                                            (serialport's own prebuilds), checked by ELF header
//   runtime/bin/node, runtime/LICENSE        Node.js (packaging/runtime.json), the official build for the architecture
//   package.json, package-lock.json
//   agent/examples/agent.json, agent/examples/lmgw-agent.service, agent/profiles/*.json
//   docs/operations.md, docs/errors.md, docs/modbus.md, INSTALL.md
// Usage: npm run package:agent   (builds first), or
//        node packaging/agent/package.mjs [--arch x64,arm64] [--format deb,tar] [--dist DIR] [--out DIR]
// Needs GNU tar, dpkg-deb (for deb) and npm (its cache, or the registry, for the locked packages
// and, the first time, the runtime).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { copy, importClosure, packApp, packCommand, ROOT } from '../lib.mjs';

const ENTRIES = ['agent/cli.js', 'agent/sim/cli.js'];
const FORBIDDEN = [{ prefix: 'console/', why: 'the agent must not need console code' }];
const UNIT = join(ROOT, 'agent/examples/lmgw-agent.service');

/** The agent's import closure in `distDir`. */
export function agentClosure(distDir, entries = ENTRIES) {
  return importClosure(distDir, entries, FORBIDDEN);
}

const AGENT = {
  name: 'lmgw-agent',
  description: "LMGW gateway agent: drives the site's load managers over Modbus and keeps an outbound mutual-TLS link to the DSO console",
  summary: 'LMGW gateway agent',
  about: (node) => `Drives the site's load managers over Modbus (TCP or RTU) and keeps one outbound
mutual-TLS WebSocket link to the DSO console. Self-contained: Node.js ${node} and
every dependency are in /opt/lmgw; nothing is downloaded or compiled at install.
Configure /etc/lmgw (see /opt/lmgw/INSTALL.md), then: systemctl enable --now lmgw-agent`,
  prefix: 'opt/lmgw',
  dir: import.meta.dirname,
  closure: agentClosure,
  bins: { 'lmgw-agent': 'bin/lmgw-agent.js', 'lm-sim': 'bin/lm-sim.js' },
  docs: ['docs/operations.md', 'docs/errors.md', 'docs/modbus.md'],
  unit: UNIT,
  service: { user: 'lmgw', configDir: '/etc/lmgw', stateDir: '/var/lib/lmgw-agent' },
  addFiles(app) {
    copy(join(ROOT, 'agent/examples/agent.json'), join(app, 'agent/examples/agent.json'));
    copy(UNIT, join(app, 'agent/examples/lmgw-agent.service'));
    for (const profile of readdirSync(join(ROOT, 'agent/profiles')).filter((f) => f.endsWith('.json'))) {
      copy(join(ROOT, 'agent/profiles', profile), join(app, 'agent/profiles', profile));
    }
  },
};

/** The agent packages for `arches` (default both) in `formats` (default both): packApp's options. */
export function packAgent(options = {}) {
  return packApp(AGENT, { arches: ['x64', 'arm64'], ...options });
}

if (import.meta.url === `file://${process.argv[1]}`) await packCommand('package:agent', packAgent, { arch: 'x64,arm64' });
