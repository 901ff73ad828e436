import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentConfig, readAgentTls, type AgentConfig } from '../../agent/config.js';
import { helloFor } from '../../agent/daemon.js';
import { LmgwError } from '../../shared/errors.js';
import { ROOT, tempDir } from '../helpers/processes.js';
import { aLinkPki, type LinkPki } from './fixtures/link.js';

// The agent config: the shipped example loads, every bad field is named, key permissions are
// enforced, paths are relative to the file, the result is frozen.

const tmp = tempDir();
let pki: LinkPki;
let n = 0;
const EXAMPLE = join(ROOT, 'agent', 'examples', 'agent.json');
const LM4 = join(ROOT, 'agent', 'profiles', 'lm4-float.json');

/** A directory with ca.pem, site-0001.pem and gateway.key (0600) next to a config. */
async function aSite(): Promise<string> {
  const dir = join(tmp.dir, `site-${(n += 1)}`);
  mkdirSync(dir);
  const gw = await pki.gateway(`site-0001`);
  writeFileSync(join(dir, 'ca.pem'), pki.caPem);
  writeFileSync(join(dir, 'site-0001.pem'), gw.certPem);
  writeFileSync(join(dir, 'gateway.key'), gw.keyPem, { mode: 0o600 });
  // Device profiles next to the config, as agent/examples/agent.json expects them.
  mkdirSync(join(dir, 'profiles'));
  copyFileSync(LM4, join(dir, 'profiles', 'lm4-float.json'));
  const broken = JSON.parse(readFileSync(LM4, 'utf8')) as { channels: { priority: number }[] };
  (broken.channels[0] ?? { priority: 0 }).priority = 0;
  writeFileSync(join(dir, 'profiles', 'broken.json'), JSON.stringify(broken));
  return dir;
}

function writeConfig(dir: string, value: unknown, name = 'agent.json'): string {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

const GOOD = {
  gatewayId: 'site-0001',
  console: { url: 'wss://console.test:8443/lmgw/v1' },
  tls: { ca: 'ca.pem', cert: 'site-0001.pem', key: 'gateway.key' },
};

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof LmgwError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a failure');
}

let site: string;
beforeAll(async () => {
  pki = await aLinkPki(tmp.dir);
  site = await aSite();
});
afterAll(() => tmp.cleanup());

describe('loadAgentConfig', () => {
  it('loads the shipped example with its files next to it, and it is frozen throughout', () => {
    const file = join(site, 'example.json');
    copyFileSync(EXAMPLE, file);
    const config = loadAgentConfig(file, {});
    expect(config.gatewayId).toBe('site-0001');
    expect(config.tls.key).toBe(join(site, 'gateway.key'));
    expect(config.site.labels).toEqual(['bakery', 'zone-north']);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tls)).toBe(true);
    expect(Object.isFrozen(config.site.labels)).toBe(true);
    expect(() => {
      (config as { gatewayId: string }).gatewayId = 'x';
    }).toThrow();
    const tls = readAgentTls(config);
    expect(tls.keyPem).toMatch(/BEGIN PRIVATE KEY/);
    expect(helloFor(config)).toMatchObject({ kind: 'hello', gatewayId: 'site-0001', siteName: 'Bakery Müller, Hauptstrasse 12', devices: [] });
    // The site part: a device with the shipped profile and the site's own address, the database dir, link-loss policy.
    expect(config.dataDir).toBe('/var/lib/lmgw-agent');
    expect(config.linkLoss).toEqual({ mode: 'restore', afterSeconds: 3600 });
    expect(config.telemetry).toMatchObject({ intervalSeconds: 1, batchSeconds: 1, retentionDays: 7 });
    expect(config.deviceSetups.map((d) => d.id)).toEqual(['lm1']);
    expect(config.deviceSetups[0]?.profile).toMatchObject({ model: 'LMGW LM-4F example', connection: { type: 'tcp', host: '192.168.10.20', port: 502, unitId: 1 } });
    expect(Object.isFrozen(config.deviceSetups)).toBe(true);
  });

  it('without devices is link-only: no device setups, the site fields take their defaults', () => {
    const config = loadAgentConfig(writeConfig(site, GOOD, 'link-only.json'), {});
    expect(config.devices).toBeUndefined();
    expect(config.deviceSetups).toEqual([]);
    expect(config.dataDir).toBeUndefined();
    expect(config.linkLoss).toEqual({ mode: 'hold' });
    expect(config.telemetry).toEqual({ intervalSeconds: 1, batchSeconds: 1, retentionDays: 7, maxInFlight: 32, ackTimeoutSeconds: 30 });
  });

  it('resolves dataDir and profiles against the config file and applies the device overrides', () => {
    const file = writeConfig(
      site,
      { ...GOOD, devices: [{ id: 'lm1', profile: 'profiles/lm4-float.json', connection: { type: 'tcp', host: '127.0.0.1', port: 5020 }, driver: { timeoutMs: 300 } }], dataDir: 'data' },
      'devices.json',
    );
    const config = loadAgentConfig(file, {});
    expect(config.dataDir).toBe(join(site, 'data'));
    expect(config.deviceSetups[0]?.profile.connection).toEqual({ type: 'tcp', host: '127.0.0.1', port: 5020, unitId: 1 });
    expect(config.deviceSetups[0]?.profile.driver.timeoutMs).toBe(300);
  });

  it('fills the defaults from the schema and resolves paths against the config file, not the cwd', () => {
    const config: AgentConfig = loadAgentConfig(writeConfig(site, GOOD), {});
    expect(config.link).toEqual({ backoffBaseMs: 1000, backoffCapMs: 60000, maxConnectionAgeHours: 12, stableAfterSeconds: 60 });
    expect(config.site).toEqual({ labels: [] });
    expect(config.proxy).toBeUndefined();
    expect(config.tls.ca).toBe(join(site, 'ca.pem'));
    expect(process.cwd()).not.toBe(site);
  });

  const BAD: [string, (c: Record<string, unknown>) => unknown, RegExp][] = [
    ['gatewayId', (c) => ({ ...c, gatewayId: 'Site 1' }), /gatewayId: must be 1–64 characters/],
    ['gatewayId missing', ({ gatewayId: _g, ...c }) => c, /gatewayId: is required/],
    ['console.url', (c) => ({ ...c, console: { url: 'https://console.test' } }), /console\.url: must be a wss:\/\/ URL/],
    ['console.url type', (c) => ({ ...c, console: { url: 42 } }), /console\.url: must be a string/],
    ['console.serverName', (c) => ({ ...c, console: { url: 'wss://a:1', serverName: '' } }), /console\.serverName: must not be empty/],
    ['console unknown', (c) => ({ ...c, console: { url: 'wss://a:1', urll: 'x' } }), /console: unknown field "urll"/],
    ['tls.key', (c) => ({ ...c, tls: { ca: 'ca.pem', cert: 'site-0001.pem' } }), /tls\.key: is required/],
    ['tls.ca', (c) => ({ ...c, tls: { ca: '', cert: 'a', key: 'gateway.key' } }), /tls\.ca: must not be empty/],
    ['proxy', (c) => ({ ...c, proxy: 'socks5://proxy:1080' }), /proxy: must be an http:\/\/\[user:password@\]host:port URL or null/],
    ['site.labels', (c) => ({ ...c, site: { labels: ['Bakery'] } }), /site\.labels\.0: must be a lower-case token/],
    ['site.labels repeated', (c) => ({ ...c, site: { labels: ['a', 'a'] } }), /site\.labels: must not repeat a label/],
    ['site.name', (c) => ({ ...c, site: { name: 'x'.repeat(200) } }), /site\.name: must be at most 128 characters/],
    ['link.backoffBaseMs', (c) => ({ ...c, link: { backoffBaseMs: 1.5 } }), /link\.backoffBaseMs: must be a whole number/],
    ['link.backoffCapMs', (c) => ({ ...c, link: { backoffBaseMs: 5000, backoffCapMs: 2000 } }), /link\.backoffCapMs: must not be below backoffBaseMs/],
    ['link.maxConnectionAgeHours', (c) => ({ ...c, link: { maxConnectionAgeHours: 1000 } }), /link\.maxConnectionAgeHours: must be at most 168/],
    ['link.stableAfterSeconds', (c) => ({ ...c, link: { stableAfterSeconds: '60' } }), /link\.stableAfterSeconds: must be a number/],
    ['unknown top-level key', (c) => ({ ...c, device: [] }), /unknown field "device"/],
    ['devices empty', (c) => ({ ...c, devices: [], dataDir: 'data' }), /devices: must list at least one device/],
    ['devices.0.id', (c) => ({ ...c, devices: [{ id: 'lm 1', profile: 'profiles/lm4-float.json' }], dataDir: 'data' }), /devices\.0\.id: must be 1–32 characters/],
    ['devices.0.profile missing', (c) => ({ ...c, devices: [{ id: 'lm1' }], dataDir: 'data' }), /devices\.0\.profile: is required/],
    ['devices.0.profile file', (c) => ({ ...c, devices: [{ id: 'lm1', profile: 'profiles/nope.json' }], dataDir: 'data' }), /devices\.0\.profile: cannot read the device profile .*profiles\/nope\.json: ENOENT/],
    ['devices.0.profile content', (c) => ({ ...c, devices: [{ id: 'lm1', profile: 'profiles/broken.json' }], dataDir: 'data' }), /devices\.0\.profile: .*broken\.json: channels\.0\.priority: must be at least 1/],
    ['devices.0.connection', (c) => ({ ...c, devices: [{ id: 'lm1', profile: 'profiles/lm4-float.json', connection: { type: 'tcp', host: 'lm', port: 70000 } }], dataDir: 'data' }), /devices\.0\.connection\.port: must be at most 65535/],
    ['devices.1 channel ids', (c) => ({ ...c, devices: [{ id: 'a', profile: 'profiles/lm4-float.json' }, { id: 'b', profile: 'profiles/lm4-float.json' }], dataDir: 'data' }), /devices\.1: channel id 1 is already used by device "a"/],
    ['dataDir missing', (c) => ({ ...c, devices: [{ id: 'lm1', profile: 'profiles/lm4-float.json' }] }), /dataDir: is required when devices are configured/],
    ['dataDir empty', (c) => ({ ...c, dataDir: '' }), /dataDir: must not be empty/],
    ['telemetry.intervalSeconds', (c) => ({ ...c, telemetry: { intervalSeconds: 0 } }), /telemetry\.intervalSeconds: must be at least 1/],
    ['telemetry unknown', (c) => ({ ...c, telemetry: { interval: 1 } }), /telemetry: unknown field "interval"/],
    ['linkLoss', (c) => ({ ...c, linkLoss: { mode: 'restore' } }), /linkLoss\.afterSeconds: is required/],
    ['linkLoss mode', (c) => ({ ...c, linkLoss: { mode: 'drop' } }), /linkLoss\.mode: must be \{ "mode": "hold" \} or \{ "mode": "restore", "afterSeconds": N \}/],
    ['metrics.host not loopback', (c) => ({ ...c, metrics: { host: '0.0.0.0', port: 9464 } }), /metrics\.host: must be a loopback address \(127\.0\.0\.1, ::1 or localhost\)/],
    ['metrics.port', (c) => ({ ...c, metrics: { port: 70000 } }), /metrics\.port: must be at most 65535/],
    ['not an object', () => [1, 2], /must be a JSON object/],
  ];
  for (const [what, mutate, expected] of BAD) {
    it(`names the field: ${what}`, () => {
      const file = writeConfig(site, mutate({ ...GOOD }), `bad-${what.replace(/\W+/g, '-')}.json`);
      const { code, message } = failure(() => loadAgentConfig(file, {}));
      expect(code).toBe('CONFIG_INVALID');
      expect(message).toMatch(expected);
      expect(message).toContain(file);
    });
  }

  it('names a missing file and broken JSON', () => {
    expect(failure(() => loadAgentConfig(join(site, 'nope.json'), {}))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/nope\.json.*ENOENT/) as unknown });
    expect(failure(() => loadAgentConfig(writeConfig(site, '{"gatewayId": ', 'broken.json'), {})).message).toMatch(/broken\.json: not valid JSON/);
  });

  it('refuses a key file readable by group or others, naming the file', async () => {
    const dir = await aSite();
    const file = writeConfig(dir, GOOD);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(join(dir, 'gateway.key'), mode);
      const { code, message } = failure(() => loadAgentConfig(file, {}));
      expect(code).toBe('LINK_KEY_PERMISSIONS');
      expect(message).toContain(join(dir, 'gateway.key'));
      expect(message).toContain(`0${mode.toString(8)}`);
    }
    chmodSync(join(dir, 'gateway.key'), 0o400);
    expect(loadAgentConfig(file, {}).gatewayId).toBe('site-0001');
  });

  it('checks HTTPS_PROXY only when the config has no proxy; null ignores the environment', () => {
    const env = { HTTPS_PROXY: 'proxy.site:3128' };
    expect(failure(() => loadAgentConfig(writeConfig(site, GOOD, 'env.json'), env))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/HTTPS_PROXY: must be an http:\/\//) as unknown });
    expect(loadAgentConfig(writeConfig(site, { ...GOOD, proxy: null }, 'null.json'), env).proxy).toBeNull();
    expect(loadAgentConfig(writeConfig(site, { ...GOOD, proxy: 'http://u:p@proxy.site:3128' }, 'cfg.json'), env).proxy).toBe('http://u:p@proxy.site:3128');
  });

  it('a config error never shows the proxy password', () => {
    const file = writeConfig(site, { ...GOOD, proxy: 'http://u:VerySecret@proxy.site:3128/path' }, 'pw.json');
    const { message } = failure(() => loadAgentConfig(file, {}));
    expect(message).toMatch(/proxy:/);
    expect(message).not.toMatch(/VerySecret/);
  });
});

describe('readAgentTls', () => {
  it('refuses a certificate for another gateway, and a key that is not the certificate\'s', async () => {
    const dir = await aSite();
    const other = await pki.gateway('site-0002');
    writeFileSync(join(dir, 'other.pem'), other.certPem);
    writeFileSync(join(dir, 'other.key'), other.keyPem, { mode: 0o600 });
    const wrongId = loadAgentConfig(writeConfig(dir, { ...GOOD, tls: { ...GOOD.tls, cert: 'other.pem', key: 'other.key' } }, 'a.json'), {});
    expect(failure(() => readAgentTls(wrongId))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^gatewayId: is "site-0001" but the certificate .* is for "site-0002"/) as unknown });
    const wrongKey = loadAgentConfig(writeConfig(dir, { ...GOOD, tls: { ...GOOD.tls, key: 'other.key' } }, 'b.json'), {});
    expect(failure(() => readAgentTls(wrongKey)).message).toMatch(/^tls\.key: .* is not the key of the certificate/);
    const noCa = loadAgentConfig(writeConfig(dir, { ...GOOD, tls: { ...GOOD.tls, ca: 'missing.pem' } }, 'c.json'), {});
    expect(failure(() => readAgentTls(noCa)).message).toMatch(/^tls\.ca: cannot read .*missing\.pem: ENOENT/);
  });
});
