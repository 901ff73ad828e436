/**
 * The lmgw://app origin without Electron: the CSP as a browser would parse it, which URLs count as
 * the app's, and the protocol handler answering real fetch Requests from a real directory.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ENTRY_URL, APP_SCHEME_PRIVILEGES, CONTENT_SECURITY_POLICY, createAppProtocolHandler, isAppUrl } from '../../../console/main/app-protocol.js';
import { tempDir } from '../../helpers/processes.js';

/** directive → its sources, as CSP Level 3 parses a policy. */
function parseCsp(policy: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (!name) continue;
    expect(directives.has(name), `${name} appears twice`).toBe(false);
    directives.set(name.toLowerCase(), sources);
  }
  return directives;
}

describe('the CSP of the app origin', () => {
  const csp = parseCsp(CONTENT_SECURITY_POLICY);

  it('has exactly the directives of the design, each with its own sources', () => {
    expect(Object.fromEntries(csp)).toEqual({
      'default-src': ["'self'"],
      'script-src': ["'self'"],
      'style-src': ["'self'"],
      'img-src': ["'self'", 'data:'],
      'connect-src': ["'self'"],
      'frame-ancestors': ["'none'"],
      'base-uri': ["'none'"],
      'form-action': ["'none'"],
      'object-src': ["'none'"],
    });
  });

  it('allows no inline code, no eval and no remote source anywhere', () => {
    for (const [name, sources] of csp) {
      for (const source of sources) {
        expect(source, name).not.toMatch(/unsafe|strict-dynamic|nonce-|sha(256|384|512)-|wasm/i);
        expect(source, name).not.toMatch(/^(https?|wss?|blob|filesystem|file):|\*|\./i);
        expect(["'self'", "'none'", 'data:'], name).toContain(source);
      }
    }
    // data: only for images (a data: script or frame would be inline code by another name).
    for (const [name, sources] of csp) if (name !== 'img-src') expect(sources, name).not.toContain('data:');
  });

  it('registers the scheme standard and secure', () => {
    expect(APP_SCHEME_PRIVILEGES).toMatchObject({ standard: true, secure: true });
    expect(APP_SCHEME_PRIVILEGES).not.toHaveProperty('bypassCSP');
    expect(APP_SCHEME_PRIVILEGES).not.toHaveProperty('allowServiceWorkers');
  });
});

describe('isAppUrl', () => {
  it.each([
    ['lmgw://app/index.html', true],
    ['lmgw://app/', true],
    ['lmgw://app/assets/x.js?v=1#top', true],
    ['lmgw://evil/index.html', false],
    ['lmgw://app.evil/index.html', false],
    ['lmgw://user@app/index.html', false],
    ['lmgw://app:8080/index.html', false],
    ['https://app/index.html', false],
    ['file:///work/dist/console/renderer/index.html', false],
    ['about:blank', false],
    ['data:text/html,<h1>x</h1>', false],
    ['devtools://devtools/bundled/inspector.html', false],
    ['', false],
    ['not a url', false],
  ])('%s → %s', (url, expected) => {
    expect(isAppUrl(url)).toBe(expected);
  });
});

describe('the app protocol handler', () => {
  const tmp = tempDir('lmgw-app-protocol-');
  const renderer = join(tmp.dir, 'renderer');
  const serve = createAppProtocolHandler(renderer);
  const get = (url: string, method = 'GET'): Promise<Response> => serve(new Request(url, { method }));

  beforeAll(() => {
    mkdirSync(join(renderer, 'assets'), { recursive: true });
    writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>LMGW Console</title>');
    writeFileSync(join(renderer, 'assets', 'app.js'), 'export {};');
    writeFileSync(join(renderer, '.env'), 'SECRET=1');
    writeFileSync(join(tmp.dir, 'secret.txt'), 'outside');
    symlinkSync(join(tmp.dir, 'secret.txt'), join(renderer, 'assets', 'link.txt'));
  });
  afterAll(() => tmp.cleanup());

  it('serves index.html at the entry URL with the CSP and nosniff', async () => {
    const res = await get(APP_ENTRY_URL);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toContain('<title>LMGW Console</title>');
  });

  it('serves a module script as JavaScript, and index.html for a client-side route', async () => {
    const js = await get('lmgw://app/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const route = await get('lmgw://app/fleet/site-0001');
    expect(await route.text()).toContain('<title>LMGW Console</title>');
  });

  it.each([
    ['a file that is not there', 'lmgw://app/assets/missing.js'],
    ['a way out by dot-dot', 'lmgw://app/assets/%2e%2e/%2e%2e/secret.txt'],
    ['an encoded slash', 'lmgw://app/assets%2f..%2f..%2fsecret.txt'],
    ['a symlink out of the directory', 'lmgw://app/assets/link.txt'],
    ['a hidden file', 'lmgw://app/.env'],
    ['another host of the scheme', 'lmgw://other/index.html'],
  ])('refuses %s with 404 and still sends the CSP', async (_what, url) => {
    const res = await get(url);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(await res.text()).not.toContain('outside');
  });

  it('answers only GET and HEAD', async () => {
    expect((await get(APP_ENTRY_URL, 'POST')).status).toBe(405);
    const head = await get(APP_ENTRY_URL, 'HEAD');
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('says the UI is not built when the renderer directory is missing', async () => {
    const res = await createAppProtocolHandler(join(tmp.dir, 'nothing-here'))(new Request(APP_ENTRY_URL));
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('not built');
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
  });
});
