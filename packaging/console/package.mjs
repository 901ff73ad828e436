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
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ARCHES,
  bundleRuntime,
  checkElfArch,
  copy,
  fetchRuntime,
  importClosure,
  installModules,
  keepPrebuildsFor,
  link,
  PackError,
  parseFormats,
  pruneLock,
  ROOT,
  run,
  serviceScripts,
  size,
  wrapper,
  write,
  writeDeb,
  writeTarball,
} from '../lib.mjs';

const ENTRIES = ['console/hub/cli.js', 'certs/cli.js'];
const FORBIDDEN = [
  { prefix: 'agent/', why: 'the console must not need agent code' },
  { prefix: 'console/main/', why: 'the headless hub must not need the Electron app' },
  { prefix: 'console/preload/', why: 'the headless hub must not need the Electron app' },
  { prefix: 'console/renderer/', why: 'the hub serves the built UI, it does not import it' },
];
const BINS = { 'lm-console': 'bin/lm-console.js', 'lmgw-ca': 'bin/lmgw-ca.js' };
const DOCS = ['docs/operations.md', 'docs/operator-api.md', 'docs/errors.md', 'docs/security.md'];
const PREFIX = 'opt/lmgw-console';
const UNIT = 'lm-console.service';
const SQLITE_BINARY = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';

/** The hub's import closure in `distDir`. */
export function consoleClosure(distDir, entries = ENTRIES) {
  return importClosure(distDir, entries, FORBIDDEN);
}

function control(version, arch, node) {
  return `Package: lmgw-console
Version: ${version}
Architecture: ${ARCHES[arch].deb}
Maintainer: LMGW <lmgw@example.invalid>
Section: net
Priority: optional
Installed-Size: {{installedSize}}
Depends: libc6 (>= 2.28), libstdc++6 (>= 5.2), libgcc-s1 | libgcc1, passwd
Description: LMGW console hub (headless)
 The DSO endpoint of LMGW: the gateways' mutual-TLS WebSocket link, the fleet,
 shed events, the audit store and the operator API with the browser-mode UI.
 Self-contained: Node.js ${node} and every dependency are in /opt/lmgw-console.
 Configure /etc/lmgw-console/hub.json, then: systemctl enable --now lm-console
`;
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

async function stage(root, { distDir, arch, rootPkg, lock, files, dependencies }) {
  const version = rootPkg.version;
  const app = join(root, PREFIX);
  for (const f of files) copy(join(distDir, f), join(app, 'dist', f));
  const ui = join(distDir, 'console', 'renderer');
  if (!existsSync(join(ui, 'index.html'))) throw new PackError(`${ui}/index.html is missing: run npm run build first`);
  cpSync(ui, join(app, 'dist', 'console', 'renderer'), { recursive: true });
  for (const [name, js] of Object.entries(BINS)) {
    copy(join(ROOT, js), join(app, js), 0o755);
    write(join(app, 'bin', name), wrapper(name), 0o755);
  }
  copy(join(import.meta.dirname, 'hub.json'), join(app, 'examples', 'hub.json'));
  copy(join(import.meta.dirname, UNIT), join(app, 'examples', UNIT));
  for (const doc of DOCS) copy(join(ROOT, doc), join(app, doc));
  const runtime = await fetchRuntime(arch);
  write(join(app, 'INSTALL.md'), readFileSync(join(import.meta.dirname, 'INSTALL.md'), 'utf8').replaceAll('{{version}}', version).replaceAll('{{node}}', runtime.version));

  const pkg = {
    name: 'lmgw-console',
    version,
    description: 'LMGW console hub, headless: the gateways\' mutual-TLS link, the fleet, the operator API',
    license: rootPkg.license,
    private: true,
    type: 'module',
    engines: rootPkg.engines,
    bin: BINS,
    dependencies,
  };
  const lockRoot = { name: pkg.name, version, license: pkg.license, dependencies, engines: pkg.engines, bin: BINS };
  await installModules(app, pkg, pruneLock(lock, lockRoot));
  keepPrebuildsFor(join(app, 'node_modules'), arch);
  bundleRuntime(runtime.dir, app);
  const sqlite = await sqliteBinary(app, runtime.dir);
  // The C sources and everything the build left beside the binary are not needed at run time.
  const binary = readFileSync(join(app, SQLITE_BINARY));
  for (const dir of ['deps', 'src', 'build']) rmSync(join(app, 'node_modules/better-sqlite3', dir), { recursive: true, force: true });
  write(join(app, SQLITE_BINARY), binary, 0o755);
  const natives = checkElfArch(app, arch);

  copy(join(import.meta.dirname, UNIT), join(root, 'lib/systemd/system', UNIT));
  for (const name of Object.keys(BINS)) link(`/${PREFIX}/bin/${name}`, join(root, 'usr/bin', name));
  return { natives, node: runtime.version, sqlite };
}

export async function packConsole({ distDir = join(ROOT, 'dist'), outDir = join(ROOT, 'dist', 'packages'), formats = ['deb', 'tar'] } = {}) {
  const arch = process.arch;
  if (!ARCHES[arch]) throw new PackError(`this machine is ${arch}; the console is packed for the build machine's architecture, one of ${Object.keys(ARCHES).join(', ')}`);
  const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const version = rootPkg.version;
  const { files, packages } = consoleClosure(distDir);
  const dependencies = {};
  for (const p of packages) {
    const v = rootPkg.dependencies?.[p];
    if (!v) throw new PackError(`the console imports ${p}, which is not a dependency in package.json`);
    dependencies[p] = v;
  }
  mkdirSync(outDir, { recursive: true });
  const made = [];
  const staging = mkdtempSync(join(tmpdir(), 'lmgw-console-pack-'));
  try {
    const root = join(staging, 'root');
    const { natives, node, sqlite } = await stage(root, { distDir, arch, rootPkg, lock, files, dependencies });
    if (formats.includes('tar')) {
      const out = join(outDir, `lmgw-console-${version}-linux-${arch}.tar.gz`);
      await writeTarball(join(root, 'opt'), 'lmgw-console', `lmgw-console-${version}-linux-${arch}`, out);
      made.push({ path: out, natives, sqlite });
    }
    if (formats.includes('deb')) {
      const out = join(outDir, `lmgw-console_${version}_${ARCHES[arch].deb}.deb`);
      const scripts = serviceScripts({ user: 'lmgw-console', configDir: '/etc/lmgw-console', unit: 'lm-console', stateDir: '/var/lib/lmgw-console' });
      await writeDeb(root, control(version, arch, node), scripts, out);
      made.push({ path: out, natives, sqlite });
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { made, files: files.length, dependencies };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { dist: { type: 'string' }, out: { type: 'string' }, format: { type: 'string', default: 'deb,tar' } }, strict: true });
  try {
    const started = Date.now();
    const r = await packConsole({
      ...(values.dist ? { distDir: resolve(values.dist) } : {}),
      ...(values.out ? { outDir: resolve(values.out) } : {}),
      formats: parseFormats(values.format),
    });
    console.log(`package:console: ${r.files} compiled files; dependencies ${Object.keys(r.dependencies).join(', ')}`);
    for (const m of r.made) console.log(`package:console: ${relative(process.cwd(), m.path) || m.path} (${size(m.path)}; better-sqlite3: ${m.sqlite}; native: ${m.natives.join(', ')})`);
    console.log(`package:console: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    console.error(`package:console: ${err instanceof PackError ? err.message : err.stack}`);
    process.exit(1);
  }
}
