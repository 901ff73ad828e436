#!/usr/bin/env node
// Packs the gateway agent for a site box: dist/packages/lmgw-agent-<version>.tar.gz, one top-level
// directory lmgw-agent-<version>/ holding
//   bin/lmgw-agent.js, bin/lm-sim.js          the two commands
//   dist/…                                   the compiled code they import, and nothing else (the
//                                            import closure of the two entry points: agent, shared,
//                                            certs; anything under console/ fails the packing)
//   package.json, package-lock.json          only the agent's runtime dependencies, the lock pruned
//                                            from the repository's, so `npm ci --omit=dev` installs
//                                            exactly the versions we test with
//   agent/examples/agent.json, agent/examples/lmgw-agent.service, agent/profiles/*.json
//   docs/operations.md, docs/errors.md, docs/modbus.md, INSTALL.md
// Usage: npm run package:agent   (builds first), or node packaging/agent/package.mjs [--dist DIR] [--out DIR]
// Needs the system's tar (GNU tar: sorted, owner 0, fixed mtime, so the same input packs the same).
import { spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ENTRIES = ['agent/cli.js', 'agent/sim/cli.js'];
const BINS = { 'lmgw-agent': 'bin/lmgw-agent.js', 'lm-sim': 'bin/lm-sim.js' };
const DOCS = ['docs/operations.md', 'docs/errors.md', 'docs/modbus.md'];
const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

class PackError extends Error {}

/** The compiled files reachable from the entries (paths relative to distDir), and the npm packages they import. */
export function importClosure(distDir, entries = ENTRIES) {
  const files = new Set();
  const packages = new Set();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.shift();
    if (files.has(file)) continue;
    const full = join(distDir, file);
    if (!existsSync(full)) throw new PackError(`${full} is missing: run npm run build first`);
    files.add(file);
    const text = readFileSync(full, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.')) {
        const target = relative(distDir, resolve(dirname(full), spec)).split(sep).join('/');
        if (target.startsWith('..')) throw new PackError(`${file} imports ${spec}, outside the built code`);
        if (target.startsWith('console/')) throw new PackError(`${file} imports ${spec}: the agent must not need console code`);
        queue.push(target);
      } else if (!BUILTINS.has(spec)) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/** Where Node would find `name` from the lock entry at `from` (lockfile v3 paths). */
function resolveInLock(lock, from, name) {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!base) return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut === -1 ? '' : base.slice(0, cut);
  }
}

/**
 * The repository's lock reduced to what `dependencies` need: every package reachable from them,
 * entries copied as they are (version, resolved, integrity), dev flags dropped; a package reached
 * only through optional edges stays optional.
 */
export function pruneLock(lock, root) {
  if (lock.lockfileVersion !== 3 && lock.lockfileVersion !== 2) throw new PackError(`package-lock.json version ${lock.lockfileVersion} is not supported`);
  const walk = (withOptional) => {
    const seen = new Set();
    const queue = Object.keys(root.dependencies).map((name) => ({ from: '', name, optional: false }));
    while (queue.length > 0) {
      const { from, name, optional } = queue.shift();
      const at = resolveInLock(lock, from, name);
      if (!at) {
        if (optional) continue;
        throw new PackError(`package-lock.json has no ${name} (needed by ${from || 'the agent'}); run npm install in the repository`);
      }
      if (seen.has(at)) continue;
      seen.add(at);
      const entry = lock.packages[at];
      for (const dep of Object.keys(entry.dependencies ?? {})) queue.push({ from: at, name: dep, optional: false });
      // npm installs a peer unless it is marked optional.
      for (const dep of Object.keys(entry.peerDependencies ?? {})) {
        if (!entry.peerDependenciesMeta?.[dep]?.optional) queue.push({ from: at, name: dep, optional: false });
      }
      if (withOptional) for (const dep of Object.keys(entry.optionalDependencies ?? {})) queue.push({ from: at, name: dep, optional: true });
    }
    return seen;
  };
  const required = walk(false);
  const all = walk(true);
  const packages = { '': root };
  for (const at of [...all].sort()) {
    const entry = { ...lock.packages[at] };
    delete entry.dev;
    delete entry.devOptional;
    delete entry.optional;
    packages[at] = required.has(at) ? entry : { ...entry, optional: true };
  }
  return { name: root.name, version: root.version, lockfileVersion: 3, requires: true, packages };
}

function copy(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

export async function packAgent({ distDir = join(ROOT, 'dist'), outDir = join(ROOT, 'dist', 'packages') } = {}) {
  const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const version = rootPkg.version;
  const name = `lmgw-agent-${version}`;
  const { files, packages } = importClosure(distDir);

  const dependencies = {};
  for (const p of packages) {
    const v = rootPkg.dependencies?.[p];
    if (!v) throw new PackError(`the agent imports ${p}, which is not a dependency in package.json`);
    dependencies[p] = v;
  }
  const pkg = {
    name: 'lmgw-agent',
    version,
    description: 'LMGW gateway agent: drives the site\'s load managers over Modbus and keeps an outbound mutual-TLS link to the DSO console',
    license: rootPkg.license,
    private: true,
    type: 'module',
    engines: rootPkg.engines,
    bin: BINS,
    dependencies,
    ...(rootPkg.allowScripts ? { allowScripts: Object.fromEntries(Object.entries(rootPkg.allowScripts).filter(([k]) => k === 'better-sqlite3' || k.startsWith('@serialport/'))) } : {}),
  };
  const lockRoot = { name: pkg.name, version, license: pkg.license, dependencies, engines: pkg.engines, bin: BINS };

  const staging = mkdtempSync(join(tmpdir(), 'lmgw-agent-pack-'));
  try {
    const top = join(staging, name);
    for (const f of files) copy(join(distDir, f), join(top, 'dist', f));
    for (const bin of Object.values(BINS)) copy(join(ROOT, bin), join(top, bin));
    copy(join(ROOT, 'agent/examples/agent.json'), join(top, 'agent/examples/agent.json'));
    copy(join(ROOT, 'agent/examples/lmgw-agent.service'), join(top, 'agent/examples/lmgw-agent.service'));
    for (const profile of readdirSync(join(ROOT, 'agent/profiles')).filter((f) => f.endsWith('.json'))) {
      copy(join(ROOT, 'agent/profiles', profile), join(top, 'agent/profiles', profile));
    }
    for (const doc of DOCS) copy(join(ROOT, doc), join(top, doc));
    writeFileSync(join(top, 'INSTALL.md'), readFileSync(join(import.meta.dirname, 'INSTALL.md'), 'utf8').replaceAll('{{version}}', version));
    writeFileSync(join(top, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    writeFileSync(join(top, 'package-lock.json'), `${JSON.stringify(pruneLock(lock, lockRoot), null, 2)}\n`);

    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `${name}.tar.gz`);
    const mtime = process.env.SOURCE_DATE_EPOCH ?? String(Math.floor(statSync(join(ROOT, 'package.json')).mtimeMs / 1000));
    const tar = spawn('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${mtime}`, '--mode=u+rwX,go+rX,go-w', '-cf', '-', '-C', staging, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolveExit, reject) => {
      tar.once('error', (err) => reject(new PackError(`cannot run tar: ${err.message}`)));
      tar.once('exit', (code) => (code === 0 ? resolveExit() : reject(new PackError(`tar exited with ${code}`))));
    });
    await pipeline(tar.stdout, createGzip({ level: 9 }), createWriteStream(out));
    await exited;
    return { path: out, files: files.length, dependencies };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { dist: { type: 'string' }, out: { type: 'string' } }, strict: true });
  try {
    const r = await packAgent({ ...(values.dist ? { distDir: resolve(values.dist) } : {}), ...(values.out ? { outDir: resolve(values.out) } : {}) });
    console.log(`package:agent: ${relative(process.cwd(), r.path) || r.path} (${r.files} compiled files; dependencies ${Object.keys(r.dependencies).join(', ')})`);
  } catch (err) {
    console.error(`package:agent: ${err instanceof PackError ? err.message : err.stack}`);
    process.exit(1);
  }
}
