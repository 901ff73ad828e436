/**
 * `npm run package:agent` (packaging/agent/package.mjs) from the built dist/, as a release would:
 * the x64 .deb and .tar.gz and the arm64 .deb are made once; their listings are checked against
 * what docs/operations.md says they hold, every native file of each against its architecture
 * (readelf, not our own ELF reader), and the x64 .deb is unpacked into an empty directory and run —
 * agent and lm-sim from the package, against a real hub — inside a network namespace with nothing
 * but loopback: no registry, no compiler, no node_modules of the repository within reach. Where
 * qemu-user and Debian's arm64 libc are installed, the arm64 .deb runs the same scenario emulated.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetSnapshot, GatewayDetail, ShedEventAnswer } from '../../console/hub/operator/types.js';
import { aFastProfile } from '../agent/fixtures/lm.js';
import { aLinkPki } from '../agent/fixtures/link.js';
import { stopOrKill, type Proc } from '../fault/fault-stack.js';
import { anIsolatedNetns, netnsUnavailable } from '../helpers/netns.js';
import { ROOT, run, start, tempDir, waitFor } from '../helpers/processes.js';
import { debField, debListing, elfMachines, expectMaintainerScripts, unitProblems } from './listing.js';

interface PackModule {
  agentClosure(distDir: string, entries?: string[]): { files: string[]; packages: string[] };
}

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const RUNTIME = (JSON.parse(readFileSync(join(ROOT, 'packaging', 'runtime.json'), 'utf8')) as { version: string }).version;
const PACK = join(ROOT, 'packaging', 'agent', 'package.mjs');
const EPOCH = { SOURCE_DATE_EPOCH: '1767225600' };
const X64_TAR = `lmgw-agent-${VERSION}-linux-x64.tar.gz`;
const X64_DEB = `lmgw-agent_${VERSION}_amd64.deb`;
const ARM64_DEB = `lmgw-agent_${VERSION}_arm64.deb`;
const TOP = `lmgw-agent-${VERSION}-linux-x64`;
/** Debian's arm64 libc for qemu-user (libc6-arm64-cross, libstdc++6-arm64-cross, libgcc-s1-arm64-cross). */
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

/** Why the arm64 package cannot be run here under emulation, or undefined when it can. */
async function arm64EmulatorMissing(): Promise<string | undefined> {
  if (process.arch !== 'x64') return `this machine is ${process.arch}`;
  if ((await run('qemu-aarch64', ['--version'])).code !== 0) return 'qemu-aarch64 (Debian package qemu-user) is not installed';
  if (!existsSync(join(ARM64_SYSROOT, 'lib', 'ld-linux-aarch64.so.1')) || !existsSync(join(ARM64_SYSROOT, 'lib', 'libstdc++.so.6'))) {
    return `no arm64 libc in ${ARM64_SYSROOT} (Debian packages libc6-arm64-cross, libstdc++6-arm64-cross, libgcc-s1-arm64-cross)`;
  }
  return undefined;
}

/** node -e POST URL TOKEN BODY: the response body on stdout. */
const POST =
  "const [url, token, body] = process.argv.slice(1);" +
  "fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(15000) })" +
  '.then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(e); process.exit(1); })';

/** What docs/operations.md ("Agent packages") says is in /opt/lmgw. */
const DOCUMENTED = [
  'bin/lmgw-agent',
  'bin/lm-sim',
  'bin/lmgw-agent.js',
  'bin/lm-sim.js',
  'runtime/bin/node',
  'runtime/LICENSE',
  'dist/agent/cli.js',
  'dist/agent/db.js',
  'dist/agent/daemon.js',
  'dist/agent/sim/cli.js',
  'dist/shared/protocol/decode.js',
  'dist/shared/errors.js',
  'dist/certs/csr.js',
  'dist/certs/key-file.js',
  'node_modules/modbus-serial/package.json',
  'node_modules/ws/package.json',
  'package.json',
  'package-lock.json',
  'INSTALL.md',
  'agent/examples/agent.json',
  'agent/examples/lmgw-agent.service',
  'docs/operations.md',
];

describe('the agent packages', () => {
  const tmp = tempDir('lmgw-agent-package-');
  const out = join(tmp.dir, 'out');
  let debPaths: string[] = [];
  let tarPaths: string[] = [];

  beforeAll(async () => {
    const x64 = await run(process.execPath, [PACK, '--arch', 'x64', '--format', 'deb,tar', '--out', out], { env: EPOCH });
    expect(x64.code, x64.stderr).toBe(0);
    const arm64 = await run(process.execPath, [PACK, '--arch', 'arm64', '--format', 'deb', '--out', out], { env: EPOCH });
    expect(arm64.code, arm64.stderr).toBe(0);
    process.stderr.write(`${x64.stdout}${arm64.stdout}`);
    debPaths = await debListing(join(out, X64_DEB));
    const listed = await run('tar', ['-tzf', join(out, X64_TAR)]);
    expect(listed.code, listed.stderr).toBe(0);
    tarPaths = listed.stdout.split('\n').filter(Boolean);
  }, 900_000);
  afterAll(() => tmp.cleanup());

  it('are named after the version and the architecture', () => {
    expect(readdirSync(out).sort()).toEqual([X64_TAR, ARM64_DEB, X64_DEB].sort());
  });

  it('hold what the docs list: the commands, the runtime, the compiled agent, its node_modules, the examples and profiles', () => {
    const profiles = readdirSync(join(ROOT, 'agent', 'profiles')).filter((f) => f.endsWith('.json'));
    for (const f of [...DOCUMENTED, ...profiles.map((p) => `agent/profiles/${p}`)]) {
      expect(debPaths, f).toContain(`opt/lmgw/${f}`);
      expect(tarPaths, f).toContain(`${TOP}/${f}`);
    }
    expect(debPaths).toContain('lib/systemd/system/lmgw-agent.service');
    expect(debPaths).toContain('usr/bin/lmgw-agent -> /opt/lmgw/bin/lmgw-agent');
    expect(debPaths).toContain('usr/bin/lm-sim -> /opt/lmgw/bin/lm-sim');
  });

  it('the tarball is the .deb\'s /opt/lmgw, file for file', () => {
    const fromDeb = debPaths.filter((p) => p.startsWith('opt/lmgw/') && p !== 'opt/lmgw/').map((p) => p.slice('opt/lmgw/'.length).replace(/ -> .*$/, ''));
    const fromTar = tarPaths.filter((p) => p !== `${TOP}/`).map((p) => p.slice(TOP.length + 1));
    expect(fromTar.sort()).toEqual(fromDeb.sort());
  });

  it('hold nothing of the console, the tests, sources, better-sqlite3 or another architecture\'s prebuilds', () => {
    const app = debPaths.filter((p) => p.startsWith('opt/lmgw/')).map((p) => p.slice('opt/lmgw/'.length));
    expect(app.filter((p) => p.startsWith('dist/') && !/^dist\/(agent|shared|certs)(\/|$)/.test(p) && p !== 'dist/')).toEqual([]);
    expect(app.filter((p) => p.startsWith('dist/') && /\.(ts|map|tsx)$/.test(p))).toEqual([]);
    expect(app.filter((p) => /^(console|bench|test|e2e)\//.test(p))).toEqual([]);
    expect(app.filter((p) => p.includes('better-sqlite3'))).toEqual([]);
    expect(app.filter((p) => /\/prebuilds\/[^/]+\/$/.test(p))).toEqual(['node_modules/@serialport/bindings-cpp/prebuilds/linux-x64/']);
  });

  it('declare their architecture and what they need from the OS (glibc, libstdc++), and a package.json with only runtime dependencies', async () => {
    expect(await debField(join(out, X64_DEB), 'Architecture')).toBe('amd64');
    expect(await debField(join(out, ARM64_DEB), 'Architecture')).toBe('arm64');
    expect(await debField(join(out, X64_DEB), 'Package')).toBe('lmgw-agent');
    expect(await debField(join(out, X64_DEB), 'Depends')).toMatch(/libc6 \(>= 2\.28\).*libstdc\+\+6/);
    const unpacked = join(tmp.dir, 'x64-tar');
    mkdirSync(unpacked);
    expect((await run('tar', ['-xzf', join(out, X64_TAR), '-C', unpacked, '--strip-components=1'])).code).toBe(0);
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const pkg = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string>; devDependencies?: unknown; scripts?: unknown };
    expect(pkg.name).toBe('lmgw-agent');
    expect(pkg.devDependencies).toBeUndefined();
    expect(pkg.scripts).toBeUndefined();
    for (const needed of ['modbus-serial', 'pino', 'ws', 'zod', 'fast-xml-parser']) expect(pkg.dependencies, needed).toHaveProperty(needed);
    for (const notNeeded of ['better-sqlite3', 'react', 'electron', 'vite']) expect(pkg.dependencies, notNeeded).not.toHaveProperty(notNeeded);
    for (const [name, version] of Object.entries(pkg.dependencies)) expect(root.dependencies[name], name).toBe(version);
    const ls = await run('npm', ['ls', '--all', '--omit=dev', '--offline'], { cwd: unpacked });
    expect(ls.code, `${ls.stdout}\n${ls.stderr}`).toBe(0);
    expect(ls.stdout).not.toMatch(/\bmissing\b|\binvalid\b|UNMET DEPENDENCY|extraneous/);
  });

  it('ship a unit systemd accepts (systemd-analyze verify: no unknown key or bad value)', async (ctx) => {
    const dir = join(tmp.dir, 'x64-unit');
    expect((await run('dpkg-deb', ['-x', join(out, X64_DEB), dir])).code).toBe(0);
    const problems = await unitProblems(join(dir, 'lib', 'systemd', 'system', 'lmgw-agent.service'));
    if (problems === undefined) ctx.skip('systemd-analyze (Debian package systemd) is not installed');
    expect(problems).toEqual([]);
  });

  it('the .deb\'s maintainer scripts, as docs/operations.md says: install makes the lmgw user and /etc/lmgw (0700), an upgrade restarts a running agent, remove disables it, purge deletes /var/lib/lmgw-agent only', async () => {
    await expectMaintainerScripts(join(out, X64_DEB), join(tmp.dir, 'maintainer-scripts'), { user: 'lmgw', configDir: '/etc/lmgw', service: 'lmgw-agent', stateDir: '/var/lib/lmgw-agent' });
  });

  it('the arm64 .deb: every native file (the runtime, serialport\'s prebuilds) is AArch64', async () => {
    const dir = join(tmp.dir, 'arm64');
    expect((await run('dpkg-deb', ['-x', join(out, ARM64_DEB), dir])).code).toBe(0);
    const machines = await elfMachines(join(dir, 'opt', 'lmgw'));
    expect([...machines.keys()].sort()).toEqual([
      'node_modules/@serialport/bindings-cpp/prebuilds/linux-arm64/@serialport+bindings-cpp.armv8.glibc.node',
      'node_modules/@serialport/bindings-cpp/prebuilds/linux-arm64/@serialport+bindings-cpp.armv8.musl.node',
      'runtime/bin/node',
    ]);
    expect(new Set(machines.values())).toEqual(new Set(['AArch64']));
  });

  it('the x64 .deb: every native file is x86-64', async () => {
    const dir = join(tmp.dir, 'x64-deb-elf');
    expect((await run('dpkg-deb', ['-x', join(out, X64_DEB), dir])).code).toBe(0);
    const machines = await elfMachines(join(dir, 'opt', 'lmgw'));
    expect(machines.size).toBe(3);
    expect(new Set(machines.values())).toEqual(new Set(['Advanced Micro Devices X86-64']));
  });

  it('packs the same bytes from the same input (the tarball)', async () => {
    const again = await run(process.execPath, [PACK, '--arch', 'x64', '--format', 'tar', '--out', join(tmp.dir, 'again')], { env: EPOCH });
    expect(again.code, again.stderr).toBe(0);
    const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
    expect(sha(join(tmp.dir, 'again', X64_TAR))).toBe(sha(join(out, X64_TAR)));
  }, 300_000);

  describe('installed offline', async () => {
    const unavailable = process.getuid?.() !== 0 ? 'not root (ip netns needs CAP_NET_ADMIN)' : await netnsUnavailable({ nft: false });
    if (unavailable) process.stderr.write(`agent package offline test skipped: ${unavailable}\n`);
    const emulator = unavailable ?? (await arm64EmulatorMissing());
    if (emulator) process.stderr.write(`arm64 package emulated run skipped: ${emulator}\n`);
    const bare = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NODE_PATH: '', NODE_OPTIONS: '', HTTPS_PROXY: '', https_proxy: '' };

    it.skipIf(unavailable)('the x64 .deb, unpacked into an empty directory, runs with no network: agent and lm-sim from the package, against a real hub; a shed is confirmed and telemetry stored', async () => {
      const install = join(tmp.dir, 'empty-x64');
      mkdirSync(install);
      expect((await run('dpkg-deb', ['-x', join(out, X64_DEB), install])).code).toBe(0);
      // As a gateway box runs them: the wrappers, which use the bundled runtime.
      await packagedSiteOffline(join(install, 'opt', 'lmgw'), 'linux-x64/@serialport+bindings-cpp.glibc.node', (app, bin, args) => [bin === 'node' ? join(app, 'runtime', 'bin', 'node') : join(app, 'bin', bin), args]);
    }, 180_000);

    it.skipIf(emulator)('the arm64 .deb runs the same way under qemu-user: its runtime, its serialport binding, agent and lm-sim', async () => {
      const install = join(tmp.dir, 'empty-arm64');
      mkdirSync(install);
      expect((await run('dpkg-deb', ['-x', join(out, ARM64_DEB), install])).code).toBe(0);
      await packagedSiteOffline(join(install, 'opt', 'lmgw'), 'linux-arm64/@serialport+bindings-cpp.armv8.glibc.node', (app, bin, args) => [
        'qemu-aarch64',
        ['-L', ARM64_SYSROOT, join(app, 'runtime', 'bin', 'node'), ...(bin === 'node' ? [] : [join(app, 'bin', `${bin}.js`)]), ...args],
      ]);
    }, 300_000);

    /**
     * In a network namespace with nothing but loopback: the package's runtime and its serialport
     * binding, then a real hub (the repository's), lm-sim and the agent from the package; the agent
     * connects, a shed is confirmed, telemetry lands in hub.db, SIGTERM stops it cleanly.
     * `command(app, bin, args)` says how the box runs `bin` ('node', 'lmgw-agent', 'lm-sim').
     */
    async function packagedSiteOffline(app: string, serialBinding: string, command: (app: string, bin: string, args: string[]) => [string, string[]]): Promise<void> {
      const ns = await anIsolatedNetns();
      const procs: Proc[] = [];
      const inNs = ([file, args]: [string, string[]]): [string, string[]] => ['ip', ['netns', 'exec', ns.name, file, ...args]];
      try {
        // Nothing but loopback in there: no route to the registry or anywhere else.
        expect((await run(...inNs(['ip', ['-4', 'route', 'show']]))).stdout.trim()).toBe('');
        const registry = await run(...inNs([process.execPath, ['-e', "fetch('https://registry.npmjs.org/', { signal: AbortSignal.timeout(5000) }).then(() => process.exit(0), (e) => { console.error(e.cause?.code ?? e.message); process.exit(1); })"]]));
        expect(registry.code, 'the npm registry is out of reach').toBe(1);

        const version = await run(...inNs(command(app, 'lmgw-agent', ['--version'])), { env: bare, cwd: tmp.dir });
        expect(version.code, version.stderr).toBe(0);
        expect(version.stdout.trim()).toBe(`lmgw-agent ${VERSION}`);
        const node = await run(...inNs(command(app, 'node', ['--version'])), { env: bare, cwd: tmp.dir });
        expect(node.stdout.trim()).toBe(`v${RUNTIME}`);
        // serialport's prebuilt binding loads in the bundled runtime (an RTU load manager needs it).
        const loadBinding =
          "const dir = require('node:path').dirname(require.resolve('@serialport/bindings-cpp/package.json'));" +
          "const file = require('node-gyp-build').resolve(dir); const binding = require(file);" +
          "console.log(file.slice(dir.length), typeof binding.open)";
        const serial = await run(...inNs(command(app, 'node', ['-e', loadBinding])), { env: bare, cwd: app });
        expect(serial.code, serial.stderr).toBe(0);
        expect(serial.stdout.trim()).toBe(`/prebuilds/${serialBinding} function`);

        const site = mkdtempSync(join(tmp.dir, 'site-'));
        const pki = await aLinkPki(site);
        const hubDir = join(site, 'console');
        mkdirSync(hubDir);
        writeFileSync(join(hubDir, 'server.pem'), pki.server.certPem);
        writeFileSync(join(hubDir, 'server.key'), pki.server.keyPem, { mode: 0o600 });
        writeFileSync(
          join(hubDir, 'hub.json'),
          JSON.stringify({
            listen: { host: '127.0.0.1', port: 8443 },
            tls: { ca: '../pki/ca.pem', cert: 'server.pem', key: 'server.key', crl: '../pki/crl.pem' },
            timeZone: 'Europe/Zurich',
            operatorApi: { host: '127.0.0.1', port: 8480, tokenName: 'offline-test' },
          }),
        );
        const hub = start(...inNs([process.execPath, [join(ROOT, 'bin', 'lm-console.js'), '--headless', '--config', join(hubDir, 'hub.json')]]));
        procs.push(hub);
        await waitFor(() => /data in /.test(hub.output()) || hub.child.exitCode !== null, 30_000, 'lm-console to start');
        expect(hub.child.exitCode, hub.output()).toBeNull();

        writeFileSync(join(site, 'lm.json'), JSON.stringify(aFastProfile()));
        const sim = start(...inNs(command(app, 'lm-sim', ['--port', '5020', '--profile', join(site, 'lm.json')])), bare);
        procs.push(sim);
        await waitFor(() => /listening on Modbus TCP 127\.0\.0\.1:5020/.test(sim.output()) || sim.child.exitCode !== null, 60_000, 'lm-sim from the package');
        expect(sim.child.exitCode, sim.output()).toBeNull();

        const gw = await pki.gateway('offline-site');
        writeFileSync(join(site, 'ca.pem'), pki.caPem);
        writeFileSync(join(site, 'gateway.pem'), gw.certPem);
        writeFileSync(join(site, 'gateway.key'), gw.keyPem, { mode: 0o600 });
        writeFileSync(
          join(site, 'agent.json'),
          JSON.stringify({
            gatewayId: 'offline-site',
            console: { url: 'wss://127.0.0.1:8443/lmgw/v1' },
            tls: { ca: 'ca.pem', cert: 'gateway.pem', key: 'gateway.key' },
            proxy: null,
            devices: [{ id: 'lm1', profile: 'lm.json', connection: { type: 'tcp', host: '127.0.0.1', port: 5020, unitId: aFastProfile().connection.unitId } }],
            dataDir: 'data',
          }),
        );
        const agent = start(...inNs(command(app, 'lmgw-agent', ['run', '--config', join(site, 'agent.json')])), bare);
        procs.push(agent);

        const token = (): string => readFileSync(join(hubDir, 'data', 'operator-token'), 'utf8').trim();
        const api = async <T>(method: string, params: unknown = {}): Promise<T> => {
          // The operator API listens inside the namespace: call it from in there.
          const r = await run(...inNs([process.execPath, ['-e', POST, `http://127.0.0.1:8480/api/v1/${method}`, token(), JSON.stringify(params)]]));
          expect(r.code, r.stderr).toBe(0);
          const body = JSON.parse(r.stdout) as { result?: T; error?: { code: string; message: string } };
          if (body.error) throw new Error(`${method}: ${body.error.code} ${body.error.message}`);
          return body.result as T;
        };
        const deadline = Date.now() + 60_000;
        let connected = false;
        while (!connected && Date.now() < deadline && agent.child.exitCode === null) {
          connected = (await api<FleetSnapshot>('fleet')).gateways.some((g) => g.gatewayId === 'offline-site' && g.state === 'connected');
          if (!connected) await new Promise((r) => setTimeout(r, 250));
        }
        expect(connected, `agent output:\n${agent.output()}`).toBe(true);

        const event = await api<ShedEventAnswer>('startShed', { scope: { kind: 'gateway', gatewayId: 'offline-site' }, selector: { kind: 'channels', channels: [1] }, durationSeconds: 60, note: 'offline package' });
        expect(event).toMatchObject({ gatewayCount: 1, counts: { confirmed: 1 }, notConfirmed: [] });
        const detail = await api<GatewayDetail>('gateway', { gatewayId: 'offline-site' });
        expect(detail.devices[0]?.channels[0]?.on).toBe(false);

        // Telemetry went through the agent's node:sqlite queue into hub.db.
        await waitFor(
          () => {
            const db = new Database(join(hubDir, 'data', 'hub.db'), { readonly: true, fileMustExist: true });
            try {
              return (db.prepare('SELECT COUNT(*) AS n FROM telemetry_raw WHERE gateway_id = ?').get('offline-site') as { n: number }).n > 0;
            } finally {
              db.close();
            }
          },
          30_000,
          'telemetry from the packaged agent in hub.db',
        );
        expect(existsSync(join(site, 'data', 'agent.sqlite'))).toBe(true);

        expect(await stopOrKill(agent)).toBe(true);
        expect(agent.child.exitCode).toBe(0);
      } finally {
        for (const p of procs.reverse()) await stopOrKill(p);
        await ns.close();
      }
    }
  });
});

describe('the agent import closure', () => {
  const tmp = tempDir('lmgw-agent-closure-');
  afterAll(() => tmp.cleanup());

  it('refuses to pack an agent that imports console code', async () => {
    const pack = (await import(PACK)) as PackModule;
    mkdirSync(join(tmp.dir, 'agent'), { recursive: true });
    mkdirSync(join(tmp.dir, 'console', 'hub'), { recursive: true });
    writeFileSync(join(tmp.dir, 'agent', 'cli.js'), "import { x } from '../console/hub/hub.js';\nexport const y = x;\n");
    writeFileSync(join(tmp.dir, 'console', 'hub', 'hub.js'), 'export const x = 1;\n');
    expect(() => pack.agentClosure(tmp.dir, ['agent/cli.js'])).toThrow(/must not need console code/);
  });

  it('follows a worker loaded by URL (new URL(\'./x.js\', import.meta.url))', async () => {
    const pack = (await import(PACK)) as PackModule;
    mkdirSync(join(tmp.dir, 'w', 'agent'), { recursive: true });
    writeFileSync(join(tmp.dir, 'w', 'agent', 'cli.js'), "export const w = new Worker(new URL('./worker.js', import.meta.url));\n");
    writeFileSync(join(tmp.dir, 'w', 'agent', 'worker.js'), "import 'ws';\n");
    expect(pack.agentClosure(join(tmp.dir, 'w'), ['agent/cli.js'])).toEqual({ files: ['agent/cli.js', 'agent/worker.js'], packages: ['ws'] });
  });
});
