import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../shared/protocol/index.js';
import { startLinkServer, type LinkServer } from '../../console/hub/link/server.js';
import { CA_ENV } from '../helpers/pki.js';
import { ROOT, run, runBin, start, tempDir, waitFor } from '../helpers/processes.js';
import { aFastProfile, aSim, freePort } from './fixtures/lm.js';

// `lmgw-agent` as a user runs it, built from dist/: the README flow from a fresh CA to a connected
// agent process — enroll, sign with lmgw-ca, check, run, SIGTERM.

const tmp = tempDir();
const pki = join(tmp.dir, 'pki');
const site = join(tmp.dir, 'site');
const agent = (...args: string[]) => runBin('lmgw-agent', args, { HTTPS_PROXY: '', https_proxy: '' });
const ca = (...args: string[]) => runBin('lmgw-ca', args, CA_ENV);
const cleanups: (() => Promise<unknown> | void)[] = [];
let hub: LinkServer;

function config(dir: string, port: number, override: Record<string, unknown> = {}): string {
  const file = join(dir, `agent-${port}-${Object.keys(override).join('-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      gatewayId: 'site-0001',
      console: { url: `wss://127.0.0.1:${port}/lmgw/v1` },
      tls: { ca: 'ca.pem', cert: 'site-0001.pem', key: 'gateway.key' },
      proxy: null,
      link: { backoffBaseMs: 200, backoffCapMs: 1000 },
      ...override,
    }),
  );
  return file;
}

beforeAll(async () => {
  expect((await ca('init', '--pki', pki, '--name', 'Agent CLI Test CA')).code).toBe(0);
  const server = await ca('issue-server', '--pki', pki, '--dns', 'localhost', '--ip', '127.0.0.1', '--out', join(tmp.dir, 'console'));
  expect(server.code, server.stderr).toBe(0);
  hub = await startLinkServer({
    host: '127.0.0.1',
    port: 0,
    caPem: readFileSync(join(pki, 'ca.pem'), 'utf8'),
    certPem: readFileSync(join(tmp.dir, 'console', 'server.pem'), 'utf8'),
    keyPem: readFileSync(join(tmp.dir, 'console', 'server.key'), 'utf8'),
    crlPath: join(pki, 'crl.pem'),
  });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await hub.close();
  tmp.cleanup();
});

describe('lmgw-agent', () => {
  it('prints help, and refuses bad usage with exit 2 and one coded line', async () => {
    const help = await agent('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/run +--config FILE/);
    expect(help.stdout).toMatch(/enroll +--id GATEWAY_ID --out DIR/);
    expect(help.stdout).toMatch(/check +--config FILE/);
    for (const args of [['bogus'], ['run'], ['enroll', '--id', 'x'], ['check', '--config', 'a', '--nope']]) {
      const r = await agent(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^lmgw-agent: CLI_USAGE: .*\n$/);
    }
  });

  it('enroll makes a 0600 key and a CSR that lmgw-ca signs into a certificate for that key; never overwrites', async () => {
    const r = await agent('enroll', '--id', 'site-0001', '--out', site);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/lmgw-ca sign --pki PKI_DIR --csr site-0001\.csr --out site-0001\.pem/);
    expect(statSync(join(site, 'gateway.key')).mode & 0o777).toBe(0o600);
    const key = readFileSync(join(site, 'gateway.key'), 'utf8');

    const again = await agent('enroll', '--id', 'site-0001', '--out', site);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^lmgw-agent: CA_OUT_EXISTS: /);
    expect(readFileSync(join(site, 'gateway.key'), 'utf8')).toBe(key);
    expect((await agent('enroll', '--id', 'Bad Id', '--out', join(tmp.dir, 'bad'))).stderr).toMatch(/^lmgw-agent: CA_BAD_ID: /);

    const signed = await ca('sign', '--pki', pki, '--csr', join(site, 'site-0001.csr'), '--out', join(site, 'site-0001.pem'));
    expect(signed.code, signed.stderr).toBe(0);
    writeFileSync(join(site, 'ca.pem'), readFileSync(join(pki, 'ca.pem')));
    const fromKey = await run('openssl', ['pkey', '-in', join(site, 'gateway.key'), '-pubout']);
    const fromCert = await run('openssl', ['x509', '-in', join(site, 'site-0001.pem'), '-noout', '-pubkey']);
    expect(fromKey.stdout).toMatch(/BEGIN PUBLIC KEY/);
    expect(fromCert.stdout).toBe(fromKey.stdout);
  });

  it('check reports OK against the console, and the exact code when something is wrong', async () => {
    const ok = await agent('check', '--config', config(site, hub.port));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/config OK: .* \(gateway site-0001\)/);
    expect(ok.stdout).toMatch(/console OK: 127\.0\.0\.1:\d+ presented CN=localhost .* from our CA; TLSv1\.3; OCSP not stapled; direct/);

    const bad = await agent('check', '--config', config(site, hub.port, { console: { url: 'http://127.0.0.1' } }));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^lmgw-agent: CONFIG_INVALID: .*console\.url: must be a wss:\/\/ URL/);

    const closedPort = await agent('check', '--config', config(site, 1));
    expect(closedPort.code).toBe(1);
    expect(closedPort.stderr).toMatch(/^lmgw-agent: LINK_CONNECT_FAILED: /);

    chmodSync(join(site, 'gateway.key'), 0o644);
    try {
      const perms = await agent('check', '--config', config(site, hub.port));
      expect(perms.code).toBe(1);
      expect(perms.stderr).toContain(`lmgw-agent: LINK_KEY_PERMISSIONS: the key file ${join(site, 'gateway.key')} has mode 0644`);
    } finally {
      chmodSync(join(site, 'gateway.key'), 0o600);
    }
  });

  it('check reads each load manager once and prints its health and load; a dead one fails with its Modbus code', async () => {
    const sim = await aSim(aFastProfile());
    cleanups.push(() => sim.close());
    writeFileSync(join(site, 'lm4-fast.json'), JSON.stringify(aFastProfile()));
    const device = (id: string, port: number) => ({ id, profile: 'lm4-fast.json', connection: { type: 'tcp', host: '127.0.0.1', port, unitId: 1 } });
    const ok = await agent('check', '--config', config(site, hub.port, { devices: [device('lm1', sim.port)], dataDir: 'data-check' }));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/config OK: .* \(gateway site-0001, 1 device\)/);
    expect(ok.stdout).toMatch(/^device lm1 OK: LMGW LM-4F example at tcp:\/\/127\.0\.0\.1:\d+ unit 1; health ok; \d+(\.\d+)? kW; relays 1 on, 2 on, 3 on, 4 on$/m);
    expect(ok.stdout).toMatch(/console OK: /);
    // check opens no database: it must not disturb a running agent's store.
    expect(existsSync(join(site, 'data-check'))).toBe(false);

    // A second LM (channel ids 11–14) that nobody answers for.
    const fast = aFastProfile();
    writeFileSync(join(site, 'lm4-fast-b.json'), JSON.stringify({ ...fast, channels: fast.channels.map((c) => ({ ...c, id: c.id + 10 })), measurements: { ...fast.measurements, channelKw: fast.measurements.channelKw?.map((m) => ({ ...m, channel: m.channel + 10 })) } }));
    const deadPort = await freePort();
    const dead = await agent('check', '--config', config(site, hub.port, { devices: [device('lm1', sim.port), { ...device('lm2', deadPort), profile: 'lm4-fast-b.json' }], dataDir: 'data-check' }));
    expect(dead.stdout).toMatch(/config OK: .* \(gateway site-0001, 2 devices\)/);
    expect(dead.code).toBe(1);
    expect(dead.stdout).toMatch(/^device lm1 OK: /m);
    expect(dead.stdout).toMatch(/^device lm2 FAILED: .*127\.0\.0\.1:\d+ unit 1; health offline; MODBUS_CONNECT_FAILED: /m);
    expect(dead.stdout).toMatch(/console OK: /); // the console is still probed
    expect(dead.stderr).toMatch(/^lmgw-agent: MODBUS_CONNECT_FAILED: device lm2 \(tcp:\/\/127\.0\.0\.1:\d+ unit 1\): .*\n$/);
  });

  it('run and check refuse a device whose profile cannot be read, naming the field', async () => {
    const file = config(site, hub.port, { devices: [{ id: 'lm1', profile: 'missing-profile.json' }], dataDir: 'data-bad' });
    for (const cmd of ['run', 'check']) {
      const r = await agent(cmd, '--config', file);
      expect(r.code, cmd).toBe(1);
      expect(r.stderr).toMatch(/^lmgw-agent: CONFIG_INVALID: .*agent-\d+-devices-dataDir\.json: devices\.0\.profile: cannot read the device profile .*missing-profile\.json: ENOENT\n$/);
    }
    expect(existsSync(join(site, 'data-bad'))).toBe(false);
  });

  it('run connects as a real process, logs JSON, traces frames with LMGW_TRACE=1, and exits 0 on SIGTERM', async () => {
    const closes: number[] = [];
    const off = hub.on('disconnected', (_s, info) => closes.push(info.closeCode));
    cleanups.push(off);
    const proc = start(process.execPath, [join(ROOT, 'bin', 'lmgw-agent.js'), 'run', '--config', config(site, hub.port)], { LMGW_TRACE: '1', HTTPS_PROXY: '' });
    cleanups.push(() => proc.stop());
    await waitFor(() => /"msg":"connected"/.test(proc.output()), 15_000, 'the agent to log connected');
    expect(hub.connected.map((s) => s.gatewayId)).toContain('site-0001');
    // stdout is the JSON log, every line of it: ISO times, level names (LMGW_TRACE=1: frames at debug).
    const lines = proc.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === 'connected')).toMatchObject({ level: 'info', name: 'lmgw-agent', component: 'link', gatewayId: 'site-0001', viaProxy: false });
    expect(lines.every((l) => typeof l.time === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(l.time))).toBe(true);
    expect(lines.find((l) => l.msg === 'frame' && l.dir === 'out' && String(l.frame).startsWith('<hello'))).toMatchObject({ level: 'debug' });
    expect(proc.output()).not.toMatch(/PRIVATE KEY/);
    expect(lines.find((l) => l.msg === 'lmgw-agent starting')).toMatchObject({ devices: [] });
    // Link-only: no load manager, so a command is refused at once rather than left to its deadline.
    const results: Message[] = [];
    cleanups.push(hub.on('message', (_s, m) => void (m.kind === 'result' && results.push(m))));
    expect(hub.send('site-0001', { kind: 'command', id: 'no-lm-1', op: 'read', deadline: Date.now() + 10_000 })).toBe(true);
    await waitFor(() => results.length === 1, 5_000, 'the result');
    expect(results[0]).toMatchObject({ kind: 'result', commandId: 'no-lm-1', status: 'rejected', code: 'CMD_UNKNOWN_CHANNEL' });

    const exited = new Promise<number | null>((r) => proc.child.once('exit', (code) => r(code)));
    proc.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(proc.output()).toMatch(/"msg":"stopped cleanly"/);
    await waitFor(() => closes.length > 0, 5_000, 'the hub to see the close');
    expect(closes).toEqual([1000]);
  });
});
