#!/usr/bin/env node
// Packs the headless console hub (lm-console --headless) for a Linux server, as a .deb and a .tar.gz
// of the same tree — installable with no network and no compiler:
//   dist/packages/lmgw-console_<version>_amd64.deb            unpacks to /opt/lmgw-console, the unit to
//                                                              /lib/systemd/system, /usr/bin links
//   dist/packages/lmgw-console-<version>-linux-x64.tar.gz     one directory: the /opt/lmgw-console tree
// The /opt/lmgw-console tree:
//   bin/lm-console, bin/lmgw-ca                shell wrappers running the .js with the bundled runtime
//   bin/lm-console.js, bin/lmgw-ca.js          the hub and the CA tool
//   dist/…                                   the compiled code they import (console/hub, certs,
//                                            shared; never the Electron app or the agent) and the
//                                            built browser-mode UI (dist/console/renderer)
//   node_modules/…                           the runtime dependencies, from a lock pruned from the
//                                            repository's; better-sqlite3 built for the bundled runtime
//   runtime/bin/node, runtime/LICENSE        Node.js (packaging/runtime.json)
//   package.json, package-lock.json
//   examples/hub.json, examples/lm-console.service
//   docs/operations.md, docs/operator-api.md, docs/errors.md, docs/security.md, INSTALL.md
// Only for the build machine's architecture: better-sqlite3 is compiled here (its prebuilt
// binaries come from a download site this build does not reach), or taken from the repository's
// node_modules when that one was built for the bundled runtime's ABI.
// Usage: npm run package:console   (builds first), or
//        node packaging/console/package.mjs [--format deb,tar] [--dist DIR] [--out DIR]
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHES, copy, importClosure, packApp, packCommand, PackError, ROOT, run, write } from '../lib.mjs';

const ENTRIES = ['console/hub/cli.js', 'certs/cli.js'];
const FORBIDDEN = [
  { prefix: 'agent/', why: 'the console must not need agent code' },
  { prefix: 'console/main/', why: 'the headless hub must not need the Electron app' },
  { prefix: 'console/preload/', why: 'the headless hub must not need the Electron app' },
  { prefix: 'console/renderer/', why: 'the hub serves the built UI, it does not import it' },
];
const UNIT = join(import.meta.dirname, 'lm-console.service');
const SQLITE_BINARY = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';

/** The hub's import closure in `distDir`. */
export function consoleClosure(distDir, entries = ENTRIES) {
  return importClosure(distDir, entries, FORBIDDEN);
}

/** better-sqlite3's binary for the bundled runtime: the repository's when it loads there, else compiled against the runtime's headers. */
async function sqliteBinary(app, runtimeDir) {
  const node = join(runtimeDir, 'bin', 'node');
  const probe = () => run(node, ['-e', "const D = require('better-sqlite3'); new D(':memory:').close()"], { cwd: app });
  const built = join(ROOT, SQLITE_BINARY);
  if (existsSync(built)) {
    copy(built, join(app, SQLITE_BINARY));
    try {
      await probe();
      return 'the repository\'s build';
    } catch {
      rmSync(join(app, 'node_modules/better-sqlite3/build'), { recursive: true, force: true });
    }
  }
  await run('npm', ['rebuild', 'better-sqlite3', '--loglevel=error'], {
    cwd: app,
    // build_from_source: no attempt at better-sqlite3's prebuilt binaries (a download site the build does not reach).
    env: { ...process.env, npm_config_nodedir: runtimeDir, npm_config_build_from_source: 'true', PATH: `${join(runtimeDir, 'bin')}:${process.env.PATH}` },
  });
  await probe();
  return 'compiled for the bundled runtime';
}

const CONSOLE = {
  name: 'lmgw-console',
  description: 'LMGW console hub, headless: the gateways\' mutual-TLS link, the fleet, the operator API',
  summary: 'LMGW console hub (headless)',
  about: (node) => `The DSO endpoint of LMGW: the gateways' mutual-TLS WebSocket link, the fleet,
shed events, the audit store and the operator API with the browser-mode UI.
Self-contained: Node.js ${node} and every dependency are in /opt/lmgw-console.
Configure /etc/lmgw-console/hub.json, then: systemctl enable --now lm-console`,
  prefix: 'opt/lmgw-console',
  dir: import.meta.dirname,
  closure: consoleClosure,
  bins: { 'lm-console': 'bin/lm-console.js', 'lmgw-ca': 'bin/lmgw-ca.js' },
  docs: ['docs/operations.md', 'docs/operator-api.md', 'docs/errors.md', 'docs/security.md'],
  unit: UNIT,
  service: { user: 'lmgw-console', configDir: '/etc/lmgw-console', stateDir: '/var/lib/lmgw-console' },
  addFiles(app, distDir) {
    const ui = join(distDir, 'console', 'renderer');
    if (!existsSync(join(ui, 'index.html'))) throw new PackError(`${ui}/index.html is missing: run npm run build first`);
    cpSync(ui, join(app, 'dist', 'console', 'renderer'), { recursive: true });
    copy(join(import.meta.dirname, 'hub.json'), join(app, 'examples', 'hub.json'));
    copy(UNIT, join(app, 'examples', 'lm-console.service'));
  },
  async finish(app, runtimeDir) {
    const sqlite = await sqliteBinary(app, runtimeDir);
    // The C sources and everything the build left beside the binary are not needed at run time.
    const binary = readFileSync(join(app, SQLITE_BINARY));
    for (const dir of ['deps', 'src', 'build']) rmSync(join(app, 'node_modules/better-sqlite3', dir), { recursive: true, force: true });
    write(join(app, SQLITE_BINARY), binary, 0o755);
    return `better-sqlite3: ${sqlite}`;
  },
};

/** The console packages for this machine's architecture: packApp's options but `arches`. */
export function packConsole(options = {}) {
  const arch = process.arch;
  if (!ARCHES[arch]) throw new PackError(`this machine is ${arch}; the console is packed for the build machine's architecture, one of ${Object.keys(ARCHES).join(', ')}`);
  return packApp(CONSOLE, { ...options, arches: [arch] });
}

if (import.meta.url === `file://${process.argv[1]}`) await packCommand('package:console', packConsole);
