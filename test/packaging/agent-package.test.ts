/**
 * `npm run package:agent` (packaging/agent/package.mjs) from the built dist/, as a release would:
 * the tarball is listed with tar, unpacked, its lock checked offline with npm, and its two commands
 * run against the repository's node_modules — so a file missing from the import closure fails here,
 * not on a gateway box.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, run, tempDir } from '../helpers/processes.js';

interface PackModule {
  packAgent(o: { distDir?: string; outDir?: string }): Promise<{ path: string }>;
  importClosure(distDir: string, entries?: string[]): { files: string[]; packages: string[] };
}

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TOP = `lmgw-agent-${VERSION}`;

describe('the agent tarball', () => {
  const tmp = tempDir('lmgw-agent-package-');
  const unpacked = join(tmp.dir, 'opt-lmgw');
  let listing: string[] = [];
  let tarball = '';

  beforeAll(async () => {
    const ran = await run(process.execPath, [join(ROOT, 'packaging', 'agent', 'package.mjs'), '--out', join(tmp.dir, 'out')], { env: { SOURCE_DATE_EPOCH: '1767225600' } });
    expect(ran.code, ran.stderr).toBe(0);
    tarball = join(tmp.dir, 'out', `${TOP}.tar.gz`);
    expect(ran.stdout).toContain(`${TOP}.tar.gz`);
    const listed = await run('tar', ['-tzf', tarball]);
    expect(listed.code, listed.stderr).toBe(0);
    listing = listed.stdout.split('\n').filter(Boolean);
    mkdirSync(unpacked);
    const extracted = await run('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1']);
    expect(extracted.code, extracted.stderr).toBe(0);
  }, 120_000);
  afterAll(() => tmp.cleanup());

  it('is named after the version and holds one top-level directory', () => {
    expect(readdirSync(join(tmp.dir, 'out'))).toEqual([`${TOP}.tar.gz`]);
    expect(listing.every((p) => p === `${TOP}/` || p.startsWith(`${TOP}/`))).toBe(true);
  });

  it('holds the commands, the compiled agent with the shared and certs code it needs, the examples, the profiles and INSTALL.md', () => {
    const profiles = readdirSync(join(ROOT, 'agent', 'profiles')).filter((f) => f.endsWith('.json'));
    const expected = [
      'bin/lmgw-agent.js',
      'bin/lm-sim.js',
      'dist/agent/cli.js',
      'dist/agent/daemon.js',
      'dist/agent/sim/cli.js',
      'dist/shared/protocol/decode.js',
      'dist/shared/errors.js',
      'dist/certs/csr.js',
      'dist/certs/key-file.js',
      'package.json',
      'package-lock.json',
      'INSTALL.md',
      'agent/examples/agent.json',
      'agent/examples/lmgw-agent.service',
      'docs/operations.md',
      ...profiles.map((p) => `agent/profiles/${p}`),
    ];
    for (const f of expected) expect(listing, f).toContain(`${TOP}/${f}`);
  });

  it('holds nothing of the console, the benchmarks, the tests, sources or source maps', () => {
    const inside = listing.map((p) => p.slice(TOP.length + 1));
    expect(inside.filter((p) => /(^|\/)(console|bench|test|e2e|renderer|node_modules)(\/|$)/.test(p))).toEqual([]);
    expect(inside.filter((p) => /\.(ts|map|tsx)$/.test(p))).toEqual([]);
    expect(inside.filter((p) => p.startsWith('dist/') && !/^dist\/(agent|shared|certs)(\/|$)/.test(p) && p !== 'dist/')).toEqual([]);
  });

  it('declares only the agent\'s runtime dependencies, at the versions the repository pins', () => {
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const pkg = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string>; devDependencies?: unknown; scripts?: unknown; bin: Record<string, string> };
    expect(pkg.name).toBe('lmgw-agent');
    expect(pkg.devDependencies).toBeUndefined();
    expect(pkg.scripts).toBeUndefined();
    expect(pkg.bin).toEqual({ 'lmgw-agent': 'bin/lmgw-agent.js', 'lm-sim': 'bin/lm-sim.js' });
    for (const needed of ['better-sqlite3', 'modbus-serial', 'pino', 'ws', 'zod', 'fast-xml-parser']) expect(pkg.dependencies, needed).toHaveProperty(needed);
    for (const notNeeded of ['react', 'react-dom', 'uplot', 'electron', 'vite']) expect(pkg.dependencies, notNeeded).not.toHaveProperty(notNeeded);
    for (const [name, version] of Object.entries(pkg.dependencies)) expect(root.dependencies[name], name).toBe(version);
  });

  it('has a lock npm accepts for `npm ci --omit=dev` (checked offline), with no dev package in it', async () => {
    const lock = JSON.parse(readFileSync(join(unpacked, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; dependencies?: Record<string, string> }> };
    const pkg = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(lock.packages['']?.dependencies).toEqual(pkg.dependencies);
    expect(Object.entries(lock.packages).filter(([, e]) => e.dev)).toEqual([]);
    expect(Object.keys(lock.packages).some((p) => /node_modules\/(react|vitest|electron|typescript)$/.test(p))).toBe(false);
    const ls = await run('npm', ['ls', '--all', '--package-lock-only', '--omit=dev', '--offline'], { cwd: unpacked });
    expect(ls.code, `${ls.stdout}\n${ls.stderr}`).toBe(0);
    expect(ls.stdout).not.toMatch(/\bmissing\b|\binvalid\b|UNMET DEPENDENCY/);
  });

  it('runs: both commands start from the unpacked tree (no compiled file is missing)', async () => {
    symlinkSync(join(ROOT, 'node_modules'), join(unpacked, 'node_modules'));
    const agent = await run(process.execPath, [join(unpacked, 'bin', 'lmgw-agent.js'), '--help'], { cwd: unpacked });
    expect(agent.code, agent.stderr).toBe(0);
    expect(agent.stdout).toContain('lmgw-agent');
    const sim = await run(process.execPath, [join(unpacked, 'bin', 'lm-sim.js'), '--help'], { cwd: unpacked });
    expect(sim.code, sim.stderr).toBe(0);
    expect(sim.stdout).toContain('lm-sim');
  });

  it('packs the same bytes from the same input', async () => {
    const again = await run(process.execPath, [join(ROOT, 'packaging', 'agent', 'package.mjs'), '--out', join(tmp.dir, 'again')], { env: { SOURCE_DATE_EPOCH: '1767225600' } });
    expect(again.code, again.stderr).toBe(0);
    const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
    expect(sha(join(tmp.dir, 'again', `${TOP}.tar.gz`))).toBe(sha(tarball));
  });
});

describe('the agent import closure', () => {
  const tmp = tempDir('lmgw-agent-closure-');
  afterAll(() => tmp.cleanup());

  it('refuses to pack an agent that imports console code', async () => {
    const pack = (await import(join(ROOT, 'packaging', 'agent', 'package.mjs'))) as PackModule;
    mkdirSync(join(tmp.dir, 'agent'), { recursive: true });
    mkdirSync(join(tmp.dir, 'console', 'hub'), { recursive: true });
    writeFileSync(join(tmp.dir, 'agent', 'cli.js'), "import { x } from '../console/hub/hub.js';\nexport const y = x;\n");
    writeFileSync(join(tmp.dir, 'console', 'hub', 'hub.js'), 'export const x = 1;\n');
    expect(() => pack.importClosure(tmp.dir, ['agent/cli.js'])).toThrow(/must not need console code/);
  });
});
