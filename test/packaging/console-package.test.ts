/**
 * `npm run package:console` (packaging/console/package.mjs): the headless hub's .deb and .tar.gz,
 * listed against what docs/operations.md says, every native file x86-64 (readelf), the unit
 * hardened as documented, and the .deb unpacked into an empty directory and run with its bundled
 * runtime as the unit runs it: no dataDir in the config, systemd's STATE_DIRECTORY given, the
 * browser-mode UI served from the package.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aLinkPki, freePort } from '../agent/fixtures/link.js';
import { stopOrKill } from '../fault/fault-stack.js';
import { ROOT, run, start, tempDir, waitFor } from '../helpers/processes.js';
import { debField, debListing, elfMachines, expectMaintainerScripts, unitProblems } from './listing.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const RUNTIME = (JSON.parse(readFileSync(join(ROOT, 'packaging', 'runtime.json'), 'utf8')) as { version: string }).version;
const DEB = `lmgw-console_${VERSION}_amd64.deb`;
const TAR = `lmgw-console-${VERSION}-linux-x64.tar.gz`;
const TOP = `lmgw-console-${VERSION}-linux-x64`;

/** What docs/operations.md ("The console as a service") says is in /opt/lmgw-console. */
const DOCUMENTED = [
  'bin/lm-console',
  'bin/lmgw-ca',
  'bin/lm-console.js',
  'bin/lmgw-ca.js',
  'runtime/bin/node',
  'runtime/LICENSE',
  'dist/console/hub/cli.js',
  'dist/console/hub/store/checkpointer.js',
  'dist/console/renderer/index.html',
  'dist/certs/cli.js',
  'dist/shared/errors.js',
  'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
  'node_modules/ws/package.json',
  'package.json',
  'package-lock.json',
  'examples/hub.json',
  'examples/lm-console.service',
  'docs/operations.md',
  'docs/operator-api.md',
  'INSTALL.md',
];

describe.skipIf(process.arch !== 'x64')('the console package', () => {
  const tmp = tempDir('lmgw-console-package-');
  const out = join(tmp.dir, 'out');
  const installed = join(tmp.dir, 'empty');
  let debPaths: string[] = [];
  let tarPaths: string[] = [];

  beforeAll(async () => {
    const made = await run(process.execPath, [join(ROOT, 'packaging', 'console', 'package.mjs'), '--out', out]);
    expect(made.code, made.stderr).toBe(0);
    process.stderr.write(made.stdout);
    debPaths = await debListing(join(out, DEB));
    const tar = await run('tar', ['-tzf', join(out, TAR)]);
    expect(tar.code, tar.stderr).toBe(0);
    tarPaths = tar.stdout.split('\n').filter(Boolean);
    mkdirSync(installed);
    expect((await run('dpkg-deb', ['-x', join(out, DEB), installed])).code).toBe(0);
  }, 900_000);
  afterAll(() => tmp.cleanup());

  it('holds what the docs list, the unit and the /usr/bin links; the tarball is the same tree', () => {
    for (const f of DOCUMENTED) {
      expect(debPaths, f).toContain(`opt/lmgw-console/${f}`);
      expect(tarPaths, f).toContain(`${TOP}/${f}`);
    }
    expect(debPaths).toContain('lib/systemd/system/lm-console.service');
    expect(debPaths).toContain('usr/bin/lm-console -> /opt/lmgw-console/bin/lm-console');
    expect(debPaths).toContain('usr/bin/lmgw-ca -> /opt/lmgw-console/bin/lmgw-ca');
    const fromDeb = debPaths.filter((p) => p.startsWith('opt/lmgw-console/')).map((p) => p.slice('opt/lmgw-console/'.length).replace(/ -> .*$/, ''));
    const fromTar = tarPaths.filter((p) => p !== `${TOP}/`).map((p) => p.slice(TOP.length + 1));
    expect(fromTar.sort()).toEqual(fromDeb.filter(Boolean).sort());
  });

  it('holds nothing of the Electron app, the agent, the tests, the C sources', () => {
    const app = debPaths.filter((p) => p.startsWith('opt/lmgw-console/')).map((p) => p.slice('opt/lmgw-console/'.length));
    expect(app.filter((p) => /^dist\/(agent|bench|test|console\/main|console\/preload)\//.test(p))).toEqual([]);
    expect(app.filter((p) => /^node_modules\/(electron|react|react-dom|vite|modbus-serial|@serialport)\//.test(p))).toEqual([]);
    expect(app.filter((p) => /^node_modules\/better-sqlite3\/(deps|src)\//.test(p))).toEqual([]);
  });

  it('is amd64, every native file x86-64, the runtime the pinned one', async () => {
    expect(await debField(join(out, DEB), 'Architecture')).toBe('amd64');
    const app = join(installed, 'opt', 'lmgw-console');
    const machines = await elfMachines(app);
    expect([...machines.keys()].sort()).toEqual(['node_modules/better-sqlite3/build/Release/better_sqlite3.node', 'runtime/bin/node']);
    expect(new Set(machines.values())).toEqual(new Set(['Advanced Micro Devices X86-64']));
    expect((await run(join(app, 'runtime', 'bin', 'node'), ['--version'])).stdout.trim()).toBe(`v${RUNTIME}`);
  });

  it('ships a unit hardened like the agent\'s: own user, state directory, read-only config and system, no new privileges', () => {
    const unit = readFileSync(join(installed, 'lib', 'systemd', 'system', 'lm-console.service'), 'utf8');
    for (const line of [
      'User=lmgw-console',
      'StateDirectory=lmgw-console',
      'StateDirectoryMode=0700',
      'ProtectSystem=strict',
      'ProtectHome=true',
      'PrivateTmp=true',
      'NoNewPrivileges=true',
      'ReadOnlyPaths=/etc/lmgw-console',
      'ExecStart=/opt/lmgw-console/runtime/bin/node /opt/lmgw-console/bin/lm-console.js --headless --config /etc/lmgw-console/hub.json',
    ]) {
      expect(unit.split('\n'), line).toContain(line);
    }
    expect(existsSync(join(installed, 'opt', 'lmgw-console', 'runtime', 'bin', 'node'))).toBe(true);
  });

  it('ships a unit systemd accepts (systemd-analyze verify: no unknown key or bad value)', async (ctx) => {
    const problems = await unitProblems(join(installed, 'lib', 'systemd', 'system', 'lm-console.service'));
    if (problems === undefined) ctx.skip('systemd-analyze (Debian package systemd) is not installed');
    expect(problems).toEqual([]);
  });

  it('the .deb\'s maintainer scripts, as docs/operations.md says: install makes the lmgw-console user and /etc/lmgw-console (0700), an upgrade restarts a running hub, remove disables it, purge deletes /var/lib/lmgw-console only', async () => {
    await expectMaintainerScripts(join(out, DEB), join(tmp.dir, 'maintainer-scripts'), { user: 'lmgw-console', configDir: '/etc/lmgw-console', service: 'lm-console', stateDir: '/var/lib/lmgw-console' });
  });

  it('runs from the unpacked tree as the unit runs it: data in STATE_DIRECTORY, the UI served, a clean stop', async () => {
    const etc = join(tmp.dir, 'etc-lmgw-console');
    const state = join(tmp.dir, 'var-lib-lmgw-console');
    mkdirSync(etc);
    const pki = await aLinkPki(etc);
    writeFileSync(join(etc, 'server.pem'), pki.server.certPem);
    writeFileSync(join(etc, 'server.key'), pki.server.keyPem, { mode: 0o600 });
    const apiPort = await freePort();
    const example = JSON.parse(readFileSync(join(installed, 'opt', 'lmgw-console', 'examples', 'hub.json'), 'utf8')) as Record<string, unknown>;
    expect(example).not.toHaveProperty('dataDir');
    writeFileSync(join(etc, 'hub.json'), JSON.stringify({ ...example, listen: { host: '127.0.0.1', port: await freePort() }, operatorApi: { host: '127.0.0.1', port: apiPort } }));
    const app = join(installed, 'opt', 'lmgw-console');
    const hub = start(join(app, 'runtime', 'bin', 'node'), [join(app, 'bin', 'lm-console.js'), '--headless', '--config', join(etc, 'hub.json')], { STATE_DIRECTORY: state, NODE_PATH: '' });
    try {
      await waitFor(() => /data in /.test(hub.output()) || hub.child.exitCode !== null, 30_000, 'the packaged lm-console to start');
      expect(hub.child.exitCode, hub.output()).toBeNull();
      expect(hub.output()).toContain(`data in ${join(state, 'hub.db')}`);
      expect(readdirSync(state).sort()).toEqual(expect.arrayContaining(['hub.db', 'operator-token']));
      expect(existsSync(join(etc, 'data'))).toBe(false);
      const page = await fetch(`http://127.0.0.1:${apiPort}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
    } finally {
      expect(await stopOrKill(hub)).toBe(true);
    }
    expect(hub.child.exitCode).toBe(0);
  }, 60_000);
});
