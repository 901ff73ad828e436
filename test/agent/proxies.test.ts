import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LinkClient, type LinkClientOptions, type RetryInfo } from '../../agent/link/client.js';
import type { InterceptionReport } from '../../agent/link/tls-connect.js';
import { startLinkServer, type LinkServer } from '../../console/hub/link/server.js';
import type { Message } from '../../shared/protocol/index.js';
import { start, tempDir, waitFor } from '../helpers/processes.js';
import { aHello, aLinkPki, freePort, type LinkPki } from './fixtures/link.js';

// The link through real proxies started per test on 127.0.0.1: tinyproxy (with and without Basic
// auth), squid, and mitmproxy as the intercepting proxy the agent must refuse.

const tmp = tempDir();
let pki: LinkPki;
let gw: { certPem: string; keyPem: string };
const cleanups: (() => Promise<unknown> | void)[] = [];
let n = 0;

beforeAll(async () => {
  pki = await aLinkPki(tmp.dir);
  gw = await pki.gateway('site-proxy');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => tmp.cleanup());

function installed(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;
}

/** A directory of its own for one proxy instance. */
function proxyDir(name: string): string {
  const dir = join(tmp.dir, `${name}-${(n += 1)}`);
  mkdirSync(dir);
  return dir;
}

interface RunningProxy {
  url: string;
  port: number;
  /** The proxy's log so far. */
  log: () => string;
}

async function startTinyproxy(auth?: { user: string; password: string }): Promise<RunningProxy> {
  const dir = proxyDir('tinyproxy');
  const port = await freePort();
  const conf = join(dir, 'tinyproxy.conf');
  writeFileSync(
    conf,
    [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 30', 'MaxClients 50', 'Allow 127.0.0.1', 'LogLevel Info', ...(auth ? [`BasicAuth ${auth.user} ${auth.password}`] : [])].join('\n') + '\n',
  );
  const proc = start('tinyproxy', ['-d', '-c', conf]);
  cleanups.push(() => proc.stop());
  await waitFor(() => /Accepting connections/.test(proc.output()) || proc.child.exitCode !== null, 10_000, 'tinyproxy');
  expect(proc.child.exitCode, proc.output()).toBeNull();
  return { url: `http://127.0.0.1:${port}`, port, log: proc.output };
}

async function startSquid(): Promise<RunningProxy> {
  const dir = proxyDir('squid');
  // Squid started as root drops to its own user, which must be able to write its logs here.
  chmodSync(tmp.dir, 0o711);
  chmodSync(dir, 0o777);
  const port = await freePort();
  const conf = join(dir, 'squid.conf');
  writeFileSync(
    conf,
    [
      `http_port 127.0.0.1:${port}`,
      `pid_filename ${dir}/squid.pid`,
      `cache_log ${dir}/cache.log`,
      `access_log stdio:${dir}/access.log`,
      `coredump_dir ${dir}`,
      'cache deny all',
      'pinger_enable off',
      'shutdown_lifetime 0 seconds',
      'acl CONNECT method CONNECT',
      'http_access allow CONNECT localhost',
      'http_access deny all',
    ].join('\n') + '\n',
  );
  // A service name of its own: squid names its shared-memory segments after it.
  const service = `lmgwtest${process.pid}x${n}`;
  const proc = start('squid', ['-N', '-n', service, '-f', conf]);
  cleanups.push(async () => {
    await proc.stop();
    for (const f of readdirSync('/dev/shm').filter((f) => f.startsWith(`squid-${service}`))) rmSync(join('/dev/shm', f), { force: true });
  });
  const cacheLog = (): string => (existsSync(join(dir, 'cache.log')) ? readFileSync(join(dir, 'cache.log'), 'utf8') : '');
  await waitFor(() => /Accepting HTTP/.test(cacheLog()) || proc.child.exitCode !== null, 15_000, 'squid');
  expect(proc.child.exitCode, proc.output() + cacheLog()).toBeNull();
  const accessLog = (): string => (existsSync(join(dir, 'access.log')) ? readFileSync(join(dir, 'access.log'), 'utf8') : '');
  return { url: `http://127.0.0.1:${port}`, port, log: accessLog };
}

async function startMitmproxy(): Promise<RunningProxy> {
  const dir = proxyDir('mitmproxy');
  const port = await freePort();
  // Regular (explicit proxy) mode; ssl_insecure so it accepts the hub's certificate upstream and
  // shows the agent its own forged one — the interception the agent must detect.
  const proc = start('mitmdump', ['--listen-host', '127.0.0.1', '--listen-port', String(port), '--set', `confdir=${dir}`, '--set', 'ssl_insecure=true']);
  cleanups.push(() => proc.stop());
  await waitFor(() => /listening at/.test(proc.output()) || proc.child.exitCode !== null, 20_000, 'mitmproxy');
  expect(proc.child.exitCode, proc.output()).toBeNull();
  return { url: `http://127.0.0.1:${port}`, port, log: proc.output };
}

interface Hub {
  hub: LinkServer;
  upgrades: number;
  messages: Message[];
}

async function aHub(): Promise<Hub> {
  const hub = await startLinkServer({ host: '127.0.0.1', port: 0, caPem: pki.caPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem });
  cleanups.push(() => hub.close());
  const state: Hub = { hub, upgrades: 0, messages: [] };
  hub.on('upgradeRequest', () => (state.upgrades += 1));
  hub.on('message', (_s, m) => state.messages.push(m));
  return state;
}

/** Everything the client logs (pino at debug, frames traced), to check no password leaks. */
function aClient(port: number, override: Partial<LinkClientOptions> = {}): { client: LinkClient; logs: () => string } {
  let logs = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs += chunk.toString();
      done();
    },
  });
  const client = new LinkClient({
    url: `wss://127.0.0.1:${port}/lmgw/v1`,
    gatewayId: 'site-proxy',
    caPem: pki.caPem,
    certPem: gw.certPem,
    keyPem: gw.keyPem,
    hello: () => aHello('site-proxy'),
    logger: pino({ level: 'debug' }, sink),
    trace: true,
    env: {},
    ...override,
  });
  cleanups.push(() => client.stop());
  return { client, logs: () => logs };
}

/** hello → welcome, then one command → result round trip. */
async function exchange(h: Hub, client: LinkClient): Promise<void> {
  const commands: Message[] = [];
  client.events.on('message', (m) => {
    commands.push(m);
    if (m.kind === 'command') client.send({ kind: 'result', commandId: m.id, status: 'ok', time: Date.now(), relays: [{ channel: 1, on: false }] });
  });
  client.start();
  await waitFor(() => client.connected, 10_000, 'the welcome');
  expect(h.hub.send('site-proxy', { kind: 'command', id: 'via-proxy-1', op: 'shed', selector: { channels: [1] }, deadline: Date.now() + 5_000 })).toBe(true);
  await waitFor(() => h.messages.some((m) => m.kind === 'result'), 5_000, 'the result at the hub');
  expect(h.messages.find((m) => m.kind === 'result')).toMatchObject({ commandId: 'via-proxy-1', status: 'ok' });
}

describe('through tinyproxy', () => {
  it('without authentication: connects, says it came through a proxy, and exchanges a command and result', async () => {
    const h = await aHub();
    const proxy = await startTinyproxy();
    const { client } = aClient(h.hub.port, { proxy: proxy.url });
    await exchange(h, client);
    expect(h.hub.connected[0]?.hello.viaProxy).toBe(true);
    expect(proxy.log()).toMatch(new RegExp(`CONNECT 127\\.0\\.0\\.1:${h.hub.port}`));
  });

  it('with Basic authentication and the right credentials; the password never reaches the log', async () => {
    const h = await aHub();
    const proxy = await startTinyproxy({ user: 'gw', password: 'Pr0xy-s3cret' });
    const { client, logs } = aClient(h.hub.port, { proxy: `http://gw:Pr0xy-s3cret@127.0.0.1:${proxy.port}` });
    await exchange(h, client);
    expect(logs()).toMatch(/"msg":"connected"/);
    expect(logs()).toMatch(/gw:\*\*\*@127\.0\.0\.1/);
    expect(logs()).not.toMatch(/Pr0xy-s3cret/);
  });

  it('without or with wrong credentials: LINK_PROXY_AUTH, backing off (no tight loop), nothing reaches the hub', async () => {
    const h = await aHub();
    const proxy = await startTinyproxy({ user: 'gw', password: 'Pr0xy-s3cret' });
    for (const url of [proxy.url, `http://gw:wrong-password@127.0.0.1:${proxy.port}`]) {
      const { client, logs } = aClient(h.hub.port, { proxy: url, random: () => 0.5, backoff: { baseMs: 1_000, capMs: 60_000 } });
      const retries: RetryInfo[] = [];
      client.events.on('retry', (r) => retries.push(r));
      client.start();
      await new Promise((r) => setTimeout(r, 2_000));
      await client.stop();
      // Delays 0.5 s, 1 s, 2 s…: attempts at 0, 0.5 and 1.5 s within the first 2 s.
      expect(retries.length).toBeGreaterThanOrEqual(2);
      expect(retries.length).toBeLessThanOrEqual(3);
      expect(retries.map((r) => r.delayMs)).toEqual([500, 1_000, 2_000].slice(0, retries.length));
      expect(new Set(retries.map((r) => r.error?.code))).toEqual(new Set(['LINK_PROXY_AUTH']));
      expect(logs()).toMatch(/LINK_PROXY_AUTH/);
      expect(logs()).not.toMatch(/wrong-password|Pr0xy-s3cret/);
    }
    expect(h.upgrades).toBe(0);
    expect(h.hub.connected).toHaveLength(0);
  });

  it('from HTTPS_PROXY, unless NO_PROXY names the console', async () => {
    const h = await aHub();
    const proxy = await startTinyproxy();
    const viaEnv = aClient(h.hub.port, { proxy: undefined, env: { HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,console.test' } });
    await exchange(h, viaEnv.client);
    expect(h.hub.connected[0]?.hello.viaProxy).toBe(true);
    await viaEnv.client.stop();
    const connects = (proxy.log().match(/CONNECT 127/g) ?? []).length;
    expect(connects).toBe(1);

    const bypass = aClient(h.hub.port, { proxy: undefined, env: { https_proxy: proxy.url, no_proxy: '127.0.0.1' } });
    bypass.client.start();
    await waitFor(() => bypass.client.connected, 10_000, 'the direct connection');
    expect(h.hub.connected[0]?.hello.viaProxy).toBe(false);
    expect((proxy.log().match(/CONNECT 127/g) ?? []).length).toBe(connects);
  });
});

describe.skipIf(!installed('squid'))('through squid', () => {
  it('connects and exchanges a command and result', async () => {
    const h = await aHub();
    const proxy = await startSquid();
    const { client } = aClient(h.hub.port, { proxy: proxy.url });
    await exchange(h, client);
    expect(h.hub.connected[0]?.hello.viaProxy).toBe(true);
    // Squid logs a tunnel when it ends.
    await client.stop();
    await waitFor(() => new RegExp(`TCP_TUNNEL/200 .*CONNECT 127\\.0\\.0\\.1:${h.hub.port}`).test(proxy.log()), 5_000, "squid's access log");
  });
});

describe('through mitmproxy (an intercepting proxy)', () => {
  it('refuses before sending anything, reports mitmproxy as the issuer, and the hub sees no upgrade', async () => {
    const h = await aHub();
    const proxy = await startMitmproxy();
    const { client, logs } = aClient(h.hub.port, { proxy: proxy.url, backoff: { baseMs: 200, capMs: 400 } });
    const reports: InterceptionReport[] = [];
    const retries: RetryInfo[] = [];
    client.events.on('interception', (r) => reports.push(r));
    client.events.on('retry', (r) => retries.push(r));
    client.start();
    await waitFor(() => retries.length >= 2, 15_000, 'two refused attempts');
    expect(retries.map((r) => r.error?.code)).toEqual(retries.map(() => 'LINK_INTERCEPTION_SUSPECTED'));
    const report = reports[0];
    expect(report?.issuer).toBe('CN=mitmproxy, O=mitmproxy');
    // The forgery copies the real certificate's subject; only the chain gives it away.
    expect(report?.subject).toBe('CN=localhost');
    expect(report?.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(report?.viaProxy).toBe(true);
    expect(report?.proxy).toBe(proxy.url);
    // mitmproxy reached the hub (it dialled upstream), but no HTTP request, hello or byte of ours did.
    expect(h.upgrades).toBe(0);
    expect(h.hub.connected).toHaveLength(0);
    expect(client.connected).toBe(false);
    expect(logs()).not.toMatch(/"dir":"out"/);
    expect(logs()).toMatch(/interception suspected/);
    // Kept for the hub, to be sent once a clean path exists (one report per distinct chain).
    expect(client.pendingInterceptionReports).toHaveLength(1);
  });
});
