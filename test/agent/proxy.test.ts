import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bypassesProxy, openTunnel, parseProxyUrl, redactProxyUrl, selectProxy } from '../../agent/link/proxy.js';
import { LmgwError } from '../../shared/errors.js';

// Proxy selection (config, HTTPS_PROXY, NO_PROXY), redaction, and the CONNECT tunnel's answers to
// a scripted proxy. The real proxies (tinyproxy, mitmproxy, squid) are in proxies.test.ts.

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A "proxy" that answers every request with `reply` (or nothing at all when undefined). */
async function scriptedProxy(reply: string | undefined): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.once('data', (d: Buffer) => {
      requests.push(d.toString('latin1'));
      if (reply !== undefined) socket.end(reply);
    });
    socket.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, requests };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    ((await p) as Socket).destroy();
    return undefined;
  } catch (err) {
    return err instanceof LmgwError ? err.code : String(err);
  }
}

describe('selectProxy and NO_PROXY', () => {
  const target = { host: 'console.dso.example', port: 8443 };
  it('the config wins: a URL, or null for never', () => {
    const env = { HTTPS_PROXY: 'http://env-proxy:3128' };
    expect(selectProxy(target, 'http://cfg:8080', env)).toBe('http://cfg:8080');
    expect(selectProxy(target, null, env)).toBeNull();
    expect(selectProxy(target, undefined, env)).toBe('http://env-proxy:3128');
    expect(selectProxy(target, undefined, { https_proxy: 'http://lower:3128' })).toBe('http://lower:3128');
    expect(selectProxy(target, undefined, {})).toBeNull();
    expect(selectProxy(target, undefined, { HTTPS_PROXY: '  ' })).toBeNull();
  });

  it('NO_PROXY: domains and their subdomains, *, host:port, exact IPs', () => {
    expect(bypassesProxy('console.dso.example', 8443, 'dso.example')).toBe(true);
    expect(bypassesProxy('console.dso.example', 8443, '.dso.example')).toBe(true);
    expect(bypassesProxy('console.dso.example', 8443, '*.dso.example')).toBe(true);
    expect(bypassesProxy('dso.example', 8443, '.dso.example')).toBe(true);
    expect(bypassesProxy('notdso.example', 8443, 'dso.example')).toBe(false);
    expect(bypassesProxy('console.dso.example', 8443, 'other.example, localhost')).toBe(false);
    expect(bypassesProxy('CONSOLE.DSO.EXAMPLE.', 8443, 'dso.example')).toBe(true);
    expect(bypassesProxy('anything', 1, '*')).toBe(true);
    expect(bypassesProxy('console.dso.example', 8443, 'console.dso.example:8443')).toBe(true);
    expect(bypassesProxy('console.dso.example', 443, 'console.dso.example:8443')).toBe(false);
    expect(bypassesProxy('10.0.0.1', 8443, '10.0.0.1')).toBe(true);
    expect(bypassesProxy('110.0.0.1', 8443, '0.0.1,10.0.0.1')).toBe(false);
    expect(bypassesProxy('::1', 8443, '[::1]:8443')).toBe(true);
    expect(bypassesProxy('::1', 8443, '::1')).toBe(true);
    expect(selectProxy({ host: 'console.dso.example', port: 8443 }, undefined, { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'dso.example' })).toBeNull();
    expect(selectProxy({ host: 'console.dso.example', port: 8443 }, undefined, { HTTPS_PROXY: 'http://p:1', no_proxy: 'elsewhere' })).toBe('http://p:1');
  });
});

describe('proxy URLs', () => {
  it('parses credentials and never shows the password in the redacted form', () => {
    const p = parseProxyUrl('http://alice:p%40ss%3Aw0rd@proxy.site:3128');
    expect(p).toMatchObject({ host: 'proxy.site', port: 3128, auth: { user: 'alice', password: 'p@ss:w0rd' } });
    expect(p.redacted).toBe('http://alice:***@proxy.site:3128');
    expect(p.redacted).not.toMatch(/w0rd/);
    expect(parseProxyUrl('http://proxy.site').port).toBe(80);
    expect(parseProxyUrl('http://proxy.site:3128').auth).toBeUndefined();
    expect(redactProxyUrl('http://bob:hunter2@[::1:3128')).not.toMatch(/hunter2/);
  });

  it('refuses what is not an http:// CONNECT proxy', () => {
    for (const bad of ['socks5://p:1080', 'https://p:443', 'p:3128', 'http://p:3128/path']) {
      expect(() => parseProxyUrl(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error);
    }
  });
});

describe('openTunnel', () => {
  it('sends CONNECT host:port with Basic credentials', async () => {
    const proxy = await scriptedProxy('HTTP/1.1 200 Connection established\r\n\r\n');
    const socket = await openTunnel({ proxy: parseProxyUrl(`http://alice:s3cret@127.0.0.1:${proxy.port}`), host: 'console.test', port: 8443, timeoutMs: 2_000 });
    socket.destroy();
    expect(proxy.requests[0]).toMatch(/^CONNECT console\.test:8443 HTTP\/1\.1\r\n/);
    expect(proxy.requests[0]).toMatch(new RegExp(`proxy-authorization: Basic ${Buffer.from('alice:s3cret').toString('base64')}`, 'i'));
  });

  it('maps 407 (and 401) to LINK_PROXY_AUTH, other answers and silence to LINK_PROXY_REFUSED', async () => {
    const auth = await scriptedProxy('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\nContent-Length: 0\r\n\r\n');
    expect(await codeOf(openTunnel({ proxy: parseProxyUrl(`http://127.0.0.1:${auth.port}`), host: 'c', port: 1, timeoutMs: 2_000 }))).toBe('LINK_PROXY_AUTH');
    const badCredentials = await scriptedProxy('HTTP/1.0 401 Unauthorized\r\nConnection: close\r\n\r\n');
    expect(await codeOf(openTunnel({ proxy: parseProxyUrl(`http://u:p@127.0.0.1:${badCredentials.port}`), host: 'c', port: 1, timeoutMs: 2_000 }))).toBe('LINK_PROXY_AUTH');
    const forbidden = await scriptedProxy('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    expect(await codeOf(openTunnel({ proxy: parseProxyUrl(`http://127.0.0.1:${forbidden.port}`), host: 'c', port: 1, timeoutMs: 2_000 }))).toBe('LINK_PROXY_REFUSED');
    const silent = await scriptedProxy(undefined);
    const started = Date.now();
    expect(await codeOf(openTunnel({ proxy: parseProxyUrl(`http://127.0.0.1:${silent.port}`), host: 'c', port: 1, timeoutMs: 300 }))).toBe('LINK_PROXY_REFUSED');
    expect(Date.now() - started).toBeLessThan(2_000);
    const closed = await scriptedProxy(undefined);
    const port = closed.port;
    await new Promise((r) => servers.pop()?.close(r));
    expect(await codeOf(openTunnel({ proxy: parseProxyUrl(`http://127.0.0.1:${port}`), host: 'c', port: 1, timeoutMs: 2_000 }))).toBe('LINK_PROXY_REFUSED');
  });

  it('an error never carries the password', async () => {
    const auth = await scriptedProxy('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n');
    try {
      (await openTunnel({ proxy: parseProxyUrl(`http://alice:topsecret@127.0.0.1:${auth.port}`), host: 'c', port: 1, timeoutMs: 2_000 })).destroy();
      expect.unreachable();
    } catch (err) {
      expect((err as LmgwError).code).toBe('LINK_PROXY_AUTH');
      expect((err as Error).message).toMatch(/alice:\*\*\*@/);
      expect((err as Error).message).not.toMatch(/topsecret/);
    }
  });
});
