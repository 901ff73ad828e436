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
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
  parseArches,
  parseFormats,
  pruneLock,
  ROOT,
  serviceScripts,
  size,
  wrapper,
  write,
  writeDeb,
  writeTarball,
} from '../lib.mjs';

const ENTRIES = ['agent/cli.js', 'agent/sim/cli.js'];
const FORBIDDEN = [{ prefix: 'console/', why: 'the agent must not need console code' }];
const BINS = { 'lmgw-agent': 'bin/lmgw-agent.js', 'lm-sim': 'bin/lm-sim.js' };
const DOCS = ['docs/operations.md', 'docs/errors.md', 'docs/modbus.md'];
const PREFIX = 'opt/lmgw';
const UNIT = 'lmgw-agent.service';

export { importClosure, pruneLock };

/** The agent's import closure in `distDir`. */
export function agentClosure(distDir, entries = ENTRIES) {
  return importClosure(distDir, entries, FORBIDDEN);
}

function control(version, arch, node) {
  return `Package: lmgw-agent
Version: ${version}
Architecture: ${ARCHES[arch].deb}
Maintainer: LMGW <lmgw@example.invalid>
Section: net
Priority: optional
Installed-Size: {{installedSize}}
Depends: libc6 (>= 2.28), libstdc++6 (>= 5.2), libgcc-s1 | libgcc1, passwd
Description: LMGW gateway agent
 Drives the site's load managers over Modbus (TCP or RTU) and keeps one outbound
 mutual-TLS WebSocket link to the DSO console. Self-contained: Node.js ${node} and
 every dependency are in /opt/lmgw; nothing is downloaded or compiled at install.
 Configure /etc/lmgw (see /opt/lmgw/INSTALL.md), then: systemctl enable --now lmgw-agent
`;
}

/** Builds the /opt/lmgw tree for `arch` under `<root>/opt/lmgw`, and the unit and links around it. */
async function stage(root, { distDir, arch, rootPkg, lock, files, dependencies }) {
  const version = rootPkg.version;
  const app = join(root, PREFIX);
  for (const f of files) copy(join(distDir, f), join(app, 'dist', f));
  for (const [name, js] of Object.entries(BINS)) {
    copy(join(ROOT, js), join(app, js), 0o755);
    write(join(app, 'bin', name), wrapper(name), 0o755);
  }
  copy(join(ROOT, 'agent/examples/agent.json'), join(app, 'agent/examples/agent.json'));
  copy(join(ROOT, 'agent/examples', UNIT), join(app, 'agent/examples', UNIT));
  for (const profile of readdirSync(join(ROOT, 'agent/profiles')).filter((f) => f.endsWith('.json'))) {
    copy(join(ROOT, 'agent/profiles', profile), join(app, 'agent/profiles', profile));
  }
  for (const doc of DOCS) copy(join(ROOT, doc), join(app, doc));
  const runtime = await fetchRuntime(arch);
  write(join(app, 'INSTALL.md'), readFileSync(join(import.meta.dirname, 'INSTALL.md'), 'utf8').replaceAll('{{version}}', version).replaceAll('{{node}}', runtime.version));

  const pkg = {
    name: 'lmgw-agent',
    version,
    description: "LMGW gateway agent: drives the site's load managers over Modbus and keeps an outbound mutual-TLS link to the DSO console",
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
  const natives = checkElfArch(app, arch);

  copy(join(ROOT, 'agent/examples', UNIT), join(root, 'lib/systemd/system', UNIT));
  for (const name of Object.keys(BINS)) link(`/${PREFIX}/bin/${name}`, join(root, 'usr/bin', name));
  return { natives, node: runtime.version };
}

export async function packAgent({ distDir = join(ROOT, 'dist'), outDir = join(ROOT, 'dist', 'packages'), arches = ['x64', 'arm64'], formats = ['deb', 'tar'] } = {}) {
  const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const version = rootPkg.version;
  const { files, packages } = agentClosure(distDir);
  const dependencies = {};
  for (const p of packages) {
    const v = rootPkg.dependencies?.[p];
    if (!v) throw new PackError(`the agent imports ${p}, which is not a dependency in package.json`);
    dependencies[p] = v;
  }
  mkdirSync(outDir, { recursive: true });
  const made = [];
  for (const arch of arches) {
    const staging = mkdtempSync(join(tmpdir(), `lmgw-agent-pack-${arch}-`));
    try {
      const root = join(staging, 'root');
      const { natives, node } = await stage(root, { distDir, arch, rootPkg, lock, files, dependencies });
      if (formats.includes('tar')) {
        const out = join(outDir, `lmgw-agent-${version}-linux-${arch}.tar.gz`);
        await writeTarball(join(root, 'opt'), 'lmgw', `lmgw-agent-${version}-linux-${arch}`, out);
        made.push({ arch, path: out, natives });
      }
      if (formats.includes('deb')) {
        const out = join(outDir, `lmgw-agent_${version}_${ARCHES[arch].deb}.deb`);
        const scripts = serviceScripts({ user: 'lmgw', configDir: '/etc/lmgw', unit: 'lmgw-agent', stateDir: '/var/lib/lmgw-agent' });
        await writeDeb(root, control(version, arch, node), scripts, out);
        made.push({ arch, path: out, natives });
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return { made, files: files.length, dependencies };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { dist: { type: 'string' }, out: { type: 'string' }, arch: { type: 'string', default: 'x64,arm64' }, format: { type: 'string', default: 'deb,tar' } },
    strict: true,
  });
  try {
    const started = Date.now();
    const r = await packAgent({
      ...(values.dist ? { distDir: resolve(values.dist) } : {}),
      ...(values.out ? { outDir: resolve(values.out) } : {}),
      arches: parseArches(values.arch),
      formats: parseFormats(values.format),
    });
    console.log(`package:agent: ${r.files} compiled files; dependencies ${Object.keys(r.dependencies).join(', ')}`);
    for (const m of r.made) console.log(`package:agent: ${relative(process.cwd(), m.path) || m.path} (${size(m.path)}; native: ${m.natives.join(', ')})`);
    console.log(`package:agent: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    console.error(`package:agent: ${err instanceof PackError ? err.message : err.stack}`);
    process.exit(1);
  }
}
